//! Dataset versions: content hashes of the data canonicalized by its schema.
//!
//! A column's hash covers its name, declared type and every value in a canonical byte form
//! (integers and floats as little-endian 64-bit, -0.0 as 0.0, every NaN alike, text as length +
//! UTF-8, a distinct tag for missing). The same rows give the same hash whatever file format,
//! thread count or machine they come from; one changed cell changes it.

use kiln_core::hash::content_hash;
use kiln_core::schema::{Column, DType};
use polars::prelude::DataType;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::load::Table;
use crate::split::{Part, Split};

/// The hash of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnHash {
    pub name: String,
    pub hash: String,
}

/// The version of one file's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileVersion {
    pub role: String,
    pub path: String,
    pub n_rows: u64,
    pub data_hash: String,
    pub columns: Vec<ColumnHash>,
}

/// The split part of a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitVersion {
    pub method: String,
    pub seed: u64,
    pub hash: String,
    pub train: u64,
    pub validation: u64,
    pub test: u64,
}

/// A snapshot manifest: everything needed to tell whether two runs saw the same data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: String,
    pub kiln_version: String,
    pub config: String,
    pub schema_hash: String,
    /// One hash over the schema, every file and the split.
    pub dataset_hash: String,
    pub files: Vec<FileVersion>,
    pub split: SplitVersion,
}

/// Hash the files and the split.
pub fn snapshot(config: &str, train: &Table, test: Option<&Table>, split: &Split) -> Result<Snapshot> {
    let schema_hash = train.schema.hash();
    let mut files = vec![file_version("train", train)?];
    if let Some(test) = test {
        files.push(file_version("test", test)?);
    }
    let split_version = SplitVersion {
        method: format!("{:?}", split.method).to_lowercase(),
        seed: split.seed,
        hash: split.hash(),
        train: split.count(Part::Train) as u64,
        validation: split.count(Part::Validation) as u64,
        test: split.count(Part::Test) as u64,
    };
    let mut parts: Vec<&[u8]> = vec![b"kiln.dataset.v1", schema_hash.as_bytes()];
    for f in &files {
        parts.push(f.role.as_bytes());
        parts.push(f.data_hash.as_bytes());
    }
    parts.push(split_version.hash.as_bytes());
    let dataset_hash = content_hash(&parts);
    Ok(Snapshot {
        format: "kiln.snapshot.v1".into(),
        kiln_version: env!("CARGO_PKG_VERSION").into(),
        config: config.to_string(),
        schema_hash,
        dataset_hash,
        files,
        split: split_version,
    })
}

/// Hash one table's data (every kept column, in schema order).
pub fn file_version(role: &str, table: &Table) -> Result<FileVersion> {
    let columns = table
        .schema
        .columns
        .par_iter()
        .map(|col| Ok(ColumnHash { name: col.name.clone(), hash: column_hash(table, col)? }))
        .collect::<Result<Vec<_>>>()?;
    let mut parts: Vec<&[u8]> = vec![b"kiln.data.v1"];
    let n_rows = (table.n_rows() as u64).to_le_bytes();
    parts.push(&n_rows);
    for c in &columns {
        parts.push(c.name.as_bytes());
        parts.push(c.hash.as_bytes());
    }
    Ok(FileVersion {
        role: role.to_string(),
        path: table.path.display().to_string(),
        n_rows: table.n_rows() as u64,
        data_hash: content_hash(&parts),
        columns,
    })
}

const MISSING: u8 = 0;
const PRESENT: u8 = 1;

fn column_hash(table: &Table, col: &Column) -> Result<String> {
    let series = table
        .df
        .column(&col.name)
        .map_err(|source| Error::Polars { doing: "looking up a column", source })?
        .as_materialized_series();
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"kiln.column.v1");
    hasher.update(&(col.name.len() as u64).to_le_bytes());
    hasher.update(col.name.as_bytes());
    hasher.update(col.dtype.as_str().as_bytes());
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let flush = |buf: &mut Vec<u8>, hasher: &mut blake3::Hasher| {
        hasher.update(buf);
        buf.clear();
    };
    let err = |source| Error::Polars { doing: "hashing a column", source };
    match col.dtype {
        DType::Int => {
            let s = series.cast(&DataType::Int64).map_err(err)?;
            for v in s.i64().map_err(err)?.iter() {
                match v {
                    Some(v) => {
                        buf.push(PRESENT);
                        buf.extend_from_slice(&v.to_le_bytes());
                    }
                    None => buf.push(MISSING),
                }
                if buf.len() >= 1 << 20 {
                    flush(&mut buf, &mut hasher);
                }
            }
        }
        DType::Float => {
            let s = series.cast(&DataType::Float64).map_err(err)?;
            for v in s.f64().map_err(err)?.iter() {
                match v {
                    Some(v) => {
                        buf.push(PRESENT);
                        buf.extend_from_slice(&canonical_f64(v).to_le_bytes());
                    }
                    None => buf.push(MISSING),
                }
                if buf.len() >= 1 << 20 {
                    flush(&mut buf, &mut hasher);
                }
            }
        }
        DType::String | DType::Bool => {
            let s = series.cast(&DataType::String).map_err(err)?;
            for v in s.str().map_err(err)?.iter() {
                match v {
                    Some(v) => {
                        buf.push(PRESENT);
                        buf.extend_from_slice(&(v.len() as u64).to_le_bytes());
                        buf.extend_from_slice(v.as_bytes());
                    }
                    None => buf.push(MISSING),
                }
                if buf.len() >= 1 << 20 {
                    flush(&mut buf, &mut hasher);
                }
            }
        }
    }
    flush(&mut buf, &mut hasher);
    Ok(hasher.finalize().to_hex().to_string())
}

fn canonical_f64(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else if v == 0.0 {
        0.0f64.to_bits()
    } else {
        v.to_bits()
    }
}

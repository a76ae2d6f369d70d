//! Dataset versions: content hashes of the data canonicalized by its schema.
//!
//! A column's hash covers its name, declared type and every value in a canonical byte form
//! (integers and floats as little-endian 64-bit, -0.0 as 0.0, every NaN alike, text as length +
//! UTF-8, a distinct tag for missing). The same rows give the same hash whatever file format,
//! thread count or machine they come from; one changed cell changes it.

use kiln_core::hash::content_hash;
use kiln_core::schema::{Column, DType, Schema};
use polars::prelude::{DataFrame, DataType, Series};
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
    let mut files = vec![file_version("train", train)?];
    if let Some(test) = test {
        files.push(file_version("test", test)?);
    }
    Ok(assemble(config, train.schema.hash(), files, split))
}

/// The manifest from the schema's hash, the files' versions and the split.
pub fn assemble(config: &str, schema_hash: String, files: Vec<FileVersion>, split: &Split) -> Snapshot {
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
    Snapshot {
        format: "kiln.snapshot.v1".into(),
        kiln_version: env!("CARGO_PKG_VERSION").into(),
        config: config.to_string(),
        schema_hash,
        dataset_hash,
        files,
        split: split_version,
    }
}

/// Hash one table's data (every kept column, in schema order).
pub fn file_version(role: &str, table: &Table) -> Result<FileVersion> {
    let mut hasher = FileHasher::new(role, &table.path.display().to_string(), &table.schema);
    hasher.add(&table.df)?;
    Ok(hasher.finish())
}

/// One file's content hash, fed batch by batch in row order: a BLAKE3 hasher per column (its
/// result does not depend on how the bytes are cut).
#[derive(Debug)]
pub struct FileHasher {
    role: String,
    path: String,
    n_rows: u64,
    columns: Vec<(Column, blake3::Hasher)>,
}

impl FileHasher {
    /// `schema` without dropped columns; `path` names the data in the manifest.
    pub fn new(role: &str, path: &str, schema: &Schema) -> Self {
        let columns = schema
            .columns
            .iter()
            .map(|col| {
                let mut hasher = blake3::Hasher::new();
                hasher.update(b"kiln.column.v1");
                hasher.update(&(col.name.len() as u64).to_le_bytes());
                hasher.update(col.name.as_bytes());
                hasher.update(col.dtype.as_str().as_bytes());
                (col.clone(), hasher)
            })
            .collect();
        Self { role: role.to_string(), path: path.to_string(), n_rows: 0, columns }
    }

    /// Fold the next rows.
    pub fn add(&mut self, df: &DataFrame) -> Result<()> {
        self.columns.par_iter_mut().try_for_each(|(col, hasher)| {
            let series = df
                .column(&col.name)
                .map_err(|source| Error::Polars { doing: "looking up a column", source })?
                .as_materialized_series();
            hash_values(hasher, series, col.dtype)
        })?;
        self.n_rows += df.height() as u64;
        Ok(())
    }

    pub fn finish(self) -> FileVersion {
        let columns: Vec<ColumnHash> = self
            .columns
            .into_iter()
            .map(|(col, hasher)| ColumnHash { name: col.name, hash: hasher.finalize().to_hex().to_string() })
            .collect();
        let mut parts: Vec<&[u8]> = vec![b"kiln.data.v1"];
        let n_rows = self.n_rows.to_le_bytes();
        parts.push(&n_rows);
        for c in &columns {
            parts.push(c.name.as_bytes());
            parts.push(c.hash.as_bytes());
        }
        FileVersion { role: self.role, path: self.path, n_rows: self.n_rows, data_hash: content_hash(&parts), columns }
    }
}

const MISSING: u8 = 0;
const PRESENT: u8 = 1;

fn hash_values(hasher: &mut blake3::Hasher, series: &Series, dtype: DType) -> Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let flush = |buf: &mut Vec<u8>, hasher: &mut blake3::Hasher| {
        hasher.update(buf);
        buf.clear();
    };
    let err = |source| Error::Polars { doing: "hashing a column", source };
    match dtype {
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
                    flush(&mut buf, hasher);
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
                    flush(&mut buf, hasher);
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
                    flush(&mut buf, hasher);
                }
            }
        }
    }
    flush(&mut buf, hasher);
    Ok(())
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

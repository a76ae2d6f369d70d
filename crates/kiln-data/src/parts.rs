//! Data spread over many Parquet files: a folder, or a glob, hive-partitioned folders included.
//!
//! `[data] train` may name a folder (every `*.parquet` file under it, at any depth) or a glob
//! (`data/events/*.parquet`, `data/events/**/*.parquet`). Files are taken in sorted path order,
//! so every read sees the rows in the same order. Folder names of the form `key=value` between
//! the folder (or the glob's fixed part) and a file become columns, typed as `[columns]`
//! declares them (`__HIVE_DEFAULT_PARTITION__` is a missing value). Every file must hold the
//! same columns with the same types as the first one.
//!
//! [`for_each_batch`] reads one row group of one file at a time, with only the columns asked
//! for, so that a caller that folds the batches into accumulators needs memory for a batch
//! only. Polars' lazy engine is not built in this workspace (compile time); its Parquet reader
//! skips the row groups outside a row slice, which is what reading by row group uses.

use std::fs::File;
use std::path::{Component, Path, PathBuf};

use kiln_core::schema::DType;
use polars::prelude::{DataFrame, DataType, IntoColumn, NamedFrom, ParquetReader, PlSmallStr, SerReader, Series};

use crate::error::{Error, Result};

/// Whether `path` names several files: a folder, or a glob pattern.
pub fn is_multi(path: &Path) -> bool {
    has_wildcard(&path.to_string_lossy()) || path.is_dir()
}

fn has_wildcard(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// One file of a partitioned data set, with the `key=value` folders above it.
#[derive(Debug, Clone, PartialEq)]
pub struct PartFile {
    pub path: PathBuf,
    /// Partition keys and values in folder order; `None` is the hive default (missing).
    pub partitions: Vec<(String, Option<String>)>,
}

/// The files a folder or glob names, in sorted path order.
#[derive(Debug, Clone, PartialEq)]
pub struct Parts {
    /// The folder or glob as configured (resolved against the config's folder).
    pub spec: PathBuf,
    pub files: Vec<PartFile>,
}

impl Parts {
    /// The partition keys (the same for every file).
    pub fn keys(&self) -> Vec<String> {
        self.files.first().map(|f| f.partitions.iter().map(|(k, _)| k.clone()).collect()).unwrap_or_default()
    }
}

/// List the Parquet files of a folder or glob. `what` (`train`, `test`) names the config key
/// in errors.
pub fn resolve(spec: &Path, what: &'static str) -> Result<Parts> {
    let (pattern, base) = if spec.is_dir() {
        (spec.join("**").join("*.parquet"), spec.to_path_buf())
    } else {
        (spec.to_path_buf(), fixed_prefix(spec))
    };
    let bad = |problem: String| Error::BadGlob { spec: spec.to_path_buf(), what, problem };
    let text = pattern.to_str().ok_or_else(|| bad("is not valid UTF-8".into()))?;
    let options =
        glob::MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: true };
    let entries = glob::glob_with(text, options).map_err(|e| bad(e.to_string()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::ReadFile { path: e.path().to_path_buf(), source: e.into() })?;
        if path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(Error::NoParts { spec: spec.to_path_buf(), what });
    }
    let files: Vec<PartFile> =
        paths.into_iter().map(|path| PartFile { partitions: hive_partitions(&path, &base), path }).collect();
    let keys = |f: &PartFile| f.partitions.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    let first_keys = keys(&files[0]);
    if let Some(odd) = files.iter().find(|f| keys(f) != first_keys) {
        let problem = format!(
            "its partition folders are [{}], the first file's are [{}]",
            keys(odd).join(", "),
            first_keys.join(", ")
        );
        return Err(mismatch(spec, &odd.path, &files[0].path, problem));
    }
    Ok(Parts { spec: spec.to_path_buf(), files })
}

fn mismatch(spec: &Path, path: &Path, first: &Path, problem: String) -> Error {
    Error::PartMismatch { spec: spec.to_path_buf(), path: path.to_path_buf(), first: first.to_path_buf(), problem }
}

/// The folders of a glob before its first wildcard.
fn fixed_prefix(pattern: &Path) -> PathBuf {
    let mut base = PathBuf::new();
    for component in pattern.components() {
        if has_wildcard(&component.as_os_str().to_string_lossy()) {
            break;
        }
        base.push(component);
    }
    base
}

/// The `key=value` folders between `base` and the file.
fn hive_partitions(path: &Path, base: &Path) -> Vec<(String, Option<String>)> {
    let relative = path.strip_prefix(base).unwrap_or(path);
    let folders: Vec<Component> = relative.components().collect();
    folders[..folders.len().saturating_sub(1)]
        .iter()
        .filter_map(|c| {
            let text = c.as_os_str().to_str()?;
            let (key, value) = text.split_once('=')?;
            if key.is_empty() {
                return None;
            }
            let value = (value != "__HIVE_DEFAULT_PARTITION__").then(|| percent_decode(value));
            Some((percent_decode(key), value))
        })
        .collect()
}

/// Undo the `%XX` escapes hive writers put in folder names.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

/// Column names and types of a Parquet file, from its footer.
type FileColumns = Vec<(String, DataType)>;

fn open(path: &Path) -> Result<File> {
    crate::load::open_parquet(path)
}

fn footer(path: &Path) -> Result<(polars::prelude::FileMetadataRef, FileColumns)> {
    let read_error = |source| Error::ReadParquet { path: path.to_path_buf(), source };
    let mut reader = ParquetReader::new(open(path)?);
    let metadata = reader.get_metadata().map_err(read_error)?.clone();
    let schema = reader.schema().map_err(read_error)?;
    let columns = schema.iter().map(|(name, field)| (name.to_string(), DataType::from_arrow_field(field))).collect();
    Ok((metadata, columns))
}

/// Column names of the data: the first file's columns, then the partition keys.
pub fn column_names(parts: &Parts) -> Result<Vec<String>> {
    let (_, columns) = footer(&parts.files[0].path)?;
    let mut names: Vec<String> = columns.into_iter().map(|(name, _)| name).collect();
    for key in parts.keys() {
        if names.contains(&key) {
            return Err(Error::PartitionClash { path: parts.files[0].path.clone(), key });
        }
        names.push(key);
    }
    Ok(names)
}

/// How [`for_each_batch`] cuts the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// One row group at a time (bounded memory).
    RowGroups,
    /// One whole file at a time.
    Files,
}

/// Read the data batch by batch, in sorted file order and row order: only the file columns in
/// `columns` (all when `None`), then the partition columns typed by `dtype_of` (text when it
/// knows no type). `visit` gets the file, the batch's first row within it (0-based) and the
/// rows. Each file is checked against the first one before its rows are read.
pub fn for_each_batch(
    parts: &Parts,
    columns: Option<&[String]>,
    batching: Batching,
    dtype_of: impl Fn(&str) -> Option<DType>,
    mut visit: impl FnMut(&PartFile, usize, DataFrame) -> Result<()>,
) -> Result<()> {
    let first = &parts.files[0];
    let (_, first_columns) = footer(&first.path)?;
    for file in &parts.files {
        let (metadata, file_columns) = footer(&file.path)?;
        if file_columns != first_columns {
            let problem = describe_difference(&first_columns, &file_columns);
            return Err(mismatch(&parts.spec, &file.path, &first.path, problem));
        }
        let partitions = typed_partitions(file, &dtype_of)?;
        let read_error = |source| Error::ReadParquet { path: file.path.clone(), source };
        let slices: Vec<(usize, usize)> = match batching {
            Batching::Files => vec![(0, metadata.num_rows)],
            Batching::RowGroups => {
                let mut start = 0;
                metadata
                    .row_groups
                    .iter()
                    .map(|rg| {
                        let slice = (start, rg.num_rows());
                        start += rg.num_rows();
                        slice
                    })
                    .collect()
            }
        };
        for (start, len) in slices {
            let mut reader = ParquetReader::new(open(&file.path)?);
            reader.set_metadata(metadata.clone());
            let mut df = reader
                .with_columns(columns.map(<[String]>::to_vec))
                .with_slice(Some((start, len)))
                .finish()
                .map_err(read_error)?;
            for (key, value) in &partitions {
                let column = value.new_from_index(0, len).with_name(PlSmallStr::from(key.as_str()));
                df.with_column(column.into_column())
                    .map_err(|source| Error::Polars { doing: "adding a partition column", source })?;
            }
            visit(file, start, df)?;
        }
    }
    Ok(())
}

/// Read every file whole and stack them: the whole data in memory, for the commands that
/// train on it.
pub fn read_all(parts: &Parts, dtype_of: impl Fn(&str) -> Option<DType>) -> Result<DataFrame> {
    let mut all: Option<DataFrame> = None;
    for_each_batch(parts, None, Batching::Files, dtype_of, |_, _, df| {
        match &mut all {
            None => all = Some(df),
            Some(acc) => {
                acc.vstack_mut_owned(df).map_err(|source| Error::Polars { doing: "stacking the files", source })?;
            }
        }
        Ok(())
    })?;
    Ok(all.expect("resolve returns at least one file"))
}

/// Each partition value as a one-row column of its declared type.
fn typed_partitions(file: &PartFile, dtype_of: &impl Fn(&str) -> Option<DType>) -> Result<Vec<(String, Series)>> {
    file.partitions
        .iter()
        .map(|(key, value)| {
            let name = PlSmallStr::from(key.as_str());
            let dtype = dtype_of(key).unwrap_or(DType::String);
            let bad = |value: &str| Error::PartitionValue {
                path: file.path.clone(),
                key: key.clone(),
                value: value.to_string(),
                dtype: dtype.as_str().to_string(),
            };
            let series = match (value, dtype) {
                (None, _) => Series::full_null(name, 1, &crate::load::polars_dtype(dtype)),
                (Some(v), DType::Int) => Series::new(name, [v.parse::<i64>().map_err(|_| bad(v))?]),
                (Some(v), DType::Float) => Series::new(name, [v.parse::<f64>().map_err(|_| bad(v))?]),
                (Some(v), DType::Bool) => Series::new(name, [parse_bool(v).ok_or_else(|| bad(v))?]),
                (Some(v), DType::String) => Series::new(name, [v.as_str()]),
            };
            Ok((key.clone(), series))
        })
        .collect()
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// The first difference between two files' columns, in words.
fn describe_difference(first: &FileColumns, other: &FileColumns) -> String {
    for (name, dtype) in first {
        match other.iter().find(|(n, _)| n == name) {
            None => return format!("it has no column `{name}`"),
            Some((_, found)) if found != dtype => return format!("its column `{name}` is {found}, not {dtype}"),
            Some(_) => {}
        }
    }
    if let Some((name, _)) = other.iter().find(|(n, _)| !first.iter().any(|(f, _)| f == n)) {
        return format!("it has an extra column `{name}`");
    }
    let names = |cols: &FileColumns| cols.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
    format!("its columns are in another order ({} instead of {})", names(other), names(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_folders_become_keys_and_values() {
        let base = Path::new("data/events");
        let path = Path::new("data/events/year=2026/month=11/city=New%20York/part-0.parquet");
        let found = hive_partitions(path, base);
        let expected = vec![
            ("year".to_string(), Some("2026".to_string())),
            ("month".to_string(), Some("11".to_string())),
            ("city".to_string(), Some("New York".to_string())),
        ];
        assert_eq!(found, expected);
        let default = hive_partitions(Path::new("d/k=__HIVE_DEFAULT_PARTITION__/a.parquet"), Path::new("d"));
        assert_eq!(default, vec![("k".to_string(), None)]);
        // A file name with `=` is not a partition, nor is a folder above the base.
        assert!(hive_partitions(Path::new("x=1/d/a=b.parquet"), Path::new("x=1/d")).is_empty());
    }

    #[test]
    fn the_fixed_part_of_a_glob_stops_at_the_first_wildcard() {
        assert_eq!(fixed_prefix(Path::new("data/events/**/*.parquet")), PathBuf::from("data/events"));
        assert_eq!(fixed_prefix(Path::new("data/ev*/x.parquet")), PathBuf::from("data"));
    }
}

//! Reading the data file for `kiln init`: CSV with a header (types inferred by polars over
//! every row) or Parquet, and the missing-value markers a CSV file uses.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::{CsvParseOptions, CsvReadOptions, DataFrame, DataType, NullValues, PlSmallStr, SerReader};

use crate::config::FileFormat;
use crate::error::{Error, Result};
use crate::plan::ReadOptions;

/// A text column is taken for numbers with missing-value markers when at least this share of
/// its present cells are numbers.
const NUMERIC_SHARE: f64 = 0.9;
/// Markers are short: `NA`, `?`, `-`, `null`, `n/a`.
const MAX_MARKER_LEN: usize = 4;
/// And few per column.
const MAX_MARKERS: usize = 3;

/// The file's rows and the cell values found to stand for missing values (CSV only; the file
/// is read again with them as missing).
pub(super) fn read(path: &Path, format: FileFormat) -> Result<(DataFrame, Vec<String>)> {
    let file = std::fs::File::open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::FileNotFound { path: path.to_path_buf(), what: "data" }
        } else {
            Error::ReadFile { path: path.to_path_buf(), source }
        }
    })?;
    let (df, missing) = match format {
        FileFormat::Parquet => {
            drop(file);
            (crate::load::parquet_frame(path)?, Vec::new())
        }
        FileFormat::Csv => {
            drop(file);
            let df = read_csv(path, &[])?;
            let markers = missing_markers(&df);
            if markers.is_empty() { (df, markers) } else { (read_csv(path, &markers)?, markers) }
        }
    };
    if df.width() == 0 {
        return Err(Error::EmptyFile { path: path.to_path_buf() });
    }
    if df.height() == 0 {
        return Err(Error::NoRows { path: path.to_path_buf() });
    }
    Ok((df, missing))
}

fn plain_csv() -> ReadOptions {
    ReadOptions {
        format: FileFormat::Csv,
        header: true,
        separator: b',',
        quote: Some(b'"'),
        comment_prefix: None,
        missing: Vec::new(),
        trim_whitespace: false,
        map: Default::default(),
    }
}

/// One polars read with `missing` as null markers in every column, the columns named as
/// kiln's loader reads the header (polars keeps a header's doubled quotes).
fn read_csv(path: &Path, missing: &[String]) -> Result<DataFrame> {
    let markers: Vec<PlSmallStr> = missing.iter().map(|m| PlSmallStr::from(m.as_str())).collect();
    let parse = CsvParseOptions::default()
        .with_missing_is_null(true)
        .with_null_values((!markers.is_empty()).then_some(NullValues::AllColumns(markers)));
    let result = CsvReadOptions::default()
        .with_infer_schema_length(None)
        .with_parse_options(parse)
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|reader| reader.finish());
    let plain = plain_csv();
    match result {
        Ok(mut df) => {
            let names = crate::diagnose::header(path, &plain)?;
            if names.len() == df.width() {
                df.set_column_names(&names).map_err(|source| Error::Polars { doing: "naming the columns", source })?;
            }
            Ok(df)
        }
        Err(source) => {
            // Find the exact line when the file's structure is at fault.
            let names = crate::diagnose::header(path, &plain)?;
            crate::diagnose::scan(path, &plain, names.len())?;
            Err(Error::ReadCsv { path: path.to_path_buf(), source })
        }
    }
}

/// Values that turn otherwise numeric text columns into text: in a column whose present cells
/// are at least 90% numbers, the few short values that are not, unless a text column holds
/// them as ordinary values (markers apply to every column).
fn missing_markers(df: &DataFrame) -> Vec<String> {
    let mut candidates = std::collections::BTreeSet::new();
    let mut text_columns = Vec::new();
    for column in df.columns() {
        if column.dtype() != &DataType::String {
            continue;
        }
        let Ok(text) = column.as_materialized_series().str().cloned() else { continue };
        let mut others: BTreeMap<String, u64> = BTreeMap::new();
        let (mut numbers, mut present) = (0u64, 0u64);
        for value in text.iter().flatten() {
            present += 1;
            if value.trim().parse::<f64>().is_ok() {
                numbers += 1;
            } else {
                *others.entry(value.to_string()).or_insert(0) += 1;
            }
        }
        let numeric = present > 0 && numbers as f64 / present as f64 >= NUMERIC_SHARE;
        let short = others.keys().all(|v| v.chars().count() <= MAX_MARKER_LEN);
        if numeric && short && others.len() <= MAX_MARKERS {
            candidates.extend(others.into_keys());
        } else {
            text_columns.push(text);
        }
    }
    candidates.retain(|m| text_columns.iter().all(|t| !t.iter().flatten().any(|v| v == m)));
    candidates.into_iter().collect()
}

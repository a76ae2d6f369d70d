//! Reading CSV and Parquet files into polars DataFrames with the declared types enforced.
//!
//! The fast path hands the file to polars with the full schema. When polars refuses the file,
//! a diagnostic pass with the `csv` crate finds the exact line (ragged rows, bad quoting,
//! non-UTF-8 bytes); cells that do not parse as their declared type become findings with row
//! numbers, not a failed read, so that `kiln data validate` can report all of them. A CSV read
//! with a bundle's schema whose first line is not a header, and a `.parquet` file that is not
//! Parquet, are refused in kiln's words before polars sees them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_core::schema::{DType, Role, Schema};
use polars::prelude::{
    CsvParseOptions, CsvReadOptions, DataFrame, DataType, Field, IntoSeries, NullValues, ParquetReader, PlSmallStr,
    SerReader, Series,
};

use crate::config::{Check, FileFormat};
use crate::error::{Error, Result};
use crate::findings::{Examples, Finding, Severity};
use crate::plan::{DataPlan, ReadOptions};

/// Which configured file to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Train,
    Test,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Train => "train",
            Source::Test => "test",
        }
    }
}

/// A loaded file: its rows with declared types, the schema, and any cells that did not parse.
#[derive(Debug, Clone)]
pub struct Table {
    pub path: PathBuf,
    pub df: DataFrame,
    pub schema: Schema,
    /// Type findings from loading (the cells involved are null in `df`).
    pub findings: Vec<Finding>,
}

impl Table {
    pub fn n_rows(&self) -> usize {
        self.df.height()
    }

    /// Fail when loading found cells of the wrong type: commands other than `validate` cannot
    /// work on such data.
    pub fn ensure_parsed(&self) -> Result<()> {
        self.ensure_parsed_at(0)
    }

    /// [`Table::ensure_parsed`] for a batch whose first row is row `start` (0-based) of its
    /// file: the rows named count from the file's first row.
    pub fn ensure_parsed_at(&self, start: usize) -> Result<()> {
        match self.findings.first() {
            None => Ok(()),
            Some(first) => {
                let mut first = first.clone();
                first.examples.iter_mut().for_each(|row| *row += start as u64);
                Err(Error::InvalidData { path: self.path.clone(), count: self.findings.len(), first: first.summary() })
            }
        }
    }
}

/// Load one of the plan's files.
pub fn load(plan: &DataPlan, source: Source, max_examples: usize) -> Result<Table> {
    let path = match source {
        Source::Train => plan.train_path.clone(),
        Source::Test => plan.test_path.clone().ok_or_else(|| Error::InvalidValue {
            path: plan.config_path.clone(),
            key: "data.test".into(),
            problem: "is not set".into(),
            hint: "set data.test to read a separate test file".into(),
        })?,
    };
    load_path(plan, &path, source.as_str(), max_examples)
}

/// Load a file at `path` with the plan's columns and read options (for example new data to
/// evaluate). `what` names the file in errors.
pub fn load_path(plan: &DataPlan, path: &Path, what: &'static str, max_examples: usize) -> Result<Table> {
    if crate::parts::is_multi(path) {
        let parts = crate::parts::resolve(path, what)?;
        let df = crate::parts::read_all(&parts, |name| plan.dtype(name))?;
        return table_from_frame(plan, path, df, max_examples);
    }
    let meta = std::fs::metadata(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::FileNotFound { path: path.to_path_buf(), what }
        } else {
            Error::ReadFile { path: path.to_path_buf(), source }
        }
    })?;
    if meta.len() == 0 {
        return Err(Error::EmptyFile { path: path.to_path_buf() });
    }
    let format = FileFormat::from_path(path).unwrap_or(plan.read.format);
    match format {
        FileFormat::Csv => {
            let (df, schema) = read_csv(plan, path)?;
            typed_table(plan, path, df, schema, max_examples)
        }
        FileFormat::Parquet => table_from_frame(plan, path, parquet_frame(path)?, max_examples),
    }
}

/// Rows read from Parquet (one file, several, or one batch of them) as a table with the plan's
/// columns and declared types.
pub(crate) fn table_from_frame(plan: &DataPlan, path: &Path, df: DataFrame, max_examples: usize) -> Result<Table> {
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    let schema = plan.schema(&names)?;
    typed_table(plan, path, df, schema, max_examples)
}

fn typed_table(plan: &DataPlan, path: &Path, df: DataFrame, schema: Schema, max_examples: usize) -> Result<Table> {
    if df.height() == 0 {
        return Err(Error::NoRows { path: path.to_path_buf() });
    }
    let mut table = Table { path: path.to_path_buf(), df, schema, findings: Vec::new() };
    finish_columns(&mut table, &plan.read, max_examples)?;
    Ok(table)
}

/// A batch of rows typed like [`load`] does, without the check for rows (a row group may be
/// empty). Columns the plan drops may be absent from `df`.
pub(crate) fn typed_batch(
    plan: &DataPlan,
    path: &Path,
    df: DataFrame,
    schema: &Schema,
    max_examples: usize,
) -> Result<Table> {
    let mut table = Table { path: path.to_path_buf(), df, schema: schema.clone(), findings: Vec::new() };
    finish_columns(&mut table, &plan.read, max_examples)?;
    Ok(table)
}

/// Load a file for a model whose schema is already known (from a bundle): Parquet, or CSV
/// with a header and standard quoting. Feature columns must be present; other schema columns
/// (target, ids, segments) are kept when present; columns outside the schema are ignored.
/// Cells that do not parse as their declared type become findings, as in [`load`].
pub fn load_for_schema(path: &Path, schema: &Schema, max_examples: usize) -> Result<Table> {
    let meta = std::fs::metadata(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::FileNotFound { path: path.to_path_buf(), what: "data" }
        } else {
            Error::ReadFile { path: path.to_path_buf(), source }
        }
    })?;
    if meta.len() == 0 {
        return Err(Error::EmptyFile { path: path.to_path_buf() });
    }
    let plain = ReadOptions {
        format: FileFormat::Csv,
        header: true,
        separator: b',',
        quote: Some(b'"'),
        comment_prefix: None,
        missing: Vec::new(),
        trim_whitespace: false,
        map: Default::default(),
    };
    let df = match FileFormat::from_path(path) {
        Some(FileFormat::Parquet) => parquet_frame(path)?,
        _ => csv_with_header(path, schema, &plain)?,
    };
    if df.height() == 0 {
        return Err(Error::NoRows { path: path.to_path_buf() });
    }
    let found: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    let mut kept = schema.clone();
    kept.columns.retain(|c| c.role != Role::Drop && found.contains(&c.name));
    if let Some(missing) = schema.features().find(|c| !found.contains(&c.name)) {
        return Err(Error::MissingFileColumn {
            path: path.to_path_buf(),
            column: missing.name.clone(),
            found: found.join(", "),
        });
    }
    let mut table = Table { path: path.to_path_buf(), df, schema: kept, findings: Vec::new() };
    finish_columns(&mut table, &plain, max_examples)?;
    Ok(table)
}

/// A CSV file whose header row names the schema's columns, read with types inferred. A first
/// line that names none of the features is [`Error::NoHeader`]; a malformed line is found by
/// the diagnostic pass, so that no polars message reaches the user for either.
fn csv_with_header(path: &Path, schema: &Schema, read: &ReadOptions) -> Result<DataFrame> {
    let names = crate::diagnose::header(path, read)?;
    if !schema.features().any(|c| names.contains(&c.name)) {
        let mut first = names.join(",");
        if first.len() > 60 {
            first = format!("{}...", first.chars().take(60).collect::<String>());
        }
        let features: Vec<&str> = schema.features().map(|c| c.name.as_str()).take(5).collect();
        return Err(Error::NoHeader { path: path.to_path_buf(), first, features: features.join(", ") });
    }
    let df = CsvReadOptions::default()
        .with_infer_schema_length(None)
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|reader| reader.finish())
        .or_else(|source| {
            crate::diagnose::scan(path, read, names.len())?;
            Err(Error::ReadCsv { path: path.to_path_buf(), source })
        })?;
    // Short rows are padded with nulls by polars: they show up as nulls in the last column.
    if df.columns().last().is_some_and(|last| last.null_count() > 0) {
        crate::diagnose::scan(path, read, names.len())?;
    }
    Ok(df)
}

/// Every Parquet file starts and ends with these bytes.
const PARQUET_MAGIC: &[u8; 4] = b"PAR1";

/// Read a Parquet file; a file without Parquet's markers is [`Error::NotParquet`] (a CSV
/// file named `.parquet`, a truncated copy) rather than polars' complaint.
pub(crate) fn parquet_frame(path: &Path) -> Result<DataFrame> {
    let file = open_parquet(path)?;
    ParquetReader::new(file).finish().map_err(|source| Error::ReadParquet { path: path.to_path_buf(), source })
}

/// Open a Parquet file after checking its markers ([`Error::NotParquet`] otherwise).
pub(crate) fn open_parquet(path: &Path) -> Result<std::fs::File> {
    use std::io::{Read, Seek, SeekFrom};
    let read_error = |source| Error::ReadFile { path: path.to_path_buf(), source };
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    let (mut head, mut tail) = ([0u8; 4], [0u8; 4]);
    let marked = file.read_exact(&mut head).is_ok()
        && file.seek(SeekFrom::End(-4)).is_ok()
        && file.read_exact(&mut tail).is_ok()
        && &head == PARQUET_MAGIC
        && &tail == PARQUET_MAGIC;
    if !marked {
        return Err(Error::NotParquet { path: path.to_path_buf() });
    }
    file.seek(SeekFrom::Start(0)).map_err(read_error)?;
    Ok(file)
}

pub(crate) fn polars_dtype(dtype: DType) -> DataType {
    match dtype {
        DType::Int => DataType::Int64,
        DType::Float => DataType::Float64,
        DType::String => DataType::String,
        DType::Bool => DataType::Boolean,
    }
}

fn read_csv(plan: &DataPlan, path: &Path) -> Result<(DataFrame, Schema)> {
    let read = &plan.read;
    let names = match (&plan.names, read.header) {
        (Some(names), false) => names.clone(),
        _ => crate::diagnose::header(path, read)?,
    };
    let schema = plan.schema(&names)?;
    // With trimming, every cell is read as text and typed after stripping.
    let typed = !read.trim_whitespace;
    let fields = schema.columns.iter().map(|c| {
        let dtype = if typed && c.role != Role::Drop { polars_dtype(c.dtype) } else { DataType::String };
        Field::new(PlSmallStr::from(c.name.as_str()), dtype)
    });
    // With trimming, missing markers are matched after trimming instead.
    let result = polars_csv(path, read, fields, !read.trim_whitespace);
    let df = match result {
        Ok(df) => df,
        Err(source) => {
            // Find the exact line; if the structure is fine the problem is a cell's type.
            crate::diagnose::scan(path, read, names.len())?;
            if typed {
                return read_csv_as_text(plan, path, &schema, source);
            }
            return Err(Error::ReadCsv { path: path.to_path_buf(), source });
        }
    };
    // Short rows are padded with nulls by polars: they show up as nulls in the last column.
    let mut df = df;
    if df.columns().last().is_some_and(|last| last.null_count() > 0) {
        crate::diagnose::scan(path, read, names.len())?;
        df = drop_blank_rows(df)?;
    }
    Ok((df, schema))
}

/// One polars CSV read with the plan's options and the given column fields.
fn polars_csv(
    path: &Path,
    read: &ReadOptions,
    fields: impl Iterator<Item = Field>,
    markers: bool,
) -> polars::error::PolarsResult<DataFrame> {
    let pschema = Arc::new(polars::prelude::Schema::from_iter(fields));
    let missing: Vec<PlSmallStr> =
        if markers { read.missing.iter().map(|m| PlSmallStr::from(m.as_str())).collect() } else { Vec::new() };
    let mut parse = CsvParseOptions::default()
        .with_separator(read.separator)
        .with_quote_char(read.quote)
        .with_missing_is_null(true)
        .with_null_values((!missing.is_empty()).then_some(NullValues::AllColumns(missing)));
    if let Some(prefix) = &read.comment_prefix {
        parse = parse.with_comment_prefix(Some(prefix.as_str()));
    }
    CsvReadOptions::default()
        .with_has_header(read.header)
        .with_schema(Some(pschema))
        .with_parse_options(parse)
        .with_raise_if_empty(false)
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|reader| reader.finish())
}

/// Remove rows with no value at all: blank lines, which are not data.
fn drop_blank_rows(df: DataFrame) -> Result<DataFrame> {
    let mut any: Option<polars::prelude::BooleanChunked> = None;
    for column in df.columns() {
        let present = column.as_materialized_series().is_not_null();
        any = Some(match any {
            Some(acc) => acc | present,
            None => present,
        });
    }
    match any {
        Some(mask) if mask.sum().unwrap_or(0) as usize != df.height() => {
            df.filter(&mask).map_err(|source| Error::Polars { doing: "skipping blank lines", source })
        }
        _ => Ok(df),
    }
}

/// The slow path after polars refused a typed read: read every column as text, then type it
/// cell by cell in `finish_columns`.
fn read_csv_as_text(
    plan: &DataPlan,
    path: &Path,
    schema: &Schema,
    first_error: polars::error::PolarsError,
) -> Result<(DataFrame, Schema)> {
    let read = &plan.read;
    let fields = schema.columns.iter().map(|c| Field::new(PlSmallStr::from(c.name.as_str()), DataType::String));
    // If even the text read fails, polars' first complaint is the one worth reporting.
    let df = polars_csv(path, read, fields, true)
        .map_err(|_| Error::ReadCsv { path: path.to_path_buf(), source: first_error })?;
    Ok((df, schema.clone()))
}

/// Trim, mark missing, map values, drop `drop` columns and enforce each column's declared
/// type, recording cells that do not parse.
fn finish_columns(table: &mut Table, read: &ReadOptions, max_examples: usize) -> Result<()> {
    let file = table.path.display().to_string();
    let mut columns = Vec::with_capacity(table.schema.columns.len());
    for column in &table.schema.columns {
        if column.role == Role::Drop {
            continue;
        }
        let series = table
            .df
            .column(&column.name)
            .map_err(|source| Error::Polars { doing: "looking up a column", source })?
            .as_materialized_series()
            .clone();
        let needs_text_pass =
            series.dtype() == &DataType::String && (read.trim_whitespace || read.map.contains_key(&column.name));
        let series = if needs_text_pass { clean_text(&series, read, read.map.get(&column.name))? } else { series };
        let target = polars_dtype(column.dtype);
        let series = if series.dtype() == &target {
            series
        } else {
            let (cast, finding) = coerce(&series, column.dtype, &file, &column.name, max_examples)?;
            table.findings.extend(finding);
            cast
        };
        columns.push(series.into());
    }
    table.df = DataFrame::new_infer_height(columns)
        .map_err(|source| Error::Polars { doing: "assembling the loaded columns", source })?;
    table.schema.columns.retain(|c| c.role != Role::Drop);
    Ok(())
}

/// Strip spaces, turn missing markers into nulls, apply a value mapping.
fn clean_text(
    series: &Series,
    read: &ReadOptions,
    map: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<Series> {
    let ca = series.str().map_err(|source| Error::Polars { doing: "reading a text column", source })?;
    let cleaned: polars::prelude::StringChunked = ca
        .iter()
        .map(|value| {
            let value = value?;
            let value = if read.trim_whitespace { value.trim() } else { value };
            if value.is_empty() || read.missing.iter().any(|m| m == value) {
                return None;
            }
            Some(map.and_then(|m| m.get(value)).map_or(value, String::as_str))
        })
        .collect();
    Ok(cleaned.with_name(series.name().clone()).into_series())
}

/// Cast to the declared type; cells that were present but do not parse become nulls and a
/// `type` finding.
fn coerce(
    series: &Series,
    dtype: DType,
    file: &str,
    name: &str,
    max_examples: usize,
) -> Result<(Series, Option<Finding>)> {
    let target = polars_dtype(dtype);
    let cast = if dtype == DType::Bool && series.dtype() == &DataType::String {
        parse_bool(series)?
    } else {
        series.cast(&target).map_err(|source| Error::Polars { doing: "casting a column", source })?
    };
    if cast.null_count() == series.null_count() {
        return Ok((cast, None));
    }
    let mut examples = Examples::new(max_examples);
    let original =
        series.cast(&DataType::String).map_err(|source| Error::Polars { doing: "casting a column", source })?;
    let original = original.str().map_err(|source| Error::Polars { doing: "reading a text column", source })?;
    for (row_idx, (before, after)) in original.iter().zip(cast.is_null().iter()).enumerate() {
        if let (Some(value), Some(true)) = (before, after) {
            examples.push(row_idx, || Some(value.to_string()));
        }
    }
    let finding = Finding {
        check: Check::Type,
        severity: Severity::Error,
        file: file.to_string(),
        column: Some(name.to_string()),
        count: examples.count,
        message: type_message(examples.count, dtype),
        examples: examples.rows,
        values: examples.values,
    };
    Ok((cast, Some(finding)))
}

/// The message of a `type` finding.
pub(crate) fn type_message(count: u64, dtype: DType) -> String {
    format!("{count} value(s) are not {}", dtype.as_str())
}

fn parse_bool(series: &Series) -> Result<Series> {
    let ca = series.str().map_err(|source| Error::Polars { doing: "reading a text column", source })?;
    let parsed: polars::prelude::BooleanChunked = ca
        .iter()
        .map(|v| match v?.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        })
        .collect();
    Ok(parsed.with_name(series.name().clone()).into_series())
}

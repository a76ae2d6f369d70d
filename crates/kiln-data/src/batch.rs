//! Files read into kiln-core's plain columns ([`Batch`]) and output columns written back, so
//! that the commands that score rows (`kiln predict`, a server's batch jobs) handle no polars
//! type.
//!
//! A file is read as a config declares it ([`Reading::Plan`]: header or names, separator,
//! comment lines, missing markers, value maps) or with a bundle's schema alone
//! ([`Reading::Schema`]: Parquet, or CSV with a header). Cells that do not parse as their
//! column's declared type are returned as row-check problems (kiln-core's
//! [`Problem`]), so that they are reported with the same messages as the rest of the check.

use std::path::Path;

use kiln_core::columns::{Batch, Values};
use kiln_core::rows::{MAX_ROWS, Problem, ProblemKind};
use kiln_core::schema::{DType, Schema};
use polars::prelude::{
    BooleanChunked, Column, DataFrame, Float64Chunked, Int64Chunked, IntoColumn, NewChunkedArray, StringChunked,
};

use crate::config::FileFormat;
use crate::error::{Error, Result};
use crate::load::{self, Table};
use crate::plan::DataPlan;

/// How to read a file of rows.
#[derive(Debug, Clone, Copy)]
pub enum Reading<'a> {
    /// As the config of `plan` declares its files.
    Plan(&'a DataPlan),
    /// With a bundle's schema: Parquet, or CSV with a header row naming the columns.
    Schema(&'a Schema),
}

/// The rows of a file as plain columns.
#[derive(Debug, Clone)]
pub struct ReadBatch {
    /// The schema's columns present in the file (`drop` columns left out), in schema order.
    pub batch: Batch,
    /// Cells that did not parse as their column's declared type (missing in `batch`).
    pub problems: Vec<Problem>,
}

/// Read the rows of `path`.
pub fn read_batch(path: &Path, reading: Reading<'_>) -> Result<ReadBatch> {
    let table = match reading {
        Reading::Plan(plan) => load::load_path(plan, path, "data", MAX_ROWS)?,
        Reading::Schema(schema) => load::load_for_schema(path, schema, MAX_ROWS)?,
    };
    table_batch(&table)
}

/// A loaded table as plain columns, with its type findings as problems.
pub fn table_batch(table: &Table) -> Result<ReadBatch> {
    let mut columns = Vec::with_capacity(table.schema.columns.len());
    for column in &table.schema.columns {
        let series = table
            .df
            .column(&column.name)
            .map_err(|source| Error::Polars { doing: "looking up a column", source })?
            .as_materialized_series();
        let read = |source| Error::Polars { doing: "reading a column", source };
        let values = match column.dtype {
            DType::Int => Values::Int(series.i64().map_err(read)?.iter().collect()),
            DType::Float => Values::Float(series.f64().map_err(read)?.iter().collect()),
            DType::String => Values::Text(series.str().map_err(read)?.iter().map(|v| v.map(str::to_string)).collect()),
            DType::Bool => Values::Bool(series.bool().map_err(read)?.iter().collect()),
        };
        columns.push((column.name.clone(), values));
    }
    let problems = table
        .findings
        .iter()
        .filter_map(|finding| {
            let column = table.schema.column(finding.column.as_deref()?)?;
            Some(Problem {
                column: column.name.clone(),
                kind: ProblemKind::WrongType { expected: column.dtype, found: DType::String },
                count: finding.count as usize,
                rows: finding.examples.iter().map(|r| *r as usize).collect(),
            })
        })
        .collect();
    Ok(ReadBatch { batch: Batch::new(columns), problems })
}

/// Write `batch` to `path`, atomically: CSV with a header when the name ends in `.csv`, else
/// Parquet.
pub fn write_batch(path: &Path, batch: &Batch) -> Result<()> {
    let n_rows = batch.n_rows();
    if let Some((name, values)) = batch.columns.iter().find(|(_, v)| v.len() != n_rows) {
        return Err(Error::UnevenColumns {
            path: path.to_path_buf(),
            column: name.clone(),
            expected: n_rows,
            found: values.len(),
        });
    }
    let mut df = batch_frame(batch)?;
    let format = FileFormat::from_path(path).unwrap_or(FileFormat::Parquet);
    crate::write::write_table(path, format, &mut df)
}

/// `batch` as a polars table (columns of equal length).
pub fn batch_frame(batch: &Batch) -> Result<DataFrame> {
    let columns: Vec<Column> = batch
        .columns
        .iter()
        .map(|(name, values)| {
            let name = name.as_str().into();
            match values {
                Values::Int(v) => Int64Chunked::from_iter_options(name, v.iter().copied()).into_column(),
                Values::Float(v) => Float64Chunked::from_iter_options(name, v.iter().copied()).into_column(),
                Values::Text(v) => StringChunked::from_iter_options(name, v.iter().map(Option::as_deref)).into_column(),
                Values::Bool(v) => BooleanChunked::from_iter_options(name, v.iter().copied()).into_column(),
            }
        })
        .collect();
    DataFrame::new_infer_height(columns)
        .map_err(|source| Error::Polars { doing: "assembling the output columns", source })
}

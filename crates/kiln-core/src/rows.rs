//! Incoming rows checked against a bundle's [`Schema`], without polars: every problem that
//! stops the rows being scored, each with its column and rows, and per feature column the
//! missing values and categories the model never saw (which are scored, not rejected).
//!
//! The report is data ([`RowReport`], serializable) so that a server can answer a bad request
//! with a precise 4xx body and the batch path prints the same messages
//! ([`Error::InvalidRows`]). Rows are numbered from 1 (the first row of the batch); at most
//! [`MAX_ROWS`] rows are listed per problem, with the full count beside them.

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;

use crate::columns::{Batch, Values};
use crate::error::{Error, Result};
use crate::preprocess::Preprocessor;
use crate::schema::{DType, Role, Schema};

/// Rows listed per problem (the count covers them all).
pub const MAX_ROWS: usize = 10;
/// Distinct unseen categories listed per column.
pub const MAX_EXAMPLES: usize = 5;

/// What the check found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RowReport {
    pub n_rows: usize,
    /// Problems that stop the rows being scored.
    pub problems: Vec<Problem>,
    /// Feature columns with missing values or unseen categories (scored as the preprocessor
    /// encodes them).
    pub notes: Vec<ColumnNote>,
}

/// One problem in one column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub column: String,
    #[serde(flatten)]
    pub kind: ProblemKind,
    /// How many rows have the problem (0 for a problem of the whole column).
    pub count: usize,
    /// The first [`MAX_ROWS`] of them, numbered from 1.
    pub rows: Vec<usize>,
}

/// The kinds of problem.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum ProblemKind {
    /// A feature the model reads is absent.
    MissingColumn { role: Role },
    /// A column the schema does not have.
    ExtraColumn,
    /// Values that are not of the column's declared type (`found` is what they were given
    /// as: `string` for text that does not parse).
    WrongType { expected: DType, found: DType },
    /// NaN or infinity in a numeric feature.
    NonFinite,
    /// The column has another number of rows than the first column.
    Length { expected: usize, found: usize },
}

/// Missing values and unseen categories of one feature column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnNote {
    pub column: String,
    pub missing: usize,
    /// Categories outside the model's vocabulary (scored as `__other__`).
    pub unseen: usize,
    /// The first [`MAX_EXAMPLES`] distinct unseen categories.
    pub unseen_values: Vec<String>,
}

impl RowReport {
    /// Whether the rows can be scored.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report, or [`Error::InvalidRows`] when it holds a problem.
    pub fn into_result(self) -> Result<Self> {
        if self.is_ok() { Ok(self) } else { Err(Error::InvalidRows(Box::new(self))) }
    }
}

impl fmt::Display for RowReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in {} row(s):", self.problems.len(), self.n_rows)?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let column = &self.column;
        match &self.kind {
            ProblemKind::MissingColumn { role } => {
                write!(f, "column `{column}` is missing (the model reads it as a {} feature)", role.as_str())?
            }
            ProblemKind::ExtraColumn => write!(f, "column `{column}` is not in the model's schema")?,
            ProblemKind::WrongType { expected, found } => write!(
                f,
                "column `{column}`: {} value(s) are {} where {} is declared",
                self.count,
                found.as_str(),
                expected.as_str()
            )?,
            ProblemKind::NonFinite => write!(f, "column `{column}`: {} value(s) are NaN or infinite", self.count)?,
            ProblemKind::Length { expected, found } => {
                write!(f, "column `{column}` has {found} row(s), the first column has {expected}")?
            }
        }
        if !self.rows.is_empty() {
            let rows: Vec<String> = self.rows.iter().map(usize::to_string).collect();
            let more = if self.count > self.rows.len() { ", ..." } else { "" };
            write!(f, " (row {}{more})", rows.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Display for ColumnNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.missing > 0 {
            parts.push(format!("{} missing", self.missing));
        }
        if self.unseen > 0 {
            parts.push(format!("{} unseen categor(ies), e.g. {}", self.unseen, self.unseen_values.join(", ")));
        }
        write!(f, "column `{}`: {}", self.column, parts.join("; "))
    }
}

/// Rows matching `bad`, as a problem of `kind` (None when there are none).
fn rows_where(column: &str, kind: ProblemKind, n: usize, bad: impl Fn(usize) -> bool) -> Option<Problem> {
    let mut count = 0;
    let mut rows = Vec::new();
    for row in (0..n).filter(|r| bad(*r)) {
        count += 1;
        if rows.len() < MAX_ROWS {
            rows.push(row + 1);
        }
    }
    (count > 0).then(|| Problem { column: column.to_string(), kind, count, rows })
}

/// Check `batch` against `schema` and the vocabularies of `preprocessor`: every feature
/// present, no column outside the schema, every column of its declared type (an int column
/// takes whole floats, a float column ints), numeric features finite, all columns as long as
/// the first. Missing values and unseen categories are counted in the notes.
pub fn check(schema: &Schema, preprocessor: &Preprocessor, batch: &Batch) -> RowReport {
    let n_rows = batch.n_rows();
    let mut report = RowReport { n_rows, ..RowReport::default() };
    for feature in schema.features() {
        if batch.get(&feature.name).is_none() {
            report.problems.push(Problem {
                column: feature.name.clone(),
                kind: ProblemKind::MissingColumn { role: feature.role },
                count: 0,
                rows: Vec::new(),
            });
        }
    }
    for (name, values) in &batch.columns {
        let Some(column) = schema.column(name) else {
            report.problems.push(Problem {
                column: name.clone(),
                kind: ProblemKind::ExtraColumn,
                count: 0,
                rows: vec![],
            });
            continue;
        };
        if values.len() != n_rows {
            let kind = ProblemKind::Length { expected: n_rows, found: values.len() };
            report.problems.push(Problem { column: name.clone(), kind, count: 0, rows: Vec::new() });
            continue;
        }
        if column.role == Role::Drop {
            continue;
        }
        report.problems.extend(type_problem(name, column.dtype, values));
        if column.role.is_feature() {
            if let Values::Float(v) = values {
                let non_finite = |r: usize| v[r].is_some_and(|x| !x.is_finite());
                report.problems.extend(rows_where(name, ProblemKind::NonFinite, n_rows, non_finite));
            }
            report.notes.extend(note(name, column.role, values, preprocessor));
        }
    }
    report
}

/// Values of a type the declared `dtype` does not take.
fn type_problem(name: &str, dtype: DType, values: &Values) -> Option<Problem> {
    let n = values.len();
    let wrong = |found| ProblemKind::WrongType { expected: dtype, found };
    match (dtype, values) {
        (DType::Int, Values::Int(_))
        | (DType::Float, Values::Int(_) | Values::Float(_))
        | (DType::String, Values::Text(_))
        | (DType::Bool, Values::Bool(_)) => None,
        (DType::Int, Values::Float(v)) => {
            rows_where(name, wrong(DType::Float), n, |r| v[r].is_some_and(|x| x.fract() != 0.0 || !x.is_finite()))
        }
        (_, other) => rows_where(name, wrong(other.dtype()), n, |r| !other.is_missing(r)),
    }
}

/// The missing values and unseen categories of a feature column, when there are any.
fn note(name: &str, role: Role, values: &Values, preprocessor: &Preprocessor) -> Option<ColumnNote> {
    let missing = (0..values.len()).filter(|r| values.is_missing(*r)).count();
    let (mut unseen, mut unseen_values) = (0, Vec::new());
    let vocabulary = preprocessor.categorical.iter().find(|c| c.name == name);
    if let (Role::Categorical, Some(state)) = (role, vocabulary) {
        let known: HashSet<&str> = state.vocabulary.iter().map(String::as_str).collect();
        for value in values.categories().into_iter().flatten().filter(|x| !known.contains(x.as_ref())) {
            unseen += 1;
            if unseen_values.len() < MAX_EXAMPLES && !unseen_values.iter().any(|u| *u == value) {
                unseen_values.push(value.into_owned());
            }
        }
    }
    (missing > 0 || unseen > 0).then(|| ColumnNote { column: name.to_string(), missing, unseen, unseen_values })
}

#[cfg(test)]
mod tests;

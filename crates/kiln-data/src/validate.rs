//! `kiln data validate`: every expectation of `[validation]` checked over every row.
//!
//! The report lists every failure with its count and example rows; whether the run fails is
//! the caller's decision ([`ValidationReport::passed`]). Checks run column by column over plain
//! arrays, in parallel across columns, so that validating costs little next to reading.

use std::collections::HashSet;

use polars::prelude::{DataType, PlHashSet};

use kiln_core::schema::{DType, Role, Schema, Task};
use polars::prelude::{Column as PlColumn, DataFrame};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{Check, ValidationConfig};
use crate::error::{Error, Result};
use crate::findings::{Examples, Finding, Severity};
use crate::load::Table;
use crate::rowhash::{count_repeats, row_hashes, scan_text};

/// Summary of one validated file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSummary {
    pub role: String,
    pub path: String,
    pub n_rows: u64,
    pub n_columns: u64,
}

/// The full validation report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationReport {
    pub config: String,
    pub files: Vec<FileSummary>,
    /// Names of the checks that ran.
    pub checks: Vec<Check>,
    pub findings: Vec<Finding>,
}

impl ValidationReport {
    /// True when no finding is an error.
    pub fn passed(&self) -> bool {
        self.findings.iter().all(|f| f.severity != Severity::Error)
    }

    pub fn n_errors(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Error).count()
    }
}

/// Validate the training table and, when given, the test table against `config`.
pub fn validate(
    config_path: &str,
    config: &ValidationConfig,
    train: &Table,
    test: Option<&Table>,
) -> Result<ValidationReport> {
    let mut files = Vec::new();
    let mut findings = Vec::new();
    for (role, table) in std::iter::once(("train", train)).chain(test.map(|t| ("test", t))) {
        files.push(FileSummary {
            role: role.to_string(),
            path: table.path.display().to_string(),
            n_rows: table.n_rows() as u64,
            n_columns: table.df.width() as u64,
        });
        findings.extend(table.findings.iter().cloned());
        findings.extend(check_table(config, table)?);
    }
    if let (Some(test), true) = (test, config.unseen_categories) {
        findings.extend(unseen_categories(config, train, test)?);
    }
    for finding in &mut findings {
        if config.warn_only.contains(&finding.check) {
            finding.severity = Severity::Warning;
        }
    }
    let mut checks = vec![Check::Type, Check::NonFinite, Check::Missing, Check::Label];
    if config.columns.values().any(|c| c.min.is_some() || c.max.is_some()) {
        checks.push(Check::Range);
    }
    if config.columns.values().any(|c| c.allowed.is_some()) {
        checks.push(Check::Allowed);
    }
    if test.is_some() && config.unseen_categories {
        checks.push(Check::UnseenCategory);
    }
    if config.max_duplicate_fraction.is_some() {
        checks.push(Check::Duplicates);
    }
    if config.class_balance.is_some() {
        checks.push(Check::ClassBalance);
    }
    if config.min_rows.is_some() || config.max_rows.is_some() {
        checks.push(Check::RowCount);
    }
    Ok(ValidationReport { config: config_path.to_string(), files, checks, findings })
}

fn column<'a>(df: &'a DataFrame, name: &str) -> Result<&'a PlColumn> {
    df.column(name).map_err(|source| Error::Polars { doing: "looking up a column", source })
}

fn finding(table: &Table, check: Check, column: Option<&str>, examples: Examples, message: String) -> Finding {
    Finding {
        check,
        severity: Severity::Error,
        file: table.path.display().to_string(),
        column: column.map(str::to_string),
        count: examples.count,
        examples: examples.rows,
        values: examples.values,
        message,
    }
}

fn check_table(config: &ValidationConfig, table: &Table) -> Result<Vec<Finding>> {
    let schema = &table.schema;
    let (per_column, (dups, balance)) = rayon::join(
        || schema.columns.par_iter().map(|c| check_column(config, table, schema, c)).collect::<Vec<_>>(),
        || {
            rayon::join(
                || config.max_duplicate_fraction.map(|max| duplicates(config, table, max)).transpose(),
                || table.schema.task.is_classification().then(|| check_labels(config, table)).transpose(),
            )
        },
    );
    let mut findings = Vec::new();
    for result in per_column {
        findings.extend(result?);
    }
    let n_rows = table.n_rows() as u64;
    if config.min_rows.is_some_and(|min| n_rows < min) || config.max_rows.is_some_and(|max| n_rows > max) {
        let bounds = format!(
            "[{}, {}]",
            config.min_rows.map_or("-".into(), |v| v.to_string()),
            config.max_rows.map_or("-".into(), |v| v.to_string())
        );
        let mut ex = Examples::new(0);
        ex.count = n_rows;
        findings.push(finding(table, Check::RowCount, None, ex, format!("{n_rows} rows, expected {bounds}")));
    }
    findings.extend(dups?.flatten());
    findings.extend(balance?.into_iter().flatten());
    Ok(findings)
}

fn check_column(
    config: &ValidationConfig,
    table: &Table,
    schema: &Schema,
    col: &kiln_core::schema::Column,
) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    let series = column(&table.df, &col.name)?.as_materialized_series();
    let n_rows = series.len();
    let expect = config.columns.get(&col.name);
    let limit = config.max_examples;

    // Missing fraction.
    let cap = expect.and_then(|e| e.max_missing).or(config.max_missing);
    let n_null = series.null_count();
    if let Some(cap) = cap {
        let fraction = n_null as f64 / n_rows.max(1) as f64;
        if fraction > cap {
            let mut ex = Examples::new(limit);
            for (idx, is_null) in series.is_null().iter().enumerate() {
                if is_null == Some(true) {
                    ex.push(idx, || None);
                    if ex.rows.len() >= limit {
                        break;
                    }
                }
            }
            ex.count = n_null as u64;
            let msg = format!("{:.2}% missing, at most {:.2}% allowed", fraction * 100.0, cap * 100.0);
            out.push(finding(table, Check::Missing, Some(&col.name), ex, msg));
        }
    }

    match col.dtype {
        DType::Float | DType::Int => {
            let (min, max) = (expect.and_then(|e| e.min), expect.and_then(|e| e.max));
            let is_regression_target = col.role == Role::Target;
            // Screen with vectorised aggregates; walk the rows only when something fails.
            if needs_numeric_walk(series, min, max)? {
                let values = series
                    .cast(&DataType::Float64)
                    .map_err(|source| Error::Polars { doing: "reading a numeric column", source })?;
                let values =
                    values.f64().map_err(|source| Error::Polars { doing: "reading a numeric column", source })?;
                let mut non_finite = Examples::new(limit);
                let mut range = Examples::new(limit);
                for (idx, v) in values.iter().enumerate() {
                    let Some(v) = v else { continue };
                    if !v.is_finite() {
                        non_finite.push(idx, || Some(v.to_string()));
                    } else if min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m) {
                        range.push(idx, || Some(v.to_string()));
                    }
                }
                if non_finite.count > 0 {
                    let msg = format!("{} NaN or infinite value(s)", non_finite.count);
                    let check = if is_regression_target { Check::Label } else { Check::NonFinite };
                    out.push(finding(table, check, Some(&col.name), non_finite, msg));
                }
                if range.count > 0 {
                    let bounds = format!(
                        "[{}, {}]",
                        min.map_or("-inf".into(), |v| v.to_string()),
                        max.map_or("inf".into(), |v| v.to_string())
                    );
                    let msg = format!("{} value(s) outside {bounds}", range.count);
                    out.push(finding(table, Check::Range, Some(&col.name), range, msg));
                }
            }
            if is_regression_target && n_null > 0 {
                out.push(missing_labels(table, series, limit));
            }
        }
        DType::String | DType::Bool => {
            // Class labels are checked with the class balance, in one pass (`check_labels`).
            let allowed: Option<PlHashSet<&str>> = if col.role == Role::Target && schema.task.is_classification() {
                None
            } else {
                expect.and_then(|e| e.allowed.as_ref()).map(|a| a.iter().map(String::as_str).collect())
            };
            if let Some(allowed) = allowed {
                let text = series
                    .cast(&DataType::String)
                    .map_err(|source| Error::Polars { doing: "reading a text column", source })?;
                let text = text.str().map_err(|source| Error::Polars { doing: "reading a text column", source })?;
                let mut bad = Examples::new(limit);
                scan_text(
                    text,
                    |v| allowed.contains(v),
                    |idx, ok, value| {
                        if !ok {
                            bad.push_text(idx, &value());
                        }
                    },
                );
                if bad.count > 0 {
                    let (check, what) = if col.role == Role::Target {
                        (Check::Label, "label(s) outside columns.classes")
                    } else {
                        (Check::Allowed, "value(s) outside the allowed set")
                    };
                    let msg = format!("{} {what}: {}", bad.count, bad.quoted());
                    out.push(finding(table, check, Some(&col.name), bad, msg));
                }
            }
            if col.role == Role::Target && n_null > 0 {
                out.push(missing_labels(table, series, limit));
            }
        }
    }
    Ok(out)
}

/// Whether a numeric column may hold a non-finite or out-of-range value (then its rows are
/// walked one by one).
fn needs_numeric_walk(series: &polars::prelude::Series, min: Option<f64>, max: Option<f64>) -> Result<bool> {
    let err = |source| Error::Polars { doing: "screening a numeric column", source };
    // Passes over the raw values (null slots included: a false alarm only costs the walk),
    // written so that they vectorise: bit tests for non-finite values, min/max only when a
    // range is configured.
    let ranged = min.is_some() || max.is_some();
    let (lo, hi, non_finite) = match series.dtype() {
        DataType::Float64 => {
            let ca = series.f64().map_err(err)?;
            const EXPONENT: u64 = 0x7FF0_0000_0000_0000;
            let non_finite = ca
                .downcast_iter()
                .any(|a| a.values_iter().fold(false, |bad, x| bad | (x.to_bits() & EXPONENT == EXPONENT)));
            let (lo, hi) = if ranged {
                ca.downcast_iter().fold((f64::INFINITY, f64::NEG_INFINITY), |acc, a| {
                    a.values_iter()
                        .fold(acc, |(lo, hi), x| (if *x < lo { *x } else { lo }, if *x > hi { *x } else { hi }))
                })
            } else {
                (0.0, 0.0)
            };
            (lo, hi, non_finite)
        }
        DataType::Int64 if ranged => {
            let (lo, hi) =
                series.i64().map_err(err)?.downcast_iter().fold((i64::MAX, i64::MIN), |acc, a| {
                    a.values_iter().fold(acc, |(lo, hi), x| (lo.min(*x), hi.max(*x)))
                });
            (lo as f64, hi as f64, false)
        }
        DataType::Int64 => return Ok(false),
        _ => return Ok(true),
    };
    let out_of_range = min.is_some_and(|m| lo < m) || max.is_some_and(|m| hi > m);
    Ok(non_finite || out_of_range)
}

fn missing_labels(table: &Table, series: &polars::prelude::Series, limit: usize) -> Finding {
    let mut ex = Examples::new(limit);
    for (idx, is_null) in series.is_null().iter().enumerate() {
        if is_null == Some(true) {
            ex.push(idx, || None);
        }
    }
    let msg = format!("{} missing label(s)", ex.count);
    finding(table, Check::Label, Some(&series.name().to_string()), ex, msg)
}

fn duplicates(config: &ValidationConfig, table: &Table, max: f64) -> Result<Option<Finding>> {
    // Rows are compared on every column but ids: two rows that differ only in their id are
    // still duplicates of each other.
    let ids: Vec<&str> = table.schema.columns.iter().filter(|c| c.role == Role::Id).map(|c| c.name.as_str()).collect();
    let keep = |name: &str| !ids.contains(&name);
    // Count first (fast, parallel); find example rows only when the check fails.
    let hashes = row_hashes(&table.df, keep)?;
    let n_repeats = count_repeats(&hashes);
    let fraction = n_repeats as f64 / hashes.len().max(1) as f64;
    if fraction <= max {
        return Ok(None);
    }
    let mut seen: HashSet<u64, crate::rowhash::IdentityBuild> =
        HashSet::with_capacity_and_hasher(hashes.len(), Default::default());
    let mut ex = Examples::new(config.max_examples);
    for (idx, h) in hashes.iter().enumerate() {
        if !seen.insert(*h) {
            ex.push(idx, || None);
        }
    }
    let msg = format!(
        "{} row(s) repeat an earlier row in every non-id column ({:.3}%, at most {:.3}% allowed)",
        ex.count,
        fraction * 100.0,
        max * 100.0
    );
    Ok(Some(finding(table, Check::Duplicates, None, ex, msg)))
}

/// Labels outside the declared classes, and the class balance, in one pass over the target.
fn check_labels(config: &ValidationConfig, table: &Table) -> Result<Vec<Finding>> {
    let schema = &table.schema;
    let series = column(&table.df, &schema.target)?.as_materialized_series();
    let text =
        series.cast(&DataType::String).map_err(|source| Error::Polars { doing: "reading the target", source })?;
    let text = text.str().map_err(|source| Error::Polars { doing: "reading the target", source })?;
    let classes = &schema.classes;
    let mut counts = vec![0u64; classes.len()];
    let mut total = 0u64;
    let mut bad = Examples::new(config.max_examples);
    scan_text(
        text,
        |v| classes.iter().position(|c| c == v),
        |idx, class, value| {
            total += 1;
            match class {
                Some(i) => counts[i] += 1,
                None => bad.push_text(idx, &value()),
            }
        },
    );
    let mut out = Vec::new();
    if bad.count > 0 {
        let msg = format!("{} label(s) outside columns.classes: {}", bad.count, bad.quoted());
        out.push(finding(table, Check::Label, Some(&schema.target), bad, msg));
    }
    let Some(bounds) = config.class_balance else {
        return Ok(out);
    };
    let checked: Vec<&String> = match schema.task {
        Task::Binary => schema.classes.last().into_iter().collect(),
        _ => schema.classes.iter().collect(),
    };
    for class in checked {
        let count = classes.iter().position(|c| c == class).map_or(0, |i| counts[i]);
        let share = count as f64 / total.max(1) as f64;
        if bounds.min.is_some_and(|m| share < m) || bounds.max.is_some_and(|m| share > m) {
            let mut ex = Examples::new(0);
            ex.count = count;
            let msg = format!(
                "class {class:?} is {:.2}% of the rows, expected [{}, {}]",
                share * 100.0,
                bounds.min.map_or("-".into(), |v| format!("{:.2}%", v * 100.0)),
                bounds.max.map_or("-".into(), |v| format!("{:.2}%", v * 100.0)),
            );
            out.push(finding(table, Check::ClassBalance, Some(&schema.target), ex, msg));
        }
    }
    Ok(out)
}

/// Categories of categorical features in the test file that never occur in the training file.
fn unseen_categories(config: &ValidationConfig, train: &Table, test: &Table) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    for col in test.schema.columns.iter().filter(|c| c.role == Role::Categorical) {
        let train_text = text_column(&train.df, &col.name)?;
        let train_text = train_text.str().map_err(|source| Error::Polars { doing: "reading a text column", source })?;
        let mut seen: PlHashSet<String> = PlHashSet::default();
        scan_text(train_text, |v| seen.insert(v.to_string()), |_, _, _| {});
        let test_text = text_column(&test.df, &col.name)?;
        let test_text = test_text.str().map_err(|source| Error::Polars { doing: "reading a text column", source })?;
        let mut ex = Examples::new(config.max_examples);
        scan_text(
            test_text,
            |v| seen.contains(v),
            |idx, known, value| {
                if !known {
                    ex.push_text(idx, &value());
                }
            },
        );
        if ex.count > 0 {
            let msg = format!("{} row(s) with categories not in the training file: {}", ex.count, ex.quoted());
            out.push(finding(test, Check::UnseenCategory, Some(&col.name), ex, msg));
        }
    }
    Ok(out)
}

/// A column cast to text.
fn text_column(df: &DataFrame, name: &str) -> Result<polars::prelude::Series> {
    column(df, name)?
        .as_materialized_series()
        .cast(&DataType::String)
        .map_err(|source| Error::Polars { doing: "reading a text column", source })
}

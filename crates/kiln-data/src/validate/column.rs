//! The checks of one column, folded batch by batch: missing values, non-finite and
//! out-of-range numbers, values outside the allowed set, missing labels.

use kiln_core::schema::{Column, DType, Role, Task};
use polars::prelude::{DataFrame, DataType, PlHashSet, Series};

use crate::config::{Check, ValidationConfig};
use crate::error::{Error, Result};
use crate::findings::{Examples, Finding};
use crate::rowhash::scan_text;

use super::file::finding;

/// One column's accumulators.
#[derive(Debug)]
pub(super) struct ColumnChecks {
    col: Column,
    n_rows: u64,
    /// Missing cells: every one counted, the first few rows kept.
    nulls: Examples,
    non_finite: Examples,
    range: Examples,
    /// Values outside the allowed set (or labels outside the classes).
    bad: Examples,
    min: Option<f64>,
    max: Option<f64>,
    max_missing: Option<f64>,
    allowed: Option<PlHashSet<String>>,
}

impl ColumnChecks {
    pub(super) fn new(config: &ValidationConfig, task: Task, col: &Column) -> Self {
        let expect = config.columns.get(&col.name);
        let limit = config.max_examples;
        // Class labels are checked with the class balance, in one pass (`LabelChecks`).
        let allowed = match col.dtype {
            DType::String | DType::Bool if !(col.role == Role::Target && task.is_classification()) => {
                expect.and_then(|e| e.allowed.as_ref()).map(|a| a.iter().cloned().collect())
            }
            _ => None,
        };
        Self {
            col: col.clone(),
            n_rows: 0,
            nulls: Examples::new(limit),
            non_finite: Examples::new(limit),
            range: Examples::new(limit),
            bad: Examples::new(limit),
            min: expect.and_then(|e| e.min),
            max: expect.and_then(|e| e.max),
            max_missing: expect.and_then(|e| e.max_missing).or(config.max_missing),
            allowed,
        }
    }

    /// Fold a batch whose first row is row `offset` (0-based) of the file.
    pub(super) fn add(&mut self, df: &DataFrame, offset: usize) -> Result<()> {
        let series = df
            .column(&self.col.name)
            .map_err(|source| Error::Polars { doing: "looking up a column", source })?
            .as_materialized_series();
        self.n_rows += series.len() as u64;
        self.add_nulls(series, offset);
        match self.col.dtype {
            DType::Float | DType::Int => self.add_numbers(series, offset),
            DType::String | DType::Bool => self.add_text(series, offset),
        }
    }

    fn add_nulls(&mut self, series: &Series, offset: usize) {
        let n_null = series.null_count() as u64;
        if n_null == 0 {
            return;
        }
        let before = self.nulls.count;
        for (idx, is_null) in series.is_null().iter().enumerate() {
            if self.nulls.is_full() {
                break;
            }
            if is_null == Some(true) {
                self.nulls.push(offset + idx, || None);
            }
        }
        self.nulls.count = before + n_null;
    }

    fn add_numbers(&mut self, series: &Series, offset: usize) -> Result<()> {
        // Screen with vectorised aggregates; walk the rows only when something fails.
        if !needs_numeric_walk(series, self.min, self.max)? {
            return Ok(());
        }
        let err = |source| Error::Polars { doing: "reading a numeric column", source };
        let values = series.cast(&DataType::Float64).map_err(err)?;
        let (min, max) = (self.min, self.max);
        for (idx, v) in values.f64().map_err(err)?.iter().enumerate() {
            let Some(v) = v else { continue };
            if !v.is_finite() {
                self.non_finite.push(offset + idx, || Some(v.to_string()));
            } else if min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m) {
                self.range.push(offset + idx, || Some(v.to_string()));
            }
        }
        Ok(())
    }

    fn add_text(&mut self, series: &Series, offset: usize) -> Result<()> {
        let Some(allowed) = &self.allowed else { return Ok(()) };
        let err = |source| Error::Polars { doing: "reading a text column", source };
        let text = series.cast(&DataType::String).map_err(err)?;
        let bad = &mut self.bad;
        scan_text(
            text.str().map_err(err)?,
            |v| allowed.contains(v),
            |idx, ok, value| {
                if !ok {
                    bad.push_text(offset + idx, &value());
                }
            },
        );
        Ok(())
    }

    /// The column's findings, in the report's order.
    pub(super) fn finish(self, file: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        let name = Some(self.col.name.as_str());
        if let Some(cap) = self.max_missing {
            let fraction = self.nulls.count as f64 / self.n_rows.max(1) as f64;
            if fraction > cap {
                let msg = format!("{:.2}% missing, at most {:.2}% allowed", fraction * 100.0, cap * 100.0);
                out.push(finding(file, Check::Missing, name, self.nulls.clone(), msg));
            }
        }
        let is_target = self.col.role == Role::Target;
        if self.col.dtype.is_numeric() {
            if self.non_finite.count > 0 {
                let msg = format!("{} NaN or infinite value(s)", self.non_finite.count);
                let check = if is_target { Check::Label } else { Check::NonFinite };
                out.push(finding(file, check, name, self.non_finite, msg));
            }
            if self.range.count > 0 {
                let bounds = format!(
                    "[{}, {}]",
                    self.min.map_or("-inf".into(), |v| v.to_string()),
                    self.max.map_or("inf".into(), |v| v.to_string())
                );
                let msg = format!("{} value(s) outside {bounds}", self.range.count);
                out.push(finding(file, Check::Range, name, self.range, msg));
            }
        } else if self.bad.count > 0 {
            let (check, what) = if is_target {
                (Check::Label, "label(s) outside columns.classes")
            } else {
                (Check::Allowed, "value(s) outside the allowed set")
            };
            let msg = format!("{} {what}: {}", self.bad.count, self.bad.quoted());
            out.push(finding(file, check, name, self.bad, msg));
        }
        if is_target && self.nulls.count > 0 {
            let msg = format!("{} missing label(s)", self.nulls.count);
            out.push(finding(file, Check::Label, name, self.nulls, msg));
        }
        out
    }
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

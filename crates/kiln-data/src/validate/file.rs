//! The checks of one file's rows, folded batch by batch: the columns' checks, loading's type
//! findings, the row count, duplicate rows (through 64-bit row hashes), labels and the class
//! balance, and the categories of training data unseen in the test data.

use std::collections::{BTreeMap, HashSet};

use kiln_core::schema::{Role, Schema, Task};
use polars::prelude::{DataFrame, DataType, PlHashSet};
use rayon::prelude::*;

use crate::config::{Check, ValidationConfig};
use crate::error::{Error, Result};
use crate::findings::{Examples, Finding, Severity};
use crate::load::Table;
use crate::rowhash::{count_repeats, row_hashes, scan_text};

use super::FileSummary;
use super::column::ColumnChecks;

/// The distinct values of each categorical column of the training data.
pub(super) type Categories = BTreeMap<String, PlHashSet<String>>;

/// One file's accumulators. Feed it every batch in row order with [`FileChecks::add`].
#[derive(Debug)]
pub struct FileChecks<'a> {
    config: &'a ValidationConfig,
    role: String,
    file: String,
    schema: Schema,
    n_rows: u64,
    /// Loading's type findings, per column in schema order.
    loaded: Vec<Option<Examples>>,
    columns: Vec<ColumnChecks>,
    hashes: Option<Vec<u64>>,
    labels: Option<LabelChecks>,
    /// Training data: collect the categories.
    collect: Option<Categories>,
    /// Test data: the training categories and the rows outside them, per categorical column.
    unseen: Option<(Categories, Vec<Examples>)>,
}

/// What a finished file adds to the report.
pub(super) struct FileDone {
    pub(super) summary: FileSummary,
    pub(super) findings: Vec<Finding>,
    pub(super) unseen: Vec<Finding>,
    pub(super) categories: Option<Categories>,
}

impl<'a> FileChecks<'a> {
    pub(super) fn new(
        config: &'a ValidationConfig,
        role: &str,
        file: &str,
        schema: &Schema,
        collect: bool,
        seen: Option<Categories>,
    ) -> Self {
        let categorical = || schema.columns.iter().filter(|c| c.role == Role::Categorical);
        let limit = config.max_examples;
        Self {
            config,
            role: role.to_string(),
            file: file.to_string(),
            schema: schema.clone(),
            n_rows: 0,
            loaded: vec![None; schema.columns.len()],
            columns: schema.columns.iter().map(|c| ColumnChecks::new(config, schema.task, c)).collect(),
            hashes: config.max_duplicate_fraction.map(|_| Vec::new()),
            labels: schema.task.is_classification().then(|| LabelChecks::new(schema, limit)),
            collect: collect.then(|| categorical().map(|c| (c.name.clone(), PlHashSet::default())).collect()),
            unseen: seen.map(|seen| (seen, categorical().map(|_| Examples::new(limit)).collect())),
        }
    }

    /// Fold the next batch of rows (a whole table, or one row group of it).
    pub fn add(&mut self, table: &Table) -> Result<()> {
        let offset = self.n_rows as usize;
        self.merge_loaded(table, offset);
        let df = &table.df;
        let ids: Vec<&str> =
            self.schema.columns.iter().filter(|c| c.role == Role::Id).map(|c| c.name.as_str()).collect();
        let (columns, (hashes, labels)) = rayon::join(
            || self.columns.par_iter_mut().try_for_each(|c| c.add(df, offset)),
            || {
                rayon::join(
                    || match &mut self.hashes {
                        // Rows are compared on every column but ids: two rows that differ only
                        // in their id are still duplicates of each other.
                        Some(hashes) => row_hashes(df, |name| !ids.contains(&name)).map(|h| hashes.extend(h)),
                        None => Ok(()),
                    },
                    || self.labels.as_mut().map_or(Ok(()), |l| l.add(df, offset)),
                )
            },
        );
        columns?;
        hashes?;
        labels?;
        self.add_categories(df, offset)?;
        self.n_rows += df.height() as u64;
        Ok(())
    }

    fn merge_loaded(&mut self, table: &Table, offset: usize) {
        for f in &table.findings {
            let Some(i) = self.schema.columns.iter().position(|c| Some(&c.name) == f.column.as_ref()) else {
                continue;
            };
            let ex = self.loaded[i].get_or_insert_with(|| Examples::new(self.config.max_examples));
            let before = ex.count;
            for (j, row) in f.examples.iter().enumerate() {
                ex.push(offset + *row as usize - 1, || f.values.get(j).cloned());
            }
            ex.count = before + f.count;
        }
    }

    fn add_categories(&mut self, df: &DataFrame, offset: usize) -> Result<()> {
        let err = |source| Error::Polars { doing: "reading a text column", source };
        if let Some(collect) = &mut self.collect {
            for (name, seen) in collect.iter_mut() {
                let text = text_column(df, name)?;
                scan_text(text.str().map_err(err)?, |v| seen.insert(v.to_string()), |_, _, _| {});
            }
        }
        if let Some((seen, found)) = &mut self.unseen {
            let categorical = self.schema.columns.iter().filter(|c| c.role == Role::Categorical);
            for (col, ex) in categorical.zip(found.iter_mut()) {
                let empty = PlHashSet::default();
                let known = seen.get(&col.name).unwrap_or(&empty);
                let text = text_column(df, &col.name)?;
                scan_text(
                    text.str().map_err(err)?,
                    |v| known.contains(v),
                    |idx, known, value| {
                        if !known {
                            ex.push_text(offset + idx, &value());
                        }
                    },
                );
            }
        }
        Ok(())
    }

    pub(super) fn finish(self) -> Result<FileDone> {
        let file = self.file.as_str();
        let limit = self.config.max_examples;
        let mut findings = Vec::new();
        for (col, loaded) in self.schema.columns.iter().zip(self.loaded) {
            if let Some(ex) = loaded {
                let msg = crate::load::type_message(ex.count, col.dtype);
                findings.push(finding(file, Check::Type, Some(&col.name), ex, msg));
            }
        }
        for column in self.columns {
            findings.extend(column.finish(file));
        }
        let n_rows = self.n_rows;
        let config = self.config;
        if config.min_rows.is_some_and(|min| n_rows < min) || config.max_rows.is_some_and(|max| n_rows > max) {
            let bounds = format!(
                "[{}, {}]",
                config.min_rows.map_or("-".into(), |v| v.to_string()),
                config.max_rows.map_or("-".into(), |v| v.to_string())
            );
            let mut ex = Examples::new(0);
            ex.count = n_rows;
            findings.push(finding(file, Check::RowCount, None, ex, format!("{n_rows} rows, expected {bounds}")));
        }
        if let (Some(hashes), Some(max)) = (&self.hashes, config.max_duplicate_fraction) {
            findings.extend(duplicates(file, hashes, max, limit));
        }
        if let Some(labels) = self.labels {
            findings.extend(labels.finish(file, config, &self.schema));
        }
        let mut unseen = Vec::new();
        if let Some((_, found)) = self.unseen {
            let categorical = self.schema.columns.iter().filter(|c| c.role == Role::Categorical);
            for (col, ex) in categorical.zip(found) {
                if ex.count > 0 {
                    let msg = format!("{} row(s) with categories not in the training file: {}", ex.count, ex.quoted());
                    unseen.push(finding(file, Check::UnseenCategory, Some(&col.name), ex, msg));
                }
            }
        }
        let summary = FileSummary {
            role: self.role,
            path: self.file.clone(),
            n_rows,
            n_columns: self.schema.columns.len() as u64,
        };
        Ok(FileDone { summary, findings, unseen, categories: self.collect })
    }
}

pub(super) fn finding(file: &str, check: Check, column: Option<&str>, examples: Examples, message: String) -> Finding {
    Finding {
        check,
        severity: Severity::Error,
        file: file.to_string(),
        column: column.map(str::to_string),
        count: examples.count,
        examples: examples.rows,
        values: examples.values,
        message,
    }
}

fn duplicates(file: &str, hashes: &[u64], max: f64, limit: usize) -> Option<Finding> {
    // Count first (fast, parallel); find example rows only when the check fails.
    let n_repeats = count_repeats(hashes);
    let fraction = n_repeats as f64 / hashes.len().max(1) as f64;
    if fraction <= max {
        return None;
    }
    let mut seen: HashSet<u64, crate::rowhash::IdentityBuild> =
        HashSet::with_capacity_and_hasher(hashes.len(), Default::default());
    let mut ex = Examples::new(limit);
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
    Some(finding(file, Check::Duplicates, None, ex, msg))
}

/// Labels outside the declared classes, and the class counts, in one pass over the target.
#[derive(Debug)]
struct LabelChecks {
    target: String,
    classes: Vec<String>,
    counts: Vec<u64>,
    total: u64,
    bad: Examples,
}

impl LabelChecks {
    fn new(schema: &Schema, limit: usize) -> Self {
        Self {
            target: schema.target.clone(),
            classes: schema.classes.clone(),
            counts: vec![0; schema.classes.len()],
            total: 0,
            bad: Examples::new(limit),
        }
    }

    fn add(&mut self, df: &DataFrame, offset: usize) -> Result<()> {
        let err = |source| Error::Polars { doing: "reading the target", source };
        let text = text_column(df, &self.target)?;
        let Self { classes, counts, total, bad, .. } = self;
        scan_text(
            text.str().map_err(err)?,
            |v| classes.iter().position(|c| c == v),
            |idx, class, value| {
                *total += 1;
                match class {
                    Some(i) => counts[i] += 1,
                    None => bad.push_text(offset + idx, &value()),
                }
            },
        );
        Ok(())
    }

    fn finish(self, file: &str, config: &ValidationConfig, schema: &Schema) -> Vec<Finding> {
        let mut out = Vec::new();
        let target = Some(self.target.as_str());
        if self.bad.count > 0 {
            let msg = format!("{} label(s) outside columns.classes: {}", self.bad.count, self.bad.quoted());
            out.push(finding(file, Check::Label, target, self.bad, msg));
        }
        let Some(bounds) = config.class_balance else {
            return out;
        };
        let checked: Vec<&String> = match schema.task {
            Task::Binary => self.classes.last().into_iter().collect(),
            _ => self.classes.iter().collect(),
        };
        for class in checked {
            let count = self.classes.iter().position(|c| c == class).map_or(0, |i| self.counts[i]);
            let share = count as f64 / self.total.max(1) as f64;
            if bounds.min.is_some_and(|m| share < m) || bounds.max.is_some_and(|m| share > m) {
                let mut ex = Examples::new(0);
                ex.count = count;
                let msg = format!(
                    "class {class:?} is {:.2}% of the rows, expected [{}, {}]",
                    share * 100.0,
                    bounds.min.map_or("-".into(), |v| format!("{:.2}%", v * 100.0)),
                    bounds.max.map_or("-".into(), |v| format!("{:.2}%", v * 100.0)),
                );
                out.push(finding(file, Check::ClassBalance, target, ex, msg));
            }
        }
        out
    }
}

/// A column cast to text.
fn text_column(df: &DataFrame, name: &str) -> Result<polars::prelude::Series> {
    df.column(name)
        .map_err(|source| Error::Polars { doing: "looking up a column", source })?
        .as_materialized_series()
        .cast(&DataType::String)
        .map_err(|source| Error::Polars { doing: "reading a text column", source })
}

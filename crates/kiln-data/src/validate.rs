//! `kiln data validate`: every expectation of `[validation]` checked over every row.
//!
//! The report lists every failure with its count and example rows; whether the run fails is
//! the caller's decision ([`ValidationReport::passed`]). Checks run column by column over plain
//! arrays, in parallel across columns, so that validating costs little next to reading.
//!
//! The checks fold rows into accumulators ([`FileChecks`]: counts, missing counts, example rows,
//! class counts, 64-bit row hashes, the categories seen in training), so that data read batch
//! by batch (`stream`) gives the same report as the same rows read whole: [`validate`] is one
//! batch per file.

mod column;
mod file;

use serde::{Deserialize, Serialize};

use crate::config::{Check, ValidationConfig};
use crate::error::Result;
use crate::findings::{Finding, Severity};
use crate::load::Table;

pub use file::FileChecks;

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
    let mut validator = Validator::new(config_path, config, test.is_some());
    for (role, table) in std::iter::once(("train", train)).chain(test.map(|t| ("test", t))) {
        let mut checks = validator.file(role, &table.path.display().to_string(), &table.schema);
        checks.add(table)?;
        validator.finish_file(checks)?;
    }
    Ok(validator.finish())
}

/// A validation fed file by file (the training data first, then the test data), each file
/// batch by batch through its [`FileChecks`].
#[derive(Debug)]
pub struct Validator<'a> {
    config_path: String,
    config: &'a ValidationConfig,
    has_test: bool,
    files: Vec<FileSummary>,
    findings: Vec<Finding>,
    /// Categories of the training data, for the unseen-category check of the test data.
    seen: Option<file::Categories>,
    unseen: Vec<Finding>,
}

impl<'a> Validator<'a> {
    pub fn new(config_path: &str, config: &'a ValidationConfig, has_test: bool) -> Self {
        Self {
            config_path: config_path.to_string(),
            config,
            has_test,
            files: Vec::new(),
            findings: Vec::new(),
            seen: None,
            unseen: Vec::new(),
        }
    }

    /// The accumulators for the next file: `role` is `train` or `test`, `path` names it in the
    /// findings, `schema` is its schema without dropped columns.
    pub fn file(&mut self, role: &str, path: &str, schema: &kiln_core::schema::Schema) -> FileChecks<'a> {
        let unseen = self.has_test && self.config.unseen_categories;
        let collect = unseen && role == "train";
        let seen = if unseen && role == "test" { self.seen.take() } else { None };
        FileChecks::new(self.config, role, path, schema, collect, seen)
    }

    /// Add a finished file's summary and findings.
    pub fn finish_file(&mut self, checks: FileChecks<'a>) -> Result<()> {
        let done = checks.finish()?;
        self.files.push(done.summary);
        self.findings.extend(done.findings);
        self.unseen.extend(done.unseen);
        if done.categories.is_some() {
            self.seen = done.categories;
        }
        Ok(())
    }

    pub fn finish(self) -> ValidationReport {
        let config = self.config;
        let mut findings = self.findings;
        findings.extend(self.unseen);
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
        if self.has_test && config.unseen_categories {
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
        ValidationReport { config: self.config_path, files: self.files, checks, findings }
    }
}

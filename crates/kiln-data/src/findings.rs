//! A data-quality finding: one failed check with its counts and example rows.
//!
//! Loading produces findings (cells that do not parse as their declared type) and validation
//! adds the rest; the report keeps all of them, never only the first.

use serde::{Deserialize, Serialize};

use crate::config::Check;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub check: Check,
    pub severity: Severity,
    /// The file the rows come from.
    pub file: String,
    pub column: Option<String>,
    /// How many rows (or cells) fail.
    pub count: u64,
    /// 1-based data row numbers of some failing rows (the first data row of a file is row 1,
    /// after any header and comment lines).
    pub examples: Vec<u64>,
    /// The offending values of those rows, where there is one.
    pub values: Vec<String>,
    pub message: String,
}

impl Finding {
    /// One line for terminals: `error type income: 3 rows (rows 4, 9, 12): ...`.
    pub fn summary(&self) -> String {
        let column = self.column.as_deref().map(|c| format!(" `{c}`")).unwrap_or_default();
        let rows = if self.examples.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = self.examples.iter().map(u64::to_string).collect();
            format!(" (e.g. rows {})", list.join(", "))
        };
        format!("{}{column}: {}{rows}", self.check.as_str(), self.message)
    }
}

/// Collects up to `limit` example rows (and values) while counting every failure.
#[derive(Debug, Clone)]
pub(crate) struct Examples {
    limit: usize,
    pub(crate) count: u64,
    pub(crate) rows: Vec<u64>,
    pub(crate) values: Vec<String>,
}

impl Examples {
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit, count: 0, rows: Vec::new(), values: Vec::new() }
    }

    /// Record a failure at 0-based row index `row_idx`.
    pub(crate) fn push(&mut self, row_idx: usize, value: impl FnOnce() -> Option<String>) {
        self.count += 1;
        if self.rows.len() < self.limit {
            self.rows.push(row_idx as u64 + 1);
            if let Some(v) = value() {
                self.values.push(v);
            }
        }
    }
}

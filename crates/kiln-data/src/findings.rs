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
    /// The first few distinct offending values, for the finding's message.
    pub(crate) distinct: Vec<String>,
}

/// How many distinct offending values a message quotes.
const DISTINCT_QUOTED: usize = 10;

impl Examples {
    pub(crate) fn new(limit: usize) -> Self {
        Self { limit, count: 0, rows: Vec::new(), values: Vec::new(), distinct: Vec::new() }
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

    /// Whether the example rows are all taken (later failures are only counted).
    pub(crate) fn is_full(&self) -> bool {
        self.rows.len() >= self.limit
    }

    /// Record a failing text value at 0-based row `row_idx`, also keeping it among the
    /// distinct values quoted in the message.
    pub(crate) fn push_text(&mut self, row_idx: usize, value: &str) {
        self.push(row_idx, || Some(value.to_string()));
        if self.distinct.len() < DISTINCT_QUOTED && !self.distinct.iter().any(|d| d == value) {
            self.distinct.push(value.to_string());
        }
    }

    /// The distinct offending values, quoted and comma-separated.
    pub(crate) fn quoted(&self) -> String {
        self.distinct.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ")
    }
}

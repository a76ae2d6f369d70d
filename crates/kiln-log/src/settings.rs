//! `[serving.log]` of serve.toml: the prediction log's folder, flushing, rotation and queue
//! bound, with their defaults, checked without touching the disk.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::LogError;

/// `[serving.log]` of serve.toml: where the prediction log goes, and how often it is flushed
/// and rotated.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// The log's folder (created if missing).
    pub dir: PathBuf,
    /// Flush a model version's buffered rows once this many are buffered (default 1024).
    #[serde(default = "defaults::flush_rows")]
    pub flush_rows: usize,
    /// Flush buffered rows at least this often, in milliseconds (default 1000).
    #[serde(default = "defaults::flush_interval_ms")]
    pub flush_interval_ms: u64,
    /// Finish a segment and start the next once it holds this many rows (default 1,000,000).
    #[serde(default = "defaults::segment_rows")]
    pub segment_rows: usize,
    /// Finish a segment once it is this many seconds old (default 3600; 0 puts every flush in
    /// a segment of its own).
    #[serde(default = "defaults::segment_seconds")]
    pub segment_seconds: u64,
    /// Rows waiting for the writer (default 1,000,000); an entry that does not fit is dropped
    /// and counted, never waited for.
    #[serde(default = "defaults::queue_rows")]
    pub queue_rows: usize,
}

mod defaults {
    pub(super) fn flush_rows() -> usize {
        1024
    }
    pub(super) fn flush_interval_ms() -> u64 {
        1000
    }
    pub(super) fn segment_rows() -> usize {
        1_000_000
    }
    pub(super) fn segment_seconds() -> u64 {
        3600
    }
    pub(super) fn queue_rows() -> usize {
        1_000_000
    }
}

impl LogSettings {
    /// Settings for `dir` with every other field at its default.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            flush_rows: defaults::flush_rows(),
            flush_interval_ms: defaults::flush_interval_ms(),
            segment_rows: defaults::segment_rows(),
            segment_seconds: defaults::segment_seconds(),
            queue_rows: defaults::queue_rows(),
        }
    }

    /// Checks the values without touching the disk: every count and the flush interval are at
    /// least 1 (`segment_seconds` may be 0).
    pub fn validate(&self) -> Result<(), LogError> {
        let at_least_one = [
            ("flush_rows", self.flush_rows as u64),
            ("flush_interval_ms", self.flush_interval_ms),
            ("segment_rows", self.segment_rows as u64),
            ("queue_rows", self.queue_rows as u64),
        ];
        match at_least_one.into_iter().find(|(_, value)| *value == 0) {
            Some((key, value)) => Err(LogError::Setting { key, value, min: 1 }),
            None => Ok(()),
        }
    }
}

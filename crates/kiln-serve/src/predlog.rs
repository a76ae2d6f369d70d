//! Interface placeholder, replaced by the prediction log module.
use std::path::PathBuf;
use std::sync::Arc;

use kiln_core::columns::Batch;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub dir: PathBuf,
}

impl LogSettings {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Primary,
    Shadow,
    Fallback,
}

#[derive(Debug)]
pub struct Entry {
    pub request_id: String,
    pub time_ms: i64,
    pub model: String,
    pub version: i64,
    pub route: Route,
    pub latency_ms: f64,
    pub inputs: Arc<Batch>,
    pub outputs: Batch,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct LogStats {
    pub rows_written: u64,
    pub rows_dropped: u64,
}

#[derive(Debug)]
pub struct LogError(pub String);

impl std::fmt::Display for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug)]
pub struct PredictionLog;

impl PredictionLog {
    pub fn start(_settings: LogSettings) -> Result<Self, LogError> {
        Ok(Self)
    }
    pub fn append(&self, _entry: Entry) {}
    pub fn stats(&self) -> LogStats {
        LogStats::default()
    }
    pub fn close(self) -> Result<LogStats, LogError> {
        Ok(LogStats::default())
    }
}

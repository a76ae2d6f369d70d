//! The `[monitoring]` section of a config: which drift test and threshold each feature gets,
//! the share of drifted features that makes a group drift, how the current rows are cut into
//! windows, the minimum sizes, and how far an estimated or realised metric may fall below its
//! test value. [`MonitoringConfig::plan`] checks it into a [`MonitorPlan`] with errors that
//! name the key.
//!
//! ```toml
//! [monitoring]
//! stattest = "auto"        # Evidently's choice by type and size, or ks, wasserstein, psi, ...
//! drift_share = 0.5        # a group drifts when this share of its features drift
//! min_rows = 200           # windows and groups with fewer rows are listed, not judged
//! window = { rows = 5000 } # or { every = "1h", time_column = "ts" }; default: one window
//! max_metric_drop = 0.05   # an estimated or realised metric this far below its test value
//! segments = true          # check every slicing group the bundle has a reference for
//!
//! [monitoring.features.age]
//! stattest = "ks"
//! threshold = 0.01
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::stats::{ColumnOptions, DEFAULT_DRIFT_SHARE, FeatureKind, StatTest};

/// `[monitoring]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    /// A test for every feature, or "auto" (Evidently's choice by type and size).
    #[serde(default = "auto")]
    pub stattest: String,
    /// A threshold for every feature (default: the test's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The test and threshold for the model's scores (default: as for a numeric feature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_stattest: Option<String>,
    #[serde(default = "default_drift_share")]
    pub drift_share: f64,
    #[serde(default = "default_min_rows")]
    pub min_rows: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowConfig>,
    #[serde(default = "default_max_metric_drop")]
    pub max_metric_drop: f64,
    #[serde(default = "yes")]
    pub segments: bool,
    /// The confidence level of the estimated and realised metrics' intervals.
    #[serde(default = "default_level")]
    pub level: f64,
    /// Per-feature test and threshold.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub features: BTreeMap<String, FeatureConfig>,
}

/// `[monitoring.features.NAME]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stattest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Leave the feature out of the checks.
    #[serde(default)]
    pub skip: bool,
}

/// `window = { rows = N }` or `window = { every = "1h", time_column = "ts" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// The column holding each row's time (RFC 3339 text or milliseconds since the epoch);
    /// the prediction log's own time is used when monitoring a log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_column: Option<String>,
}

fn auto() -> String {
    "auto".into()
}
fn default_drift_share() -> f64 {
    DEFAULT_DRIFT_SHARE
}
fn default_min_rows() -> usize {
    200
}
fn default_max_metric_drop() -> f64 {
    0.05
}
fn default_level() -> f64 {
    0.95
}
fn yes() -> bool {
    true
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        Self {
            stattest: auto(),
            threshold: None,
            score_stattest: None,
            drift_share: default_drift_share(),
            min_rows: default_min_rows(),
            window: None,
            max_metric_drop: default_max_metric_drop(),
            segments: true,
            level: default_level(),
            features: BTreeMap::new(),
        }
    }
}

/// How the current rows are cut into windows.
#[derive(Debug, Clone, PartialEq)]
pub enum Windows {
    /// All rows in one window.
    Whole,
    /// Consecutive windows of this many rows (the last one may be shorter).
    Rows(usize),
    /// Windows of this length by each row's time, aligned to the epoch.
    Every { length: Duration, time_column: Option<String> },
}

/// `[monitoring]` checked.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorPlan {
    pub defaults: ColumnOptions,
    pub scores: ColumnOptions,
    pub features: BTreeMap<String, ColumnOptions>,
    pub skipped: Vec<String>,
    pub drift_share: f64,
    pub min_rows: usize,
    pub windows: Windows,
    pub max_metric_drop: f64,
    pub segments: bool,
    pub level: f64,
}

impl Default for MonitorPlan {
    fn default() -> Self {
        MonitoringConfig::default().plan().unwrap_or_else(|_| unreachable!("the defaults are valid"))
    }
}

impl MonitorPlan {
    /// The test options of feature `name` of kind `kind`: its own, else the section's (a
    /// section-wide test that cannot test this kind leaves the choice to Evidently's rule).
    pub fn options(&self, name: &str, kind: FeatureKind) -> ColumnOptions {
        let own = self.features.get(name).copied().unwrap_or_default();
        ColumnOptions {
            test: own.test.or(self.defaults.test.filter(|t| t.accepts(kind))),
            threshold: own.threshold.or(self.defaults.threshold),
        }
    }
}

impl MonitoringConfig {
    /// Check every key; errors name it (`[monitoring] drift_share`).
    pub fn plan(&self) -> Result<MonitorPlan> {
        let key = |k: &str| format!("[monitoring] {k}");
        let test = |k: &str, name: Option<&str>| -> Result<Option<StatTest>> {
            match name {
                None | Some("auto") => Ok(None),
                Some(name) => name
                    .parse::<StatTest>()
                    .map(Some)
                    .map_err(|e| Error::Config { key: key(k), problem: e.to_string() }),
            }
        };
        let threshold = |k: &str, t: Option<f64>| -> Result<Option<f64>> {
            match t {
                Some(t) if !(t.is_finite() && t >= 0.0) => Err(Error::Config {
                    key: key(k),
                    problem: format!(
                        "{t} is not a finite number >= 0; give a p-value level such as 0.05 or a distance such as 0.1"
                    ),
                }),
                t => Ok(t),
            }
        };
        let defaults = ColumnOptions {
            test: test("stattest", Some(&self.stattest))?,
            threshold: threshold("threshold", self.threshold)?,
        };
        let scores = ColumnOptions {
            test: test("score_stattest", self.score_stattest.as_deref())?,
            threshold: defaults.threshold,
        };
        let mut features = BTreeMap::new();
        let mut skipped = Vec::new();
        for (name, f) in &self.features {
            if f.skip {
                skipped.push(name.clone());
                continue;
            }
            let options = ColumnOptions {
                test: test(&format!("features.{name}.stattest"), f.stattest.as_deref())?,
                threshold: threshold(&format!("features.{name}.threshold"), f.threshold)?,
            };
            features.insert(name.clone(), options);
        }
        let share = |k: &str, v: f64| -> Result<f64> {
            if (0.0..=1.0).contains(&v) {
                Ok(v)
            } else {
                Err(Error::Config { key: key(k), problem: format!("{v} is not a share between 0 and 1") })
            }
        };
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(Error::Config {
                key: key("level"),
                problem: format!("{} is not a level strictly between 0 and 1, such as 0.95", self.level),
            });
        }
        Ok(MonitorPlan {
            defaults,
            scores,
            features,
            skipped,
            drift_share: share("drift_share", self.drift_share)?,
            min_rows: self.min_rows.max(1),
            windows: self.windows()?,
            max_metric_drop: share("max_metric_drop", self.max_metric_drop)?,
            segments: self.segments,
            level: self.level,
        })
    }

    fn windows(&self) -> Result<Windows> {
        let Some(w) = &self.window else { return Ok(Windows::Whole) };
        let key = "[monitoring] window".to_string();
        match (w.rows, &w.every) {
            (Some(0), _) => Err(Error::Config { key, problem: "rows = 0: a window needs at least one row".into() }),
            (Some(rows), None) => Ok(Windows::Rows(rows)),
            (None, Some(every)) => Ok(Windows::Every {
                length: parse_duration(every).map_err(|problem| Error::Config { key, problem })?,
                time_column: w.time_column.clone(),
            }),
            _ => Err(Error::Config {
                key,
                problem: "give either `rows = N` or `every = \"1h\"`, not both or neither".into(),
            }),
        }
    }
}

/// "90s", "15m", "1h", "2d" (a whole number and a unit).
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration such as 90s, 15m, 1h or 2d"))?;
    let seconds = match unit.trim() {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{text}` has no unit: write 90s, 15m, 1h or 2d")),
    };
    if seconds == 0 {
        return Err(format!("`{text}` is empty: a window lasts at least one second"));
    }
    Ok(Duration::from_secs(seconds))
}

//! The monitoring report: every window, every slicing group in it, every feature's drift test,
//! the scores' drift, estimated and realised metrics, the findings in words, and the verdict.
//! Its size depends on the number of windows, groups and features, never on the rows: plots
//! hold binned shares only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::{DatasetDrift, FeatureKind, StatResult};

/// The report's format name and version.
pub const FORMAT: &str = "kiln.monitor.v1";

/// Everything `kiln monitor` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorReport {
    pub format: &'static str,
    pub kiln_version: String,
    pub created_at: String,
    /// What the rows were compared against.
    pub reference: Source,
    /// The rows checked.
    pub current: Source,
    pub settings: Settings,
    pub windows: Vec<WindowResult>,
    /// Every test of every window and group, flat (one line per test).
    pub checks: Vec<Check>,
    pub findings: Vec<Finding>,
    /// Whether any finding is drift (`kiln monitor` then exits 1).
    pub drift: bool,
}

/// A reference or current data source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    /// "bundle", "data" or "log".
    pub kind: String,
    /// The file, folder or model.
    pub name: String,
    pub rows: u64,
}

/// The settings the checks ran with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// The test for every feature ("auto": Evidently's choice).
    pub stattest: String,
    pub drift_share: f64,
    pub min_rows: usize,
    pub windows: String,
    pub max_metric_drop: f64,
    pub level: f64,
}

/// One window of current rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowResult {
    pub index: usize,
    /// "rows 0–4999" or "2026-12-06T10:00:00Z – 11:00:00Z".
    pub label: String,
    pub rows: u64,
    /// The overall group first, then each slicing's groups.
    pub groups: Vec<GroupResult>,
}

/// The checks of one slicing group in one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupResult {
    /// "overall" or the slicing's name.
    pub slice: String,
    /// "all" or the group's value.
    pub group: String,
    pub rows: u64,
    /// Why the group was not judged (too few rows, no reference), if it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    pub features: Vec<FeatureResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetDrift>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scores: Option<FeatureResult>,
    /// Metrics estimated from the calibrated scores, without labels.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub estimated: Vec<MetricResult>,
    /// Metrics from the labels, when the rows have them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub realised: Vec<MetricResult>,
}

/// One feature's (or the scores') drift test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureResult {
    pub feature: String,
    pub kind: FeatureKind,
    #[serde(flatten)]
    pub result: StatResult,
    pub reference_rows: u64,
    pub current_rows: u64,
    pub reference_missing_share: f64,
    pub current_missing_share: f64,
    /// Reference against current, binned, for the report's plot.
    pub plot: Plot,
}

/// Binned shares of both sides: numeric bins `[edges[i], edges[i + 1])`, or categories.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Plot {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub edges: Vec<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    pub reference: Vec<f64>,
    pub current: Vec<f64>,
}

/// An estimated or realised metric with its interval, against the model's test value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricResult {
    pub metric: String,
    pub value: f64,
    pub low: f64,
    pub high: f64,
    /// The model's value on its test rows (the group's, when the bundle has it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<f64>,
    /// Whether the whole interval lies more than `max_metric_drop` below the reference.
    pub dropped: bool,
}

/// One test, flat, for tables and tools.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub window: usize,
    pub slice: String,
    pub group: String,
    pub feature: String,
    pub test: String,
    pub score: f64,
    pub p_value: Option<f64>,
    pub threshold: f64,
    pub drifted: bool,
}

/// A finding in words, with what it is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// "dataset_drift", "feature_drift", "segment_drift", "score_drift", "metric_drop",
    /// "no_reference".
    pub kind: String,
    pub window: usize,
    pub message: String,
    /// Whether it counts as drift for the verdict.
    pub drift: bool,
}

impl MonitorReport {
    /// The flat checks of the windows, in order.
    pub fn flatten(windows: &[WindowResult]) -> Vec<Check> {
        let mut out = Vec::new();
        for w in windows {
            for g in &w.groups {
                for f in g.features.iter().chain(g.scores.as_ref()) {
                    out.push(Check {
                        window: w.index,
                        slice: g.slice.clone(),
                        group: g.group.clone(),
                        feature: f.feature.clone(),
                        test: f.result.test.name().to_string(),
                        score: f.result.score,
                        p_value: f.result.p_value,
                        threshold: f.result.threshold,
                        drifted: f.result.drifted,
                    });
                }
            }
        }
        out
    }

    /// Counts of drifted tests per (slicing, group), for summaries.
    pub fn drifted_by_group(&self) -> BTreeMap<(String, String), usize> {
        let mut out = BTreeMap::new();
        for c in self.checks.iter().filter(|c| c.drifted) {
            *out.entry((c.slice.clone(), c.group.clone())).or_insert(0) += 1;
        }
        out
    }
}

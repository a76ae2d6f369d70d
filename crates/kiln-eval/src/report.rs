//! The evaluation report: one serde document that the JSON, Markdown and HTML renderings
//! share. Its JSON form is a stable interface, documented in `docs/report-schema.md`; fields
//! are only ever added (and `schema_version` bumped when one changes meaning).

use std::collections::BTreeMap;

use kiln_core::schema::Task;
use serde::{Deserialize, Serialize};

use crate::ci::Interval;
use crate::config::{CiConfig, DecideBy};
use crate::data::{CurvePoint, ModelCost};
use crate::gates::Verdict;

/// The version of this document's shape.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything an evaluation found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub schema_version: u32,
    /// The project, from `[project] name`.
    pub project: String,
    pub task: Task,
    /// Where the rows came from (a file or "test split").
    pub data: String,
    pub n_rows: usize,
    pub settings: Settings,
    /// The metric that ranks models (ROC AUC, log loss or RMSE).
    pub primary_metric: String,
    pub models: Vec<ModelReport>,
    /// Every non-baseline model against the best baseline, when there is one.
    pub comparisons: Vec<Comparison>,
    pub verdicts: Vec<Verdict>,
    /// The model chosen for export: the best passing one by the primary metric, if any passed.
    pub chosen: Option<String>,
}

/// How the numbers were computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub threshold: f64,
    pub min_slice_size: usize,
    pub ci: CiConfig,
    pub decide_by: DecideBy,
    pub calibration_bins: usize,
}

/// One model's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    pub name: String,
    pub kind: String,
    pub baseline: bool,
    pub cost: ModelCost,
    pub slicings: Vec<SlicingReport>,
    pub fairness: Vec<FairnessSummary>,
    /// Slices furthest below the overall primary metric (suppressed slices excluded).
    pub worst_slices: Vec<WorstSlice>,
    pub learning_curve: Vec<CurvePoint>,
}

impl ModelReport {
    /// The overall slice.
    pub fn overall(&self) -> Option<&SliceReport> {
        self.slicings.first().and_then(|s| s.slices.first())
    }

    /// A metric of the overall slice.
    pub fn overall_metric(&self, metric: &str) -> Option<MetricValue> {
        self.overall().and_then(|s| s.metrics.get(metric).copied())
    }
}

/// One slicing (overall, a column, a cross, bands) of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlicingReport {
    pub name: String,
    pub columns: Vec<String>,
    pub slices: Vec<SliceReport>,
}

/// One slice of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceReport {
    pub value: String,
    pub n: usize,
    pub weight: f64,
    /// Fewer rows than `min_slice_size`: listed, but no metrics are reported.
    pub suppressed: bool,
    /// By metric name.
    pub metrics: BTreeMap<String, MetricValue>,
    /// Binary: [[tn, fp], [fn, tp]]; multiclass: k×k, rows = true class. Weighted counts.
    pub confusion: Option<Vec<Vec<f64>>>,
    /// Binary: the reliability curve.
    pub calibration: Vec<CalibrationBin>,
    /// Binary: up to 101 (fpr, tpr) points for plotting.
    pub roc: Vec<[f64; 2]>,
    /// The most confident wrong predictions.
    pub confident_errors: Vec<ErrorRow>,
}

/// A metric's estimate and interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricValue {
    pub value: Option<f64>,
    pub ci: Option<Interval>,
}

/// One bin of a calibration curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    pub lo: f64,
    pub hi: f64,
    pub weight: f64,
    pub mean_predicted: f64,
    pub observed_rate: f64,
}

/// A wrong prediction made with high confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorRow {
    /// 0-based row of the evaluated data.
    pub row: usize,
    pub label: String,
    pub predicted: String,
    /// The score of the positive class (binary), of the predicted class (multiclass) or the
    /// prediction (regression).
    pub score: f64,
    /// Column → value; pii columns read "***".
    pub values: BTreeMap<String, String>,
}

/// A slice and its gap to the overall primary metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorstSlice {
    pub slicing: String,
    pub value: String,
    pub n: usize,
    pub metric: String,
    pub value_metric: MetricValue,
    /// Slice minus overall, signed so that negative is worse.
    pub gap: f64,
}

/// A model's fairness on one protected column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FairnessSummary {
    pub column: String,
    /// Per group: name, count, selection rate, TPR, FPR.
    pub groups: Vec<FairnessGroup>,
    /// Gap metrics by name ("demographic_parity_difference", …) and method
    /// ("between_groups", "to_overall").
    pub gaps: BTreeMap<String, BTreeMap<String, Option<f64>>>,
}

/// One group of a protected column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FairnessGroup {
    pub group: String,
    pub n: usize,
    pub selection_rate: Option<f64>,
    pub tpr: Option<f64>,
    pub fpr: Option<f64>,
}

/// A model against the best baseline on the same rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub model: String,
    pub baseline: String,
    pub metric: String,
    /// Model minus baseline (higher is better for higher-is-better metrics; for loss metrics
    /// the sign is flipped so that a positive lift is always an improvement).
    pub lift: f64,
    pub lift_ci: Option<Interval>,
    /// Paired bootstrap p-value of the difference.
    pub bootstrap_p: Option<f64>,
    /// DeLong's test for ROC AUC (binary).
    pub delong_p: Option<f64>,
    /// McNemar's test for accuracy (classification).
    pub mcnemar_p: Option<f64>,
}

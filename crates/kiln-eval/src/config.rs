//! The `[evaluation]` and `[acceptance]` sections of a config file.
//!
//! ```toml
//! [evaluation]
//! metrics = ["roc_auc", "accuracy", "log_loss"]   # default: every metric of the task
//! threshold = 0.5                                  # binary: predicted positive when score >= threshold
//! min_slice_size = 30                              # smaller slices are reported as suppressed
//! ci = { method = "bootstrap", replicates = 1000, level = 0.95, seed = 7 }
//!
//! [[evaluation.slices]]
//! by = ["sex", "race"]                             # a cross of two columns
//! [[evaluation.slices]]
//! by = ["age"]
//! bands = [25, 35, 45, 55, 65]                     # numeric band edges
//! [[evaluation.slices]]
//! by = ["race"]
//! value = "White"                                  # one value only
//!
//! [acceptance]
//! decide_by = "ci"                                 # the CI bound must clear a threshold ("point": the estimate)
//! [[acceptance.metrics]]
//! metric = "roc_auc"
//! min = 0.88
//! slices = "all"                                   # "overall" (default), "all", or slicing names
//! [[acceptance.fairness]]
//! metric = "equalized_odds_difference"
//! max = 0.1
//! [acceptance.baseline]
//! metric = "roc_auc"
//! min_lift = 0.02
//! [acceptance.budget]
//! max_latency_p95_ms = 1.0
//! max_size_mb = 50
//! ```
//!
//! The sections are plain serde data; [`crate::plan::EvalPlan`] checks them.

use serde::{Deserialize, Serialize};

/// `[evaluation]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationConfig {
    /// Metric names; empty means every metric of the task.
    #[serde(default)]
    pub metrics: Vec<String>,
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    #[serde(default = "default_min_slice_size")]
    pub min_slice_size: usize,
    #[serde(default)]
    pub ci: CiConfig,
    /// Slicings besides the overall slice; empty means one per segment column.
    #[serde(default)]
    pub slices: Vec<SliceConfig>,
    /// Bins of the calibration curve and of the expected calibration error.
    #[serde(default = "default_bins")]
    pub calibration_bins: usize,
    /// k of top-k accuracy (multiclass).
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// The most confident errors listed per slice.
    #[serde(default = "default_top_errors")]
    pub top_errors: usize,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        Self {
            metrics: Vec::new(),
            threshold: default_threshold(),
            min_slice_size: default_min_slice_size(),
            ci: CiConfig::default(),
            slices: Vec::new(),
            calibration_bins: default_bins(),
            top_k: default_top_k(),
            top_errors: default_top_errors(),
        }
    }
}

fn default_threshold() -> f64 {
    0.5
}
fn default_min_slice_size() -> usize {
    30
}
fn default_bins() -> usize {
    10
}
fn default_top_k() -> usize {
    2
}
fn default_top_errors() -> usize {
    5
}

/// How confidence intervals are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CiMethod {
    /// Seeded Poisson bootstrap: each row gets a Poisson(1) weight per replicate.
    #[default]
    Bootstrap,
    /// Delete-one-group jackknife over `replicates` contiguous blocks of rows.
    Jackknife,
    /// No intervals.
    None,
}

/// `[evaluation.ci]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CiConfig {
    #[serde(default)]
    pub method: CiMethod,
    /// Bootstrap replicates, or jackknife blocks.
    #[serde(default = "default_replicates")]
    pub replicates: usize,
    #[serde(default = "default_level")]
    pub level: f64,
    #[serde(default = "default_ci_seed")]
    pub seed: u64,
}

impl Default for CiConfig {
    fn default() -> Self {
        Self { method: CiMethod::Bootstrap, replicates: default_replicates(), level: default_level(), seed: 7 }
    }
}

fn default_replicates() -> usize {
    1000
}
fn default_level() -> f64 {
    0.95
}
fn default_ci_seed() -> u64 {
    7
}

/// One `[[evaluation.slices]]` table: slice by one column, a cross of several, numeric bands,
/// or one value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliceConfig {
    pub by: Vec<String>,
    /// Numeric band edges (ascending) for a single numeric column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bands: Option<Vec<f64>>,
    /// Keep only this value of a single column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A display name (default: the columns joined with " × ").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl SliceConfig {
    /// The slicing's name in reports and in `[[acceptance.metrics]] slices`.
    pub fn display_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let base = self.by.join(" × ");
        match &self.value {
            Some(v) => format!("{base} = {v}"),
            None => base,
        }
    }
}

/// `[acceptance]`: the success criteria.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AcceptanceConfig {
    #[serde(default)]
    pub decide_by: DecideBy,
    #[serde(default)]
    pub metrics: Vec<MetricGate>,
    #[serde(default)]
    pub fairness: Vec<FairnessGate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineGate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetGate>,
}

/// Whether a threshold is checked against the confidence bound or the point estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DecideBy {
    /// A floor must be cleared by the lower bound, a ceiling by the upper bound (where a CI
    /// exists; otherwise the point estimate decides and the verdict says so).
    #[default]
    Ci,
    Point,
}

/// Which slices a metric gate applies to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SliceSelector {
    /// "overall" or "all".
    Keyword(String),
    /// Slicing names (e.g. "sex", "sex × race").
    Names(Vec<String>),
}

impl Default for SliceSelector {
    fn default() -> Self {
        SliceSelector::Keyword("overall".into())
    }
}

/// `[[acceptance.metrics]]`: a floor and/or ceiling on a metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricGate {
    pub metric: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default)]
    pub slices: SliceSelector,
}

/// `[[acceptance.fairness]]`: a maximum gap (or minimum ratio) for protected columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FairnessGate {
    /// demographic_parity_difference, demographic_parity_ratio, equalized_odds_difference,
    /// equalized_odds_ratio, tpr_difference, fpr_difference, tpr_ratio, fpr_ratio.
    pub metric: String,
    /// One protected column; default every protected column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// "between_groups" (default) or "to_overall".
    #[serde(default = "default_fair_method")]
    pub method: String,
}

fn default_fair_method() -> String {
    "between_groups".into()
}

/// `[acceptance.baseline]`: beat the best baseline by a lift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineGate {
    pub metric: String,
    #[serde(default)]
    pub min_lift: f64,
}

/// `[acceptance.budget]`: latency, size and parameter budgets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BudgetGate {
    /// p95 latency of one row, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latency_p95_ms: Option<f64>,
    /// p95 latency of a batch of 1024 rows, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch_latency_p95_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size_mb: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_params: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_train_seconds: Option<f64>,
}

/// The fairness metrics a gate may name.
pub const FAIRNESS_METRICS: &[&str] = &[
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "tpr_difference",
    "tpr_ratio",
    "fpr_difference",
    "fpr_ratio",
];

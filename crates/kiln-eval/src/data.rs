//! What an evaluation reads: plain columns of labels, weights, slice columns and each model's
//! scores, built by the caller from whatever table it holds.

use kiln_core::schema::Task;
use serde::{Deserialize, Serialize};

use crate::metrics::Outcomes;

/// The true values of the evaluated rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Labels {
    Binary(Vec<bool>),
    /// Class indices in `0..n_classes`.
    Multiclass {
        labels: Vec<u32>,
        n_classes: usize,
    },
    Regression(Vec<f64>),
}

impl Labels {
    pub fn len(&self) -> usize {
        match self {
            Labels::Binary(v) => v.len(),
            Labels::Multiclass { labels, .. } => labels.len(),
            Labels::Regression(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn task(&self) -> Task {
        match self {
            Labels::Binary(_) => Task::Binary,
            Labels::Multiclass { .. } => Task::Multiclass,
            Labels::Regression(_) => Task::Regression,
        }
    }

    /// Outputs per row a model must give: the number of classes (multiclass), else 1.
    pub fn n_outputs(&self) -> usize {
        match self {
            Labels::Multiclass { n_classes, .. } => *n_classes,
            _ => 1,
        }
    }
}

/// The values of a column the rows are sliced by.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValues {
    /// Codes into `levels`; a missing value is its own level (e.g. "(missing)").
    Categorical { codes: Vec<u32>, levels: Vec<String> },
    /// Numeric values (`None` = missing), sliced into bands.
    Numeric(Vec<Option<f64>>),
}

/// A column available for slicing or fairness.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceColumn {
    pub name: String,
    pub values: ColumnValues,
}

/// A column shown beside the most confident errors; pii columns are masked.
#[derive(Debug, Clone, PartialEq)]
pub struct DisplayColumn {
    pub name: String,
    pub pii: bool,
    pub values: Vec<String>,
}

/// The evaluated rows.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalData {
    pub labels: Labels,
    /// Class names (classification), in label-index order.
    pub class_names: Vec<String>,
    /// Sample weights; `None` weighs every row 1.
    pub weights: Option<Vec<f64>>,
    /// Columns for slicing (segment columns) and fairness (protected columns).
    pub columns: Vec<SliceColumn>,
    /// The protected columns' names (a subset of `columns`).
    pub protected: Vec<String>,
    /// Row values shown in the error analysis.
    pub display: Vec<DisplayColumn>,
}

impl EvalData {
    pub fn n_rows(&self) -> usize {
        self.labels.len()
    }

    pub fn column(&self, name: &str) -> Option<&SliceColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A model's cost: what a team weighs against its quality.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct ModelCost {
    pub train_seconds: Option<f64>,
    /// Latency of one row, milliseconds.
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    /// Latency of a batch of 1024 rows, milliseconds.
    pub batch_latency_p50_ms: Option<f64>,
    pub batch_latency_p95_ms: Option<f64>,
    pub size_bytes: Option<u64>,
    pub n_params: Option<u64>,
}

/// One epoch of a model's training history.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub epoch: usize,
    pub train_loss: f64,
    pub valid_metric: f64,
}

/// One model's outputs on the evaluated rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOutput {
    pub name: String,
    pub kind: String,
    /// A baseline (prior, rules): the others are compared against the best of these.
    pub baseline: bool,
    /// Per row: the positive-class probability (binary), `n_classes` probabilities
    /// (multiclass, row-major) or the prediction (regression).
    pub scores: Vec<f64>,
    pub cost: ModelCost,
    pub learning_curve: Vec<CurvePoint>,
}

impl ModelOutput {
    /// The outcomes of rows `0..n` against `labels`.
    pub fn outcomes<'a>(&'a self, labels: &'a Labels) -> Outcomes<'a> {
        outcomes(labels, &self.scores)
    }
}

/// Outcomes over whole columns.
pub fn outcomes<'a>(labels: &'a Labels, scores: &'a [f64]) -> Outcomes<'a> {
    match labels {
        Labels::Binary(labels) => Outcomes::Binary { labels, scores },
        Labels::Multiclass { labels, n_classes } => {
            Outcomes::Multiclass { labels, probs: scores, n_classes: *n_classes }
        }
        Labels::Regression(targets) => Outcomes::Regression { targets, predictions: scores },
    }
}

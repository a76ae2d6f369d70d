//! Evaluation metrics over plain slices, with optional sample weights, equal to scikit-learn's definitions.
//!
//! The metric functions live in [`binary`], [`multiclass`] and [`regression`]; this module holds the
//! shared conventions and a small dispatch layer ([`Metric`], [`Outcomes`], [`MetricParams`], [`compute`])
//! used by the rest of the crate (slices, bootstrap, fairness, gates).
//!
//! Conventions shared by every function:
//!
//! - Weights are optional. When given they must have one entry per row, be finite and non-negative.
//!   A row with weight 0 contributes nothing: every metric equals the same metric computed without
//!   that row. This is what makes Poisson-count weights a valid bootstrap resample.
//! - Undefined results are `None`, never a panic and never a NaN: empty input, zero total weight,
//!   mismatched lengths, NaN scores, invalid weights, out-of-range probabilities or class indices,
//!   ROC AUC with one class, and so on. Each function documents its own cases.
//! - Where scikit-learn substitutes a value for an ill-defined ratio by default (precision with no
//!   predicted positive, R² of a constant target, ...), the same value is returned and documented.
//!
//! Where kiln departs from scikit-learn, on purpose:
//!
//! - Average precision without a positive row is `None` (scikit-learn warns and returns 0).
//! - Binary log loss is defined when only one class occurs (scikit-learn needs `labels=[0, 1]`).
//! - Macro F1 averages over the classes present in rows of positive weight; scikit-learn also counts a
//!   class seen only in zero-weight rows (with F1 0).
//! - Infinite scores are accepted by ROC AUC and average precision (they rank like any other score);
//!   scikit-learn refuses them.
//!
//! The reference values of `tests/fixtures/sklearn_metrics.json` come from
//! `scripts/fixtures/eval_sklearn.py` (scikit-learn 1.9); the integration test compares every metric
//! within 1e-9.

pub mod binary;
pub mod multiclass;
pub mod regression;

use serde::{Deserialize, Serialize};

/// The kind of prediction problem a metric applies to (the schema's task).
pub use kiln_core::schema::Task;

/// A metric that [`compute`] knows how to evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Share of correct predictions (binary: `score >= threshold`; multiclass: argmax).
    Accuracy,
    /// Binary precision at the threshold.
    Precision,
    /// Binary recall at the threshold.
    Recall,
    /// Binary F1 at the threshold.
    F1,
    /// Area under the ROC curve (binary, threshold-free).
    RocAuc,
    /// Average precision, scikit-learn's step definition (binary, threshold-free).
    AveragePrecision,
    /// Cross-entropy of the predicted probabilities (binary or multiclass).
    LogLoss,
    /// Brier score (binary).
    Brier,
    /// Expected calibration error over equal-width bins (binary).
    Ece,
    /// True positive rate at the threshold (binary).
    Tpr,
    /// False positive rate at the threshold (binary).
    Fpr,
    /// Share of rows predicted positive at the threshold (binary).
    SelectionRate,
    /// Unweighted mean of per-class F1 (multiclass).
    MacroF1,
    /// Support-weighted mean of per-class F1 (multiclass).
    WeightedF1,
    /// Share of rows whose class is among the `top_k` highest probabilities (multiclass).
    TopKAccuracy,
    /// Root mean squared error (regression).
    Rmse,
    /// Mean absolute error (regression).
    Mae,
    /// Coefficient of determination (regression).
    R2,
    /// Mean absolute percentage error, as a fraction (regression).
    Mape,
}

const BINARY: &[Task] = &[Task::Binary];
const MULTICLASS: &[Task] = &[Task::Multiclass];
const REGRESSION: &[Task] = &[Task::Regression];
const CLASSIFICATION: &[Task] = &[Task::Binary, Task::Multiclass];

impl Metric {
    /// Every metric, in report order: the one list that configs are checked against, reports
    /// and renderings follow, and [`Metric::for_task`] filters.
    pub const ALL: [Metric; 19] = [
        Metric::RocAuc,
        Metric::AveragePrecision,
        Metric::Accuracy,
        Metric::Precision,
        Metric::Recall,
        Metric::F1,
        Metric::LogLoss,
        Metric::Brier,
        Metric::Ece,
        Metric::Tpr,
        Metric::Fpr,
        Metric::SelectionRate,
        Metric::MacroF1,
        Metric::WeightedF1,
        Metric::TopKAccuracy,
        Metric::Rmse,
        Metric::Mae,
        Metric::R2,
        Metric::Mape,
    ];

    /// The snake_case name used in configs, reports and the serde form (`"roc_auc"`, `"top_k_accuracy"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::Precision => "precision",
            Metric::Recall => "recall",
            Metric::F1 => "f1",
            Metric::RocAuc => "roc_auc",
            Metric::AveragePrecision => "average_precision",
            Metric::LogLoss => "log_loss",
            Metric::Brier => "brier",
            Metric::Ece => "ece",
            Metric::Tpr => "tpr",
            Metric::Fpr => "fpr",
            Metric::SelectionRate => "selection_rate",
            Metric::MacroF1 => "macro_f1",
            Metric::WeightedF1 => "weighted_f1",
            Metric::TopKAccuracy => "top_k_accuracy",
            Metric::Rmse => "rmse",
            Metric::Mae => "mae",
            Metric::R2 => "r2",
            Metric::Mape => "mape",
        }
    }

    /// The metric whose [`Metric::name`] is `s` (exact, case-sensitive), or `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Metric::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Whether a larger value means a better model.
    ///
    /// `SelectionRate` has no better direction; it reports `false` so that gates on it state explicit bounds.
    pub fn higher_is_better(self) -> bool {
        match self {
            Metric::Accuracy
            | Metric::Precision
            | Metric::Recall
            | Metric::F1
            | Metric::RocAuc
            | Metric::AveragePrecision
            | Metric::Tpr
            | Metric::MacroF1
            | Metric::WeightedF1
            | Metric::TopKAccuracy
            | Metric::R2 => true,
            Metric::LogLoss
            | Metric::Brier
            | Metric::Ece
            | Metric::Fpr
            | Metric::SelectionRate
            | Metric::Rmse
            | Metric::Mae
            | Metric::Mape => false,
        }
    }

    /// The tasks this metric applies to; [`compute`] returns `None` for any other.
    pub fn tasks(self) -> &'static [Task] {
        match self {
            Metric::Accuracy | Metric::LogLoss => CLASSIFICATION,
            Metric::Precision
            | Metric::Recall
            | Metric::F1
            | Metric::RocAuc
            | Metric::AveragePrecision
            | Metric::Brier
            | Metric::Ece
            | Metric::Tpr
            | Metric::Fpr
            | Metric::SelectionRate => BINARY,
            Metric::MacroF1 | Metric::WeightedF1 | Metric::TopKAccuracy => MULTICLASS,
            Metric::Rmse | Metric::Mae | Metric::R2 | Metric::Mape => REGRESSION,
        }
    }

    /// Whether this metric applies to `task`.
    pub fn applies_to(self, task: Task) -> bool {
        self.tasks().contains(&task)
    }

    /// The metrics that apply to `task`, in report order (an evaluation's default set).
    pub fn for_task(task: Task) -> Vec<Metric> {
        Metric::ALL.into_iter().filter(|m| m.applies_to(task)).collect()
    }

    /// Every metric's name, comma-separated, for messages that list the choices.
    pub fn names() -> String {
        Metric::ALL.map(Metric::name).join(", ")
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The labels and predictions of one evaluation, borrowed from columns.
#[derive(Debug, Clone, Copy)]
pub enum Outcomes<'a> {
    /// Binary labels and the predicted probability (or score) of the positive class, one per row.
    Binary {
        /// `true` for the positive class.
        labels: &'a [bool],
        /// Probability of the positive class (any real score for ROC AUC and average precision).
        scores: &'a [f64],
    },
    /// Class indices and row-major `n × n_classes` probabilities.
    Multiclass {
        /// Class index of each row, in `0..n_classes`.
        labels: &'a [u32],
        /// Row-major probabilities, `labels.len() * n_classes` values.
        probs: &'a [f64],
        /// Number of classes `k`.
        n_classes: usize,
    },
    /// Real targets and predictions.
    Regression {
        /// Observed values.
        targets: &'a [f64],
        /// Predicted values.
        predictions: &'a [f64],
    },
}

impl Outcomes<'_> {
    /// The task these outcomes belong to.
    pub fn task(&self) -> Task {
        match self {
            Outcomes::Binary { .. } => Task::Binary,
            Outcomes::Multiclass { .. } => Task::Multiclass,
            Outcomes::Regression { .. } => Task::Regression,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Outcomes::Binary { labels, .. } => labels.len(),
            Outcomes::Multiclass { labels, .. } => labels.len(),
            Outcomes::Regression { targets, .. } => targets.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parameters of the metrics that need one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricParams {
    /// Binary decision threshold: a row is predicted positive when `score >= threshold`. Default 0.5.
    pub threshold: f64,
    /// Number of equal-width bins on `[0, 1]` for [`Metric::Ece`]. Default 10.
    pub ece_bins: usize,
    /// `k` of [`Metric::TopKAccuracy`]. Default 2.
    pub top_k: usize,
}

impl Default for MetricParams {
    fn default() -> Self {
        MetricParams { threshold: 0.5, ece_bins: 10, top_k: 2 }
    }
}

/// Evaluates `metric` on `outcomes`, with optional per-row `weights` (e.g. Poisson counts of a bootstrap).
///
/// Returns `None` when the metric does not apply to the outcomes' task, or when the value is undefined
/// (see the functions of [`binary`], [`multiclass`] and [`regression`] for each case).
pub fn compute(metric: Metric, outcomes: &Outcomes<'_>, weights: Option<&[f64]>, params: &MetricParams) -> Option<f64> {
    match *outcomes {
        Outcomes::Binary { labels, scores } => {
            let t = params.threshold;
            let cm = || binary::confusion_matrix(labels, scores, weights, t);
            match metric {
                Metric::Accuracy => cm()?.accuracy(),
                Metric::Precision => cm()?.precision(),
                Metric::Recall => cm()?.recall(),
                Metric::F1 => cm()?.f1(),
                Metric::Tpr => cm()?.tpr(),
                Metric::Fpr => cm()?.fpr(),
                Metric::SelectionRate => cm()?.selection_rate(),
                Metric::RocAuc => binary::roc_auc(labels, scores, weights),
                Metric::AveragePrecision => binary::average_precision(labels, scores, weights),
                Metric::LogLoss => binary::log_loss(labels, scores, weights),
                Metric::Brier => binary::brier(labels, scores, weights),
                Metric::Ece => binary::ece(labels, scores, weights, params.ece_bins),
                _ => None,
            }
        }
        Outcomes::Multiclass { labels, probs, n_classes } => match metric {
            Metric::Accuracy => multiclass::accuracy(labels, probs, n_classes, weights),
            Metric::MacroF1 => multiclass::macro_f1(labels, probs, n_classes, weights),
            Metric::WeightedF1 => multiclass::weighted_f1(labels, probs, n_classes, weights),
            Metric::LogLoss => multiclass::log_loss(labels, probs, n_classes, weights),
            Metric::TopKAccuracy => multiclass::top_k_accuracy(labels, probs, n_classes, weights, params.top_k),
            _ => None,
        },
        Outcomes::Regression { targets, predictions } => match metric {
            Metric::Rmse => regression::rmse(targets, predictions, weights),
            Metric::Mae => regression::mae(targets, predictions, weights),
            Metric::R2 => regression::r2(targets, predictions, weights),
            Metric::Mape => regression::mape(targets, predictions, weights),
            _ => None,
        },
    }
}

/// Several metrics of the same outcomes at once: binary metrics share one confusion matrix
/// and one sort for ROC AUC and average precision. Equal to calling [`compute`] per metric.
pub fn compute_all(
    metrics: &[Metric],
    outcomes: &Outcomes<'_>,
    weights: Option<&[f64]>,
    params: &MetricParams,
) -> Vec<Option<f64>> {
    let Outcomes::Binary { labels, scores } = *outcomes else {
        return metrics.iter().map(|&m| compute(m, outcomes, weights, params)).collect();
    };
    let thresholded = metrics.iter().any(|m| {
        matches!(
            m,
            Metric::Accuracy
                | Metric::Precision
                | Metric::Recall
                | Metric::F1
                | Metric::Tpr
                | Metric::Fpr
                | Metric::SelectionRate
        )
    });
    let cm = if thresholded { binary::confusion_matrix(labels, scores, weights, params.threshold) } else { None };
    let ranked = if metrics.iter().any(|m| matches!(m, Metric::RocAuc | Metric::AveragePrecision)) {
        binary::roc_auc_and_average_precision(labels, scores, weights)
    } else {
        None
    };
    metrics
        .iter()
        .map(|&m| match m {
            Metric::Accuracy => cm?.accuracy(),
            Metric::Precision => cm?.precision(),
            Metric::Recall => cm?.recall(),
            Metric::F1 => cm?.f1(),
            Metric::Tpr => cm?.tpr(),
            Metric::Fpr => cm?.fpr(),
            Metric::SelectionRate => cm?.selection_rate(),
            Metric::RocAuc => ranked?.0,
            Metric::AveragePrecision => ranked?.1,
            other => compute(other, outcomes, weights, params),
        })
        .collect()
}

/// Whether `w` is not a usable weight (negative, NaN or infinite).
#[inline]
fn bad_weight(w: f64) -> bool {
    !(0.0..f64::INFINITY).contains(&w)
}

/// `sum / total`, or `None` when the total weight is zero.
#[inline]
fn ratio(sum: f64, total: f64) -> Option<f64> {
    if total > 0.0 { Some(sum / total) } else { None }
}

/// Calls `f` with the per-row weights as an iterator: the given slice, or ones.
///
/// Written as a macro so that each arm is monomorphized: the unweighted loop does no loads for weights.
macro_rules! with_weights {
    ($weights:expr, |$w:ident| $body:expr) => {
        match $weights {
            Some(ws) => {
                let $w = ws.iter().copied();
                $body
            }
            None => {
                let $w = std::iter::repeat(1.0_f64);
                $body
            }
        }
    };
}
pub(crate) use with_weights;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_parse_and_serde() {
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.name()), Some(m));
            let json = serde_json::to_string(&m).expect("a unit enum serializes");
            assert_eq!(json, format!("\"{}\"", m.name()));
            let back: Metric = serde_json::from_str(&json).expect("its own output parses");
            assert_eq!(back, m);
            assert!(!m.tasks().is_empty());
        }
        assert_eq!(Metric::parse("ROC_AUC"), None);
        assert_eq!(Metric::parse(""), None);
    }

    #[test]
    fn compute_refuses_metrics_of_another_task() {
        let outcomes = Outcomes::Regression { targets: &[1.0, 2.0], predictions: &[1.0, 2.5] };
        let p = MetricParams::default();
        assert_eq!(compute(Metric::RocAuc, &outcomes, None, &p), None);
        assert_eq!(compute(Metric::Mae, &outcomes, None, &p), Some(0.25));
        for m in Metric::ALL {
            assert_eq!(compute(m, &outcomes, None, &p).is_some(), m.applies_to(Task::Regression), "{m}");
        }
    }

    #[test]
    fn compute_dispatches_binary_and_multiclass() {
        let p = MetricParams::default();
        let bin = Outcomes::Binary { labels: &[false, true, true, false], scores: &[0.1, 0.8, 0.4, 0.6] };
        // Predictions at 0.5: [0, 1, 0, 1] -> tp 1, fp 1, fn 1, tn 1.
        assert_eq!(compute(Metric::Accuracy, &bin, None, &p), Some(0.5));
        assert_eq!(compute(Metric::SelectionRate, &bin, None, &p), Some(0.5));
        // Positive scores {0.8, 0.4} against negative {0.1, 0.6}: 3 of 4 pairs ordered.
        assert_eq!(compute(Metric::RocAuc, &bin, None, &p), Some(0.75));
        let multi = Outcomes::Multiclass { labels: &[0, 2], probs: &[0.5, 0.3, 0.2, 0.1, 0.5, 0.4], n_classes: 3 };
        assert_eq!(compute(Metric::Accuracy, &multi, None, &p), Some(0.5));
        assert_eq!(compute(Metric::TopKAccuracy, &multi, None, &p), Some(1.0));
        assert_eq!(compute(Metric::RocAuc, &multi, None, &p), None);
    }

    #[test]
    fn params_default_and_deserialize_partially() {
        let p: MetricParams = serde_json::from_str(r#"{"top_k": 3}"#).expect("partial params parse");
        assert_eq!(p, MetricParams { threshold: 0.5, ece_bins: 10, top_k: 3 });
    }

    #[test]
    fn directions() {
        assert!(Metric::RocAuc.higher_is_better());
        assert!(!Metric::LogLoss.higher_is_better());
        assert!(Metric::R2.higher_is_better());
        assert!(!Metric::Mape.higher_is_better());
    }
}

//! Performance without labels: confidence-based performance estimation (CBPE) for binary
//! classifiers, as NannyML's `CBPE`.
//!
//! 1. A [`Calibrator`] (isotonic regression, as scikit-learn's) is fitted on the reference: the
//!    model's scores and labels on its test split. It is serde data, so a bundle stores it, and
//!    [`Calibrator::compress`] bounds its size whatever the number of reference rows.
//! 2. A window of new, unlabelled scores becomes a [`ScoredWindow`]: sorted once, calibrated.
//! 3. Its estimated ROC AUC and accuracy are NannyML's (`estimate_roc_auc`, `estimate_accuracy`),
//!    and [`ScoredWindow::realised_intervals`] gives the range in which the realised metrics
//!    should fall once the labels come back (a parametric bootstrap of the calibration and the
//!    labels).
//!
//! **Calibration is always applied.** NannyML first checks whether the scores are already
//! calibrated (`nannyml.calibration.needs_calibration`: the expected calibration error over 10
//! bins before and after isotonic calibration, on the held-out tenths of ten random stratified
//! splits of the reference pooled together, calibrating only if it falls; never when the
//! reference ROC AUC exceeds 0.999). kiln always calibrates, because: the check
//! depends on scikit-learn's random splits, so its outcome cannot be reproduced outside numpy and
//! flips with the seed near its boundary; when the scores are already calibrated, isotonic
//! regression fitted on the reference moves them only by the noise of its blocks, while an
//! uncalibrated model estimated without calibration is wrong by its whole miscalibration; and a
//! calibrated map makes the mean estimated probability over the reference equal to its share of
//! positives, so the estimates on the reference itself are unbiased. The estimates therefore
//! equal NannyML's whenever NannyML decides that calibration is needed (the fixture tests check
//! this) and differ from them only by that block noise otherwise.
//!
//! Per segment, the caller builds one window from each segment's rows.

mod compress;
mod estimate;
mod interval;
mod isotonic;
mod realised;
mod uncertainty;
mod window;

pub use compress::MIN_CALIBRATION_POINTS;
pub use interval::{Interval, IntervalConfig, RealisedIntervals};
pub use isotonic::{CalibrationBlock, Calibrator};
pub use realised::roc_auc;
pub use window::ScoredWindow;

use serde::{Deserialize, Serialize};

use crate::Result;

/// One estimated metric of a window and the interval of its realised value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricEstimate {
    /// NannyML's estimate.
    pub estimate: f64,
    /// Where the realised metric should fall, at the configured level.
    pub interval: Interval,
}

/// The estimated performance of one window of unlabelled rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PerformanceEstimate {
    /// The number of rows in the window.
    pub n_rows: usize,
    /// The interval level the intervals were drawn at.
    pub level: f64,
    /// Accuracy at the model's decision threshold.
    pub accuracy: MetricEstimate,
    /// ROC AUC; `None` when the calibrated probabilities expect only one class (all 0 or all 1),
    /// or when no replicate drew both classes.
    pub roc_auc: Option<MetricEstimate>,
}

/// Estimates the ROC AUC and accuracy (at `threshold`) of the model on a window of its `scores`,
/// with intervals drawn as `interval` says.
///
/// Errors when the window is empty, a score is not finite, the threshold is NaN or a setting of
/// `interval` is out of range.
pub fn estimate_performance(
    calibrator: &Calibrator,
    scores: &[f64],
    threshold: f64,
    interval: &IntervalConfig,
) -> Result<PerformanceEstimate> {
    let window = ScoredWindow::new(calibrator, scores, threshold)?;
    let intervals = window.realised_intervals(interval)?;
    let roc_auc = window
        .estimated_roc_auc()
        .zip(intervals.roc_auc)
        .map(|(estimate, interval)| MetricEstimate { estimate, interval });
    Ok(PerformanceEstimate {
        n_rows: window.n_rows(),
        level: interval.level,
        accuracy: MetricEstimate { estimate: window.estimated_accuracy(), interval: intervals.accuracy },
        roc_auc,
    })
}

//! Estimated performance per group: the bundle's calibration map read back as a
//! [`Calibrator`], NannyML's estimated ROC AUC and accuracy of the group's current scores with
//! the interval of their realised values, each against the group's test metric.

use std::collections::BTreeMap;

use kiln_core::bundle::{CalibrationMap, ScoreReference};

use crate::cbpe::{Calibrator, IntervalConfig, estimate_performance};
use crate::error::{Error, Result};
use crate::report::MetricResult;

/// The most points a bundle's calibration map keeps (see `Calibrator::compress` for the bound).
pub const CALIBRATION_POINTS: usize = 256;

/// A group's reference for estimating performance: its calibration and test metrics.
#[derive(Debug, Clone)]
pub struct PerformanceReference {
    pub calibrator: Calibrator,
    pub metrics: BTreeMap<String, f64>,
    /// The model's decision threshold.
    pub threshold: f64,
}

impl PerformanceReference {
    /// The reference of a group's scores, when the bundle calibrated them.
    pub fn from_scores(scores: &ScoreReference, threshold: f64) -> Result<Option<Self>> {
        let Some(map) = &scores.calibration else { return Ok(None) };
        Ok(Some(Self { calibrator: calibrator(map)?, metrics: scores.metrics.clone(), threshold }))
    }
}

/// Fit the calibration of `scores` on `labels` for a bundle, compressed to
/// [`CALIBRATION_POINTS`].
pub fn fit_calibration(scores: &[f64], labels: &[bool]) -> Result<CalibrationMap> {
    let calibrator = Calibrator::fit(scores, labels)?.compress(CALIBRATION_POINTS)?;
    let value = serde_json::to_value(&calibrator).map_err(|e| Error::Calibration { problem: e.to_string() })?;
    serde_json::from_value(value).map_err(|e| Error::Calibration { problem: e.to_string() })
}

/// A bundle's calibration map as a calibrator (checked as it is read).
pub fn calibrator(map: &CalibrationMap) -> Result<Calibrator> {
    let value = serde_json::to_value(map).map_err(|e| Error::Calibration { problem: e.to_string() })?;
    serde_json::from_value(value).map_err(|e| Error::Calibration { problem: e.to_string() })
}

/// Estimated ROC AUC and accuracy of `scores` (the finite ones) against `reference`'s test
/// values; a metric dropped when its whole interval is more than `max_drop` below its test value.
pub fn estimate(
    reference: &PerformanceReference,
    scores: &[f64],
    level: f64,
    max_drop: f64,
    seed: u64,
) -> Result<Vec<MetricResult>> {
    let finite: Vec<f64> = scores.iter().copied().filter(|s| s.is_finite()).collect();
    if finite.is_empty() {
        return Ok(Vec::new());
    }
    let config = IntervalConfig { level, seed, ..IntervalConfig::default() };
    let estimate = estimate_performance(&reference.calibrator, &finite, reference.threshold, &config)?;
    let mut out = Vec::new();
    let mut push = |metric: &str, value: f64, low: f64, high: f64| {
        let test = reference.metrics.get(metric).copied();
        let dropped = test.is_some_and(|t| high < t - max_drop);
        out.push(MetricResult { metric: metric.into(), value, low, high, reference: test, dropped });
    };
    if let Some(auc) = estimate.roc_auc {
        push("roc_auc", auc.estimate, auc.interval.lower, auc.interval.upper);
    }
    let acc = estimate.accuracy;
    push("accuracy", acc.estimate, acc.interval.lower, acc.interval.upper);
    Ok(out)
}

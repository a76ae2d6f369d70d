//! Intervals for the estimates: where the window's realised metrics should fall once its labels
//! come back.
//!
//! If the calibration is right, the label of a row with calibrated probability `p` is a draw of
//! Bernoulli(`p`), independently of the other rows. The realised ROC AUC and accuracy of the window
//! are then random, and their distribution is what an interval must cover. It is simulated by a
//! parametric bootstrap: each replicate draws every row's label from its calibrated probability
//! with kiln's seeded generator (replicate `r` uses the stream `Rng::derive(seed, r)`, so the
//! result does not depend on the number of threads) and computes the realised metrics in one pass
//! over the ranked window. The interval at level `1 - α` runs from the `α/2` to the `1 - α/2`
//! quantile of the replicates (linear interpolation between order statistics, numpy's default).
//! Replicates whose labels are all of one class have no realised ROC AUC and are left out of its
//! interval.
//!
//! The intervals cover the randomness of the labels given the calibrated probabilities (the
//! sampling error of a window of this size); they do not widen for an error of the calibration
//! itself, which shrinks with the size of the reference.

use kiln_core::rng::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::realised::PairCount;
use super::window::ScoredWindow;
use crate::{Error, Result};

/// How intervals are drawn: serde data with documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntervalConfig {
    /// The probability that the realised metric falls inside its interval (default 0.95).
    pub level: f64,
    /// The number of bootstrap replicates (default 400).
    pub replicates: usize,
    /// The seed of the label draws (default 0).
    pub seed: u64,
}

impl Default for IntervalConfig {
    fn default() -> Self {
        Self { level: 0.95, replicates: 400, seed: 0 }
    }
}

impl IntervalConfig {
    /// Checks the settings: a level strictly between 0 and 1, at least one replicate.
    pub fn validate(&self) -> Result<()> {
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(Error::InvalidSetting {
                key: "level".into(),
                value: self.level.to_string(),
                expected: "a probability strictly between 0 and 1, such as 0.95".into(),
            });
        }
        if self.replicates == 0 {
            return Err(Error::InvalidSetting {
                key: "replicates".into(),
                value: "0".into(),
                expected: "at least 1 (a few hundred for a 95% interval)".into(),
            });
        }
        Ok(())
    }
}

/// A range of a metric's values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The lower end.
    pub lower: f64,
    /// The upper end.
    pub upper: f64,
}

impl Interval {
    /// Whether `value` lies in the interval, ends included.
    pub fn contains(&self, value: f64) -> bool {
        self.lower <= value && value <= self.upper
    }
}

/// The intervals of one window's realised metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RealisedIntervals {
    /// The realised accuracy's interval.
    pub accuracy: Interval,
    /// The realised ROC AUC's interval; `None` when no replicate had both classes.
    pub roc_auc: Option<Interval>,
    /// The number of replicates with both classes, over which `roc_auc` was taken.
    pub roc_auc_replicates: usize,
}

/// The realised metrics of one set of labels.
#[derive(Debug, Clone, Copy)]
struct Realised {
    accuracy: f64,
    roc_auc: Option<f64>,
}

impl ScoredWindow {
    /// The intervals of the realised accuracy and ROC AUC, drawn as `config` says.
    pub fn realised_intervals(&self, config: &IntervalConfig) -> Result<RealisedIntervals> {
        config.validate()?;
        let replicates: Vec<Realised> = (0..config.replicates)
            .into_par_iter()
            .map(|replicate| self.draw(&mut Rng::derive(config.seed, replicate as u64)))
            .collect();
        let mut accuracies: Vec<f64> = replicates.iter().map(|realised| realised.accuracy).collect();
        let mut aucs: Vec<f64> = replicates.iter().filter_map(|realised| realised.roc_auc).collect();
        Ok(RealisedIntervals {
            accuracy: quantile_interval(&mut accuracies, config.level).expect("at least one replicate"),
            roc_auc: quantile_interval(&mut aucs, config.level),
            roc_auc_replicates: aucs.len(),
        })
    }

    /// One replicate: a label for every row from its calibrated probability, and the realised
    /// metrics of those labels.
    fn draw(&self, rng: &mut Rng) -> Realised {
        let mut pairs = PairCount::default();
        let mut predicted_positive_hits = 0;
        for (start, end) in self.tie_runs() {
            let positives =
                self.probabilities[start..end].iter().filter(|&&probability| rng.uniform() < probability).count()
                    as u64;
            pairs.add_run(positives, (end - start) as u64 - positives);
            // A run of equal scores lies wholly on one side of the threshold.
            if end <= self.n_predicted_positive {
                predicted_positive_hits += positives;
            }
        }
        let n_predicted_negative = (self.n_rows() - self.n_predicted_positive) as u64;
        let negatives_below = n_predicted_negative - (pairs.positives() - predicted_positive_hits);
        Realised {
            accuracy: (predicted_positive_hits + negatives_below) as f64 / self.n_rows() as f64,
            roc_auc: pairs.roc_auc(),
        }
    }
}

/// The central interval holding `level` of `values`; `None` for no values.
fn quantile_interval(values: &mut [f64], level: f64) -> Option<Interval> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some(Interval { lower: quantile(values, tail), upper: quantile(values, 1.0 - tail) })
}

/// numpy's default (linear) quantile of sorted `values`.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    sorted[below] + (position - below as f64) * (sorted[above] - sorted[below])
}

#[cfg(test)]
mod tests {
    use super::super::isotonic::Calibrator;
    use super::*;

    #[test]
    fn quantiles_are_numpys_linear_ones() {
        // numpy.quantile([1, 2, 3, 4, 10], [0.025, 0.975]) = [1.1, 9.4]
        let mut values = [10.0, 2.0, 1.0, 4.0, 3.0];
        let interval = quantile_interval(&mut values, 0.95).expect("values");
        assert!((interval.lower - 1.1).abs() < 1e-12 && (interval.upper - 9.4).abs() < 1e-12, "{interval:?}");
        assert_eq!(quantile_interval(&mut [], 0.95), None);
    }

    #[test]
    fn certain_probabilities_give_a_point_interval() {
        // Calibrated probabilities of exactly 0 and 1: every replicate draws the same labels.
        let calibrator = Calibrator::fit(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]).expect("valid reference");
        let window = ScoredWindow::new(&calibrator, &[0.05, 0.1, 0.95, 0.9, 0.85], 0.5).expect("valid window");
        let intervals = window.realised_intervals(&IntervalConfig::default()).expect("valid config");
        assert_eq!(intervals.accuracy, Interval { lower: 1.0, upper: 1.0 });
        assert_eq!(intervals.roc_auc, Some(Interval { lower: 1.0, upper: 1.0 }));
        assert_eq!(intervals.roc_auc_replicates, 400);
    }

    #[test]
    fn the_same_seed_gives_the_same_interval_and_bad_settings_are_refused() {
        let calibrator = Calibrator::fit(&[0.1, 0.4, 0.35, 0.8], &[false, true, false, true]).expect("valid reference");
        let scores: Vec<f64> = (0..500).map(|row| f64::from(row) / 500.0).collect();
        let window = ScoredWindow::new(&calibrator, &scores, 0.5).expect("valid window");
        let config = IntervalConfig { seed: 9, ..IntervalConfig::default() };
        let first = window.realised_intervals(&config).expect("valid config");
        assert_eq!(first, window.realised_intervals(&config).expect("valid config"));
        assert!(first.accuracy.lower < first.accuracy.upper);
        for bad in [
            IntervalConfig { level: 1.0, ..config },
            IntervalConfig { level: f64::NAN, ..config },
            IntervalConfig { replicates: 0, ..config },
        ] {
            assert!(matches!(window.realised_intervals(&bad), Err(Error::InvalidSetting { .. })), "{bad:?}");
        }
    }
}

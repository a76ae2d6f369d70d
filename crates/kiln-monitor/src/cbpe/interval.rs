//! Intervals for the estimates: where the window's realised metrics should fall once its labels
//! come back.
//!
//! Two things separate an estimate from the realised metric. The labels: if the calibration is
//! right, the label of a row with calibrated probability `p` is a draw of Bernoulli(`p`),
//! independently of the other rows, so the realised ROC AUC and accuracy of the window are random.
//! And the calibration: each of its blocks estimates a probability from a finite number of
//! reference rows. Both are simulated by a parametric bootstrap: each replicate first redraws the
//! calibration's block probabilities from their posteriors (see `uncertainty`), then draws every
//! row's label from its redrawn probability, with kiln's seeded generator (replicate `r` uses the
//! stream `Rng::derive(seed, r)`, so the result does not depend on the number of threads), and
//! computes the realised metrics in one pass over the ranked window (replicates run side by side,
//! in parallel batches, over stretches of the ranking that stay in cache). The interval at level `1 - α` runs from the `α/2` to the `1 - α/2`
//! quantile of the replicates (linear interpolation between order statistics, numpy's default).
//! Replicates whose labels are all of one class have no realised ROC AUC and are left out of its
//! interval.
//!
//! The label part dominates small windows and shrinks as `1/√n` with the window's size; the
//! calibration part dominates very large windows and shrinks with the size of the reference.
//! Neither covers concept shift (a change of the labels given the scores), which no estimate
//! without labels can see.

use kiln_core::rng::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::realised::PairCount;
use super::window::{ScoredWindow, TieRun};
use crate::{Error, Result};

/// How intervals are drawn: serde data with documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntervalConfig {
    /// The probability that the realised metric falls inside its interval (default 0.95).
    pub level: f64,
    /// The number of bootstrap replicates (default 200).
    pub replicates: usize,
    /// The seed of the draws (default 0): the same seed gives the same intervals.
    pub seed: u64,
}

impl Default for IntervalConfig {
    fn default() -> Self {
        Self { level: 0.95, replicates: 200, seed: 0 }
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

/// Replicates drawn side by side over each stretch of the ranking, so that the stretch is read
/// from cache rather than from memory once per replicate.
const REPLICATES_PER_BATCH: usize = 16;
/// Runs of equal scores per stretch (about 48 KiB of the window).
const RUNS_PER_STRETCH: usize = 2048;

/// One replicate under way: its generator, its draw of the calibration and its counts so far.
struct Replicate {
    rng: Rng,
    point_probabilities: Vec<f64>,
    pairs: PairCount,
    predicted_positive_hits: u64,
}

impl ScoredWindow {
    /// The intervals of the realised accuracy and ROC AUC, drawn as `config` says.
    pub fn realised_intervals(&self, config: &IntervalConfig) -> Result<RealisedIntervals> {
        config.validate()?;
        let n_batches = config.replicates.div_ceil(REPLICATES_PER_BATCH);
        let replicates: Vec<Realised> = (0..n_batches)
            .into_par_iter()
            .flat_map_iter(|batch| {
                let first = batch * REPLICATES_PER_BATCH;
                self.draw_batch(config.seed, first..config.replicates.min(first + REPLICATES_PER_BATCH))
            })
            .collect();
        let mut accuracies: Vec<f64> = replicates.iter().map(|realised| realised.accuracy).collect();
        let mut aucs: Vec<f64> = replicates.iter().filter_map(|realised| realised.roc_auc).collect();
        Ok(RealisedIntervals {
            accuracy: quantile_interval(&mut accuracies, config.level).expect("at least one replicate"),
            roc_auc: quantile_interval(&mut aucs, config.level),
            roc_auc_replicates: aucs.len(),
        })
    }

    /// The replicates `indices`: for each, the calibration's probabilities redrawn from their
    /// uncertainty, then a label for every row from its probability, and the realised metrics of
    /// those labels. Replicate `r` draws from `Rng::derive(seed, r)` alone.
    fn draw_batch(&self, seed: u64, indices: std::ops::Range<usize>) -> Vec<Realised> {
        let mut replicates: Vec<Replicate> = indices
            .map(|index| {
                let mut rng = Rng::derive(seed, index as u64);
                let point_probabilities = self.calibration_draws.draw(&mut rng);
                Replicate { rng, point_probabilities, pairs: PairCount::default(), predicted_positive_hits: 0 }
            })
            .collect();
        let (predicted_positive, predicted_negative) = self.runs.split_at(self.n_predicted_positive_runs);
        draw_runs(&mut replicates, predicted_positive);
        for replicate in &mut replicates {
            replicate.predicted_positive_hits = replicate.pairs.positives();
        }
        draw_runs(&mut replicates, predicted_negative);
        let n_predicted_negative = (self.n_rows() - self.n_predicted_positive) as u64;
        replicates
            .iter()
            .map(|replicate| {
                let hits = replicate.predicted_positive_hits;
                let negatives_below = n_predicted_negative - (replicate.pairs.positives() - hits);
                Realised {
                    accuracy: (hits + negatives_below) as f64 / self.n_rows() as f64,
                    roc_auc: replicate.pairs.roc_auc(),
                }
            })
            .collect()
    }
}

/// Draws the labels of `runs`, in ranking order, for each replicate.
fn draw_runs(replicates: &mut [Replicate], runs: &[TieRun]) {
    for stretch in runs.chunks(RUNS_PER_STRETCH) {
        for replicate in replicates.iter_mut() {
            // Work on copies held in registers, written back once per stretch.
            let (mut rng, mut pairs) = (replicate.rng.clone(), replicate.pairs);
            for run in stretch {
                let positives = draw_labels(&mut rng, run, &replicate.point_probabilities);
                pairs.add_run(positives, u64::from(run.len) - positives);
            }
            (replicate.rng, replicate.pairs) = (rng, pairs);
        }
    }
}

/// The number of positives among a run's rows, each drawn from the run's probability under the
/// drawn calibration.
#[inline]
fn draw_labels(rng: &mut Rng, run: &TieRun, point_probabilities: &[f64]) -> u64 {
    let probability = run.segment.probability(point_probabilities);
    if run.len == 1 {
        return u64::from(rng.uniform() < probability);
    }
    (0..run.len).map(|_| u64::from(rng.uniform() < probability)).sum()
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
    fn a_large_separated_reference_gives_a_point_interval() {
        // 100,000 reference rows, negatives below 0.5 and positives above: the calibrated
        // probabilities are 0 and 1, uncertain only by about 1e-5, so the labels are certain.
        let scores: Vec<f64> = (0..100_000).map(|row| f64::from(row) / 100_000.0).collect();
        let labels: Vec<bool> = scores.iter().map(|&score| score >= 0.5).collect();
        let calibrator = Calibrator::fit(&scores, &labels).expect("valid reference");
        let window = ScoredWindow::new(&calibrator, &[0.05, 0.1, 0.95, 0.9, 0.85], 0.5).expect("valid window");
        let intervals = window.realised_intervals(&IntervalConfig::default()).expect("valid config");
        assert_eq!(intervals.accuracy, Interval { lower: 1.0, upper: 1.0 });
        assert_eq!(intervals.roc_auc, Some(Interval { lower: 1.0, upper: 1.0 }));
        assert_eq!(intervals.roc_auc_replicates, 200);
    }

    #[test]
    fn the_same_seed_gives_the_same_interval_and_bad_settings_are_refused() {
        let calibrator = Calibrator::fit(&[0.1, 0.4, 0.35, 0.8], &[false, true, false, true]).expect("valid reference");
        let scores: Vec<f64> = (0..500).map(|row| f64::from(row) / 500.0).collect();
        let window = ScoredWindow::new(&calibrator, &scores, 0.5).expect("valid window");
        let config = IntervalConfig { seed: 9, ..IntervalConfig::default() };
        let first = window.realised_intervals(&config).expect("valid config");
        // The same on one thread as on four: each replicate has its own stream.
        for threads in [1, 4] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a thread pool");
            assert_eq!(first, pool.install(|| window.realised_intervals(&config)).expect("valid config"));
        }
        let other_seed = IntervalConfig { seed: 10, ..config };
        assert_ne!(first, window.realised_intervals(&other_seed).expect("valid config"));
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

//! Paired bootstrap of a metric difference between two models on the same rows.
//!
//! Every replicate draws one Poisson(1) weight per row (the "Poisson bootstrap", which
//! approximates resampling rows with replacement) and evaluates both models under the same
//! weights, so the rows' shared difficulty cancels in the difference. Replicate `r` draws from
//! `Rng::derive(seed, r)`: results depend on the seed only.

use kiln_core::rng::Rng;
use serde::{Deserialize, Serialize};

use super::{CompareError, check_len};
use crate::scan::philox::poisson1;
#[cfg(test)]
use crate::scan::philox::{POISSON1_CDF, POISSON1_TABLE_LEN};

/// Fills `out` with independent Poisson(1) draws (as `f64`), by inversion of the precomputed
/// CDF table ([`poisson1`]): one uniform per draw.
pub fn poisson1_weights(rng: &mut Rng, out: &mut [f64]) {
    for w in out.iter_mut() {
        *w = f64::from(poisson1(rng.uniform()));
    }
}

/// A weighted metric of labels and scores, such as ROC AUC: `None` where it is undefined.
pub type ScoreMetric = fn(&[bool], &[f64], Option<&[f64]>) -> Option<f64>;

/// Settings of a paired bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BootstrapConfig {
    /// Number of replicates drawn (at least 1).
    pub replicates: usize,
    /// Confidence level of the percentile interval, in (0, 1).
    pub level: f64,
    /// Seed of the weights.
    pub seed: u64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self { replicates: 1000, level: 0.95, seed: 0 }
    }
}

/// Result of a paired bootstrap of metric(A) − metric(B).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedBootstrap {
    /// The metric of model A on the unweighted rows.
    pub metric_a: f64,
    /// The metric of model B on the unweighted rows.
    pub metric_b: f64,
    /// metric_a − metric_b.
    pub observed: f64,
    /// Confidence level of the interval.
    pub level: f64,
    /// Percentile interval of the replicate differences (linear interpolation between order
    /// statistics, as numpy's default quantile); `None` without valid replicates.
    pub ci_low: Option<f64>,
    /// Upper end of the percentile interval.
    pub ci_high: Option<f64>,
    /// Standard deviation (ddof = 1) of the replicate differences; `None` below two replicates.
    pub std_error: Option<f64>,
    /// Two-sided p-value: twice the share of replicates on the other side of 0 from the
    /// observed difference (a replicate at exactly 0 counts as the other side), capped at 1;
    /// 1 when the observed difference is 0; `None` without valid replicates.
    pub p_value: Option<f64>,
    /// Replicates where both metrics were defined.
    pub replicates: usize,
    /// Replicates skipped because a metric was undefined under their weights.
    pub skipped: usize,
}

/// Paired bootstrap of `metric(w, 0) − metric(w, 1)` over `n_rows` rows.
///
/// `metric(weights, model)` evaluates model 0 (A) or 1 (B) under per-row weights; it returns
/// `None` where the metric is undefined (such replicates are skipped and counted). The observed
/// difference uses weights of 1; a caller with its own sample weights multiplies them in.
/// Errors when the metric is undefined on the unweighted rows or the settings are out of range.
pub fn paired_bootstrap<F>(n_rows: usize, config: &BootstrapConfig, metric: F) -> Result<PairedBootstrap, CompareError>
where
    F: Fn(&[f64], usize) -> Option<f64>,
{
    let ones = vec![1.0; n_rows];
    let observed = (metric(&ones, 0), metric(&ones, 1));
    drive(n_rows, config, observed, |w| (metric(w, 0), metric(w, 1)))
}

/// Paired bootstrap of `metric(labels, score_a, ·) − metric(labels, score_b, ·)`.
///
/// `metric(labels, scores, weights)` is a weighted metric such as ROC AUC or accuracy;
/// replicate weights are the Poisson(1) draws times `sample_weight` where given. The observed
/// values pass `sample_weight` unchanged.
pub fn paired_bootstrap_scores(
    labels: &[bool],
    score_a: &[f64],
    score_b: &[f64],
    sample_weight: Option<&[f64]>,
    metric: ScoreMetric,
    config: &BootstrapConfig,
) -> Result<PairedBootstrap, CompareError> {
    let n = labels.len();
    check_len("score_a", score_a.len(), n)?;
    check_len("score_b", score_b.len(), n)?;
    if let Some(sw) = sample_weight {
        check_len("sample_weight", sw.len(), n)?;
        if let Some((row, &value)) = sw.iter().enumerate().find(|(_, v)| !(v.is_finite() && **v >= 0.0)) {
            return Err(CompareError::BadWeight { row, value });
        }
    }
    let observed = (metric(labels, score_a, sample_weight), metric(labels, score_b, sample_weight));
    let mut scratch = vec![0.0; if sample_weight.is_some() { n } else { 0 }];
    drive(n, config, observed, |w| {
        let w = match sample_weight {
            Some(sw) => {
                for ((s, a), b) in scratch.iter_mut().zip(w).zip(sw) {
                    *s = a * b;
                }
                &scratch[..]
            }
            None => w,
        };
        (metric(labels, score_a, Some(w)), metric(labels, score_b, Some(w)))
    })
}

fn drive(
    n_rows: usize,
    config: &BootstrapConfig,
    observed: (Option<f64>, Option<f64>),
    mut eval: impl FnMut(&[f64]) -> (Option<f64>, Option<f64>),
) -> Result<PairedBootstrap, CompareError> {
    if config.replicates == 0 {
        return Err(CompareError::BadConfig("replicates must be at least 1"));
    }
    if !(config.level > 0.0 && config.level < 1.0) {
        return Err(CompareError::BadConfig("level must lie in (0, 1)"));
    }
    let (Some(metric_a), Some(metric_b)) = observed else {
        return Err(CompareError::UndefinedMetric);
    };
    let observed = metric_a - metric_b;
    let mut weights = vec![0.0; n_rows];
    let mut diffs = Vec::with_capacity(config.replicates);
    let mut skipped = 0;
    for r in 0..config.replicates {
        let mut rng = Rng::derive(config.seed, r as u64);
        poisson1_weights(&mut rng, &mut weights);
        match eval(&weights) {
            (Some(a), Some(b)) if (a - b).is_finite() => diffs.push(a - b),
            _ => skipped += 1,
        }
    }
    diffs.sort_unstable_by(f64::total_cmp);
    let alpha = 1.0 - config.level;
    let k = diffs.len();
    let std_error = (k >= 2).then(|| {
        let mean = diffs.iter().sum::<f64>() / k as f64;
        (diffs.iter().map(|d| (d - mean) * (d - mean)).sum::<f64>() / (k - 1) as f64).sqrt()
    });
    let p_value = (k > 0).then(|| {
        let other_side = if observed > 0.0 {
            diffs.iter().filter(|&&d| d <= 0.0).count()
        } else if observed < 0.0 {
            diffs.iter().filter(|&&d| d >= 0.0).count()
        } else {
            k
        };
        (2.0 * other_side as f64 / k as f64).min(1.0)
    });
    Ok(PairedBootstrap {
        metric_a,
        metric_b,
        observed,
        level: config.level,
        ci_low: quantile_sorted(&diffs, 0.5 * alpha),
        ci_high: quantile_sorted(&diffs, 1.0 - 0.5 * alpha),
        std_error,
        p_value,
        replicates: k,
        skipped,
    })
}

/// Quantile `q` of sorted values, interpolating linearly between order statistics.
fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let h = q * last as f64;
    let lo = (h.floor() as usize).min(last);
    let hi = (lo + 1).min(last);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

#[cfg(test)]
#[path = "bootstrap_tests.rs"]
mod tests;

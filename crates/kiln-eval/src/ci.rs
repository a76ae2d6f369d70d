//! Confidence intervals by resampling: a seeded Poisson bootstrap and a delete-a-group
//! jackknife.
//!
//! Both call one function with a weight per row and get back every statistic at once (all
//! slices, all metrics), so that one replicate's weights are shared by every slice, the way a
//! resample of the rows would be. The bootstrap weight of row `i` in replicate `r` is
//! [`poisson1_weight`]`(i, r, seed)`, the counter-based Philox draw that the fast path of a
//! binary evaluation and the GPU kernels compute too, so every path gives the same intervals;
//! results do not depend on the thread count.

use kiln_core::rng::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{CiConfig, CiMethod};
use crate::scan::philox::{poisson1_weight, seed_key};

/// A two-sided interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

/// Intervals for every statistic `stat` returns, or `None` where too few replicates defined it
/// (fewer than half) or no method was asked for.
///
/// `stat(weights)` must return the same number of values for every weight vector; `weights`
/// are the base weights (or 1) times the replicate's resampling weights.
pub fn intervals<F>(
    n_rows: usize,
    base: Option<&[f64]>,
    config: &CiConfig,
    point: &[Option<f64>],
    stat: F,
) -> Vec<Option<Interval>>
where
    F: Fn(&[f64]) -> Vec<Option<f64>> + Sync,
{
    match config.method {
        CiMethod::None => vec![None; point.len()],
        CiMethod::Bootstrap => bootstrap(n_rows, base, config, point.len(), stat),
        CiMethod::Jackknife => jackknife(n_rows, base, config, point, stat),
    }
}

fn bootstrap<F>(
    n_rows: usize,
    base: Option<&[f64]>,
    config: &CiConfig,
    n_stats: usize,
    stat: F,
) -> Vec<Option<Interval>>
where
    F: Fn(&[f64]) -> Vec<Option<f64>> + Sync,
{
    let key = seed_key(config.seed);
    let replicates: Vec<Vec<Option<f64>>> = (0..config.replicates)
        .into_par_iter()
        .map_init(
            || vec![0.0; n_rows],
            |w, r| {
                bootstrap_weights(r, key, base, w);
                stat(w)
            },
        )
        .collect();
    percentile_intervals(&replicates, n_stats, config.level)
}

/// Replicate `replicate`'s weights: each row's Poisson(1) draw times its base weight (1 without).
pub(crate) fn bootstrap_weights(replicate: usize, key: [u32; 2], base: Option<&[f64]>, out: &mut [f64]) {
    let r = replicate as u32;
    match base {
        Some(base) => out.iter_mut().zip(base).enumerate().for_each(|(i, (w, b))| {
            *w = f64::from(poisson1_weight(i as u32, r, key)) * b;
        }),
        None => out.iter_mut().enumerate().for_each(|(i, w)| *w = f64::from(poisson1_weight(i as u32, r, key))),
    }
}

/// Percentile intervals (numpy's linear interpolation) of each statistic over the replicates
/// (`replicates[r][s]`); `None` where fewer than half the replicates defined it.
pub(crate) fn percentile_intervals(
    replicates: &[Vec<Option<f64>>],
    n_stats: usize,
    level: f64,
) -> Vec<Option<Interval>> {
    let (lo_q, hi_q) = ((1.0 - level) / 2.0, 1.0 - (1.0 - level) / 2.0);
    let mut values = Vec::with_capacity(replicates.len());
    (0..n_stats)
        .map(|s| {
            values.clear();
            values.extend(replicates.iter().filter_map(|r| r.get(s).copied().flatten()).filter(|v| v.is_finite()));
            if values.len() * 2 < replicates.len() || values.is_empty() {
                return None;
            }
            values.sort_by(f64::total_cmp);
            Some(Interval { lo: quantile(&values, lo_q), hi: quantile(&values, hi_q) })
        })
        .collect()
}

/// The delete-a-group jackknife: rows are assigned to `replicates` groups at random (seeded);
/// each replicate leaves one group out. The interval is the point estimate ± z·se with
/// se² = (g−1)/g · Σ(θᵢ − θ̄)².
fn jackknife<F>(
    n_rows: usize,
    base: Option<&[f64]>,
    config: &CiConfig,
    point: &[Option<f64>],
    stat: F,
) -> Vec<Option<Interval>>
where
    F: Fn(&[f64]) -> Vec<Option<f64>> + Sync,
{
    let groups = config.replicates.min(n_rows.max(2));
    let mut rng = Rng::derive(config.seed, u64::MAX);
    let assignment: Vec<u32> = (0..n_rows).map(|_| rng.below(groups as u64) as u32).collect();
    let replicates: Vec<Vec<Option<f64>>> = (0..groups)
        .into_par_iter()
        .map(|g| {
            let w: Vec<f64> = (0..n_rows)
                .map(|i| if assignment[i] as usize == g { 0.0 } else { base.map_or(1.0, |b| b[i]) })
                .collect();
            stat(&w)
        })
        .collect();
    let z = normal_quantile(1.0 - (1.0 - config.level) / 2.0);
    (0..point.len())
        .map(|s| {
            let center = point[s]?;
            let values: Vec<f64> =
                replicates.iter().filter_map(|r| r.get(s).copied().flatten()).filter(|v| v.is_finite()).collect();
            if values.len() < 2 || values.len() * 2 < groups {
                return None;
            }
            let g = values.len() as f64;
            let mean = values.iter().sum::<f64>() / g;
            let se = ((g - 1.0) / g * values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>()).sqrt();
            Some(Interval { lo: center - z * se, hi: center + z * se })
        })
        .collect()
}

/// The `q` quantile of sorted values with linear interpolation (numpy's default).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let below = pos.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    let frac = pos - below as f64;
    sorted[below] + (sorted[above] - sorted[below]) * frac
}

/// The standard normal quantile function (Acklam's rational approximation refined by one
/// Halley step; relative error below 1e-12 on (0, 1)).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416];
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let low = 0.024_25;
    let x = if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    // One Halley step against the exact CDF.
    let e = 0.5 * erfc(-x / std::f64::consts::SQRT_2) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// The complementary error function (W. J. Cody's rational approximations, |rel. error| < 1e-15).
pub fn erfc(x: f64) -> f64 {
    crate::compare::erfc(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_stat(values: &[f64]) -> impl Fn(&[f64]) -> Vec<Option<f64>> + Sync + '_ {
        move |w: &[f64]| {
            let total: f64 = w.iter().sum();
            if total <= 0.0 {
                return vec![None];
            }
            vec![Some(values.iter().zip(w).map(|(v, w)| v * w).sum::<f64>() / total)]
        }
    }

    #[test]
    fn normal_quantile_matches_known_values() {
        // scipy.stats.norm.ppf(0.975), ppf(0.5), ppf(0.001)
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-12);
        assert!(normal_quantile(0.5).abs() < 1e-15);
        assert!((normal_quantile(0.001) + 3.090_232_306_167_813).abs() < 1e-11);
    }

    #[test]
    fn quantile_interpolates_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        // numpy.quantile([1,2,3,4], [0.025, 0.5, 0.975]) = 1.075, 2.5, 3.925
        assert!((quantile(&v, 0.025) - 1.075).abs() < 1e-12);
        assert!((quantile(&v, 0.5) - 2.5).abs() < 1e-12);
        assert!((quantile(&v, 0.975) - 3.925).abs() < 1e-12);
    }

    #[test]
    fn bootstrap_of_a_mean_is_seeded_and_near_the_normal_interval() {
        let mut rng = Rng::new(3);
        let values: Vec<f64> = (0..4000).map(|_| rng.uniform()).collect();
        let config = CiConfig { method: CiMethod::Bootstrap, replicates: 400, level: 0.95, seed: 11 };
        let point = mean_stat(&values)(&vec![1.0; values.len()]);
        let a = intervals(values.len(), None, &config, &point, mean_stat(&values));
        let b = intervals(values.len(), None, &config, &point, mean_stat(&values));
        assert_eq!(a, b, "same seed, same interval");
        let iv = a[0].expect("interval");
        // The mean of U(0,1) over 4000 rows has se = sqrt(1/12/4000) = 0.004564; the 95%
        // interval is about ±0.00895 wide on each side.
        let half = (iv.hi - iv.lo) / 2.0;
        assert!((half - 0.008_95).abs() < 0.0015, "half width {half}");
        let m = point[0].expect("mean");
        assert!(iv.lo < m && m < iv.hi);
    }

    #[test]
    fn jackknife_of_a_mean_matches_its_standard_error() {
        let mut rng = Rng::new(5);
        let values: Vec<f64> = (0..5000).map(|_| rng.uniform()).collect();
        let config = CiConfig { method: CiMethod::Jackknife, replicates: 50, level: 0.95, seed: 1 };
        let point = mean_stat(&values)(&vec![1.0; values.len()]);
        let iv = intervals(values.len(), None, &config, &point, mean_stat(&values))[0].expect("interval");
        let half = (iv.hi - iv.lo) / 2.0;
        let se = (1.0f64 / 12.0 / 5000.0).sqrt();
        assert!((half / (1.959_964 * se) - 1.0).abs() < 0.3, "half width {half}, normal {}", 1.959_964 * se);
    }

    #[test]
    fn undefined_statistics_give_no_interval() {
        let config = CiConfig { method: CiMethod::Bootstrap, replicates: 50, level: 0.9, seed: 1 };
        let out = intervals(10, None, &config, &[None], |_| vec![None]);
        assert_eq!(out, vec![None]);
    }
}

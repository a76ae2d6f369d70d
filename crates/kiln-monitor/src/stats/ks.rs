//! The two-sample Kolmogorov-Smirnov test, as `scipy.stats.ks_2samp(reference, current)` with
//! its defaults (two-sided, method "auto"): the exact p-value when both samples have at most
//! 10 000 values, the asymptotic `kstwo.sf(d, round(n1 n2 / (n1 + n2)))` otherwise.
//!
//! With a sketch on either side the statistic is within `1 / (m - 1) + 1 / n` of the one the
//! raw values give (m points, n values; see [`crate::stats::sample`]), and the p-value is the
//! one scipy gives for that statistic at the same sizes. That error is itself significant
//! once the effective size is large: the 5% critical value is about 1.36 / sqrt(n_eff), so a
//! sketch of 257 points (error near 0.6 / 256 on smooth data) reads as drift against a window
//! of a million rows drawn from the reference itself. Evidently's default for references of
//! more than 1000 rows is the normed Wasserstein distance, which the sketch moves by far less
//! than its 0.1 threshold.

use crate::stats::kolmogorov::kstwo_sf;
use crate::stats::merge::{in_parallel, points_between};
use crate::stats::sample::Sample;

/// Largest sample size for which scipy's "auto" method computes the exact p-value.
const MAX_EXACT_N: u64 = 10_000;

/// A two-sample KS result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsResult {
    /// The largest distance between the two CDFs.
    pub statistic: f64,
    /// Two-sided p-value.
    pub p_value: f64,
}

/// The KS statistic and p-value of two checked samples.
pub fn ks_2samp(reference: &Sample<'_>, current: &Sample<'_>) -> KsResult {
    let d = statistic(reference, current);
    let (n1, n2) = (reference.count(), current.count());
    if n1.max(n2) <= MAX_EXACT_N
        && let Some((d, p_value)) = exact(n1, n2, d)
    {
        return KsResult { statistic: d, p_value: p_value.clamp(0.0, 1.0) };
    }
    KsResult { statistic: d, p_value: asymptotic(n1, n2, d) }
}

/// sup |F_ref - F_cur| over every point where either CDF changes, both one-sided limits.
pub fn statistic(reference: &Sample<'_>, current: &Sample<'_>) -> f64 {
    let walk = |lo: f64, hi: f64| match (reference, current) {
        (Sample::Sorted(a), Sample::Sorted(b)) => extremes_sorted(a, b, lo, hi),
        _ => extremes(reference, current, lo, hi),
    };
    let (max_diff, min_diff) =
        in_parallel(reference, current, walk, || (0.0, 0.0), |x, y| (x.0.max(y.0), x.1.min(y.1)));
    let min_s = (-min_diff).clamp(0.0, 1.0);
    if min_s > max_diff { min_s } else { max_diff }
}

/// The largest and smallest F_ref - F_cur over the points in `[lo, hi)`, both limits.
fn extremes(reference: &Sample<'_>, current: &Sample<'_>, lo: f64, hi: f64) -> (f64, f64) {
    let (mut ref_cursor, mut cur_cursor) = (reference.cursor_from(lo), current.cursor_from(lo));
    let (mut max_diff, mut min_diff) = (0.0f64, 0.0f64);
    points_between(reference, current, lo, hi, |x| {
        let (ref_left, ref_right) = ref_cursor.limits(x);
        let (cur_left, cur_right) = cur_cursor.limits(x);
        for diff in [ref_left - cur_left, ref_right - cur_right] {
            max_diff = max_diff.max(diff);
            min_diff = min_diff.min(diff);
        }
    });
    (max_diff, min_diff)
}

/// The same for two sorted samples in one tight merge: the ECDFs at each distinct value, as
/// scipy's `searchsorted(side="right") / n` gives them.
fn extremes_sorted(a: &[f64], b: &[f64], lo: f64, hi: f64) -> (f64, f64) {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (a.partition_point(|v| *v < lo), b.partition_point(|v| *v < lo));
    let (mut max_diff, mut min_diff) = (0.0f64, 0.0f64);
    loop {
        let x = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.min(*y),
            (Some(x), None) | (None, Some(x)) => *x,
            (None, None) => break,
        };
        if x >= hi {
            break;
        }
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        let diff = i as f64 / n1 - j as f64 / n2;
        max_diff = max_diff.max(diff);
        min_diff = min_diff.min(diff);
    }
    (max_diff, min_diff)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// scipy's `_attempt_exact_2kssamp` (two-sided): the statistic rounded to the lattice and its
/// exact p-value, or `None` where the computation leaves [0, 1].
fn exact(n1: u64, n2: u64, d: f64) -> Option<(f64, f64)> {
    let g = gcd(n1, n2);
    let lcm = (n1 / g) * n2;
    let h = (d * lcm as f64).round_ties_even() as u64;
    let d = h as f64 / lcm as f64;
    if h == 0 {
        return Some((d, 1.0));
    }
    let prob = if n1 == n2 { prob_outside_square(n1, h) } else { outer_prob_inside(n1, n2, g, h) };
    (0.0..=1.0).contains(&prob).then_some((d, prob))
}

/// P(D_{n,n} >= h / n) by the Horner-like alternating sum scipy uses.
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let mut p = 0.0;
    let mut k = (n as f64 / h as f64).floor() as i64;
    let (n, h) = (n as f64, h as f64);
    while k >= 0 {
        let kf = k as f64;
        let mut p1 = 1.0;
        for j in 0..h as u64 {
            let j = j as f64;
            p1 = (n - kf * h - j) * p1 / (n + kf * h + j + 1.0);
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// The proportion of lattice paths from (0, 0) to (m, n) leaving the band
/// |x/m - y/n| < h / lcm(m, n) (scipy's `_compute_outer_prob_inside_method`, Viehmann's
/// recursion for 1 - p).
fn outer_prob_inside(m: u64, n: u64, g: u64, h: u64) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mg, ng) = ((m / g) as f64, (n / g) as f64);
    let (m, n, hf) = (m as i64, n as i64, h as f64);
    let mut minj: i64 = 0;
    let mut maxj: i64 = ((hf / mg).ceil() as i64).min(n + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n + 1) as usize;
    let mut a = vec![1.0f64; len_a];
    a[minj as usize..maxj as usize].iter_mut().for_each(|v| *v = 0.0);
    for i in 1..=m {
        let (last_minj, last_len) = (minj, curlen);
        minj = ((((ng * i as f64 - hf) / mg).floor() as i64) + 1).max(0).min(n);
        maxj = (((ng * i as f64 + hf) / mg).ceil() as i64).min(n + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        let fi = i as f64;
        for jj in 0..(maxj - minj) {
            let j = jj + minj;
            val = (a[(jj + minj - last_minj) as usize] * fi + val * j as f64) / (fi + j as f64);
            a[jj as usize] = val;
        }
        curlen = maxj - minj;
        if last_len > curlen {
            // numpy's slice assignment stops at the array's end.
            let start = ((maxj - minj) as usize).min(a.len());
            let end = (start + (last_len - curlen) as usize).min(a.len());
            a[start..end].iter_mut().for_each(|v| *v = 1.0);
        }
    }
    a[(maxj - minj - 1) as usize]
}

/// scipy's asymptotic two-sided p-value: `kstwo.sf(d, round(m n / (m + n)))`.
fn asymptotic(n1: u64, n2: u64, d: f64) -> f64 {
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let en = m * n / (m + n);
    let effective = (en.round_ties_even() as u64).max(1);
    kstwo_sf(effective, d).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::merge::cut_ranges;
    use crate::stats::sample::Sketch;

    /// Every cut of the line gives the same extremes as one walk over all of it.
    #[test]
    fn ranges_do_not_change_the_statistic() {
        let mut rng = kiln_core::rng::Rng::new(3);
        let mut a: Vec<f64> = (0..5000).map(|_| (rng.normal() * 10.0).round() / 10.0).collect();
        let mut b: Vec<f64> = (0..3000).map(|_| (rng.normal() * 10.0).round() / 10.0 + 0.1).collect();
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        let points: Vec<f64> = (0..=50).map(|k| a[k * (a.len() - 1) / 50]).collect();
        let sketch = Sample::Sketch(Sketch { quantiles: &points, count: 5000, mean: 0.0, std: 1.0 });
        let (sa, sb) = (Sample::Sorted(&a), Sample::Sorted(&b));
        for pieces in [2, 7, 64] {
            let fold = |walk: &dyn Fn(f64, f64) -> (f64, f64), r: &Sample<'_>, c: &Sample<'_>| {
                cut_ranges(r, c, pieces)
                    .into_iter()
                    .map(|(lo, hi)| walk(lo, hi))
                    .fold((0.0f64, 0.0f64), |x, y| (x.0.max(y.0), x.1.min(y.1)))
            };
            let whole = extremes_sorted(&a, &b, f64::NEG_INFINITY, f64::INFINITY);
            assert_eq!(fold(&|lo, hi| extremes_sorted(&a, &b, lo, hi), &sa, &sb), whole);
            let whole = extremes(&sketch, &sb, f64::NEG_INFINITY, f64::INFINITY);
            assert_eq!(fold(&|lo, hi| extremes(&sketch, &sb, lo, hi), &sketch, &sb), whole);
        }
    }
}

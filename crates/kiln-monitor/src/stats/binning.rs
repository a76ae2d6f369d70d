//! Evidently's binning (`get_binned_data`): a numeric column whose reference has more than 20
//! distinct values is cut by `np.histogram_bin_edges(concat(reference, current), "sturges")`
//! and counted as `np.histogram` counts against those edges (each bin `[e_i, e_{i+1})`, the
//! last one closed); otherwise each side's share of every key of the union. PSI then replaces
//! zero shares by 0.0001 (or the smallest non-zero share over 10^6 when that is 0.0001 or less).
//!
//! With a sketch (a sketch always stands for a continuous column, so it is always binned),
//! the edges are exact (they need only the minimum, maximum and count) and each bin's share
//! is within `2 (1 / (m - 1) + 1 / n)` of the raw share (the CDF bound of
//! [`crate::stats::sample`] at both edges).

use crate::stats::counts::{AlignedCounts, distinct_sorted_up_to};
use crate::stats::sample::Sample;

/// Reference distinct values up to which Evidently bins by value instead of by histogram.
pub const MAX_DISCRETE_VALUES: usize = 20;

/// numpy's Sturges edges for `size` values spanning `[first, last]`.
pub fn sturges_edges(first: f64, last: f64, size: u64) -> Vec<f64> {
    let ptp = last - first;
    let (first, last) = if first == last { (first - 0.5, last + 0.5) } else { (first, last) };
    let width = ptp / ((size as f64).log2() + 1.0);
    let n_bins = if width != 0.0 { ((last - first) / width).ceil() as usize } else { 1 };
    linspace(first, last, n_bins + 1)
}

/// `np.linspace(start, stop, num)` with its exact arithmetic: `i * step + start`, the last
/// point set to `stop`.
pub fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let div = (num - 1) as f64;
    let delta = stop - start;
    let step = delta / div;
    let mut points: Vec<f64> = if step == 0.0 {
        (0..num).map(|i| i as f64 / div * delta + start).collect()
    } else {
        (0..num).map(|i| i as f64 * step + start).collect()
    };
    if let Some(last) = points.last_mut() {
        *last = stop;
    }
    points
}

/// Counts of `sample` in each bin of `edges` as `np.histogram` counts them.
pub fn histogram(sample: &Sample<'_>, edges: &[f64]) -> Vec<f64> {
    let n_bins = edges.len() - 1;
    (0..n_bins).map(|i| sample.count_between(edges[i], edges[i + 1], i == n_bins - 1)).collect()
}

/// Evidently's reference and current shares of a numeric column (before any zero fill).
pub fn numeric_shares(reference: &Sample<'_>, current: &Sample<'_>) -> (Vec<f64>, Vec<f64>) {
    if let (Sample::Sorted(r), Sample::Sorted(c)) = (reference, current)
        && distinct_sorted_up_to(r, MAX_DISCRETE_VALUES + 1) <= MAX_DISCRETE_VALUES
    {
        return AlignedCounts::from_sorted(r, c).shares();
    }
    let first = reference.min().min(current.min());
    let last = reference.max().max(current.max());
    let edges = sturges_edges(first, last, reference.count() + current.count());
    let (n_ref, n_cur) = (reference.count() as f64, current.count() as f64);
    let shares = |sample: &Sample<'_>, n: f64| histogram(sample, &edges).into_iter().map(|c| c / n).collect();
    (shares(reference, n_ref), shares(current, n_cur))
}

/// Evidently's zero fill for PSI: zeros become 0.0001, or the smallest non-zero share over
/// 10^6 when that share is 0.0001 or less.
pub fn fill_zeros(shares: &mut [f64]) {
    let smallest = shares.iter().copied().filter(|s| *s != 0.0).fold(f64::INFINITY, f64::min);
    let fill = if smallest <= 0.0001 { smallest / 1e6 } else { 0.0001 };
    shares.iter_mut().filter(|s| **s == 0.0).for_each(|s| *s = fill);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sturges_edges_match_numpy() {
        // np.histogram_bin_edges([0, 1, 2, 3, 10], bins="sturges")
        //   = [0, 2.5, 5, 7.5, 10] (log2(5) + 1 = 3.32 -> 4 bins).
        assert_eq!(sturges_edges(0.0, 10.0, 5), vec![0.0, 2.5, 5.0, 7.5, 10.0]);
        let mut shares = vec![0.5, 0.0, 0.5];
        fill_zeros(&mut shares);
        assert_eq!(shares, vec![0.5, 0.0001, 0.5]);
    }
}

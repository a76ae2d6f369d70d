//! The first Wasserstein distance ∫ |F_ref - F_cur| dx (`scipy.stats.wasserstein_distance`)
//! and Evidently's normed version, divided by the reference's population standard deviation
//! floored at 0.001.
//!
//! With a sketch of n values on one side (m points spanning [min, max]) the distance is within
//! `(1 / (m - 1) + 1 / n) (max - min)` of the raw one: the integrand moves by at most the CDF
//! bound of [`crate::stats::sample`] over the sketch's span, and not at all outside it.

use crate::stats::merge::{in_parallel, points_between};
use crate::stats::sample::Sample;
use crate::stats::sum;

/// Evidently's floor on the reference standard deviation that norms the distance.
pub const MIN_NORM: f64 = 0.001;

/// The first Wasserstein distance between two checked samples.
pub fn wasserstein_distance(reference: &Sample<'_>, current: &Sample<'_>) -> f64 {
    let walk = |lo: f64, hi: f64| match (reference, current) {
        (Sample::Sorted(a), Sample::Sorted(b)) => integral_sorted(a, b, lo, hi),
        _ => integral(reference, current, lo, hi),
    };
    let add = |mut x: sum::Accumulator, y: sum::Accumulator| {
        x.add(y.total());
        x
    };
    in_parallel(reference, current, walk, sum::Accumulator::default, add).total()
}

/// ∫ |F_ref - F_cur| from the first point in `[lo, hi)` to `hi` (the range's last piece ends
/// at `hi`, itself a point, where the next range starts).
fn integral(reference: &Sample<'_>, current: &Sample<'_>, lo: f64, hi: f64) -> sum::Accumulator {
    let (mut ref_cursor, mut cur_cursor) = (reference.cursor_from(lo), current.cursor_from(lo));
    let mut previous: Option<(f64, f64)> = None;
    let mut total = sum::Accumulator::default();
    points_between(reference, current, lo, hi, |x| {
        let (ref_left, ref_right) = ref_cursor.limits(x);
        let (cur_left, cur_right) = cur_cursor.limits(x);
        if let Some((x0, d0)) = previous {
            total.add(piece(x - x0, d0, ref_left - cur_left));
        }
        previous = Some((x, ref_right - cur_right));
    });
    if let Some((x0, d0)) = previous
        && hi.is_finite()
    {
        let ((ref_left, _), (cur_left, _)) = (ref_cursor.limits(hi), cur_cursor.limits(hi));
        total.add(piece(hi - x0, d0, ref_left - cur_left));
    }
    total
}

/// scipy's sum over consecutive distinct values x_k < x_{k+1} of
/// |F_a(x_k) - F_b(x_k)| (x_{k+1} - x_k), for the values in `[lo, hi)` (the last piece up to
/// `hi`), in one merge.
fn integral_sorted(a: &[f64], b: &[f64], lo: f64, hi: f64) -> sum::Accumulator {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (a.partition_point(|v| *v < lo), b.partition_point(|v| *v < lo));
    let mut total = sum::Accumulator::default();
    let mut previous: Option<(f64, f64)> = None;
    loop {
        let x = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.min(*y),
            (Some(x), None) | (None, Some(x)) => *x,
            (None, None) => break,
        };
        if x >= hi {
            break;
        }
        if let Some((x0, diff)) = previous {
            total.add(diff * (x - x0));
        }
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        previous = Some((x, (i as f64 / n1 - j as f64 / n2).abs()));
    }
    if let Some((x0, diff)) = previous
        && hi.is_finite()
    {
        total.add(diff * (hi - x0));
    }
    total
}

/// ∫ over a piece of length `length` of |d| where d moves linearly from `d0` to `d1`.
fn piece(length: f64, d0: f64, d1: f64) -> f64 {
    if d0 == d1 {
        return d0.abs() * length;
    }
    if (d0 >= 0.0) == (d1 >= 0.0) {
        return length * (d0 + d1).abs() / 2.0;
    }
    length * (d0 * d0 + d1 * d1) / (2.0 * (d1 - d0).abs())
}

/// Evidently's normed Wasserstein distance: the distance over max(std(reference), 0.001).
pub fn wasserstein_normed(reference: &Sample<'_>, current: &Sample<'_>) -> f64 {
    wasserstein_distance(reference, current) / reference.std().max(MIN_NORM)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::merge::cut_ranges;
    use crate::stats::sample::Sketch;

    /// Every cut of the line gives the same integral as one walk over all of it.
    #[test]
    fn ranges_do_not_change_the_distance() {
        let mut rng = kiln_core::rng::Rng::new(4);
        let mut a: Vec<f64> = (0..5000).map(|_| (rng.normal() * 10.0).round() / 10.0).collect();
        let mut b: Vec<f64> = (0..3000).map(|_| rng.normal() + 0.2).collect();
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        let points: Vec<f64> = (0..=50).map(|k| a[k * (a.len() - 1) / 50]).collect();
        let sketch = Sample::Sketch(Sketch { quantiles: &points, count: 5000, mean: 0.0, std: 1.0 });
        let (sa, sb) = (Sample::Sorted(&a), Sample::Sorted(&b));
        for pieces in [2, 7, 64] {
            let total = |walk: &dyn Fn(f64, f64) -> sum::Accumulator, r: &Sample<'_>, c: &Sample<'_>| {
                sum::compensated(cut_ranges(r, c, pieces).into_iter().map(|(lo, hi)| walk(lo, hi).total()))
            };
            let whole = integral_sorted(&a, &b, f64::NEG_INFINITY, f64::INFINITY).total();
            let cut = total(&|lo, hi| integral_sorted(&a, &b, lo, hi), &sa, &sb);
            assert!((whole - cut).abs() <= 1e-14 * whole, "{whole} {cut}");
            let whole = integral(&sketch, &sb, f64::NEG_INFINITY, f64::INFINITY).total();
            let cut = total(&|lo, hi| integral(&sketch, &sb, lo, hi), &sketch, &sb);
            assert!((whole - cut).abs() <= 1e-14 * whole, "{whole} {cut}");
        }
    }
}

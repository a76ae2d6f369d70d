//! The first Wasserstein distance ∫ |F_ref - F_cur| dx (`scipy.stats.wasserstein_distance`)
//! and Evidently's normed version, divided by the reference's population standard deviation
//! floored at 0.001.
//!
//! With a sketch of n values on one side (m points spanning [min, max]) the distance is within
//! `(1 / (m - 1) + 1 / n) (max - min)` of the raw one: the integrand moves by at most the CDF
//! bound of [`crate::stats::sample`] over the sketch's span, and not at all outside it.

use crate::stats::sample::{Sample, merged_points};
use crate::stats::sum;

/// Evidently's floor on the reference standard deviation that norms the distance.
pub const MIN_NORM: f64 = 0.001;

/// The first Wasserstein distance between two checked samples.
pub fn wasserstein_distance(reference: &Sample<'_>, current: &Sample<'_>) -> f64 {
    let (mut ref_cursor, mut cur_cursor) = (reference.cursor(), current.cursor());
    let mut previous: Option<(f64, f64)> = None;
    let mut integral = sum::Accumulator::default();
    merged_points(reference, current, |x| {
        let (ref_left, ref_right) = ref_cursor.limits(x);
        let (cur_left, cur_right) = cur_cursor.limits(x);
        if let Some((x0, d0)) = previous {
            integral.add(piece(x - x0, d0, ref_left - cur_left));
        }
        previous = Some((x, ref_right - cur_right));
    });
    integral.total()
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

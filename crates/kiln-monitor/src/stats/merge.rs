//! The merge of two samples' points in ascending order, cut into ranges of x that rayon walks
//! in parallel: the KS and Wasserstein passes over ten million values use every core, and each
//! range starts its walk by binary search, so the result does not depend on the cut.

use rayon::prelude::*;

use crate::stats::sample::Sample;

/// Below this many points in all, one range (threads would cost more than they save).
const MIN_PARALLEL_POINTS: usize = 1 << 20;

/// The ranges a pass over these samples uses: one below [`MIN_PARALLEL_POINTS`], four per
/// thread above.
pub(crate) fn ranges(reference: &Sample<'_>, current: &Sample<'_>) -> Vec<(f64, f64)> {
    let n_points = reference.points().len() + current.points().len();
    let pieces = if n_points >= MIN_PARALLEL_POINTS { rayon::current_num_threads().max(1) * 4 } else { 1 };
    cut_ranges(reference, current, pieces)
}

/// Up to `pieces` ranges `[lo, hi)` covering the real line, cut at points of the larger sample
/// so that each holds about as many points; a cut is itself a point, so no piece between two
/// consecutive points straddles two ranges.
pub(crate) fn cut_ranges(reference: &Sample<'_>, current: &Sample<'_>, pieces: usize) -> Vec<(f64, f64)> {
    let (a, b) = (reference.points(), current.points());
    let larger = if a.len() >= b.len() { a } else { b };
    let mut cuts = vec![f64::NEG_INFINITY];
    for piece in 1..pieces {
        let cut = larger[larger.len() * piece / pieces];
        if cut > cuts[cuts.len() - 1] {
            cuts.push(cut);
        }
    }
    cuts.push(f64::INFINITY);
    cuts.windows(2).map(|pair| (pair[0], pair[1])).collect()
}

/// Runs `walk` on every range in parallel and folds the results with `combine`.
pub(crate) fn in_parallel<T: Send>(
    reference: &Sample<'_>,
    current: &Sample<'_>,
    walk: impl Fn(f64, f64) -> T + Sync,
    identity: impl Fn() -> T + Sync + Send,
    combine: impl Fn(T, T) -> T + Sync + Send,
) -> T {
    ranges(reference, current).into_par_iter().map(|(lo, hi)| walk(lo, hi)).reduce(identity, combine)
}

/// Visits each distinct point of either sample in `[lo, hi)`, in ascending order.
pub(crate) fn points_between(
    reference: &Sample<'_>,
    current: &Sample<'_>,
    lo: f64,
    hi: f64,
    mut visit: impl FnMut(f64),
) {
    let (a, b) = (reference.points(), current.points());
    let (mut i, mut j) = (a.partition_point(|v| *v < lo), b.partition_point(|v| *v < lo));
    let mut last: Option<f64> = None;
    loop {
        let next = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x <= y => {
                i += 1;
                *x
            }
            (_, Some(y)) => {
                j += 1;
                *y
            }
            (Some(x), None) => {
                i += 1;
                *x
            }
            (None, None) => break,
        };
        if next >= hi {
            break;
        }
        if last != Some(next) {
            visit(next);
            last = Some(next);
        }
    }
}

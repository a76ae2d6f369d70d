//! The distances Evidently computes over binned shares: PSI, the Jensen-Shannon distance
//! (`scipy.spatial.distance.jensenshannon`, natural log) and Hellinger's distance, for numeric
//! samples (binned as [`crate::stats::binning`] says) and for aligned category counts.
//!
//! With a sketch the shares carry the bound stated in [`crate::stats::binning`]: over k bins
//! the total variation between the sketch's shares p' and the raw shares p is at most
//! `TV = k (1 / (m - 1) + 1 / n)`. The Jensen-Shannon and Hellinger distances are metrics
//! with `JS(p, p')^2 <= ln 2 · TV` and `H(p, p')^2 <= TV`, so by the triangle inequality
//! `|JS_sketch - JS_raw| <= sqrt(ln 2 · TV)` and, on the same edges (a continuous column, all
//! values distinct), `|H_sketch - H_raw| <= sqrt(TV)`. PSI has no such bound (it grows without
//! limit as a share nears zero); the tests measure it on generated data.

use crate::stats::binning::{fill_zeros, histogram, numeric_shares, sturges_edges};
use crate::stats::counts::{AlignedCounts, distinct_union_sorted_up_to};
use crate::stats::sample::Sample;
use crate::stats::sum::compensated;

/// PSI = Σ (r - c) ln(r / c) over shares with zeros filled.
pub fn psi_of_shares(mut reference: Vec<f64>, mut current: Vec<f64>) -> f64 {
    fill_zeros(&mut reference);
    fill_zeros(&mut current);
    compensated(reference.iter().zip(&current).map(|(r, c)| (r - c) * (r / c).ln()))
}

/// Evidently's PSI of two numeric samples.
pub fn psi_numeric(reference: &Sample<'_>, current: &Sample<'_>) -> f64 {
    let (r, c) = numeric_shares(reference, current);
    psi_of_shares(r, c)
}

/// Evidently's PSI of category counts.
pub fn psi_counts(counts: &AlignedCounts) -> f64 {
    let (r, c) = counts.shares();
    psi_of_shares(r, c)
}

/// scipy's Jensen-Shannon distance of two share vectors (each renormalised to sum 1).
pub fn jensenshannon_of_shares(p: &[f64], q: &[f64]) -> f64 {
    let (p_total, q_total) = (compensated(p.iter().copied()), compensated(q.iter().copied()));
    let rel_entr = |x: f64, y: f64| {
        if x > 0.0 && y > 0.0 {
            x * (x / y).ln()
        } else if x == 0.0 && y >= 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    };
    let (mut left, mut right) = (Vec::with_capacity(p.len()), Vec::with_capacity(p.len()));
    for (pi, qi) in p.iter().zip(q) {
        let (pi, qi) = (pi / p_total, qi / q_total);
        let m = (pi + qi) / 2.0;
        left.push(rel_entr(pi, m));
        right.push(rel_entr(qi, m));
    }
    let js = compensated(left) + compensated(right);
    (js / 2.0).sqrt()
}

/// Evidently's Jensen-Shannon distance of two numeric samples (no zero fill).
pub fn jensenshannon_numeric(reference: &Sample<'_>, current: &Sample<'_>) -> f64 {
    let (r, c) = numeric_shares(reference, current);
    jensenshannon_of_shares(&r, &c)
}

/// Evidently's Jensen-Shannon distance of category counts.
pub fn jensenshannon_counts(counts: &AlignedCounts) -> f64 {
    let (r, c) = counts.shares();
    jensenshannon_of_shares(&r, &c)
}

/// Evidently's Hellinger distance of category counts: sqrt(1 - Σ sqrt(r c)), the sum clipped
/// to [0, 1].
pub fn hellinger_counts(counts: &AlignedCounts) -> f64 {
    let (r, c) = counts.shares();
    let overlap = compensated(r.iter().zip(&c).map(|(a, b)| (a * b).sqrt()));
    (1.0 - overlap.clamp(0.0, 1.0)).sqrt()
}

/// Evidently's Hellinger distance of numeric samples: density histograms on Sturges edges of
/// the distinct values of both samples, overlap Σ sqrt(h1 h2) times the mean bin width.
///
/// With a sketch on either side every value is taken as distinct (a sketch stands for a
/// continuous column), so the edges are Sturges' for the total count; the bin count grows with
/// log2 of the distinct count, so this changes at most the number of bins.
pub fn hellinger_numeric(reference: &Sample<'_>, current: &Sample<'_>) -> f64 {
    let n_distinct = match (reference, current) {
        (Sample::Sorted(r), Sample::Sorted(c)) => distinct_union_sorted_up_to(r, c, usize::MAX) as u64,
        _ => reference.count() + current.count(),
    };
    let first = reference.min().min(current.min());
    let last = reference.max().max(current.max());
    let edges = sturges_edges(first, last, n_distinct);
    let densities = |sample: &Sample<'_>| {
        let counts = histogram(sample, &edges);
        let total = compensated(counts.iter().copied());
        counts.iter().zip(edges.windows(2)).map(|(c, e)| c / (e[1] - e[0]) / total).collect::<Vec<f64>>()
    };
    let (h1, h2) = (densities(reference), densities(current));
    let bin_width = (edges[edges.len() - 1] - edges[0]) / (edges.len() - 1) as f64;
    let overlap = compensated(h1.iter().zip(&h2).map(|(a, b)| (a * b).sqrt() * bin_width));
    (1.0 - overlap.clamp(0.0, 1.0)).sqrt()
}

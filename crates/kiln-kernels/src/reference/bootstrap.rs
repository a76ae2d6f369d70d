//! The Poisson(1) bootstrap over prepared lists, step for step what `bootstrap.cu` computes.
//!
//! Replicate `r` gives the row at list position `p` the weight `w · K`, `w` the row's weight (1
//! without weights) and `K = poisson1_weight(row, r, seed_key(seed))` of
//! [`philox`](super::philox) (the same draws as `kiln_eval::scan::philox`). One chunk (a piece of one group's list in decreasing score order,
//! never splitting a run of ties) sums, with `pw`/`nw` the weight of a positive/negative row:
//!
//! ```text
//! S  = Σ pw over the chunk's positions up to and including p
//! PT = Σ pw over the positions of p's run of ties up to and including p
//! NT = Σ nw over the same
//! area += nw · (S − PT/2) + pw · NT/2
//! ```
//!
//! For a negative row, `S − PT/2` is the positive weight above its run plus half the positive
//! weight tied with it and listed before it; `pw · NT/2` adds the other half for the tied
//! positives listed after it. So every (positive, negative) pair scores 1 when the positive
//! ranks higher and ½ when tied: the trapezoid ROC area of `kiln_eval`, with ties credited within
//! the group. [`combine`] adds the chunks of a group in list order, crediting each chunk's
//! negatives with the positives of the chunks before it. The weight, correct-weight and log-loss
//! sums give accuracy and log loss.

use rayon::prelude::*;

use super::philox::{poisson1_weight, seed_key};
use super::prep::{CORRECT, HEAD, POSITIVE, Prepared, ROW_MASK};

/// One group's sums in one replicate (or one chunk's, before [`combine`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GroupSums {
    /// Σ over negatives of their weight times the positive weight ranked above (ties: half).
    pub area: f64,
    /// Positive weight.
    pub pos: f64,
    /// Negative weight.
    pub neg: f64,
    /// Total weight.
    pub weight: f64,
    /// Weight of correct thresholded predictions.
    pub correct: f64,
    /// Weighted sum of log losses.
    pub loss: f64,
}

/// Fields of [`GroupSums`] in the kernels' output arrays, in this order.
pub const SUMS_FIELDS: usize = 6;

impl GroupSums {
    /// From the kernels' layout `[area, pos, neg, weight, correct, loss]`.
    pub fn from_array(a: &[f64]) -> Self {
        Self { area: a[0], pos: a[1], neg: a[2], weight: a[3], correct: a[4], loss: a[5] }
    }

    /// Accuracy, log loss and ROC AUC: `None` for zero weight, and for AUC unless both classes
    /// have positive weight (as `kiln_eval::scan`).
    pub fn metrics(&self) -> [Option<f64>; 3] {
        let mean = |sum: f64| if self.weight > 0.0 { Some(sum / self.weight) } else { None };
        let auc = if self.pos > 0.0 && self.neg > 0.0 { Some(self.area / (self.pos * self.neg)) } else { None };
        [mean(self.correct), mean(self.loss), auc]
    }
}

/// Adds one chunk's sums after the chunks before it in the same group.
#[inline]
pub fn combine(total: &mut GroupSums, chunk: &GroupSums) {
    total.area += chunk.area + chunk.neg * total.pos;
    total.pos += chunk.pos;
    total.neg += chunk.neg;
    total.weight += chunk.weight;
    total.correct += chunk.correct;
    total.loss += chunk.loss;
}

/// The sums of chunk `c` with row weights `weight(row, base)`.
pub fn chunk_sums(prep: &Prepared, c: usize, weight: impl Fn(u32, f64) -> f64) -> GroupSums {
    let (start, end) = (prep.chunk_start[c] as usize, prep.chunk_start[c + 1] as usize);
    let mut out = GroupSums::default();
    let (mut s, mut pt, mut nt) = (0.0, 0.0, 0.0);
    for p in start..end {
        let rec = prep.records[p];
        let row = (rec & ROW_MASK) as usize;
        let base = prep.weights.as_ref().map_or(1.0, |w| w[row]);
        let w = weight(rec & ROW_MASK, base);
        let positive = rec & POSITIVE != 0;
        let (pw, nw) = if positive { (w, 0.0) } else { (0.0, w) };
        if rec & HEAD != 0 {
            pt = 0.0;
            nt = 0.0;
        }
        s += pw;
        pt += pw;
        nt += nw;
        out.area += nw * (s - 0.5 * pt) + pw * (0.5 * nt);
        out.neg += nw;
        out.weight += w;
        if rec & CORRECT != 0 {
            out.correct += w;
        }
        out.loss += w * prep.loss[row];
    }
    out.pos = s;
    out
}

/// Every group's sums with weights `weight(row, base)`: chunks summed, then combined in order.
pub fn group_sums(prep: &Prepared, weight: impl Fn(u32, f64) -> f64 + Sync) -> Vec<GroupSums> {
    let chunks: Vec<GroupSums> = (0..prep.n_chunks()).into_par_iter().map(|c| chunk_sums(prep, c, &weight)).collect();
    (0..prep.n_groups)
        .map(|g| {
            let mut total = GroupSums::default();
            for c in prep.group_chunk[g]..prep.group_chunk[g + 1] {
                combine(&mut total, &chunks[c as usize]);
            }
            total
        })
        .collect()
}

/// The sums of the rows as given (no resampling): the point metrics.
pub fn point_sums(prep: &Prepared) -> Vec<GroupSums> {
    group_sums(prep, |_, base| base)
}

/// Every replicate's sums of every group: `out[r * n_groups + g]`, replicate `r` drawing
/// `poisson1_weight(row, r, seed_key(seed))`.
pub fn replicate_sums(prep: &Prepared, replicates: u32, seed: u64) -> Vec<GroupSums> {
    let key = seed_key(seed);
    (0..replicates)
        .flat_map(|r| group_sums(prep, move |row, base| base * f64::from(poisson1_weight(row, r, key))))
        .collect()
}

/// P(K ≤ k) for K ~ Poisson(1), k = 0..19, the last entry 1: the inversion table, which the
/// kernels receive as an argument.
pub use super::philox::POISSON1_CDF;

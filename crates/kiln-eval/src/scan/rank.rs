//! The ranking pass: rows in decreasing score order, every slicing's groups updated at once.
//!
//! Each group keeps the weight of its positives and negatives seen so far and the ROC area, and
//! the positive and negative weight of the current tie block (the rows of one score). A block is
//! closed lazily, the next time its group is touched by another score, or at the end:
//! `area += neg · (tp + pos / 2); tp += pos; fp += neg`, the trapezoid of
//! `metrics::binary::roc_auc` restricted to the group's rows, so tied pairs get half credit
//! within each group.
//!
//! The sorted rows are cut into chunks of about [`CHUNK`](super::sort::CHUNK) rows, each boundary
//! moved forward to the next change of score so that no tie block straddles two chunks. Chunks
//! run in parallel from zero; [`combine`] adds them in decreasing score order, crediting each
//! chunk's negatives with the positives of the chunks above it. The chunking depends on the data
//! only, so results do not depend on the thread count.

use std::ops::Range;

use super::sort::CHUNK;

/// One group's accumulators in one chunk.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RankAcc {
    /// Positive weight of closed blocks.
    pub tp: f64,
    /// Negative weight of closed blocks.
    pub fp: f64,
    /// Σ over closed blocks of `neg · (tp before the block + pos / 2)`.
    pub area: f64,
    /// Positive weight of the open block.
    bpos: f64,
    /// Negative weight of the open block.
    bneg: f64,
    /// The open block's number (0: none yet).
    block: u64,
    /// Total weight (bootstrap only).
    pub weight: f64,
    /// Weight of correct predictions (bootstrap only).
    pub correct: f64,
    /// Weighted sum of log losses (bootstrap only).
    pub loss: f64,
}

impl RankAcc {
    #[inline]
    fn close_block(&mut self) {
        self.area += self.bneg * (self.tp + 0.5 * self.bpos);
        self.tp += self.bpos;
        self.fp += self.bneg;
        self.bpos = 0.0;
        self.bneg = 0.0;
    }

    /// ROC AUC of the accumulated rows: `None` unless both classes have positive weight.
    pub(crate) fn roc_auc(&self) -> Option<f64> {
        if self.tp > 0.0 && self.fp > 0.0 { Some(self.area / (self.tp * self.fp)) } else { None }
    }
}

/// Chunk ranges of `0..n`: about [`CHUNK`] positions each, every boundary moved forward while
/// `key(boundary) == key(boundary - 1)`.
pub(crate) fn chunks(n: usize, key: impl Fn(usize) -> u64) -> Vec<Range<usize>> {
    let mut out = Vec::with_capacity(n / CHUNK + 1);
    let mut start = 0;
    while start < n {
        let mut end = (start + CHUNK).min(n);
        while end < n && key(end) == key(end - 1) {
            end += 1;
        }
        out.push(start..end);
        start = end;
    }
    out
}

/// One row of the ranking pass.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RankRow {
    /// Compressed score key (equal keys: tied scores).
    pub key: u64,
    /// Whether the label is positive.
    pub positive: bool,
    /// The row's weight.
    pub weight: f64,
    /// 1 when the thresholded prediction is right, else 0 (read where `EXTRA`).
    pub correct: f64,
    /// The row's log loss (read where `EXTRA`).
    pub loss: f64,
}

/// Runs positions `range` in decreasing order (they are sorted by increasing score) through
/// fresh accumulators of `n_groups` groups. `row(pos, out)` describes the row at `pos` and writes
/// its group in each slicing into `out`, as indices into the accumulators.
/// With `EXTRA`, the weight, correct weight and log loss sums are kept too.
pub(crate) fn rank_chunk<const EXTRA: bool>(
    range: Range<usize>,
    n_groups: usize,
    n_slicings: usize,
    row: impl Fn(usize, &mut [usize]) -> RankRow,
) -> Vec<RankAcc> {
    let mut acc = vec![RankAcc::default(); n_groups];
    let mut ids = vec![0usize; n_slicings];
    let mut block = 0u64;
    let mut prev_key = None;
    for pos in range.rev() {
        let r = row(pos, &mut ids);
        if prev_key != Some(r.key) {
            block += 1;
            prev_key = Some(r.key);
        }
        for &g in &ids {
            let a = &mut acc[g];
            if a.block != block {
                a.close_block();
                a.block = block;
            }
            if r.positive {
                a.bpos += r.weight;
            } else {
                a.bneg += r.weight;
            }
            if EXTRA {
                a.weight += r.weight;
                a.correct += r.weight * r.correct;
                a.loss += r.weight * r.loss;
            }
        }
    }
    acc.iter_mut().for_each(RankAcc::close_block);
    acc
}

/// Adds chunk accumulators (given in increasing score order) into totals, in decreasing score
/// order: the negatives of a chunk rank below every positive of the chunks after it.
pub(crate) fn combine(chunks: &[Vec<RankAcc>], n_groups: usize) -> Vec<RankAcc> {
    let mut total = vec![RankAcc::default(); n_groups];
    for chunk in chunks.iter().rev() {
        for (t, c) in total.iter_mut().zip(chunk) {
            t.area += c.area + c.fp * t.tp;
            t.tp += c.tp;
            t.fp += c.fp;
            t.weight += c.weight;
            t.correct += c.correct;
            t.loss += c.loss;
        }
    }
    total
}

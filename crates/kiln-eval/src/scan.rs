//! The fast path for big data: binary metrics of every group of several slicings from one sort
//! of the rows by score and one pass in score order.
//!
//! [`scan`] takes labels, probabilities, optional weights, a threshold and slicings given as
//! segment codes (`0..groups` per row; [`cross`] makes the code column of a cross of two), and
//! returns for every group its count, weight, positive weight, weighted confusion matrix,
//! accuracy, ROC AUC, log loss and Brier score, each equal to
//! [`metrics::compute`](crate::metrics::compute) on the group's rows (up to the order of
//! floating-point sums).
//!
//! How (and what a GPU port mirrors step by step):
//!
//! 1. A parallel pass in row order validates the inputs and finds which bits of the scores'
//!    order-preserving `u64` keys vary.
//! 2. A parallel pass in fixed chunks of rows checks the codes, sums each group's confusion
//!    cells, log losses and squared errors, and packs every row into a sort item: the key's
//!    varying bits and a payload holding the label, each slicing's code and, where needed, the
//!    row index (`scan::sort`).
//! 3. One radix sort of the items by key (`scan::sort`).
//! 4. One pass over the items in decreasing score order, chunked at score changes, updating
//!    every slicing's group accumulators for ROC AUC with half credit for ties within the
//!    group (`scan::rank`).
//!
//! Partial sums are always combined in chunk order and chunks have a fixed size, so results
//! are bit-identical whatever the thread count. [`scan_bootstrap`]
//! adds percentile intervals from Poisson(1) weights drawn by a counter-based generator
//! (`scan::philox`), reusing the one sort for every replicate.

pub mod bootstrap;
#[cfg(feature = "cuda")]
pub mod gpu;
mod order;
pub mod philox;
mod rank;
mod sort;
#[cfg(test)]
mod tests;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use bootstrap::{
    GroupIntervals, ScanBootstrap, SortedColumns, SortedRow, scan_bootstrap, sorted_columns, sorted_rows_of,
};
pub use order::score_order;

use crate::metrics::binary::{BinaryLabel, ConfusionMatrix};
use rank::{RankAcc, RankRow};
use sort::{CHUNK, Item, key_span, low_mask, radix_sort, sort_key};

/// One slicing: a group code per row, in `0..groups`.
#[derive(Debug, Clone, Copy)]
pub struct SegmentCodes<'a> {
    /// The group of each row.
    pub codes: &'a [u32],
    /// Number of groups; every code must be below it.
    pub groups: u32,
}

/// The rows of one evaluation on the fast path, borrowed from columns.
#[derive(Debug, Clone, Copy)]
pub struct ScanInput<'a, L> {
    /// Binary labels (`bool`, or `u8` 0/1).
    pub labels: &'a [L],
    /// Predicted probability of the positive class, in `[0, 1]`.
    pub scores: &'a [f64],
    /// Optional non-negative finite weight per row.
    pub weights: Option<&'a [f64]>,
    /// A row is predicted positive when `score >= threshold`.
    pub threshold: f64,
    /// The slicings to evaluate.
    pub slicings: &'a [SegmentCodes<'a>],
}

/// The metrics of one group.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct GroupStats {
    /// Rows in the group, whatever their weight.
    pub count: u64,
    /// Total weight.
    pub weight: f64,
    /// Weight of the positive rows.
    pub positive_weight: f64,
    /// Weighted confusion matrix at the threshold.
    #[serde(skip)]
    pub confusion: ConfusionMatrix,
    /// Accuracy at the threshold; `None` for zero weight.
    pub accuracy: Option<f64>,
    /// ROC AUC; `None` unless both classes have positive weight.
    pub roc_auc: Option<f64>,
    /// Log loss with scikit-learn's clipping to `[ε, 1 − ε]`; `None` for zero weight.
    pub log_loss: Option<f64>,
    /// Brier score; `None` for zero weight.
    pub brier: Option<f64>,
}

/// The metrics of every group of every slicing: `groups[s][g]` is group `g` of slicing `s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanResult {
    /// Per slicing, per group.
    pub groups: Vec<Vec<GroupStats>>,
}

/// Malformed fast-path inputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScanError {
    /// A column's length differs from the labels'.
    #[error("column {column} has {found} rows, the labels {expected}")]
    Length { column: String, expected: usize, found: usize },
    /// A label is neither 0 nor 1.
    #[error("row {row}: the label is not 0 or 1")]
    Label { row: usize },
    /// A score is NaN or outside `[0, 1]`.
    #[error("row {row}: score {score} is not a probability in [0, 1]")]
    Score { row: usize, score: f64 },
    /// A weight is negative, NaN or infinite.
    #[error("row {row}: weight {weight} is not a finite non-negative number")]
    Weight { row: usize, weight: f64 },
    /// A segment code is not below its slicing's group count.
    #[error("slicing {slicing}, row {row}: code {code} is not below the group count {groups}")]
    Code { slicing: usize, row: usize, code: u32, groups: u32 },
    /// A setting is out of range.
    #[error("{0}")]
    Setting(String),
}

/// The code column of the cross of two slicings: `a * nb + b`, in `0..na * nb`.
///
/// The columns must have the same length, codes must be below their counts (`a < na`,
/// `b < nb`), and `na * nb` must fit a `u32`.
pub fn cross(a: &[u32], na: u32, b: &[u32], nb: u32) -> Vec<u32> {
    debug_assert!(u64::from(na) * u64::from(nb) <= u64::from(u32::MAX));
    a.par_iter().zip(b.par_iter()).with_min_len(CHUNK).map(|(&a, &b)| a * nb + b).collect()
}

/// Bits needed for values `0..n` (0 for `n <= 1`).
fn bits_for(n: u64) -> u32 {
    if n <= 1 { 0 } else { 64 - (n - 1).leading_zeros() }
}

/// Where each field of a row lives in a sort item.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// Lowest varying bit of the score keys, and the number of bits up to the highest.
    key_lo: u32,
    key_bits: u32,
    /// The bits that all keys share (zero in the varying span).
    key_base: u64,
    /// Width of the payload in packed items.
    payload_bits: u32,
    /// Whether the payload holds the row index only (labels and codes read from the columns).
    index_only: bool,
    /// Whether the payload holds the row index, and where.
    with_index: bool,
    index_shift: u32,
    /// First accumulator of each slicing's groups.
    offsets: Vec<usize>,
    /// `(shift, mask, offset)` of each slicing: where its code sits in the payload, and its
    /// first accumulator.
    fields: Vec<(u32, u64, usize)>,
    /// Accumulators in all.
    n_groups: usize,
}

impl Layout {
    /// Label in bit 0, then each slicing's code, then (with `with_index`) the row index; only the
    /// row index when that exceeds 64 bits.
    /// `key` is the keys' varying span and their common bits, as [`validate`] returns them.
    fn new(n_rows: usize, slicings: &[SegmentCodes<'_>], key: (u32, u32, u64), with_index: bool) -> Self {
        let mut shift = 1;
        let (mut code_shift, mut code_mask, mut offsets) = (Vec::new(), Vec::new(), Vec::new());
        let mut n_groups = 0;
        for s in slicings {
            let bits = bits_for(u64::from(s.groups));
            code_shift.push(shift);
            code_mask.push(low_mask(bits));
            offsets.push(n_groups);
            n_groups += s.groups as usize;
            shift += bits;
        }
        let index_bits = bits_for(n_rows as u64);
        let index_only = shift + if with_index { index_bits } else { 0 } > 64;
        let (index_shift, payload_bits) = if index_only {
            (0, index_bits)
        } else if with_index {
            (shift, shift + index_bits)
        } else {
            (shift, shift)
        };
        let fields = (0..slicings.len()).map(|s| (code_shift[s], code_mask[s], offsets[s])).collect();
        Layout {
            fields,
            key_lo: key.0,
            key_bits: key.1,
            key_base: key.2 & !(low_mask(key.1) << key.0),
            payload_bits,
            index_only,
            with_index,
            index_shift,
            offsets,
            n_groups,
        }
    }

    /// Whether items fit one `u64`.
    fn packed(&self) -> bool {
        self.key_bits + self.payload_bits <= 64 && self.payload_bits < 64
    }

    #[inline]
    fn compress(&self, score: f64) -> u64 {
        (sort_key(score) >> self.key_lo) & low_mask(self.key_bits)
    }

    /// The score of a compressed key (`-0.0` comes back as `0.0`).
    #[inline]
    fn score(&self, compressed: u64) -> f64 {
        let key = self.key_base | (compressed << self.key_lo);
        f64::from_bits(if key >> 63 == 1 { key & !(1 << 63) } else { !key })
    }

    /// The row index of a payload made with an index (or of an index-only payload).
    #[inline]
    fn index(&self, payload: u64) -> usize {
        (payload >> self.index_shift) as usize
    }

    #[inline(always)]
    fn positive<L: BinaryLabel>(&self, input: &ScanInput<'_, L>, payload: u64) -> bool {
        if self.index_only { input.labels[payload as usize].is_positive() } else { payload & 1 == 1 }
    }

    /// Each slicing's accumulator index for a payload.
    #[inline(always)]
    fn groups<L: BinaryLabel>(&self, input: &ScanInput<'_, L>, payload: u64, out: &mut [usize]) {
        if self.index_only {
            for ((o, sl), &off) in out.iter_mut().zip(input.slicings).zip(&self.offsets) {
                *o = off + sl.codes[payload as usize] as usize;
            }
        } else {
            for (o, &(shift, mask, off)) in out.iter_mut().zip(&self.fields) {
                *o = off + ((payload >> shift) & mask) as usize;
            }
        }
    }
}

/// Checks lengths, labels, scores and weights (codes are checked while building the sort items); returns the
/// score keys' varying span (lowest bit, width) and their common bits.
pub(crate) fn validate<L: BinaryLabel + Sync>(input: &ScanInput<'_, L>) -> Result<(u32, u32, u64), ScanError> {
    let n = input.labels.len();
    let check = |column: String, found: usize| {
        if found == n { Ok(()) } else { Err(ScanError::Length { column, expected: n, found }) }
    };
    check("scores".into(), input.scores.len())?;
    if let Some(w) = input.weights {
        check("weights".into(), w.len())?;
    }
    for (s, sl) in input.slicings.iter().enumerate() {
        check(format!("slicing {s}"), sl.codes.len())?;
    }
    if input.threshold.is_nan() {
        return Err(ScanError::Setting("the threshold is NaN".into()));
    }
    let parts: Vec<Result<(u64, u64), ScanError>> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let (mut or, mut and) = (0u64, u64::MAX);
            for row in c * CHUNK..((c + 1) * CHUNK).min(n) {
                if !input.labels[row].is_valid() {
                    return Err(ScanError::Label { row });
                }
                let score = input.scores[row];
                if !(0.0..=1.0).contains(&score) {
                    return Err(ScanError::Score { row, score });
                }
                let k = sort_key(score);
                or |= k;
                and &= k;
                if let Some(w) = input.weights {
                    let weight = w[row];
                    if !(0.0..f64::INFINITY).contains(&weight) {
                        return Err(ScanError::Weight { row, weight });
                    }
                }
            }
            Ok((or, and))
        })
        .collect();
    let (mut or, mut and) = (0u64, u64::MAX);
    for p in parts {
        let (o, a) = p?;
        or |= o;
        and &= a;
    }
    let (lo, bits) = key_span(or, and);
    Ok((lo, bits, and))
}

/// Row-order sums of one group: confusion cells (tn, fp, fn, tp), log loss, squared error, rows.
#[derive(Debug, Clone, Copy, Default)]
struct RowAcc {
    cells: [f64; 4],
    loss: f64,
    brier: f64,
    count: u64,
}

/// The log loss of one row, clipped as scikit-learn does.
#[inline]
pub fn row_log_loss(positive: bool, p: f64) -> f64 {
    let q = if positive { p } else { 1.0 - p };
    -q.clamp(f64::EPSILON, 1.0 - f64::EPSILON).ln()
}

/// The first row whose code is not below its slicing's group count, as an error.
fn code_error<L>(input: &ScanInput<'_, L>) -> ScanError {
    for row in 0..input.labels.len() {
        for (slicing, sl) in input.slicings.iter().enumerate() {
            let code = sl.codes[row];
            if code >= sl.groups {
                return ScanError::Code { slicing, row, code, groups: sl.groups };
            }
        }
    }
    ScanError::Setting("a segment code is out of range".into())
}

/// Builds the sort items of all rows and, unless `stats` is false, each group's row-order sums.
/// Checks the codes on the way.
fn build_items<L: BinaryLabel + Sync, T: Item>(
    input: &ScanInput<'_, L>,
    layout: &Layout,
    stats: bool,
) -> Result<(Vec<T>, Vec<RowAcc>), ScanError> {
    let n = input.labels.len();
    let n_acc = if stats { layout.n_groups } else { 0 };
    let mut items = vec![T::default(); n];
    let partials: Vec<(Vec<RowAcc>, bool)> = items
        .par_chunks_mut(CHUNK)
        .enumerate()
        .map(|(c, out)| {
            let mut acc = vec![RowAcc::default(); n_acc];
            let mut ids = vec![0usize; input.slicings.len()];
            let mut bad = false;
            for (j, item) in out.iter_mut().enumerate() {
                let row = c * CHUNK + j;
                let p = input.scores[row];
                let y = input.labels[row].is_positive();
                let mut payload = if layout.index_only {
                    row as u64
                } else if layout.with_index {
                    u64::from(y) | ((row as u64) << layout.index_shift)
                } else {
                    u64::from(y)
                };
                let mut ok = true;
                for ((sl, &(shift, _, offset)), id) in input.slicings.iter().zip(&layout.fields).zip(ids.iter_mut()) {
                    let code = sl.codes[row];
                    ok &= code < sl.groups;
                    *id = offset + code as usize;
                    if !layout.index_only {
                        payload |= u64::from(code) << shift;
                    }
                }
                if !ok {
                    bad = true;
                    continue;
                }
                *item = T::new(layout.compress(p), payload, layout.payload_bits);
                if !stats {
                    continue;
                }
                let w = input.weights.map_or(1.0, |w| w[row]);
                let cell = 2 * usize::from(y) + usize::from(p >= input.threshold);
                let loss = w * row_log_loss(y, p);
                let d = f64::from(u8::from(y)) - p;
                let brier = w * (d * d);
                for &g in &ids {
                    let a = &mut acc[g];
                    a.cells[cell] += w;
                    a.loss += loss;
                    a.brier += brier;
                    a.count += 1;
                }
            }
            (acc, bad)
        })
        .collect();
    if partials.iter().any(|p| p.1) {
        return Err(code_error(input));
    }
    let mut total = vec![RowAcc::default(); n_acc];
    for (part, _) in &partials {
        for (t, p) in total.iter_mut().zip(part) {
            t.cells.iter_mut().zip(&p.cells).for_each(|(t, p)| *t += p);
            t.loss += p.loss;
            t.brier += p.brier;
            t.count += p.count;
        }
    }
    Ok((items, total))
}

/// Sorts the items of `input` by score; returns them with the row-order sums.
fn sorted<L: BinaryLabel + Sync, T: Item>(
    input: &ScanInput<'_, L>,
    layout: &Layout,
    stats: bool,
) -> Result<(Vec<T>, Vec<RowAcc>), ScanError> {
    let (items, sums) = build_items::<L, T>(input, layout, stats)?;
    Ok((radix_sort(items, T::key_shift(layout.payload_bits), layout.key_bits), sums))
}

/// Binary metrics of every group of every slicing in one sort and one ranking pass.
///
/// Errors on mismatched lengths, an invalid label, a score outside `[0, 1]` or NaN, an invalid
/// weight, a code not below its group count, or a NaN threshold.
pub fn scan<L: BinaryLabel + Sync>(input: &ScanInput<'_, L>) -> Result<ScanResult, ScanError> {
    let span = validate(input)?;
    let layout = Layout::new(input.labels.len(), input.slicings, span, input.weights.is_some());
    let (rows, ranks) =
        if layout.packed() { run::<L, u64>(input, &layout)? } else { run::<L, (u64, u64)>(input, &layout)? };
    let groups = input
        .slicings
        .iter()
        .enumerate()
        .map(|(s, sl)| {
            (0..sl.groups as usize)
                .map(|g| {
                    let i = layout.offsets[s] + g;
                    group_stats(&rows[i], &ranks[i])
                })
                .collect()
        })
        .collect();
    Ok(ScanResult { groups })
}

/// The sort and both passes with items of type `T`.
fn run<L: BinaryLabel + Sync, T: Item>(
    input: &ScanInput<'_, L>,
    layout: &Layout,
) -> Result<(Vec<RowAcc>, Vec<RankAcc>), ScanError> {
    let (items, sums) = sorted::<L, T>(input, layout, true)?;
    let pb = layout.payload_bits;
    let ranges = rank::chunks(items.len(), |i| items[i].key(pb));
    let parts: Vec<Vec<RankAcc>> = ranges
        .into_par_iter()
        .map(|range| {
            rank::rank_chunk::<false>(range, layout.n_groups, input.slicings.len(), |pos, ids| {
                let it = &items[pos];
                let payload = it.payload(pb);
                layout.groups(input, payload, ids);
                let weight = match input.weights {
                    Some(w) => w[layout.index(payload)],
                    None => 1.0,
                };
                RankRow { key: it.key(pb), positive: layout.positive(input, payload), weight, correct: 0.0, loss: 0.0 }
            })
        })
        .collect();
    Ok((sums, rank::combine(&parts, layout.n_groups)))
}

fn group_stats(rows: &RowAcc, ranks: &RankAcc) -> GroupStats {
    let confusion = ConfusionMatrix {
        true_negative: rows.cells[0],
        false_positive: rows.cells[1],
        false_negative: rows.cells[2],
        true_positive: rows.cells[3],
    };
    let weight = confusion.total();
    let mean = |sum: f64| if weight > 0.0 { Some(sum / weight) } else { None };
    GroupStats {
        count: rows.count,
        weight,
        positive_weight: confusion.false_negative + confusion.true_positive,
        confusion,
        accuracy: confusion.accuracy(),
        roc_auc: ranks.roc_auc(),
        log_loss: mean(rows.loss),
        brier: mean(rows.brier),
    }
}

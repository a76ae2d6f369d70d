//! Poisson bootstrap on the fast path: percentile intervals of every group's accuracy, log loss
//! and ROC AUC.
//!
//! Replicate `r` gives row `i` the weight `wᵢ · K`, with `wᵢ` the row's weight (1 without
//! weights) and `K` the Poisson(1) draw of [`philox::poisson1_weight`](super::philox)`(i, r, key)`:
//! a pure function of the row, the replicate and the seed, so every replicate can be computed
//! anywhere, in any order, with the same result. Weights change the metrics, not the order of the
//! scores: every replicate reuses the one sort, as one pass over the rows in decreasing score
//! order (chunked as in [`scan`](super::scan())).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::philox::{poisson1_weight, seed_key};
use super::rank::{self, RankRow};
use super::sort::{CHUNK, Item};
use super::{Layout, ScanError, ScanInput, ScanResult, row_log_loss, scan, sorted, validate};
use crate::ci::{Interval, quantile};
use crate::metrics::binary::BinaryLabel;

/// The intervals of one group (`None` where fewer than half the replicates defined the metric).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct GroupIntervals {
    /// Accuracy at the threshold.
    pub accuracy: Option<Interval>,
    /// Log loss.
    pub log_loss: Option<Interval>,
    /// ROC AUC.
    pub roc_auc: Option<Interval>,
}

/// Point values and bootstrap intervals of every group of every slicing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanBootstrap {
    /// The metrics on the rows as given ([`scan`]).
    pub point: ScanResult,
    /// Confidence level of the intervals.
    pub level: f64,
    /// Replicates drawn.
    pub replicates: usize,
    /// `intervals[s][g]`: group `g` of slicing `s`.
    pub intervals: Vec<Vec<GroupIntervals>>,
}

/// One row in score order, with what every replicate needs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SortedRow {
    /// The score's sort key: increasing with the score, equal exactly for equal scores (the
    /// score's bits compressed to those that vary between rows, so not comparable across inputs).
    pub key: u64,
    /// The row's log loss (scikit-learn's clipping).
    pub loss: f64,
    /// The row's weight (1 without weights).
    pub base: f64,
    /// The row's index in the input.
    pub row: u32,
    /// The label is positive.
    pub positive: bool,
    /// The thresholded prediction equals the label.
    pub correct: bool,
}

/// The rows of `input` in increasing score order (ties in no particular but deterministic
/// order), and each row's accumulator in every slicing: `groups[pos * slicings + s]` is
/// slicing `s`'s first accumulator plus the row's code (accumulators number the groups of all
/// slicings in order). The one sort [`scan_bootstrap`] walks; other implementations of the
/// bootstrap (kiln-kernels' GPU lists) start from it too.
///
/// Errors as [`scan`] does.
pub fn sorted_rows_of<L: BinaryLabel + Sync>(
    input: &ScanInput<'_, L>,
) -> Result<(Vec<SortedRow>, Vec<u32>), ScanError> {
    let span = validate(input)?;
    let layout = Layout::new(input.labels.len(), input.slicings, span, true);
    if layout.packed() { sorted_rows::<L, u64>(input, &layout) } else { sorted_rows::<L, (u64, u64)>(input, &layout) }
}

/// The rows of `input` in increasing score order as column buffers, what kiln-kernels' host
/// preparation (`reference::prep::SortedInput`) takes: per sorted position the score key, row
/// index, label and thresholded correctness, and each row's accumulator in every slicing
/// (`accumulators[pos * slicings + s]`); each slicing's group count; each row's log loss by row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SortedColumns {
    pub keys: Vec<u64>,
    pub rows: Vec<u32>,
    pub positive: Vec<bool>,
    pub correct: Vec<bool>,
    pub accumulators: Vec<u32>,
    pub groups: Vec<u32>,
    pub loss: Vec<f64>,
}

/// [`sorted_rows_of`] as [`SortedColumns`]. Errors as [`scan`] does.
pub fn sorted_columns<L: BinaryLabel + Sync>(input: &ScanInput<'_, L>) -> Result<SortedColumns, ScanError> {
    let (sorted, accumulators) = sorted_rows_of(input)?;
    let loss = input.labels.par_iter().zip(input.scores).map(|(l, &p)| row_log_loss(l.is_positive(), p)).collect();
    Ok(SortedColumns {
        keys: sorted.iter().map(|r| r.key).collect(),
        rows: sorted.iter().map(|r| r.row).collect(),
        positive: sorted.iter().map(|r| r.positive).collect(),
        correct: sorted.iter().map(|r| r.correct).collect(),
        accumulators,
        groups: input.slicings.iter().map(|s| s.groups).collect(),
        loss,
    })
}

/// Point metrics and percentile intervals (linear interpolation between order statistics, as
/// numpy's default quantile) of each group's accuracy, log loss and ROC AUC over `replicates`
/// Poisson(1) replicates drawn with `seed`.
///
/// Errors as [`scan`] does, and when `replicates` is 0, `level` is not in (0, 1), or there are more
/// than 2³² rows (the generator's row counter is 32 bits).
pub fn scan_bootstrap<L: BinaryLabel + Sync>(
    input: &ScanInput<'_, L>,
    replicates: usize,
    seed: u64,
    level: f64,
) -> Result<ScanBootstrap, ScanError> {
    if replicates == 0 || replicates > u32::MAX as usize {
        return Err(ScanError::Setting(format!("{replicates} replicates: need 1 to 2^32 - 1")));
    }
    if !(level > 0.0 && level < 1.0) {
        return Err(ScanError::Setting(format!("confidence level {level} is not in (0, 1)")));
    }
    if input.labels.len() > 1 << 32 {
        return Err(ScanError::Setting(format!("{} rows: at most 2^32", input.labels.len())));
    }
    let point = scan(input)?;
    if input.slicings.is_empty() {
        return Ok(ScanBootstrap { point, level, replicates, intervals: Vec::new() });
    }
    let span = validate(input)?;
    let layout = Layout::new(input.labels.len(), input.slicings, span, true);
    let (rows, groups) = if layout.packed() {
        sorted_rows::<L, u64>(input, &layout)?
    } else {
        sorted_rows::<L, (u64, u64)>(input, &layout)?
    };
    let n_slicings = input.slicings.len();
    let ranges = rank::chunks(rows.len(), |i| rows[i].key);
    let key = seed_key(seed);
    let values: Vec<Vec<[Option<f64>; 3]>> = (0..replicates)
        .into_par_iter()
        .map(|r| {
            let parts: Vec<_> = ranges
                .par_iter()
                .map(|range| {
                    rank::rank_chunk::<true>(range.clone(), layout.n_groups, n_slicings, |pos, out| {
                        let g = &groups[pos * n_slicings..(pos + 1) * n_slicings];
                        out.iter_mut().zip(g).for_each(|(o, &g)| *o = g as usize);
                        let x = &rows[pos];
                        RankRow {
                            key: x.key,
                            positive: x.positive,
                            weight: x.base * f64::from(poisson1_weight(x.row, r as u32, key)),
                            correct: f64::from(u8::from(x.correct)),
                            loss: x.loss,
                        }
                    })
                })
                .collect();
            rank::combine(&parts, layout.n_groups)
                .iter()
                .map(|a| {
                    let mean = |sum: f64| if a.weight > 0.0 { Some(sum / a.weight) } else { None };
                    [mean(a.correct), mean(a.loss), a.roc_auc()]
                })
                .collect()
        })
        .collect();
    let (lo_q, hi_q) = ((1.0 - level) / 2.0, 1.0 - (1.0 - level) / 2.0);
    let interval = |group: usize, metric: usize| {
        let mut v: Vec<f64> = values.iter().filter_map(|r| r[group][metric]).filter(|v| v.is_finite()).collect();
        if v.is_empty() || v.len() * 2 < replicates {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(Interval { lo: quantile(&v, lo_q), hi: quantile(&v, hi_q) })
    };
    let intervals = input
        .slicings
        .iter()
        .enumerate()
        .map(|(s, sl)| {
            (0..sl.groups as usize)
                .map(|g| {
                    let i = layout.offsets[s] + g;
                    GroupIntervals { accuracy: interval(i, 0), log_loss: interval(i, 1), roc_auc: interval(i, 2) }
                })
                .collect()
        })
        .collect();
    Ok(ScanBootstrap { point, level, replicates, intervals })
}

/// The rows in increasing score order, and their accumulator index in each slicing
/// (`groups[pos * slicings + s]`).
fn sorted_rows<L: BinaryLabel + Sync, T: Item>(
    input: &ScanInput<'_, L>,
    layout: &Layout,
) -> Result<(Vec<SortedRow>, Vec<u32>), ScanError> {
    let (items, _) = sorted::<L, T>(input, layout, false)?;
    let n_slicings = input.slicings.len();
    let pb = layout.payload_bits;
    let mut rows = vec![SortedRow::default(); items.len()];
    let mut groups = vec![0u32; items.len() * n_slicings];
    rows.par_chunks_mut(CHUNK).zip(groups.par_chunks_mut((CHUNK * n_slicings).max(1))).enumerate().for_each_init(
        || vec![0usize; n_slicings],
        |ids, (c, (out, out_groups))| {
            for (j, r) in out.iter_mut().enumerate() {
                let it = &items[c * CHUNK + j];
                let payload = it.payload(pb);
                let row = layout.index(payload);
                let positive = layout.positive(input, payload);
                let key = it.key(pb);
                let p = layout.score(key);
                *r = SortedRow {
                    key,
                    loss: row_log_loss(positive, p),
                    base: input.weights.map_or(1.0, |w| w[row]),
                    row: row as u32,
                    positive,
                    correct: positive == (p >= input.threshold),
                };
                layout.groups(input, payload, ids);
                let g = &mut out_groups[j * n_slicings..(j + 1) * n_slicings];
                g.iter_mut().zip(ids.iter()).for_each(|(g, &i)| *g = i as u32);
            }
        },
    );
    Ok((rows, groups))
}

//! The fast path of a binary evaluation's bootstrap: every replicate as one pass over the rows
//! sorted once by score, updating every slice's accumulators at once.
//!
//! The generic path (`ci::intervals` over `GroupView::metrics`) gathers each slice's weights
//! and recomputes every metric per replicate, sorting each slice again for the rank metrics.
//! Here the rows are laid out once in score order with their slice of each slicing; a
//! replicate draws each row's Poisson(1) weight from the same counter-based Philox generator
//! as `ci` (`scan::philox::poisson1_weight` at the row's index), walks the rows from the
//! highest score down, and keeps per slice the weighted confusion cells, log loss and Brier
//! sums, the calibration bins, and the ROC area and average precision over tie blocks (the
//! tie-block arithmetic of `metrics::binary`). The values equal the generic path's up to the
//! order of floating-point sums; `sliced::tests` checks it on generated data.

use rayon::prelude::*;

use crate::ci::{Interval, percentile_intervals};
use crate::config::CiConfig;
use crate::metrics::binary::ConfusionMatrix;
use crate::metrics::{Metric, MetricParams};
use crate::scan::philox::{poisson1_weight, seed_key};
use crate::scan::row_log_loss;

/// No slice of this slicing holds the row (or its slice is too small to report).
const NONE: u32 = u32::MAX;

/// One row in score order.
#[derive(Debug, Clone, Copy)]
struct SortedRow {
    score: f64,
    /// The row's log loss (scikit-learn's clipping).
    loss: f64,
    /// The row's weight (1 without weights).
    base: f64,
    row: u32,
    /// Calibration bin of the score.
    bin: u32,
    positive: bool,
    /// Predicted positive at the threshold.
    predicted: bool,
}

/// The rows of a binary evaluation sorted once, with each row's slice (view) in every slicing.
pub(crate) struct SortedRows {
    rows: Vec<SortedRow>,
    /// `views[pos * slicings + s]`: the view holding the row at `pos` in slicing `s`, or [`NONE`].
    views: Vec<u32>,
    slicings: usize,
    n_views: usize,
}

impl SortedRows {
    /// `order`: the rows by increasing score; `view_rows[v]`: slicing and rows of view `v`.
    pub(crate) fn new(
        order: &[u32],
        labels: &[bool],
        scores: &[f64],
        base: &[f64],
        view_rows: &[(usize, &[u32])],
        slicings: usize,
        params: &MetricParams,
    ) -> Self {
        let n = order.len();
        let mut position = vec![0u32; n];
        order.iter().enumerate().for_each(|(pos, &row)| position[row as usize] = pos as u32);
        let mut views = vec![NONE; n * slicings];
        for (v, (s, rows)) in view_rows.iter().enumerate() {
            for &row in *rows {
                views[position[row as usize] as usize * slicings + s] = v as u32;
            }
        }
        let bins = params.ece_bins.max(1);
        let rows = order
            .par_iter()
            .map(|&row| {
                let (score, positive) = (scores[row as usize], labels[row as usize]);
                SortedRow {
                    score,
                    loss: row_log_loss(positive, score),
                    base: base[row as usize],
                    row,
                    bin: ((score * bins as f64).floor() as usize).min(bins - 1) as u32,
                    positive,
                    predicted: score >= params.threshold,
                }
            })
            .collect();
        SortedRows { rows, views, slicings, n_views: view_rows.len() }
    }

    /// Percentile intervals of `metrics` of every view (`[v * metrics.len() + m]`), over the
    /// replicates of `config`.
    pub(crate) fn bootstrap(
        &self,
        config: &CiConfig,
        metrics: &[Metric],
        params: &MetricParams,
    ) -> Vec<Option<Interval>> {
        let key = seed_key(config.seed);
        let bins = params.ece_bins.max(1);
        let replicates: Vec<Vec<Option<f64>>> = (0..config.replicates)
            .into_par_iter()
            .map_init(
                || (vec![SliceAcc::default(); self.n_views], vec![[0.0; 3]; self.n_views * bins]),
                |(acc, calibration), r| {
                    acc.fill(SliceAcc::default());
                    calibration.fill([0.0; 3]);
                    self.replicate(r as u32, key, bins, acc, calibration);
                    (0..self.n_views)
                        .flat_map(|v| {
                            let (a, c) = (&acc[v], &calibration[v * bins..(v + 1) * bins]);
                            metrics.iter().map(move |&m| a.metric(m, c))
                        })
                        .collect()
                },
            )
            .collect();
        percentile_intervals(&replicates, self.n_views * metrics.len(), config.level)
    }

    /// One replicate's pass, from the highest score down.
    fn replicate(&self, r: u32, key: [u32; 2], bins: usize, acc: &mut [SliceAcc], calibration: &mut [[f64; 3]]) {
        let s = self.slicings;
        let mut block = 0u64;
        let mut previous = f64::NAN;
        for (pos, x) in self.rows.iter().enumerate().rev() {
            let k = poisson1_weight(x.row, r, key);
            let w = x.base * f64::from(k);
            if w == 0.0 {
                continue;
            }
            if x.score != previous {
                block += 1;
                previous = x.score;
            }
            let y = f64::from(u8::from(x.positive));
            let cell = 2 * usize::from(x.positive) + usize::from(x.predicted);
            let (loss, d) = (w * x.loss, y - x.score);
            let brier = w * (d * d);
            for &v in &self.views[pos * s..(pos + 1) * s] {
                if v == NONE {
                    continue;
                }
                let a = &mut acc[v as usize];
                if a.block != block {
                    a.close_block();
                    a.block = block;
                }
                if x.positive {
                    a.block_pos += w;
                } else {
                    a.block_neg += w;
                }
                a.cells[cell] += w;
                a.loss += loss;
                a.brier += brier;
                let c = &mut calibration[v as usize * bins + x.bin as usize];
                c[0] += w;
                c[1] += w * x.score;
                c[2] += w * y;
            }
        }
        acc.iter_mut().for_each(SliceAcc::close_block);
    }
}

/// One slice's sums in one replicate.
#[derive(Debug, Clone, Copy, Default)]
struct SliceAcc {
    /// Weights of (negative, predicted negative), (negative, positive), (positive, negative),
    /// (positive, positive).
    cells: [f64; 4],
    loss: f64,
    brier: f64,
    /// Positive and negative weight of the closed tie blocks.
    tp: f64,
    fp: f64,
    /// Σ over closed blocks of `neg · (tp before the block + pos / 2)`.
    area: f64,
    /// Σ over closed blocks of `pos · precision after the block`.
    precision_sum: f64,
    /// The open tie block: its number and its positive and negative weight.
    block: u64,
    block_pos: f64,
    block_neg: f64,
}

impl SliceAcc {
    /// `metrics::binary`'s `roc_auc_of` and `average_precision_of` steps for one tie block.
    fn close_block(&mut self) {
        let (pos, neg) = (self.block_pos, self.block_neg);
        self.area += neg * (self.tp + 0.5 * pos);
        self.tp += pos;
        self.fp += neg;
        if pos > 0.0 {
            self.precision_sum += pos * (self.tp / (self.tp + self.fp));
        }
        self.block_pos = 0.0;
        self.block_neg = 0.0;
    }

    /// `metric` of the accumulated rows, as `metrics::compute` defines it.
    fn metric(&self, metric: Metric, calibration: &[[f64; 3]]) -> Option<f64> {
        let cm = ConfusionMatrix {
            true_negative: self.cells[0],
            false_positive: self.cells[1],
            false_negative: self.cells[2],
            true_positive: self.cells[3],
        };
        let total = cm.total();
        let mean = |sum: f64| if total > 0.0 { Some(sum / total) } else { None };
        match metric {
            Metric::Accuracy => cm.accuracy(),
            Metric::Precision => cm.precision(),
            Metric::Recall => cm.recall(),
            Metric::F1 => cm.f1(),
            Metric::Tpr => cm.tpr(),
            Metric::Fpr => cm.fpr(),
            Metric::SelectionRate => cm.selection_rate(),
            Metric::RocAuc => (self.tp > 0.0 && self.fp > 0.0).then(|| self.area / (self.tp * self.fp)),
            Metric::AveragePrecision => (self.tp > 0.0).then(|| self.precision_sum / self.tp),
            Metric::LogLoss => mean(self.loss),
            Metric::Brier => mean(self.brier),
            Metric::Ece => {
                let gap: f64 =
                    calibration.iter().filter(|b| b[0] > 0.0).map(|b| b[0] * (b[1] / b[0] - b[2] / b[0]).abs()).sum();
                mean(gap)
            }
            _ => None,
        }
    }
}

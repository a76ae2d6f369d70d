//! The host preparation of the evaluation kernels: every group's rows in decreasing score order.
//!
//! 1. The rows are sorted once by score on the host (rayon's parallel unstable sort of
//!    `(order-preserving score key, row)` pairs, decreasing).
//! 2. For each slicing, a stable counting sort by group code of that order gives each group's
//!    rows as one contiguous list, still in decreasing score order. Slicing `s` owns list
//!    positions `s·n .. (s + 1)·n`; group `g` of slicing `s` is accumulator `offsets[s] + g`.
//! 3. Each list position is one `u32` record: the row (for the Philox counter) in bits 0..29,
//!    then flags: [`HEAD`] (first row of a run of equal scores within the group), [`POSITIVE`]
//!    (label 1) and [`CORRECT`] (thresholded prediction right). The row's log loss and, with
//!    weights, its weight sit in parallel `f64` arrays.
//! 4. Each group's list is cut into chunks of about [`CHUNK`] positions, every cut at a
//!    [`HEAD`], so that no run of tied scores straddles two chunks. A chunk belongs to one
//!    group; a device block (or the CPU reference) sums one chunk, and chunks are combined in
//!    list order (`bootstrap::combine`).

use kiln_eval::metrics::binary::BinaryLabel;
use kiln_eval::scan::{ScanError, ScanInput};
use rayon::prelude::*;

use crate::Error;

/// Flag of a record: the first position of a run of equal scores in its group's list.
pub const HEAD: u32 = 1 << 31;
/// Flag of a record: the label is positive.
pub const POSITIVE: u32 = 1 << 30;
/// Flag of a record: the thresholded prediction equals the label.
pub const CORRECT: u32 = 1 << 29;
/// The row bits of a record.
pub const ROW_MASK: u32 = CORRECT - 1;

/// Target chunk length in list positions (a chunk grows past it only to keep a run of ties whole).
pub const CHUNK: usize = 8192;

/// Every slicing's groups as score-ordered lists, chunked (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// Rows.
    pub n_rows: usize,
    /// First accumulator of each slicing.
    pub offsets: Vec<u32>,
    /// Accumulators (groups of all slicings).
    pub n_groups: usize,
    /// One record per list position (`n_rows × slicings`).
    pub records: Vec<u32>,
    /// The row's log loss (scikit-learn's clipping), per list position.
    pub loss: Vec<f64>,
    /// The row's weight per list position, when the input has weights.
    pub weights: Option<Vec<f64>>,
    /// First position of each chunk, then the end (`chunks + 1` entries).
    pub chunk_start: Vec<u32>,
    /// First chunk of each group, then the chunk count (`n_groups + 1` entries).
    pub group_chunk: Vec<u32>,
}

/// The order-preserving `u64` image of a non-NaN score (`-0.0` folded onto `0.0`).
#[inline]
pub fn score_key(score: f64) -> u64 {
    let bits = (score + 0.0).to_bits();
    if bits >> 63 == 1 { !bits } else { bits | (1 << 63) }
}

/// The log loss of one row, clipped to `[ε, 1 − ε]` as scikit-learn does.
#[inline]
pub fn row_log_loss(positive: bool, p: f64) -> f64 {
    let q = if positive { p } else { 1.0 - p };
    -q.clamp(f64::EPSILON, 1.0 - f64::EPSILON).ln()
}

/// Checks the input as `kiln_eval::scan` does.
fn validate<L: BinaryLabel + Sync>(input: &ScanInput<'_, L>) -> Result<(), Error> {
    let n = input.labels.len();
    let length = |column: String, found: usize| -> Result<(), Error> {
        if found == n { Ok(()) } else { Err(ScanError::Length { column, expected: n, found }.into()) }
    };
    length("scores".into(), input.scores.len())?;
    if let Some(w) = input.weights {
        length("weights".into(), w.len())?;
    }
    for (s, sl) in input.slicings.iter().enumerate() {
        length(format!("slicing {s}"), sl.codes.len())?;
    }
    if input.threshold.is_nan() {
        return Err(ScanError::Setting("the threshold is NaN".into()).into());
    }
    if n > ROW_MASK as usize || n * input.slicings.len().max(1) > u32::MAX as usize {
        return Err(Error::Setting(format!(
            "{n} rows in {} slicings: the kernels take at most 2^29 rows and 2^32 rows x slicings",
            input.slicings.len()
        )));
    }
    for row in 0..n {
        if !input.labels[row].is_valid() {
            return Err(ScanError::Label { row }.into());
        }
        let score = input.scores[row];
        if !(0.0..=1.0).contains(&score) {
            return Err(ScanError::Score { row, score }.into());
        }
        if let Some(w) = input.weights
            && !(0.0..f64::INFINITY).contains(&w[row])
        {
            return Err(ScanError::Weight { row, weight: w[row] }.into());
        }
    }
    for (slicing, sl) in input.slicings.iter().enumerate() {
        if let Some((row, &code)) = sl.codes.iter().enumerate().find(|(_, c)| **c >= sl.groups) {
            return Err(ScanError::Code { slicing, row, code, groups: sl.groups }.into());
        }
    }
    Ok(())
}

impl Prepared {
    /// Sorts, partitions and chunks `input` (see the module documentation).
    ///
    /// Errors as `kiln_eval::scan` does, and beyond 2²⁹ rows.
    pub fn new<L: BinaryLabel + Sync>(input: &ScanInput<'_, L>) -> Result<Self, Error> {
        validate(input)?;
        let n = input.labels.len();
        let mut order: Vec<(u64, u32)> =
            input.scores.par_iter().enumerate().map(|(row, &s)| (score_key(s), row as u32)).collect();
        order.par_sort_unstable_by(|a, b| b.cmp(a));
        let mut offsets = Vec::with_capacity(input.slicings.len());
        let mut n_groups = 0usize;
        for sl in input.slicings {
            offsets.push(n_groups as u32);
            n_groups += sl.groups as usize;
        }
        // per slicing: the group lists (records, loss, weight) and each group's chunk starts
        type Part = (Vec<u32>, Vec<f64>, Vec<f64>, Vec<Vec<u32>>);
        let parts: Vec<Part> = input
            .slicings
            .par_iter()
            .enumerate()
            .map(|(s, sl)| {
                let groups = sl.groups as usize;
                let mut start = vec![0usize; groups + 1];
                for &c in sl.codes {
                    start[c as usize + 1] += 1;
                }
                for g in 0..groups {
                    start[g + 1] += start[g];
                }
                let mut cursor = start.clone();
                let (mut records, mut loss) = (vec![0u32; n], vec![0.0f64; n]);
                let mut weights = if input.weights.is_some() { vec![0.0f64; n] } else { Vec::new() };
                let mut last_key = vec![None::<u64>; groups];
                for &(key, row) in &order {
                    let r = row as usize;
                    let g = sl.codes[r] as usize;
                    let pos = cursor[g];
                    cursor[g] += 1;
                    let y = input.labels[r].is_positive();
                    let p = input.scores[r];
                    let mut rec = row;
                    if last_key[g] != Some(key) {
                        rec |= HEAD;
                        last_key[g] = Some(key);
                    }
                    if y {
                        rec |= POSITIVE;
                    }
                    if y == (p >= input.threshold) {
                        rec |= CORRECT;
                    }
                    records[pos] = rec;
                    loss[pos] = row_log_loss(y, p);
                    if let Some(w) = input.weights {
                        weights[pos] = w[r];
                    }
                }
                let base = (s * n) as u32;
                let chunks = (0..groups)
                    .map(|g| {
                        let mut starts = Vec::new();
                        let mut pos = start[g];
                        while pos < start[g + 1] {
                            starts.push(base + pos as u32);
                            pos += CHUNK.min(start[g + 1] - pos);
                            while pos < start[g + 1] && records[pos] & HEAD == 0 {
                                pos += 1;
                            }
                        }
                        starts
                    })
                    .collect();
                (records, loss, weights, chunks)
            })
            .collect();
        let total = n * input.slicings.len();
        let (mut records, mut loss) = (Vec::with_capacity(total), Vec::with_capacity(total));
        let mut weights = input.weights.map(|_| Vec::with_capacity(total));
        let (mut chunk_start, mut group_chunk) = (Vec::new(), Vec::with_capacity(n_groups + 1));
        for (r, l, w, chunks) in parts {
            records.extend(r);
            loss.extend(l);
            if let Some(all) = weights.as_mut() {
                all.extend(w);
            }
            for starts in chunks {
                group_chunk.push(chunk_start.len() as u32);
                chunk_start.extend(starts);
            }
        }
        group_chunk.push(chunk_start.len() as u32);
        chunk_start.push(total as u32);
        Ok(Self { n_rows: n, offsets, n_groups, records, loss, weights, chunk_start, group_chunk })
    }

    /// Chunks in all.
    pub fn n_chunks(&self) -> usize {
        self.chunk_start.len() - 1
    }

    /// The group (accumulator) of each chunk.
    pub fn chunk_groups(&self) -> Vec<u32> {
        let mut out = vec![0u32; self.n_chunks()];
        for g in 0..self.n_groups {
            for c in self.group_chunk[g]..self.group_chunk[g + 1] {
                out[c as usize] = g as u32;
            }
        }
        out
    }
}

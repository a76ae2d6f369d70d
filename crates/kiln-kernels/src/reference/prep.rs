//! The host preparation of the evaluation kernels: every group's rows in decreasing score order.
//!
//! 1. The rows come sorted once by score ([`SortedInput`]: raw buffers, which kiln-eval fills
//!    from its radix sort with `kiln_eval::scan::sorted_columns`), walked in decreasing order.
//! 2. For each slicing, a stable counting sort by group code of that order gives each group's
//!    rows as one contiguous list, still in decreasing score order (in parallel over fixed
//!    blocks of the order, each block writing from its groups' offsets). Slicing `s` owns list
//!    positions `s·n .. (s + 1)·n`; group `g` of slicing `s` is accumulator `offsets[s] + g`.
//! 3. Each list position is one `u32` record: the row (for the Philox counter) in bits 0..29,
//!    then flags: [`HEAD`] (first row of a run of equal scores within the group), [`POSITIVE`]
//!    (label 1) and [`CORRECT`] (thresholded prediction right). The rows' log losses and, with
//!    weights, their weights are `f64` arrays by row, which the record's row bits index.
//! 4. Each group's list is cut into chunks of about [`CHUNK`] positions, every cut at a
//!    [`HEAD`], so that no run of tied scores straddles two chunks. A chunk belongs to one
//!    group; a device block (or the CPU reference) sums one chunk, and chunks are combined in
//!    list order (`bootstrap::combine`).

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

/// The rows sorted by increasing score, as raw buffers: per sorted position `pos` the score key
/// (equal keys exactly for equal scores), the row index, the label and whether the thresholded
/// prediction is right, and the row's accumulator in each slicing `s` at
/// `accumulators[pos * slicings + s]` (the groups of all slicings numbered in order); per
/// slicing its group count; per row its log loss and, optionally, its weight.
#[derive(Debug, Clone, Copy)]
pub struct SortedInput<'a> {
    pub keys: &'a [u64],
    pub rows: &'a [u32],
    pub positive: &'a [bool],
    pub correct: &'a [bool],
    pub accumulators: &'a [u32],
    pub groups: &'a [u32],
    pub loss: &'a [f64],
    pub weights: Option<&'a [f64]>,
}

impl SortedInput<'_> {
    /// Lengths that fit each other, and accumulators below the group total.
    fn check(&self) -> Result<(), Error> {
        let n = self.keys.len();
        let n_groups: u64 = self.groups.iter().map(|&g| u64::from(g)).sum();
        let lengths = [
            ("rows", self.rows.len(), n),
            ("positive", self.positive.len(), n),
            ("correct", self.correct.len(), n),
            ("accumulators", self.accumulators.len(), n * self.groups.len()),
            ("loss", self.loss.len(), n),
            ("weights", self.weights.map_or(n, <[f64]>::len), n),
        ];
        if let Some((what, found, expected)) = lengths.into_iter().find(|(_, found, expected)| found != expected) {
            return Err(Error::Setting(format!("sorted input: {what} has {found} entries, expected {expected}")));
        }
        if let Some(&a) = self.accumulators.iter().find(|&&a| u64::from(a) >= n_groups) {
            return Err(Error::Setting(format!("sorted input: accumulator {a} is not below the {n_groups} groups")));
        }
        if let Some(&r) = self.rows.iter().find(|&&r| r as usize >= n) {
            return Err(Error::Setting(format!("sorted input: row {r} is not below the {n} rows")));
        }
        Ok(())
    }
}

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
    /// Each row's log loss (scikit-learn's clipping), by row (a record's row bits index it).
    pub loss: Vec<f64>,
    /// Each row's weight, by row, when the input has weights.
    pub weights: Option<Vec<f64>>,
    /// First position of each chunk, then the end (`chunks + 1` entries).
    pub chunk_start: Vec<u32>,
    /// First chunk of each group, then the chunk count (`n_groups + 1` entries).
    pub group_chunk: Vec<u32>,
}

/// Positions per block of the parallel scatter (fixed, so the lists never depend on the thread
/// count; the scatter is stable anyway).
pub const BLOCK: usize = 1 << 17;

/// One block's share of the lists: rows per accumulator, and the position (in decreasing
/// score order) of the block's last row of each accumulator.
struct BlockCounts {
    count: Vec<usize>,
    last: Vec<usize>,
}

/// `list` (every slicing's positions) split into the piece of each (block, accumulator):
/// accumulator-major, block-minor, as the counting sort lays the lists out; returned by
/// block, then accumulator.
fn pieces<'a, T>(mut list: &'a mut [T], counts: &[BlockCounts]) -> Vec<Vec<&'a mut [T]>> {
    let n_accumulators = counts.first().map_or(0, |c| c.count.len());
    let mut out: Vec<Vec<&'a mut [T]>> = counts.iter().map(|_| Vec::with_capacity(n_accumulators)).collect();
    for a in 0..n_accumulators {
        for (b, c) in counts.iter().enumerate() {
            let (piece, rest) = std::mem::take(&mut list).split_at_mut(c.count[a]);
            out[b].push(piece);
            list = rest;
        }
    }
    out
}

impl Prepared {
    /// Partitions and chunks the sorted rows (see the module documentation).
    ///
    /// Errors on buffers that do not fit each other, and beyond 2²⁹ rows.
    pub fn new(input: &SortedInput<'_>) -> Result<Self, Error> {
        input.check()?;
        let n = input.keys.len();
        let n_slicings = input.groups.len();
        if n > ROW_MASK as usize || n * n_slicings.max(1) > u32::MAX as usize {
            return Err(Error::Setting(format!(
                "{n} rows in {n_slicings} slicings: the kernels take at most 2^29 rows and 2^32 rows x slicings"
            )));
        }
        let accumulators = input.accumulators;
        let mut offsets = Vec::with_capacity(n_slicings);
        let mut n_groups = 0usize;
        for &groups in input.groups {
            offsets.push(n_groups as u32);
            n_groups += groups as usize;
        }
        // Every slicing's lists, written in place by one stable parallel counting sort over
        // all accumulators: the rows in decreasing score order cut into fixed blocks; block b
        // writes its rows of accumulator a into the piece of a's list that follows the rows of
        // a in earlier blocks. The lists lie accumulator after accumulator (slicing `s` owns
        // positions `s·n .. (s + 1)·n`), so the pieces split off the output in that order and
        // every block owns its own. Each block reads its rows once for all slicings.
        let total = n * n_slicings;
        let mut records = vec![0u32; total];
        let n_blocks = n.div_ceil(BLOCK);
        // position `i` of the decreasing order is sorted row `n - 1 - i`
        let block = |b: usize| (b * BLOCK)..((b + 1) * BLOCK).min(n);
        let accumulators_of = |i: usize| &accumulators[(n - 1 - i) * n_slicings..(n - i) * n_slicings];
        let counts: Vec<BlockCounts> = (0..n_blocks)
            .into_par_iter()
            .map(|b| {
                let mut c = BlockCounts { count: vec![0; n_groups], last: vec![0; n_groups] };
                for i in block(b) {
                    for &a in accumulators_of(i) {
                        c.count[a as usize] += 1;
                        c.last[a as usize] = i;
                    }
                }
                c
            })
            .collect();
        let mut start = vec![0usize; n_groups + 1];
        for a in 0..n_groups {
            start[a + 1] = start[a] + counts.iter().map(|c| c.count[a]).sum::<usize>();
        }
        // the key of each accumulator's last row before each block (HEAD across block edges)
        let mut previous = vec![None::<u64>; n_groups];
        let mut before: Vec<Vec<Option<u64>>> = Vec::with_capacity(n_blocks);
        for c in &counts {
            before.push(previous.clone());
            for ((p, &count), &last) in previous.iter_mut().zip(&c.count).zip(&c.last) {
                if count > 0 {
                    *p = Some(input.keys[n - 1 - last]);
                }
            }
        }
        let jobs: Vec<_> = pieces(&mut records, &counts).into_iter().zip(before).enumerate().collect();
        jobs.into_par_iter().for_each(|(b, (mut rec, mut last_key))| {
            let mut cursor = vec![0usize; n_groups];
            for i in block(b) {
                let (at_sorted, key) = (n - 1 - i, input.keys[n - 1 - i]);
                let mut flags = input.rows[at_sorted];
                if input.positive[at_sorted] {
                    flags |= POSITIVE;
                }
                if input.correct[at_sorted] {
                    flags |= CORRECT;
                }
                for &a in accumulators_of(i) {
                    let a = a as usize;
                    let at = cursor[a];
                    cursor[a] += 1;
                    let head = if last_key[a] != Some(key) {
                        last_key[a] = Some(key);
                        HEAD
                    } else {
                        0
                    };
                    rec[a][at] = flags | head;
                }
            }
        });
        // each accumulator's list cut into chunks at about CHUNK positions, each cut at a HEAD
        let (mut chunk_start, mut group_chunk) = (Vec::new(), Vec::with_capacity(n_groups + 1));
        for a in 0..n_groups {
            group_chunk.push(chunk_start.len() as u32);
            let mut pos = start[a];
            while pos < start[a + 1] {
                chunk_start.push(pos as u32);
                pos += CHUNK.min(start[a + 1] - pos);
                while pos < start[a + 1] && records[pos] & HEAD == 0 {
                    pos += 1;
                }
            }
        }
        group_chunk.push(chunk_start.len() as u32);
        chunk_start.push(total as u32);
        // the rows' log losses and weights, by row
        let loss = input.loss.to_vec();
        let weights = input.weights.map(<[f64]>::to_vec);
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

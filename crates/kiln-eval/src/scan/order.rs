//! The rows in increasing score order from the fast path's radix sort, ties in row order: the
//! order in which the full evaluation (`evaluate`) visits each slice's rows.

use rayon::prelude::*;

use super::ScanError;
use super::sort::{CHUNK, key_span, low_mask, radix_sort, sort_key};

/// Row indices `0..scores.len()` ordered by increasing score, tied scores (`-0.0` and `0.0`
/// included) in increasing row order: what a stable sort of the rows by score gives, from one
/// radix sort.
///
/// Errors on a NaN score, or on more than 2³² rows.
pub fn score_order(scores: &[f64]) -> Result<Vec<u32>, ScanError> {
    let n = scores.len();
    if n > 1 << 32 {
        return Err(ScanError::Setting(format!("{n} rows: at most 2^32")));
    }
    if let Some(row) = scores.iter().position(|s| s.is_nan()) {
        return Err(ScanError::Score { row, score: f64::NAN });
    }
    let (or, and) = scores
        .par_chunks(CHUNK)
        .map(|c| c.iter().fold((0u64, u64::MAX), |(o, a), &s| (o | sort_key(s), a & sort_key(s))))
        .reduce(|| (0, u64::MAX), |x, y| (x.0 | y.0, x.1 & y.1));
    let (lo, key_bits) = key_span(or, and);
    let compress = |s: f64| (sort_key(s) >> lo) & low_mask(key_bits);
    let index_bits = if n <= 1 { 0 } else { 64 - ((n - 1) as u64).leading_zeros() };
    if key_bits + index_bits <= 64 {
        // (key, row) packed in one word: sorting the whole word orders ties by row as well
        let items: Vec<u64> = scores
            .par_iter()
            .enumerate()
            .with_min_len(CHUNK)
            .map(|(row, &s)| (compress(s) << index_bits) | row as u64)
            .collect();
        let sorted = radix_sort(items, 0, key_bits + index_bits);
        return Ok(sorted.par_iter().with_min_len(CHUNK).map(|&w| (w & low_mask(index_bits)) as u32).collect());
    }
    let items: Vec<(u64, u64)> =
        scores.par_iter().enumerate().with_min_len(CHUNK).map(|(row, &s)| (compress(s), row as u64)).collect();
    let mut sorted = radix_sort(items, 0, key_bits);
    // the radix sort leaves ties in no particular order: put each run of equal keys in row order
    let mut start = 0;
    while start < sorted.len() {
        let key = sorted[start].0;
        let end = start + sorted[start..].iter().take_while(|t| t.0 == key).count();
        sorted[start..end].sort_unstable_by_key(|t| t.1);
        start = end;
    }
    Ok(sorted.par_iter().with_min_len(CHUNK).map(|t| t.1 as u32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::rng::Rng;

    fn stable_order(scores: &[f64]) -> Vec<u32> {
        let mut order: Vec<u32> = (0..scores.len() as u32).collect();
        order.sort_by(|&a, &b| (scores[a as usize] + 0.0).total_cmp(&(scores[b as usize] + 0.0)));
        order
    }

    #[test]
    fn equals_a_stable_sort_with_ties_and_continuous_scores() {
        let mut rng = Rng::new(17);
        // few distinct values (packed items, many ties) and full-precision values (pairs)
        let tied: Vec<f64> = (0..200_000).map(|_| (rng.uniform() * 50.0).floor() / 50.0).collect();
        let continuous: Vec<f64> = (0..200_000).map(|_| rng.uniform() * 4.0 - 2.0).collect();
        let mut with_zeros = tied.clone();
        with_zeros[3] = -0.0;
        with_zeros[7] = 0.0;
        for scores in [&tied, &continuous, &with_zeros] {
            assert_eq!(score_order(scores).expect("order"), stable_order(scores));
        }
    }

    #[test]
    fn nan_is_refused_and_tiny_inputs_pass() {
        assert!(matches!(score_order(&[0.1, f64::NAN]), Err(ScanError::Score { row: 1, .. })));
        assert_eq!(score_order(&[]).expect("empty"), Vec::<u32>::new());
        assert_eq!(score_order(&[0.5]).expect("one"), vec![0]);
        assert_eq!(score_order(&[0.5, 0.5, 0.2]).expect("ties"), vec![2, 0, 1]);
    }
}

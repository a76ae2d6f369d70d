//! Realised ROC AUC from labels, as scikit-learn's `roc_auc_score`: the share of
//! (positive, negative) pairs that the score ranks the right way round, a tie counting one half
//! (what the trapezoidal rule over tied thresholds gives). Counted exactly in integers over runs of
//! equal scores, so a window ranked once is scored in one pass per set of labels.

use crate::{Error, Result};

/// Pair counts of a ranking walked from the highest score down, one run of equal scores at a time.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PairCount {
    positives: u64,
    negatives: u64,
    /// Twice the number of correctly ordered pairs plus the number of tied pairs: at most
    /// `n²/2`, so it fits for fewer than 2³² rows (checked by the callers).
    twice_concordant: u64,
}

impl PairCount {
    /// Adds the next run of equal scores, holding `positives` and `negatives` rows.
    #[inline]
    pub(super) fn add_run(&mut self, positives: u64, negatives: u64) {
        self.twice_concordant += negatives * (2 * self.positives + positives);
        self.positives += positives;
        self.negatives += negatives;
    }

    /// The number of positive rows counted.
    pub(super) fn positives(&self) -> u64 {
        self.positives
    }

    /// The ROC AUC; `None` without both classes.
    pub(super) fn roc_auc(&self) -> Option<f64> {
        if self.positives == 0 || self.negatives == 0 {
            return None;
        }
        let pairs = 2.0 * self.positives as f64 * self.negatives as f64;
        Some(self.twice_concordant as f64 / pairs)
    }
}

/// The ROC AUC of `scores` against `labels` (positive = `true`), as scikit-learn's
/// `roc_auc_score`. `Ok(None)` when the labels are all of one class (scikit-learn raises).
///
/// Errors when the lengths differ, the columns are empty or a score is not finite.
pub fn roc_auc(labels: &[bool], scores: &[f64]) -> Result<Option<f64>> {
    if labels.len() != scores.len() {
        return Err(Error::LengthMismatch { column: "labels".into(), expected: scores.len(), found: labels.len() });
    }
    if scores.is_empty() {
        return Err(Error::EmptyColumn { column: "scores".into() });
    }
    super::window::check_size("scores", scores.len())?;
    if let Some(row) = scores.iter().position(|score| !score.is_finite()) {
        return Err(Error::NonFiniteScore { column: "scores".into(), row, value: scores[row] });
    }
    let mut rows: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    rows.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let mut count = PairCount::default();
    let mut start = 0;
    while start < rows.len() {
        let end = start + rows[start..].iter().take_while(|row| row.0 == rows[start].0).count();
        let positives = rows[start..end].iter().filter(|row| row.1).count() as u64;
        count.add_run(positives, (end - start) as u64 - positives);
        start = end;
    }
    Ok(count.roc_auc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_counted_pairs_with_ties() {
        // Positives at 0.9 and 0.5, negatives at 0.5 and 0.1: of the 4 pairs, 3 are ordered
        // right and one is tied, so the AUC is 3.5 / 4.
        let auc = roc_auc(&[true, true, false, false], &[0.9, 0.5, 0.5, 0.1]).expect("valid columns");
        assert_eq!(auc, Some(0.875));
        assert_eq!(roc_auc(&[true, false], &[0.2, 0.2]).expect("valid columns"), Some(0.5));
        assert_eq!(roc_auc(&[true, true], &[0.2, 0.3]).expect("valid columns"), None);
    }

    #[test]
    fn bad_columns_are_refused() {
        assert!(matches!(roc_auc(&[], &[]), Err(Error::EmptyColumn { .. })));
        assert!(matches!(roc_auc(&[true], &[0.1, 0.2]), Err(Error::LengthMismatch { .. })));
        assert!(matches!(roc_auc(&[true, false], &[0.1, f64::NAN]), Err(Error::NonFiniteScore { row: 1, .. })));
    }
}

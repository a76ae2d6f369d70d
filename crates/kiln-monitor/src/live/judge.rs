//! The drift test of a window's binned counts against the reference's bin shares: the one
//! place where a live sketch calls the drift statistics ([`crate::stats`]).
//!
//! The bins are the keys of a category test: PSI, Jensen-Shannon, Hellinger and chi-squared
//! run on the window's counts per bin against the reference's shares, as Evidently runs them on
//! category counts (the reference enters by its shares: its counts are the shares scaled to
//! 10^9, so only the shares matter, as in Evidently's PSI, distances and chi-squared). What
//! they approximate, for a numeric column: the same statistic of the raw values over these
//! quantile bins, within the reference sketch's rank error per bin edge (1/256); they are
//! not the statistics Evidently computes on raw values with its own binning (`kiln monitor`
//! computes those). KS is the largest gap between the binned distribution functions of the
//! present values, read at the bin edges: a lower bound of the raw samples' statistic (off by
//! at most the largest bin's share), its p-value scipy's asymptotic one for the reference's
//! and the window's sizes.

use crate::stats::kolmogorov::kstwo_sf;
use crate::stats::{AlignedCounts, ColumnOptions, FeatureKind, Inputs, StatTest, test_column};

/// The reference side's total when it enters a category test by its shares.
const SHARE_SCALE: f64 = 1e9;

/// The tests a live sketch can run on binned counts.
pub const LIVE_TESTS: [StatTest; 5] =
    [StatTest::Psi, StatTest::JensenShannon, StatTest::Hellinger, StatTest::ChiSquare, StatTest::Ks];

/// One feature's bins as a test sees them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Binned<'a> {
    pub feature: &'a str,
    pub kind: FeatureKind,
    /// The reference share of each code (numeric: the bins, then missing values).
    pub shares: &'a [f64],
    /// The window's count of each code.
    pub counts: &'a [u64],
    /// Rows the reference was computed on.
    pub reference_rows: u64,
}

/// A test's verdict on one feature.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Verdict {
    pub test: StatTest,
    /// What the threshold is compared with: the distance, or the p-value of ks and
    /// chisquare. NaN when the window counted no value of the feature.
    pub score: f64,
    pub threshold: f64,
    pub drifted: bool,
}

/// The test `test` (or, where it cannot test the feature's kind, Evidently's default choice
/// for it) at `threshold` (or the test's default).
pub(crate) fn judge(binned: Binned<'_>, test: StatTest, threshold: Option<f64>) -> Verdict {
    let test = if test.accepts(binned.kind) {
        test
    } else {
        StatTest::default_for(binned.kind, binned.reference_rows, binned.shares.len())
    };
    let threshold = threshold.unwrap_or_else(|| test.default_threshold());
    let none = Verdict { test, score: f64::NAN, threshold, drifted: false };
    if test == StatTest::Ks {
        let Some(p_value) = ks_p_value(&binned) else { return none };
        return Verdict { test, score: p_value, threshold, drifted: test.drifted(p_value, threshold) };
    }
    let mut aligned = AlignedCounts { reference: Vec::new(), current: Vec::new() };
    for (share, count) in binned.shares.iter().zip(binned.counts) {
        let reference = (share * SHARE_SCALE).round() as u64;
        if reference > 0 || *count > 0 {
            aligned.reference.push(reference);
            aligned.current.push(*count);
        }
    }
    let options = ColumnOptions { test: Some(test), threshold: Some(threshold) };
    match test_column(&Inputs::Categorical(&aligned), binned.feature, options) {
        Ok(result) => Verdict { test, score: result.score, threshold, drifted: result.drifted },
        // an empty window or reference: nothing to judge
        Err(_) => none,
    }
}

/// KS over the present values' bins (a numeric feature's last code counts missing values).
fn ks_p_value(binned: &Binned<'_>) -> Option<f64> {
    let present = binned.shares.len().saturating_sub(1);
    let (shares, counts) = (&binned.shares[..present], &binned.counts[..present]);
    let reference_share: f64 = shares.iter().sum();
    let current: u64 = counts.iter().sum();
    if current == 0 || reference_share <= 0.0 {
        return None;
    }
    let (mut reference_cdf, mut current_cdf, mut gap) = (0.0f64, 0.0f64, 0.0f64);
    for (share, count) in shares.iter().zip(counts) {
        reference_cdf += share / reference_share;
        current_cdf += *count as f64 / current as f64;
        gap = gap.max((reference_cdf - current_cdf).abs());
    }
    // scipy's asymptotic two-sample p-value: kstwo at round(n1 n2 / (n1 + n2))
    let reference = (binned.reference_rows as f64 * reference_share).max(1.0);
    let effective = (reference * current as f64 / (reference + current as f64)).round_ties_even().max(1.0);
    Some(kstwo_sf(effective as u64, gap).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binned<'a>(shares: &'a [f64], counts: &'a [u64]) -> Binned<'a> {
        Binned { feature: "x", kind: FeatureKind::Numeric, shares, counts, reference_rows: 1000 }
    }

    #[test]
    fn bins_are_tested_as_category_counts_of_the_reference_shares() {
        let shares = [0.25, 0.25, 0.5, 0.0];
        let counts = [10, 30, 60, 0];
        let verdict = judge(binned(&shares, &counts), StatTest::Psi, None);
        // PSI of the shares themselves, the empty missing code adding nothing (numpy:
        // sum((r - c) * log(r / c)) = 0.16479184330021646)
        assert!((verdict.score - 0.16479184330021646).abs() < 1e-12, "{}", verdict.score);
        assert_eq!((verdict.test, verdict.threshold, verdict.drifted), (StatTest::Psi, 0.1, verdict.score >= 0.1));
        // chi-squared: 100 rows against expected 25/25/50: 15²/25 + 5²/25 + 10²/50 = 12 on 2
        // degrees of freedom (scipy: chi2.sf(12, 2) = 0.002478752176666357)
        let verdict = judge(binned(&shares, &counts), StatTest::ChiSquare, None);
        assert!((verdict.score - 0.002478752176666357).abs() < 1e-12, "{}", verdict.score);
        assert!(verdict.drifted);
    }

    #[test]
    fn ks_reads_the_largest_gap_of_the_binned_distribution_functions() {
        // present bins 0.5 / 0.5 against 0.8 / 0.2 of 100 rows: a gap of 0.3; 10 missing
        // values are left out
        let shares = [0.5, 0.5, 0.0];
        let verdict = judge(binned(&shares, &[80, 20, 10]), StatTest::Ks, None);
        // scipy: kstwo.sf(0.3, round(1000 * 100 / 1100) = 91) = 9.264435783467057e-08
        assert!((verdict.score / 9.264435783467057e-08 - 1.0).abs() < 1e-12, "{}", verdict.score);
        assert!(verdict.drifted && verdict.threshold == 0.05);
        // a categorical feature is not for KS: Evidently's choice for it (1000 rows: chi-squared)
        let categorical = Binned { kind: FeatureKind::Categorical, ..binned(&shares, &[80, 20, 10]) };
        assert_eq!(judge(categorical, StatTest::Ks, None).test, StatTest::ChiSquare);
    }

    #[test]
    fn an_empty_window_is_not_judged() {
        let verdict = judge(binned(&[0.5, 0.5, 0.0], &[0, 0, 0]), StatTest::Psi, Some(0.2));
        assert!(verdict.score.is_nan() && !verdict.drifted && verdict.threshold == 0.2);
        assert!(judge(binned(&[0.5, 0.5, 0.0], &[0, 0, 0]), StatTest::Ks, None).score.is_nan());
    }
}

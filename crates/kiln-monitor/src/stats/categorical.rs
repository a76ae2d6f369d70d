//! Evidently's tests of category counts: the chi-squared goodness-of-fit test of the current
//! counts against the reference shares scaled to the current size (`scipy.stats.chisquare`),
//! and the two-proportion Z-test of the smallest key against all others.

use crate::stats::counts::AlignedCounts;
use crate::stats::special::{gamma_q, normal_cdf};
use crate::stats::sum::compensated;

/// A test statistic and its p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tested {
    /// The statistic (chi-squared or z).
    pub statistic: f64,
    /// Its two-sided p-value.
    pub p_value: f64,
}

/// Evidently's chi-squared test: expected = reference count × (current total / reference
/// total), p-value from the chi-squared distribution with (keys - 1) degrees of freedom. A
/// key the reference never saw makes the statistic infinite and the p-value 0, as in scipy.
/// With a single key there is nothing to test: statistic 0, p-value 1 (scipy gives NaN, which
/// Evidently reads as no drift).
pub fn chisquare(counts: &AlignedCounts) -> Tested {
    let n_keys = counts.n_keys();
    if n_keys < 2 {
        return Tested { statistic: 0.0, p_value: 1.0 };
    }
    let k_norm = counts.current_total() as f64 / counts.reference_total() as f64;
    let terms = counts.reference.iter().zip(&counts.current).map(|(r, c)| {
        let expected = *r as f64 * k_norm;
        let diff = *c as f64 - expected;
        diff * diff / expected
    });
    let statistic = compensated(terms);
    let dof = (n_keys - 1) as f64;
    Tested { statistic, p_value: gamma_q(dof / 2.0, statistic / 2.0) }
}

/// Evidently's Z-test for proportions: the share of values other than the smallest key on
/// each side, pooled variance, p = 2 (1 - Φ(|z|)). Both sides holding the same single key
/// give p = 1.
pub fn z_test(counts: &AlignedCounts) -> Tested {
    let single = |side: &[u64]| side.iter().filter(|c| **c > 0).count() == 1;
    if counts.n_keys() == 1 && single(&counts.reference) && single(&counts.current) {
        return Tested { statistic: 0.0, p_value: 1.0 };
    }
    let (n1, n2) = (counts.reference_total() as f64, counts.current_total() as f64);
    let p1 = (counts.reference_total() - counts.reference[0]) as f64 / n1;
    let p2 = (counts.current_total() - counts.current[0]) as f64 / n2;
    let pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
    let z = (p1 - p2) / (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    Tested { statistic: z, p_value: 2.0 * (1.0 - normal_cdf(z.abs())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_key_has_nothing_to_test() {
        let counts = AlignedCounts { reference: vec![7], current: vec![3] };
        assert_eq!(chisquare(&counts), Tested { statistic: 0.0, p_value: 1.0 });
        assert_eq!(z_test(&counts), Tested { statistic: 0.0, p_value: 1.0 });
    }

    #[test]
    fn chisquare_by_hand() {
        // Reference 30/70, current 20/30: expected 15/35, chi2 = 25/15 + 25/35 = 2.380952...,
        // p = erfc(sqrt(chi2 / 2)) for one degree of freedom.
        let counts = AlignedCounts { reference: vec![30, 70], current: vec![20, 30] };
        let tested = chisquare(&counts);
        let chi2 = 25.0 / 15.0 + 25.0 / 35.0;
        assert!((tested.statistic - chi2).abs() < 1e-12);
        let p = crate::stats::special::erfc((chi2 / 2.0).sqrt());
        assert!((tested.p_value - p).abs() < 1e-14, "{} {p}", tested.p_value);
    }
}

//! McNemar's test for the accuracies of two models on the same rows.

use serde::{Deserialize, Serialize};

use super::{CompareError, check_len, chi2_sf_df1};

/// Below this many discordant rows (b + c) the exact binomial form is used.
const EXACT_BELOW: u64 = 25;

/// Which form of McNemar's test produced the p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum McNemarForm {
    /// Two-sided exact binomial test of b against Binomial(b + c, 1/2); the statistic is
    /// min(b, c) (statsmodels `mcnemar(table, exact=True)`).
    ExactBinomial,
    /// (|b − c| − 1)² / (b + c) against chi-square with one degree of freedom (statsmodels
    /// `mcnemar(table, exact=False, correction=True)`).
    ChiSquareCorrected,
}

/// Result of McNemar's test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Rows model A gets right and model B gets wrong.
    pub b: u64,
    /// Rows model A gets wrong and model B gets right.
    pub c: u64,
    /// The test statistic of the form used.
    pub statistic: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// The form used: exact when b + c < 25.
    pub form: McNemarForm,
}

/// McNemar's test from binary labels and the binary predictions of models A and B.
pub fn mcnemar(labels: &[bool], pred_a: &[bool], pred_b: &[bool]) -> Result<McNemar, CompareError> {
    check_len("pred_a", pred_a.len(), labels.len())?;
    check_len("pred_b", pred_b.len(), labels.len())?;
    let (mut b, mut c) = (0u64, 0u64);
    for ((&y, &a), &bb) in labels.iter().zip(pred_a).zip(pred_b) {
        match (a == y, bb == y) {
            (true, false) => b += 1,
            (false, true) => c += 1,
            _ => {}
        }
    }
    Ok(mcnemar_from_counts(b, c))
}

/// McNemar's test from the discordant counts: `b` rows only A gets right, `c` rows only B does.
pub fn mcnemar_from_counts(b: u64, c: u64) -> McNemar {
    let n = b + c;
    if n < EXACT_BELOW {
        let k = b.min(c);
        // 2 * P(X <= k), X ~ Binomial(n, 1/2), summed exactly in integers (n < 25)
        let mut coef = 1u64;
        let mut sum = 0u64;
        for i in 0..=k {
            sum += coef;
            coef = coef * (n - i) / (i + 1);
        }
        let p = 2.0 * sum as f64 / (1u64 << n) as f64;
        McNemar { b, c, statistic: k as f64, p_value: p.min(1.0), form: McNemarForm::ExactBinomial }
    } else {
        let diff = b.abs_diff(c) as f64 - 1.0;
        let statistic = diff * diff / n as f64;
        McNemar { b, c, statistic, p_value: chi2_sf_df1(statistic), form: McNemarForm::ChiSquareCorrected }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_table_chi_square() {
        // Agresti, Categorical Data Analysis: presidential approval, 794 / 150 / 86 / 570.
        // b = 150, c = 86: (|150 − 86| − 1)² / 236 = 16.818, p ≈ 4.1e-5.
        let r = mcnemar_from_counts(150, 86);
        assert_eq!(r.form, McNemarForm::ChiSquareCorrected);
        assert!((r.statistic - 63.0 * 63.0 / 236.0).abs() < 1e-12);
        assert!((r.p_value - 4.115e-5).abs() < 1e-7, "{}", r.p_value);
    }

    #[test]
    fn exact_form_by_hand() {
        // b = 1, c = 5: 2 * (1 + 6) / 64
        let r = mcnemar_from_counts(1, 5);
        assert_eq!((r.form, r.statistic), (McNemarForm::ExactBinomial, 1.0));
        assert_eq!(r.p_value, 14.0 / 64.0);
        assert_eq!(mcnemar_from_counts(0, 0).p_value, 1.0);
        assert_eq!(mcnemar_from_counts(12, 12).p_value, 1.0);
        // the largest exact case: 2 * P(X <= 0), X ~ Binomial(24, 1/2)
        assert_eq!(mcnemar_from_counts(0, 24).p_value, 2.0 / (1u64 << 24) as f64);
        assert_eq!(mcnemar_from_counts(0, 25).form, McNemarForm::ChiSquareCorrected);
    }

    #[test]
    fn counts_from_predictions() {
        let y = [true, true, false, false, true];
        let a = [true, false, false, true, true];
        let b = [false, true, false, false, true];
        let r = mcnemar(&y, &a, &b).expect("valid");
        assert_eq!((r.b, r.c), (1, 2));
        assert!(mcnemar(&y, &a, &b[..2]).is_err());
    }
}

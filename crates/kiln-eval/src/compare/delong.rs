//! DeLong's test for the difference of two correlated ROC AUCs.
//!
//! DeLong, DeLong & Clarke-Pearson (1988) estimate the covariance of two AUCs measured on the
//! same rows from their structural components: for each positive, the share of negatives it
//! outranks, and for each negative, the share of positives that outrank it (ties count one
//! half). Sun & Xu (2014) obtain those components from midranks in O(n log n): for a positive
//! with midrank `r_z` among all rows and `r_x` among positives, the number of negatives below it
//! is `r_z − r_x`.

use serde::{Deserialize, Serialize};

use super::{CompareError, check_len, normal_sf};

/// Result of DeLong's test; the difference is AUC(A) − AUC(B).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DeLong {
    /// ROC AUC of model A (ties between a positive and a negative count one half).
    pub auc_a: f64,
    /// ROC AUC of model B.
    pub auc_b: f64,
    /// AUC(A) − AUC(B).
    pub difference: f64,
    /// Estimated variance of the difference; `None` with fewer than two positives or two
    /// negatives (the sample covariances need two of each).
    pub variance: Option<f64>,
    /// difference / √variance; `None` when the variance is undefined or 0.
    pub z: Option<f64>,
    /// Two-sided p-value 2·P(Z > |z|); `None` when `z` is.
    pub p_value: Option<f64>,
}

/// DeLong's test of AUC(A) = AUC(B) for scores of two models on the same labelled rows.
///
/// Errors on columns of different lengths, NaN scores, or labels of one class only.
pub fn delong(labels: &[bool], score_a: &[f64], score_b: &[f64]) -> Result<DeLong, CompareError> {
    check_len("score_a", score_a.len(), labels.len())?;
    check_len("score_b", score_b.len(), labels.len())?;
    for (name, s) in [("score_a", score_a), ("score_b", score_b)] {
        if let Some(row) = s.iter().position(|v| v.is_nan()) {
            return Err(CompareError::NanScore { name, row });
        }
    }
    let m = labels.iter().filter(|&&y| y).count();
    let n = labels.len() - m;
    if m == 0 || n == 0 {
        return Err(CompareError::SingleClass);
    }
    let a = Components::new(labels, score_a, m, n);
    let b = Components::new(labels, score_b, m, n);
    let difference = a.auc - b.auc;
    let variance = (m >= 2 && n >= 2).then(|| {
        let s10 = covariance_2x2(&a.positive, &b.positive);
        let s01 = covariance_2x2(&a.negative, &b.negative);
        let (m, n) = (m as f64, n as f64);
        let var_a = s10[0] / m + s01[0] / n;
        let var_b = s10[2] / m + s01[2] / n;
        let cov = s10[1] / m + s01[1] / n;
        (var_a + var_b - 2.0 * cov).max(0.0)
    });
    let z = variance.filter(|&v| v > 0.0).map(|v| difference / v.sqrt());
    let p_value = z.map(|z| (2.0 * normal_sf(z.abs())).min(1.0));
    Ok(DeLong { auc_a: a.auc, auc_b: b.auc, difference, variance, z, p_value })
}

/// AUC and structural components of one model.
struct Components {
    auc: f64,
    /// Per positive: share of negatives it outranks (V10).
    positive: Vec<f64>,
    /// Per negative: share of positives that outrank it (V01).
    negative: Vec<f64>,
}

impl Components {
    fn new(labels: &[bool], scores: &[f64], m: usize, n: usize) -> Self {
        let pos: Vec<f64> = scores.iter().zip(labels).filter(|(_, y)| **y).map(|(s, _)| *s).collect();
        let neg: Vec<f64> = scores.iter().zip(labels).filter(|(_, y)| !**y).map(|(s, _)| *s).collect();
        let mut all = pos.clone();
        all.extend_from_slice(&neg);
        let tx = midranks(&pos);
        let ty = midranks(&neg);
        let tz = midranks(&all);
        let (mf, nf) = (m as f64, n as f64);
        let rank_sum: f64 = tz[..m].iter().sum();
        let auc = rank_sum / (mf * nf) - (mf + 1.0) / (2.0 * nf);
        let positive = tz[..m].iter().zip(&tx).map(|(z, x)| (z - x) / nf).collect();
        let negative = tz[m..].iter().zip(&ty).map(|(z, y)| 1.0 - (z - y) / mf).collect();
        Self { auc, positive, negative }
    }
}

/// 1-based midranks: tied values share the mean of the ranks they span.
fn midranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_unstable_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && values[order[j]] == values[order[i]] {
            j += 1;
        }
        // ranks i+1 ..= j share their mean
        let mid = 0.5 * (i + 1 + j) as f64;
        for &k in &order[i..j] {
            ranks[k] = mid;
        }
        i = j;
    }
    ranks
}

/// Sample covariance matrix (ddof = 1) of two equally long series: [var x, cov, var y].
fn covariance_2x2(x: &[f64], y: &[f64]) -> [f64; 3] {
    let k = x.len() as f64;
    let mx = x.iter().sum::<f64>() / k;
    let my = y.iter().sum::<f64>() / k;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    [sxx / (k - 1.0), sxy / (k - 1.0), syy / (k - 1.0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midranks_share_ties() {
        assert_eq!(midranks(&[3.0, 1.0, 3.0, 2.0, 3.0]), vec![4.0, 1.0, 4.0, 2.0, 4.0]);
        assert_eq!(midranks(&[0.0, -0.0]), vec![1.5, 1.5]);
        assert!(midranks(&[]).is_empty());
    }

    #[test]
    fn hand_worked_aucs_and_components() {
        // positives 0.9, 0.4; negatives 0.4, 0.1, 0.2
        let y = [true, true, false, false, false];
        let a = [0.9, 0.4, 0.4, 0.1, 0.2];
        let c = Components::new(&y, &a, 2, 3);
        // 0.9 beats all 3; 0.4 beats 2 and ties 1: (3 + 2.5) / 6
        assert!((c.auc - 5.5 / 6.0).abs() < 1e-15);
        assert_eq!(c.positive, vec![1.0, 2.5 / 3.0]);
        assert_eq!(c.negative, vec![0.75, 1.0, 1.0]);
    }

    #[test]
    fn same_scores_have_no_test_and_one_class_is_an_error() {
        let y = [true, false, true, false, true];
        let s = [0.3, 0.2, 0.9, 0.5, 0.1];
        let r = delong(&y, &s, &s).expect("valid");
        assert_eq!((r.difference, r.variance, r.z, r.p_value), (0.0, Some(0.0), None, None));
        assert_eq!(delong(&[true, true], &[0.1, 0.2], &[0.3, 0.4]), Err(CompareError::SingleClass));
        assert!(matches!(delong(&y, &[f64::NAN; 5], &s), Err(CompareError::NanScore { .. })));
        let one_pos = delong(&[true, false, false], &[0.5, 0.1, 0.7], &[0.2, 0.3, 0.1]).expect("valid");
        assert_eq!((one_pos.variance, one_pos.p_value), (None, None));
        assert!((one_pos.auc_a - 0.5).abs() < 1e-15 && (one_pos.auc_b - 0.5).abs() < 1e-15);
    }
}

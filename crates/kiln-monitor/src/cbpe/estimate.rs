//! The point estimates of a window's metrics, computed as NannyML's CBPE computes them
//! (`nannyml/performance_estimation/confidence_based/metrics.py`, NannyML 0.13.1:
//! `estimate_roc_auc` and `estimate_accuracy`).
//!
//! ROC AUC: rows ranked by the model's own (uncalibrated) score, highest first; the expected
//! numbers of true and false positives above each row are the running sums of the calibrated
//! probabilities `p` and of `1 - p`, rounded to 5 decimals as NannyML rounds them; the estimate is
//! the trapezoidal area under the curve they trace, each row its own step. Rows with equal scores
//! have equal calibrated probabilities, so their steps lie on one straight line and their order
//! does not change the area (NannyML's unstable sort leaves it unspecified).
//!
//! Accuracy: the mean over rows of `p` where the model predicts positive and `1 - p` elsewhere.

use super::window::ScoredWindow;

impl ScoredWindow {
    /// NannyML's estimated ROC AUC. `None` when every calibrated probability is 0 or every one is
    /// 1 (no expected positives or no expected negatives: NannyML gives NaN).
    pub fn estimated_roc_auc(&self) -> Option<f64> {
        // The curve's last point first (the running sums' totals), then the area in a second
        // pass over the same running sums.
        let total: f64 = self.probabilities.iter().fold(0.0, |sum, probability| sum + probability);
        let total_true = round_5(total);
        let total_false = round_5(self.n_rows() as f64 - total);
        if total_true == 0.0 || total_false == 0.0 {
            return None;
        }
        let (mut sum, mut area) = (0.0, 0.0);
        let (mut true_rate, mut false_rate) = (0.0, 0.0);
        for (row, &probability) in self.probabilities.iter().enumerate() {
            sum += probability;
            let next_true_rate = round_5(sum) / total_true;
            let next_false_rate = round_5((row + 1) as f64 - sum) / total_false;
            area += (next_false_rate - false_rate) * (next_true_rate + true_rate) / 2.0;
            (true_rate, false_rate) = (next_true_rate, next_false_rate);
        }
        Some(area)
    }

    /// NannyML's estimated accuracy at the model's threshold.
    pub fn estimated_accuracy(&self) -> f64 {
        let (predicted_positive, predicted_negative) = self.probabilities.split_at(self.n_predicted_positive);
        let true_positives: f64 = predicted_positive.iter().sum();
        let true_negatives: f64 = predicted_negative.iter().map(|probability| 1.0 - probability).sum();
        (true_positives + true_negatives) / self.n_rows() as f64
    }
}

/// `numpy.round(x, 5)`: scale by 10^5, round half to even, scale back.
fn round_5(x: f64) -> f64 {
    (x * 100_000.0).round_ties_even() / 100_000.0
}

#[cfg(test)]
mod tests {
    use super::super::isotonic::Calibrator;
    use super::*;

    #[test]
    fn a_perfectly_separating_calibration_estimates_a_perfect_model() {
        // Worked by hand: calibrated probabilities 1, 1, 0, 0 in score order trace the curve
        // (0,0) → (0,1) → (1,1): area 1; accuracy at threshold 0.5 is (1 + 1 + 1 + 1) / 4.
        let calibrator = Calibrator::fit(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]).expect("valid reference");
        let window = ScoredWindow::new(&calibrator, &[0.15, 0.85, 0.9, 0.05], 0.5).expect("valid window");
        assert_eq!(window.estimated_roc_auc(), Some(1.0));
        assert_eq!(window.estimated_accuracy(), 1.0);
    }

    #[test]
    fn hand_worked_estimates() {
        // Calibrated probabilities 0.75 (scores 0.6..0.9) and 0.25 (scores 0.1..0.4), two rows each.
        // tps: 0, .75, 1.5, 1.75, 2; fps: 0, .25, .5, 1.25, 2 → tpr 0, .375, .75, .875, 1 and
        // fpr 0, .125, .25, .625, 1; area = .125·.1875 + .125·.5625 + .375·.8125 + .375·.9375 = 0.75.
        let scores = [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9];
        let labels = [true, false, false, false, true, true, true, false];
        let calibrator = Calibrator::fit(&scores, &labels).expect("valid reference");
        let window = ScoredWindow::new(&calibrator, &[0.15, 0.35, 0.65, 0.85], 0.5).expect("valid window");
        assert_eq!(window.probabilities(), [0.75, 0.75, 0.25, 0.25]);
        assert!((window.estimated_roc_auc().expect("both classes expected") - 0.75).abs() < 1e-15);
        // Accuracy: (0.75 + 0.75 + 0.75 + 0.75) / 4.
        assert!((window.estimated_accuracy() - 0.75).abs() < 1e-15);
    }

    #[test]
    fn no_expected_negatives_has_no_roc_auc() {
        let calibrator = Calibrator::fit(&[0.1, 0.9], &[false, true]).expect("valid reference");
        let window = ScoredWindow::new(&calibrator, &[0.95, 0.99], 0.5).expect("valid window");
        assert_eq!(window.estimated_roc_auc(), None);
        assert_eq!(window.estimated_accuracy(), 1.0);
    }

    #[test]
    fn rounding_keeps_five_decimals() {
        assert_eq!(round_5(1.234_567_8), 1.234_57);
        assert_eq!(round_5(-0.000_004), -0.0);
    }
}

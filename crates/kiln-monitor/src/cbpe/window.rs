//! A window of unlabelled rows ready for estimation: the model's scores sorted once (highest
//! first), each with its calibrated probability, cut into runs of equal scores, and the model's
//! decision at its threshold.

use rayon::slice::ParallelSliceMut;

use super::isotonic::Calibrator;
use super::uncertainty::{CalibrationDraws, Segment};
use crate::{Error, Result};

/// The rows of one window, ranked by the model's score. Building it is the only sort; every
/// estimate and every interval replicate is one pass over it.
#[derive(Debug, Clone)]
pub struct ScoredWindow {
    /// The model's (uncalibrated) scores, highest first.
    pub(super) scores: Vec<f64>,
    /// The calibrated probability of each score, in the same order.
    pub(super) probabilities: Vec<f64>,
    /// The runs of equal scores, in ranking order.
    pub(super) runs: Vec<TieRun>,
    /// How many rows the model predicts positive (`score >= threshold`): the first ones.
    pub(super) n_predicted_positive: usize,
    /// How many runs the model predicts positive: the first ones (a run's rows share a score, so
    /// they lie on one side of the threshold).
    pub(super) n_predicted_positive_runs: usize,
    /// Redraws of the calibrator's probabilities, for the intervals.
    pub(super) calibration_draws: CalibrationDraws,
}

impl ScoredWindow {
    /// Ranks the window's `scores` and calibrates them. A row is predicted positive when its score
    /// is at least `threshold`, the model's decision threshold.
    ///
    /// Errors when the window is empty, a score is not finite or the threshold is NaN.
    pub fn new(calibrator: &Calibrator, scores: &[f64], threshold: f64) -> Result<Self> {
        if scores.is_empty() {
            return Err(Error::EmptyColumn { column: "window scores".into() });
        }
        check_size("window scores", scores.len())?;
        if let Some(row) = scores.iter().position(|score| !score.is_finite()) {
            return Err(Error::NonFiniteScore { column: "window scores".into(), row, value: scores[row] });
        }
        if threshold.is_nan() {
            return Err(Error::InvalidSetting {
                key: "threshold".into(),
                value: threshold.to_string(),
                expected: "a number".into(),
            });
        }
        let mut sorted = scores.to_vec();
        sorted.par_sort_unstable_by(|a, b| b.total_cmp(a));
        let probabilities = calibrate_sorted(calibrator, &sorted);
        let runs = tie_runs(calibrator, &sorted);
        let n_predicted_positive = sorted.partition_point(|&score| score >= threshold);
        // The rows predicted positive end where a run ends: count the runs starting among them.
        let n_predicted_positive_runs =
            (0..n_predicted_positive).filter(|&row| row == 0 || sorted[row] != sorted[row - 1]).count();
        Ok(Self {
            scores: sorted,
            probabilities,
            runs,
            n_predicted_positive,
            n_predicted_positive_runs,
            calibration_draws: CalibrationDraws::new(calibrator),
        })
    }

    /// The number of rows.
    pub fn n_rows(&self) -> usize {
        self.scores.len()
    }

    /// The number of rows the model predicts positive.
    pub fn n_predicted_positive(&self) -> usize {
        self.n_predicted_positive
    }

    /// The calibrated probabilities, highest score first.
    pub fn probabilities(&self) -> &[f64] {
        &self.probabilities
    }
}

/// Refuses a window of 2³² rows or more, whose pair counts could overflow.
pub(super) fn check_size(column: &str, n_rows: usize) -> Result<()> {
    if u32::try_from(n_rows).is_err() {
        return Err(Error::WindowTooLarge { column: column.into(), n_rows });
    }
    Ok(())
}

/// A run of rows with equal scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct TieRun {
    /// The number of rows (fewer than 2³², see [`check_size`]).
    pub(super) len: u32,
    /// Where the score falls among the calibrator's points.
    pub(super) segment: Segment,
}

/// The runs of equal scores of a window sorted highest first.
fn tie_runs(calibrator: &Calibrator, sorted: &[f64]) -> Vec<TieRun> {
    let xs = calibrator.points().0;
    let mut runs: Vec<TieRun> = Vec::new();
    for (row, &score) in sorted.iter().enumerate() {
        match runs.last_mut() {
            Some(run) if sorted[row - 1] == score => run.len += 1,
            _ => runs.push(TieRun { len: 1, segment: Segment::locate(xs, score) }),
        }
    }
    runs
}

/// The calibrated probability of each score of a window sorted highest first. Equal scores share
/// one evaluation.
fn calibrate_sorted(calibrator: &Calibrator, sorted: &[f64]) -> Vec<f64> {
    let mut probabilities = Vec::with_capacity(sorted.len());
    let mut previous: Option<(f64, f64)> = None;
    for &score in sorted {
        let probability = match previous {
            Some((last_score, last)) if last_score == score => last,
            _ => calibrator.predict(score),
        };
        previous = Some((score, probability));
        probabilities.push(probability);
    }
    probabilities
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calibrator() -> Calibrator {
        Calibrator::fit(&[0.1, 0.3, 0.5, 0.7, 0.9], &[false, false, true, false, true]).expect("valid reference")
    }

    #[test]
    fn the_window_is_ranked_and_cut_into_runs_of_equal_scores() {
        let window = ScoredWindow::new(&calibrator(), &[0.3, 0.9, 0.3, 0.5, 0.9, 0.9], 0.5).expect("valid window");
        assert_eq!(window.scores, [0.9, 0.9, 0.9, 0.5, 0.3, 0.3]);
        let runs: Vec<u32> = window.runs.iter().map(|run| run.len).collect();
        assert_eq!(runs, [3, 1, 2]);
        assert_eq!(window.n_predicted_positive(), 4);
        assert_eq!(window.n_predicted_positive_runs, 2);
        assert_eq!(window.probabilities()[0], 1.0);
        assert_eq!(window.probabilities()[3], 0.5);
        assert_eq!(window.probabilities()[5], 0.0);
    }

    #[test]
    fn bad_windows_are_refused() {
        let calibrator = calibrator();
        assert!(matches!(ScoredWindow::new(&calibrator, &[], 0.5), Err(Error::EmptyColumn { .. })));
        let nan = ScoredWindow::new(&calibrator, &[0.2, 0.4, f64::NAN], 0.5).expect_err("NaN score");
        assert!(matches!(nan, Error::NonFiniteScore { row: 2, .. }));
        assert!(nan.to_string().contains("row 2"), "{nan}");
        let infinite = ScoredWindow::new(&calibrator, &[f64::INFINITY], 0.5);
        assert!(matches!(infinite, Err(Error::NonFiniteScore { row: 0, .. })));
        let threshold = ScoredWindow::new(&calibrator, &[0.2], f64::NAN);
        assert!(matches!(threshold, Err(Error::InvalidSetting { .. })));
    }
}

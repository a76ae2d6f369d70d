//! The score calibrator: isotonic regression of the reference labels on the model's scores,
//! fitted and evaluated exactly as scikit-learn's
//! `IsotonicRegression(out_of_bounds="clip", increasing=True)`, stored as blocks of scores that
//! share one calibrated probability.
//!
//! Fitting follows scikit-learn step by step: rows sorted by score, scores closer than 1e-15 to
//! the first of their run pooled into one point (`_make_unique`), the pool-adjacent-violators
//! algorithm over those points (merging a block into its left neighbour whenever it is not
//! strictly above it), and the fitted function evaluated as `numpy.interp` over the blocks' first
//! and last scores: constant on a block, linear between two blocks, clipped outside the
//! reference's range.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A non-decreasing map from the model's score to the probability that the row is positive,
/// fitted on labelled reference rows (the test split).
///
/// Serialized as its list of [`CalibrationBlock`]s, checked when read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredCalibrator", into = "StoredCalibrator")]
pub struct Calibrator {
    blocks: Vec<CalibrationBlock>,
    /// The interpolation points (scikit-learn's `X_thresholds_`), derived from `blocks`.
    xs: Vec<f64>,
    /// The calibrated probability at each of `xs` (scikit-learn's `y_thresholds_`).
    ys: Vec<f64>,
}

/// A run of reference scores that all calibrate to the same probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationBlock {
    /// The lowest reference score of the block.
    pub score_min: f64,
    /// The highest reference score of the block (equal to `score_min` for a single score).
    pub score_max: f64,
    /// The calibrated probability: the share of positives among the block's reference rows.
    pub probability: f64,
    /// The number of reference rows in the block.
    pub weight: f64,
}

/// The serialized form of a [`Calibrator`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredCalibrator {
    blocks: Vec<CalibrationBlock>,
}

impl Calibrator {
    /// Fits the calibration on the reference rows' `scores` and `labels` (positive = `true`).
    ///
    /// Errors when the columns differ in length, are empty, a score is not finite, or the labels
    /// are all of one class.
    pub fn fit(scores: &[f64], labels: &[bool]) -> Result<Self> {
        check_reference(scores, labels)?;
        let mut rows: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
        rows.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let points = unique_points(&rows);
        let blocks = pool_adjacent_violators(&points);
        Ok(Self::from_blocks(blocks))
    }

    /// The calibrated probability of one score. NaN gives NaN.
    pub fn predict(&self, score: f64) -> f64 {
        interpolate(&self.xs, &self.ys, score)
    }

    /// The calibrated probability of each score.
    pub fn predict_all(&self, scores: &[f64]) -> Vec<f64> {
        scores.iter().map(|&score| self.predict(score)).collect()
    }

    /// The blocks, in increasing order of score and of probability.
    pub fn blocks(&self) -> &[CalibrationBlock] {
        &self.blocks
    }

    /// The interpolation points: scikit-learn's `X_thresholds_` and `y_thresholds_`.
    pub fn points(&self) -> (&[f64], &[f64]) {
        (&self.xs, &self.ys)
    }

    /// The number of interpolation points, which is what the calibrator's size grows with.
    pub fn n_points(&self) -> usize {
        self.xs.len()
    }

    /// The number of reference rows the calibration was fitted on.
    pub fn n_reference_rows(&self) -> f64 {
        self.blocks.iter().map(|block| block.weight).sum()
    }

    /// The mean calibrated probability over the reference rows, which isotonic regression makes
    /// equal to the reference's share of positives.
    pub fn mean_probability(&self) -> f64 {
        let weighted: f64 = self.blocks.iter().map(|block| block.weight * block.probability).sum();
        weighted / self.n_reference_rows()
    }

    /// The largest difference between this calibrator's and `other`'s probability over all
    /// scores. Both are piecewise linear, so it is attained at one of their points.
    pub fn max_abs_difference(&self, other: &Calibrator) -> f64 {
        self.xs
            .iter()
            .chain(&other.xs)
            .map(|&score| (self.predict(score) - other.predict(score)).abs())
            .fold(0.0, f64::max)
    }

    /// A calibrator over these blocks, whose consecutive probabilities must increase strictly.
    pub(super) fn from_blocks(blocks: Vec<CalibrationBlock>) -> Self {
        let mut xs = Vec::with_capacity(2 * blocks.len());
        let mut ys = Vec::with_capacity(2 * blocks.len());
        for block in &blocks {
            xs.push(block.score_min);
            ys.push(block.probability);
            if block.score_max != block.score_min {
                xs.push(block.score_max);
                ys.push(block.probability);
            }
        }
        Self { blocks, xs, ys }
    }
}

impl TryFrom<StoredCalibrator> for Calibrator {
    type Error = Error;

    fn try_from(stored: StoredCalibrator) -> Result<Self> {
        let blocks = stored.blocks;
        let invalid = |reason: String| Error::InvalidCalibration { reason };
        if blocks.is_empty() {
            return Err(invalid("it has no blocks".into()));
        }
        for (index, block) in blocks.iter().enumerate() {
            let finite =
                [block.score_min, block.score_max, block.probability, block.weight].iter().all(|v| v.is_finite());
            if !finite
                || block.score_min > block.score_max
                || !(0.0..=1.0).contains(&block.probability)
                || block.weight <= 0.0
            {
                return Err(invalid(format!("block {index} is {block:?}")));
            }
        }
        for (index, pair) in blocks.windows(2).enumerate() {
            if pair[0].score_max >= pair[1].score_min || pair[0].probability >= pair[1].probability {
                return Err(invalid(format!("blocks {index} and {} are not in increasing order", index + 1)));
            }
        }
        Ok(Self::from_blocks(blocks))
    }
}

impl From<Calibrator> for StoredCalibrator {
    fn from(calibrator: Calibrator) -> Self {
        Self { blocks: calibrator.blocks }
    }
}

/// Checks the reference columns: same length, not empty, finite scores, both classes.
fn check_reference(scores: &[f64], labels: &[bool]) -> Result<()> {
    if labels.len() != scores.len() {
        return Err(Error::LengthMismatch { column: "labels".into(), expected: scores.len(), found: labels.len() });
    }
    if scores.is_empty() {
        return Err(Error::EmptyColumn { column: "reference scores".into() });
    }
    if let Some(row) = scores.iter().position(|score| !score.is_finite()) {
        return Err(Error::NonFiniteScore { column: "reference scores".into(), row, value: scores[row] });
    }
    let n_positive = labels.iter().filter(|&&label| label).count();
    if n_positive == 0 || n_positive == labels.len() {
        let class = if n_positive == 0 { "negative" } else { "positive" };
        return Err(Error::SingleClassReference { class, n_rows: labels.len() });
    }
    Ok(())
}

/// One distinct score of the reference: its rows' share of positives and their number.
#[derive(Debug, Clone, Copy)]
struct Point {
    score: f64,
    mean: f64,
    weight: f64,
}

/// scikit-learn's `_make_unique` over rows sorted by score: a score within 1e-15 (numpy's
/// `finfo(float64).resolution`) of the first score of the current run joins that run.
fn unique_points(rows: &[(f64, bool)]) -> Vec<Point> {
    const RESOLUTION: f64 = 1e-15;
    let mut points = Vec::new();
    let (mut current, mut sum, mut weight) = (rows[0].0, 0.0, 0.0);
    for &(score, label) in rows {
        if score - current >= RESOLUTION {
            points.push(Point { score: current, mean: sum / weight, weight });
            (current, sum, weight) = (score, 0.0, 0.0);
        }
        sum += f64::from(u8::from(label));
        weight += 1.0;
    }
    points.push(Point { score: current, mean: sum / weight, weight });
    points
}

/// scikit-learn's `_inplace_contiguous_isotonic_regression` (pool adjacent violators with
/// backtracking), returning the blocks of equal fitted value.
fn pool_adjacent_violators(points: &[Point]) -> Vec<CalibrationBlock> {
    let n = points.len();
    let mut value: Vec<f64> = points.iter().map(|point| point.mean).collect();
    let mut weight: Vec<f64> = points.iter().map(|point| point.weight).collect();
    // For an active block [i..=j]: target[i] = j and target[j] = i.
    let mut target: Vec<usize> = (0..n).collect();
    let mut i = 0;
    while i < n {
        let mut k = target[i] + 1;
        if k == n {
            break;
        }
        if value[i] < value[k] {
            i = k;
            continue;
        }
        let mut sum_wy = weight[i] * value[i];
        let mut sum_w = weight[i];
        loop {
            let previous = value[k];
            sum_wy += weight[k] * value[k];
            sum_w += weight[k];
            k = target[k] + 1;
            if k == n || previous < value[k] {
                value[i] = sum_wy / sum_w;
                weight[i] = sum_w;
                target[i] = k - 1;
                target[k - 1] = i;
                if i > 0 {
                    i = target[i - 1];
                }
                break;
            }
        }
    }
    let mut blocks = Vec::new();
    let mut start = 0;
    while start < n {
        let end = target[start];
        blocks.push(CalibrationBlock {
            score_min: points[start].score,
            score_max: points[end].score,
            probability: value[start],
            weight: weight[start],
        });
        start = end + 1;
    }
    blocks
}

/// `numpy.interp(x, xs, ys)` with `xs` increasing: the end values outside the range, the
/// point's value on a point, the straight line between two points elsewhere.
pub(super) fn interpolate(xs: &[f64], ys: &[f64], x: f64) -> f64 {
    let last = xs.len() - 1;
    if x.is_nan() {
        return x;
    }
    if x <= xs[0] {
        return ys[0];
    }
    if x >= xs[last] {
        return ys[last];
    }
    // xs[j] <= x < xs[j + 1]
    let j = xs.partition_point(|&point| point <= x) - 1;
    if xs[j] == x {
        return ys[j];
    }
    let slope = (ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j]);
    slope * (x - xs[j]) + ys[j]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(bits: &[u8]) -> Vec<bool> {
        bits.iter().map(|&bit| bit == 1).collect()
    }

    #[test]
    fn violators_are_pooled_into_their_weighted_mean() {
        // Worked by hand: labels 0,1,0,0,1,1 at scores 1..6 pool (1,0)→[2,3,4] = 1/3, then the
        // fitted values are 0, 1/3, 1/3, 1/3, 1, 1.
        let scores = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let calibrator = Calibrator::fit(&scores, &labels(&[0, 1, 0, 0, 1, 1])).expect("valid reference");
        let fitted = calibrator.predict_all(&scores);
        let expected = [0.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 1.0, 1.0];
        for (a, b) in fitted.iter().zip(expected) {
            assert!((a - b).abs() < 1e-15, "{fitted:?}");
        }
        assert_eq!(calibrator.blocks().len(), 3);
        assert_eq!(calibrator.points().0, &[1.0, 2.0, 4.0, 5.0, 6.0]);
        // Between blocks the map is the straight line: at 4.5, halfway from 1/3 to 1.
        assert!((calibrator.predict(4.5) - 2.0 / 3.0).abs() < 1e-15);
        // Clipped outside the reference's range.
        assert_eq!(calibrator.predict(-10.0), 0.0);
        assert_eq!(calibrator.predict(10.0), 1.0);
        assert!((calibrator.mean_probability() - 0.5).abs() < 1e-15);
    }

    #[test]
    fn equal_scores_count_as_one_point() {
        let scores = [0.2, 0.2, 0.2, 0.7];
        let calibrator = Calibrator::fit(&scores, &labels(&[1, 0, 0, 1])).expect("valid reference");
        assert!((calibrator.predict(0.2) - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(calibrator.blocks()[0].weight, 3.0);
    }

    #[test]
    fn bad_references_are_refused() {
        assert!(matches!(Calibrator::fit(&[], &[]), Err(Error::EmptyColumn { .. })));
        assert!(matches!(Calibrator::fit(&[0.1, 0.2], &[true]), Err(Error::LengthMismatch { .. })));
        let nan = Calibrator::fit(&[0.1, f64::NAN], &[true, false]);
        assert!(matches!(nan, Err(Error::NonFiniteScore { row: 1, .. })), "{nan:?}");
        let one_class = Calibrator::fit(&[0.1, 0.2], &[true, true]);
        assert!(matches!(one_class, Err(Error::SingleClassReference { class: "positive", n_rows: 2 })));
        let message = one_class.expect_err("one class").to_string();
        assert!(message.contains("all 2 reference labels are positive") && message.contains("hint:"), "{message}");
    }

    #[test]
    fn stored_calibrators_round_trip_and_broken_ones_are_refused() {
        let calibrator = Calibrator::fit(&[0.1, 0.4, 0.35, 0.8], &labels(&[0, 1, 0, 1])).expect("valid reference");
        let json = serde_json::to_string(&calibrator).expect("serializable");
        let back: Calibrator = serde_json::from_str(&json).expect("readable");
        assert_eq!(back, calibrator);
        let decreasing = r#"{"blocks":[{"score_min":0.1,"score_max":0.2,"probability":0.6,"weight":2},
            {"score_min":0.3,"score_max":0.3,"probability":0.5,"weight":1}]}"#;
        let error = serde_json::from_str::<Calibrator>(decreasing).expect_err("decreasing");
        assert!(error.to_string().contains("not in increasing order"), "{error}");
        assert!(serde_json::from_str::<Calibrator>(r#"{"blocks":[]}"#).is_err());
    }
}

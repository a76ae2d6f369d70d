//! The calibration's own uncertainty, for the intervals: each block's probability is a share of
//! positives among a finite number of reference rows, so a replicate redraws it from its posterior
//! under Jeffreys' prior, Beta(k + ½, n − k + ½) for `k` positives among `n` rows, and
//! interpolates between blocks as the calibrator does.

use kiln_core::rng::Rng;

use super::isotonic::Calibrator;

/// Redraws a calibrator's probabilities at its points.
#[derive(Debug, Clone)]
pub(super) struct CalibrationDraws {
    /// The block of each interpolation point.
    point_blocks: Vec<usize>,
    /// Each block's positives `k` and rows `n` in the reference.
    counts: Vec<(f64, f64)>,
}

/// Where a score falls among the calibrator's points: its probability is
/// `ys[point] + fraction · (ys[point + 1] - ys[point])`, or `ys[point]` when `fraction` is 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Segment {
    point: u32,
    fraction: f64,
}

impl CalibrationDraws {
    pub(super) fn new(calibrator: &Calibrator) -> Self {
        let mut point_blocks = Vec::with_capacity(calibrator.n_points());
        for (index, block) in calibrator.blocks().iter().enumerate() {
            point_blocks.push(index);
            if block.score_max != block.score_min {
                point_blocks.push(index);
            }
        }
        let counts = calibrator.blocks().iter().map(|block| (block.probability * block.weight, block.weight)).collect();
        Self { point_blocks, counts }
    }

    /// One draw of the probability at each point.
    pub(super) fn draw(&self, rng: &mut Rng) -> Vec<f64> {
        let blocks: Vec<f64> =
            self.counts.iter().map(|&(positives, rows)| beta(rng, positives + 0.5, rows - positives + 0.5)).collect();
        self.point_blocks.iter().map(|&block| blocks[block]).collect()
    }
}

impl Segment {
    /// The segment of `score` among the points `xs`, as [`super::isotonic::interpolate`] finds it.
    pub(super) fn locate(xs: &[f64], score: f64) -> Self {
        let last = xs.len() - 1;
        if score <= xs[0] {
            return Self { point: 0, fraction: 0.0 };
        }
        if score >= xs[last] {
            return Self { point: last as u32, fraction: 0.0 };
        }
        let point = xs.partition_point(|&x| x <= score) - 1;
        let fraction = (score - xs[point]) / (xs[point + 1] - xs[point]);
        Self { point: point as u32, fraction }
    }

    /// The probability of this segment under the point probabilities `ys`.
    #[inline]
    pub(super) fn probability(self, ys: &[f64]) -> f64 {
        let point = self.point as usize;
        if self.fraction == 0.0 { ys[point] } else { ys[point] + self.fraction * (ys[point + 1] - ys[point]) }
    }
}

/// A Beta(`a`, `b`) draw, as the share of the first of two Gamma draws.
fn beta(rng: &mut Rng, a: f64, b: f64) -> f64 {
    let x = gamma(rng, a);
    let y = gamma(rng, b);
    x / (x + y)
}

/// A Gamma(`shape`, 1) draw by Marsaglia and Tsang's method (shapes below 1 boosted by
/// `U^(1/shape)`). `shape` must be positive.
fn gamma(rng: &mut Rng, shape: f64) -> f64 {
    if shape < 1.0 {
        let boost = (1.0 - rng.uniform()).powf(1.0 / shape);
        return gamma(rng, shape + 1.0) * boost;
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let z = rng.normal();
        let v = (1.0 + c * z).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = 1.0 - rng.uniform();
        if u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_draws_have_the_right_mean_and_variance() {
        let mut rng = Rng::new(21);
        for (a, b) in [(0.5, 0.5), (3.5, 10.5), (200.5, 40.5)] {
            let n = 100_000;
            let draws: Vec<f64> = (0..n).map(|_| beta(&mut rng, a, b)).collect();
            let mean = draws.iter().sum::<f64>() / n as f64;
            let variance = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            let expected_mean = a / (a + b);
            let expected_variance = a * b / ((a + b).powi(2) * (a + b + 1.0));
            // Within 5 standard errors of the mean; the variance within 3%.
            assert!((mean - expected_mean).abs() < 5.0 * (expected_variance / n as f64).sqrt(), "{a} {b}: mean {mean}");
            assert!((variance / expected_variance - 1.0).abs() < 0.03, "{a} {b}: variance {variance}");
            assert!(draws.iter().all(|x| (0.0..=1.0).contains(x)));
        }
    }

    #[test]
    fn segments_interpolate_as_the_calibrator() {
        let calibrator = Calibrator::fit(&[0.1, 0.2, 0.3, 0.5, 0.6, 0.9], &[false, true, false, true, true, true])
            .expect("valid reference");
        let (xs, ys) = calibrator.points();
        for score in [-1.0, 0.1, 0.15, 0.25, 0.3, 0.4, 0.55, 0.7, 0.9, 2.0] {
            let segment = Segment::locate(xs, score);
            assert!((segment.probability(ys) - calibrator.predict(score)).abs() < 1e-15, "{score}");
        }
        assert_eq!(CalibrationDraws::new(&calibrator).draw(&mut Rng::new(1)).len(), xs.len());
    }
}

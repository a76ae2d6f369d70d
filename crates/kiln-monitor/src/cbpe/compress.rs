//! Shrinking a calibrator to a bounded number of points, so that a bundle's calibration does not
//! grow with the number of reference rows.
//!
//! Adjacent blocks are merged into groups; a group becomes one block whose probability is the
//! weighted mean of its blocks' (so the mean calibrated probability over the reference rows, the
//! reference's share of positives, is kept) and whose scores span its blocks'. The groups are
//! chosen to make the largest spread of probabilities inside a group as small as possible for the
//! allowed number of groups.
//!
//! **Bound.** With `max_points` allowed, at most `G = max_points / 2` groups are formed (each
//! block is at most two points), and the compressed map differs from the original at any score
//! by at most the largest spread inside a group, which is at most `(p_max - p_min) / G <= 1 / G`
//! (`p_max`, `p_min`: the highest and lowest calibrated probability). For 256 points that is
//! 1/128 < 0.0079, and in practice much less: isotonic fits of real models have few blocks with
//! large jumps between them.

use super::isotonic::{CalibrationBlock, Calibrator};
use crate::{Error, Result};

/// The fewest points a compressed calibrator may have: one block, from its first to last score.
pub const MIN_CALIBRATION_POINTS: usize = 2;

impl Calibrator {
    /// This calibrator with at most `max_points` points (see the module's bound on how far its
    /// probabilities move). Returns an equal copy when it is already small enough.
    pub fn compress(&self, max_points: usize) -> Result<Calibrator> {
        if max_points < MIN_CALIBRATION_POINTS {
            return Err(Error::InvalidSetting {
                key: "calibration_points".into(),
                value: max_points.to_string(),
                expected: format!("at least {MIN_CALIBRATION_POINTS}"),
            });
        }
        if self.n_points() <= max_points {
            return Ok(self.clone());
        }
        let blocks = self.blocks();
        let max_groups = max_points / 2;
        let spread = smallest_spread(blocks, max_groups);
        let starts = group_starts(blocks, spread);
        let ends = starts.iter().skip(1).copied().chain([blocks.len()]);
        let merged = starts.iter().zip(ends).map(|(&start, end)| merge(&blocks[start..end])).collect();
        Ok(Calibrator::from_blocks(merged))
    }
}

/// The indices of the first block of each group when a group takes every following block whose
/// probability is at most `spread` above its first block's.
fn group_starts(blocks: &[CalibrationBlock], spread: f64) -> Vec<usize> {
    let mut starts = vec![0];
    let mut first = blocks[0].probability;
    for (index, block) in blocks.iter().enumerate().skip(1) {
        if block.probability - first > spread {
            starts.push(index);
            first = block.probability;
        }
    }
    starts
}

/// The smallest spread for which [`group_starts`] makes at most `max_groups` groups. Greedy
/// grouping is optimal for a given spread, and the number of groups only falls as the spread
/// grows, so a bisection over the spread finds it; `(p_max - p_min) / max_groups` always works.
fn smallest_spread(blocks: &[CalibrationBlock], max_groups: usize) -> f64 {
    let range = blocks[blocks.len() - 1].probability - blocks[0].probability;
    let (mut low, mut high) = (0.0, range / max_groups as f64);
    if group_starts(blocks, high).len() > max_groups {
        // The bound is exact only up to rounding: widen by the last bits.
        high = range;
    }
    for _ in 0..64 {
        let middle = 0.5 * (low + high);
        if middle <= low || middle >= high {
            break;
        }
        if group_starts(blocks, middle).len() <= max_groups {
            high = middle;
        } else {
            low = middle;
        }
    }
    high
}

/// One block standing for `group`: the weighted mean probability over its scores' span.
fn merge(group: &[CalibrationBlock]) -> CalibrationBlock {
    let weight: f64 = group.iter().map(|block| block.weight).sum();
    let weighted: f64 = group.iter().map(|block| block.weight * block.probability).sum();
    CalibrationBlock {
        score_min: group[0].score_min,
        score_max: group[group.len() - 1].score_max,
        probability: (weighted / weight).clamp(group[0].probability, group[group.len() - 1].probability),
        weight,
    }
}

#[cfg(test)]
mod tests {
    use kiln_core::rng::Rng;

    use super::*;

    /// A reference of `n` rows whose labels follow the score closely (many small blocks).
    fn big_calibrator(n: usize, seed: u64) -> (Vec<f64>, Calibrator) {
        let mut rng = Rng::new(seed);
        let scores: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
        let labels: Vec<bool> = scores.iter().map(|&s| rng.uniform() < s * s).collect();
        let calibrator = Calibrator::fit(&scores, &labels).expect("valid reference");
        (scores, calibrator)
    }

    #[test]
    fn compression_keeps_the_bound_the_mean_and_the_order() {
        let (scores, calibrator) = big_calibrator(50_000, 4);
        assert!(calibrator.n_points() > 128, "{} points", calibrator.n_points());
        for max_points in [2, 3, 16, 64, 128] {
            let small = calibrator.compress(max_points).expect("valid size");
            assert!(small.n_points() <= max_points, "{} > {max_points}", small.n_points());
            let blocks = calibrator.blocks();
            let range = blocks[blocks.len() - 1].probability - blocks[0].probability;
            let bound = range / (max_points / 2) as f64;
            let moved = calibrator.max_abs_difference(&small);
            assert!(moved <= bound * (1.0 + 1e-12), "moved {moved} > bound {bound} at {max_points} points");
            // The mean calibrated probability over the reference rows is kept.
            let mean_before: f64 = calibrator.predict_all(&scores).iter().sum::<f64>() / scores.len() as f64;
            let mean_after: f64 = small.predict_all(&scores).iter().sum::<f64>() / scores.len() as f64;
            assert!((mean_before - mean_after).abs() < 1e-12, "{mean_before} vs {mean_after}");
            // Still a valid calibrator: it survives its own serialization checks.
            let json = serde_json::to_string(&small).expect("serializable");
            assert_eq!(serde_json::from_str::<Calibrator>(&json).expect("valid"), small);
        }
    }

    #[test]
    fn a_small_calibrator_is_kept_and_too_few_points_are_refused() {
        let (_, calibrator) = big_calibrator(200, 5);
        let same = calibrator.compress(calibrator.n_points()).expect("valid size");
        assert_eq!(same, calibrator);
        assert!(matches!(calibrator.compress(1), Err(Error::InvalidSetting { .. })));
    }
}

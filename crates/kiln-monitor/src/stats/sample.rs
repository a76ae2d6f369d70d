//! Numeric samples as the drift statistics take them: either the finite values themselves,
//! sorted ascending, or a reference sketch as a bundle stores it (quantiles, count, mean and
//! population standard deviation). Both expose one CDF, walked left to right by a `Cursor`,
//! so that every statistic has a single code path and merges in O(n + m).
//!
//! The sketch's CDF is piecewise linear through its points `(q_k, k / (m - 1))`; repeated
//! points make jumps. If the sketch holds numpy's linearly interpolated quantiles of n values
//! at k / (m - 1), its CDF G and the empirical CDF F_n of those values satisfy
//! `sup |G - F_n| <= 1 / (m - 1) + 1 / n`: on `[q_k, q_{k+1})` G lies in `[k, k + 1] / (m - 1)`
//! and F_n in `[k (n-1) / ((m-1) n), ((k+1)(n-1) / (m-1) + 1) / n]`. Every sketch bound in this
//! module tree follows from that one.

use crate::error::{Error, Result};

/// A quantile sketch of a numeric column, as a bundle stores it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sketch<'a> {
    /// The k / (m - 1) quantiles, k = 0..m (numpy's linear interpolation): the first is the
    /// minimum, the last the maximum. At least two, finite, non-decreasing.
    pub quantiles: &'a [f64],
    /// Number of finite values summarised (at least 1).
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// Their population standard deviation (ddof 0).
    pub std: f64,
}

/// A numeric sample: the values themselves or a sketch of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sample<'a> {
    /// The finite values, sorted ascending (exact results).
    Sorted(&'a [f64]),
    /// A reference sketch (results within the bounds each statistic states).
    Sketch(Sketch<'a>),
}

impl<'a> Sample<'a> {
    /// Checks the sample: not empty, finite, sorted; `side` ("reference" or "current") and
    /// `column` name it in the error.
    pub fn check(&self, column: &str, side: &'static str) -> Result<()> {
        let values = match self {
            Sample::Sorted(values) => *values,
            Sample::Sketch(sketch) => {
                if sketch.count == 0 {
                    return Err(Error::EmptySample { column: column.to_string(), side });
                }
                let invalid = |problem| Error::InvalidSketch { column: column.to_string(), side, problem };
                if sketch.quantiles.len() < 2 {
                    return Err(invalid(
                        "has fewer than two quantiles (it needs at least the minimum and the maximum)",
                    ));
                }
                if !sketch.mean.is_finite() || !sketch.std.is_finite() || sketch.std < 0.0 {
                    return Err(invalid("has a mean or standard deviation that is not a finite number >= 0"));
                }
                sketch.quantiles
            }
        };
        if values.is_empty() {
            return Err(Error::EmptySample { column: column.to_string(), side });
        }
        // One pass: a NaN fails `is_finite`, and a value below its predecessor is unsorted.
        let mut previous = f64::NEG_INFINITY;
        for (index, value) in values.iter().enumerate() {
            if !value.is_finite() {
                return Err(Error::NonFinite { column: column.to_string(), side, index });
            }
            if *value < previous {
                return Err(Error::Unsorted { column: column.to_string(), side, index });
            }
            previous = *value;
        }
        Ok(())
    }

    /// Number of values the sample stands for.
    pub fn count(&self) -> u64 {
        match self {
            Sample::Sorted(values) => values.len() as u64,
            Sample::Sketch(sketch) => sketch.count,
        }
    }

    /// Smallest value.
    pub fn min(&self) -> f64 {
        self.points()[0]
    }

    /// Largest value.
    pub fn max(&self) -> f64 {
        let points = self.points();
        points[points.len() - 1]
    }

    /// Population standard deviation (numpy's `np.std`, ddof 0).
    pub fn std(&self) -> f64 {
        match self {
            Sample::Sorted(values) => {
                let n = values.len() as f64;
                let mean = crate::stats::sum::compensated(values.iter().copied()) / n;
                let squares = crate::stats::sum::compensated(values.iter().map(|v| (v - mean) * (v - mean)));
                (squares / n).sqrt()
            }
            Sample::Sketch(sketch) => sketch.std,
        }
    }

    /// The sorted values or the sketch's points: where the CDF changes slope or jumps.
    pub(crate) fn points(&self) -> &'a [f64] {
        match self {
            Sample::Sorted(values) => values,
            Sample::Sketch(sketch) => sketch.quantiles,
        }
    }

    /// Number of values in `[low, high)` (or `[low, high]` when `inclusive`): whole for sorted
    /// values, a share of the count for a sketch.
    pub(crate) fn count_between(&self, low: f64, high: f64, inclusive: bool) -> f64 {
        match self {
            Sample::Sorted(values) => {
                let below_high = if inclusive {
                    values.partition_point(|v| *v <= high)
                } else {
                    values.partition_point(|v| *v < high)
                };
                (below_high - values.partition_point(|v| *v < low)) as f64
            }
            Sample::Sketch(sketch) => {
                let upper = if inclusive { self.cdf_right(high) } else { self.cdf_left(high) };
                (upper - self.cdf_left(low)) * sketch.count as f64
            }
        }
    }

    /// F(x) = P(X <= x).
    pub(crate) fn cdf_right(&self, x: f64) -> f64 {
        let points = self.points();
        let at_or_below = points.partition_point(|v| *v <= x);
        self.cdf_from_rank(at_or_below, x)
    }

    /// F(x-) = P(X < x).
    pub(crate) fn cdf_left(&self, x: f64) -> f64 {
        let points = self.points();
        let below = points.partition_point(|v| *v < x);
        self.cdf_from_rank(below, x)
    }

    /// The CDF at `x` given how many points lie at or before it (strictly before for the
    /// left limit).
    fn cdf_from_rank(&self, rank: usize, x: f64) -> f64 {
        let points = self.points();
        let m = points.len();
        match self {
            Sample::Sorted(_) => rank as f64 / m as f64,
            Sample::Sketch(_) => {
                if rank == 0 {
                    0.0
                } else if rank == m {
                    1.0
                } else {
                    let (low, high) = (points[rank - 1], points[rank]);
                    let fraction = if high > low { (x - low) / (high - low) } else { 0.0 };
                    ((rank - 1) as f64 + fraction) / (m - 1) as f64
                }
            }
        }
    }

    /// A cursor at `x`, to walk the CDF from there to the right.
    pub(crate) fn cursor_from(&self, x: f64) -> Cursor<'a> {
        let below = self.points().partition_point(|v| *v < x);
        Cursor { sample: *self, below, at_or_below: below }
    }
}

/// Walks a sample's CDF left to right in O(n) over all positions visited.
pub(crate) struct Cursor<'a> {
    sample: Sample<'a>,
    below: usize,
    at_or_below: usize,
}

impl Cursor<'_> {
    /// (F(x-), F(x)) at `x`, which must not decrease between calls.
    pub(crate) fn limits(&mut self, x: f64) -> (f64, f64) {
        let points = self.sample.points();
        while self.below < points.len() && points[self.below] < x {
            self.below += 1;
        }
        if self.at_or_below < self.below {
            self.at_or_below = self.below;
        }
        while self.at_or_below < points.len() && points[self.at_or_below] <= x {
            self.at_or_below += 1;
        }
        let left = self.sample.cdf_from_rank(self.below, x);
        if self.at_or_below == self.below {
            // `x` is not one of this sample's points: the CDF is continuous there.
            return (left, left);
        }
        (left, self.sample.cdf_from_rank(self.at_or_below, x))
    }
}

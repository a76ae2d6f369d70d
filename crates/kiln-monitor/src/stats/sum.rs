//! Compensated (Neumaier) summation: long sums over millions of values keep their last digits,
//! as numpy's pairwise summation does.

/// A running compensated sum.
#[derive(Debug, Clone, Copy, Default)]
pub struct Accumulator {
    sum: f64,
    compensation: f64,
}

impl Accumulator {
    /// Adds one value.
    pub fn add(&mut self, value: f64) {
        let total = self.sum + value;
        if self.sum.abs() >= value.abs() {
            self.compensation += (self.sum - total) + value;
        } else {
            self.compensation += (value - total) + self.sum;
        }
        self.sum = total;
    }

    /// The sum so far.
    pub fn total(&self) -> f64 {
        // An infinite term leaves the compensation NaN; the sum is then the plain sum.
        if self.sum.is_finite() { self.sum + self.compensation } else { self.sum }
    }
}

/// The sum of `values` with a running compensation term.
pub fn compensated(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut accumulator = Accumulator::default();
    values.into_iter().for_each(|value| accumulator.add(value));
    accumulator.total()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_small_terms_next_to_large_ones() {
        let values = [1e16, 1.0, -1e16, 1.0];
        assert_eq!(super::compensated(values), 2.0);
        assert_eq!(super::compensated([1.0, f64::INFINITY, 2.0]), f64::INFINITY);
    }
}

//! The sliding window: a ring of time buckets, each holding counts. Adding rows touches only
//! the bucket of the current time (cleared first when it last held an older period); the
//! window's counts are the sum of the buckets of the last `buckets` periods, so a bucket is
//! forgotten as a whole once it is older than the window.

use std::time::{Duration, Instant};

/// A ring of `buckets` count vectors of `width` each, every bucket `period` long.
#[derive(Debug, Clone)]
pub struct Ring {
    origin: Instant,
    period_ns: u128,
    width: usize,
    /// The period each bucket holds (`u64::MAX`: never used).
    periods: Vec<u64>,
    counts: Vec<Vec<u64>>,
}

impl Ring {
    /// A ring covering `window`, cut into `buckets` periods (at least one nanosecond each),
    /// starting at `origin`.
    pub fn new(window: Duration, buckets: usize, width: usize, origin: Instant) -> Self {
        let buckets = buckets.max(1);
        let period_ns = (window.as_nanos() / buckets as u128).max(1);
        Self { origin, period_ns, width, periods: vec![u64::MAX; buckets], counts: vec![Vec::new(); buckets] }
    }

    fn period(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(elapsed / self.period_ns).unwrap_or(u64::MAX - 1)
    }

    /// The counts of the bucket of `now`, cleared when it held an older period.
    pub fn current(&mut self, now: Instant) -> &mut [u64] {
        let period = self.period(now);
        let slot = (period % self.periods.len() as u64) as usize;
        let counts = &mut self.counts[slot];
        if self.periods[slot] != period {
            self.periods[slot] = period;
            counts.clear();
            counts.resize(self.width, 0);
        }
        counts
    }

    /// The sum of the buckets inside the window that ends at `now`, into `into` (resized).
    pub fn sum(&self, now: Instant, into: &mut Vec<u64>) {
        into.clear();
        into.resize(self.width, 0);
        let period = self.period(now);
        let n = self.periods.len() as u64;
        for (held, counts) in self.periods.iter().zip(&self.counts) {
            let live = *held != u64::MAX && *held <= period && period - *held < n;
            if live {
                into.iter_mut().zip(counts).for_each(|(total, c)| *total += c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_sums_its_buckets_and_forgets_older_ones() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        // 4 s in 4 buckets of one count each
        let mut ring = Ring::new(4 * second, 4, 1, t0);
        let mut total = Vec::new();
        for i in 0..4u32 {
            ring.current(t0 + i * second)[0] += u64::from(i) + 1;
        }
        ring.sum(t0 + 3 * second, &mut total);
        assert_eq!(total, [1 + 2 + 3 + 4]);
        // at 4 s the first bucket (period 0) left the window; adding reuses its slot
        ring.sum(t0 + 4 * second, &mut total);
        assert_eq!(total, [2 + 3 + 4]);
        ring.current(t0 + 4 * second)[0] += 10;
        ring.sum(t0 + 4 * second, &mut total);
        assert_eq!(total, [2 + 3 + 4 + 10]);
        // long after: everything forgotten
        ring.sum(t0 + 100 * second, &mut total);
        assert_eq!(total, [0]);
        // a time before the origin counts in the first period
        let mut early = Ring::new(4 * second, 4, 2, t0 + second);
        early.current(t0)[1] += 1;
        early.sum(t0 + second, &mut total);
        assert_eq!(total, [0, 1]);
    }
}

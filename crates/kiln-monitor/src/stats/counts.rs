//! Category counts of a reference and a current column, aligned over the union of their keys
//! in ascending key order, as Evidently lines them up: a key seen on one side only counts 0 on
//! the other, and missing values are not a category (drop them before counting).

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// Counts per key for both sides, index i being the i-th smallest key of the union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlignedCounts {
    /// Reference count of each key.
    pub reference: Vec<u64>,
    /// Current count of each key.
    pub current: Vec<u64>,
}

impl AlignedCounts {
    /// Aligns two maps of counts per key; keys counted 0 on both sides are left out.
    pub fn from_maps<K: Ord>(reference: &BTreeMap<K, u64>, current: &BTreeMap<K, u64>) -> Self {
        let mut keys: Vec<&K> = reference.keys().chain(current.keys()).collect();
        keys.sort();
        keys.dedup();
        let mut aligned = Self { reference: Vec::with_capacity(keys.len()), current: Vec::with_capacity(keys.len()) };
        for key in keys {
            let (r, c) = (reference.get(key).copied().unwrap_or(0), current.get(key).copied().unwrap_or(0));
            if r > 0 || c > 0 {
                aligned.reference.push(r);
                aligned.current.push(c);
            }
        }
        aligned
    }

    /// Counts of each distinct value of two sorted numeric samples (a low-cardinality numeric
    /// column tested the way Evidently tests it, by its value counts).
    pub fn from_sorted(reference: &[f64], current: &[f64]) -> Self {
        let mut aligned = Self { reference: Vec::new(), current: Vec::new() };
        let (mut i, mut j) = (0, 0);
        while i < reference.len() || j < current.len() {
            let key = match (reference.get(i), current.get(j)) {
                (Some(r), Some(c)) => r.min(*c),
                (Some(r), None) => *r,
                (None, Some(c)) => *c,
                (None, None) => break,
            };
            let start_i = i;
            while i < reference.len() && reference[i] == key {
                i += 1;
            }
            let start_j = j;
            while j < current.len() && current[j] == key {
                j += 1;
            }
            aligned.reference.push((i - start_i) as u64);
            aligned.current.push((j - start_j) as u64);
        }
        aligned
    }

    /// Number of keys in the union.
    pub fn n_keys(&self) -> usize {
        self.reference.len()
    }

    /// Total reference count.
    pub fn reference_total(&self) -> u64 {
        self.reference.iter().sum()
    }

    /// Total current count.
    pub fn current_total(&self) -> u64 {
        self.current.iter().sum()
    }

    /// Checks that both sides have at least one value and the two vectors line up.
    pub fn check(&self, column: &str) -> Result<()> {
        if self.reference.len() != self.current.len() {
            return Err(Error::LengthMismatch {
                column: column.to_string(),
                expected: self.reference.len(),
                found: self.current.len(),
            });
        }
        if self.reference_total() == 0 {
            return Err(Error::EmptySample { column: column.to_string(), side: "reference" });
        }
        if self.current_total() == 0 {
            return Err(Error::EmptySample { column: column.to_string(), side: "current" });
        }
        Ok(())
    }

    /// Each key's share of the reference and of the current side.
    pub fn shares(&self) -> (Vec<f64>, Vec<f64>) {
        let (rt, ct) = (self.reference_total() as f64, self.current_total() as f64);
        (self.reference.iter().map(|c| *c as f64 / rt).collect(), self.current.iter().map(|c| *c as f64 / ct).collect())
    }
}

/// Number of distinct values in a sorted slice, counting no further than `cap` (so that
/// asking "more than 20?" of ten million values stops early).
pub fn distinct_sorted_up_to(values: &[f64], cap: usize) -> usize {
    let mut distinct = usize::from(!values.is_empty());
    for pair in values.windows(2) {
        if distinct >= cap {
            break;
        }
        distinct += usize::from(pair[1] != pair[0]);
    }
    distinct
}

/// Number of distinct values in the union of two sorted slices, counting no further than
/// `cap` (`usize::MAX` for the exact count).
pub fn distinct_union_sorted_up_to(a: &[f64], b: &[f64], cap: usize) -> usize {
    let (mut i, mut j, mut distinct) = (0, 0, 0);
    let mut last: Option<f64> = None;
    while (i < a.len() || j < b.len()) && distinct < cap {
        let next = if j >= b.len() || (i < a.len() && a[i] <= b[j]) {
            i += 1;
            a[i - 1]
        } else {
            j += 1;
            b[j - 1]
        };
        if last != Some(next) {
            distinct += 1;
            last = Some(next);
        }
    }
    distinct
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_keys_seen_on_one_side_only() {
        let reference = BTreeMap::from([("a", 3), ("b", 1), ("z", 0)]);
        let current = BTreeMap::from([("b", 2), ("c", 5)]);
        let aligned = AlignedCounts::from_maps(&reference, &current);
        assert_eq!(aligned.reference, vec![3, 1, 0]);
        assert_eq!(aligned.current, vec![0, 2, 5]);
        let numeric = AlignedCounts::from_sorted(&[0.0, 0.0, 1.0], &[1.0, 2.0]);
        assert_eq!(numeric.reference, vec![2, 1, 0]);
        assert_eq!(numeric.current, vec![0, 1, 1]);
        assert_eq!(distinct_union_sorted_up_to(&[0.0, 0.0, 1.0], &[1.0, 2.0], usize::MAX), 3);
        assert_eq!(distinct_union_sorted_up_to(&[0.0, 0.0, 1.0], &[1.0, 2.0], 2), 2);
        assert_eq!(distinct_sorted_up_to(&[0.0, 0.0, 1.0, 4.0], usize::MAX), 3);
        assert_eq!(distinct_sorted_up_to(&[0.0, 0.0, 1.0, 4.0], 2), 2);
    }
}

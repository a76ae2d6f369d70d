//! Reference feature distributions: how each feature looked in the training data, stored in
//! every bundle so that a later drift check can compare new data against it.
//!
//! Numeric features: quantile bin edges (up to [`REFERENCE_BINS`] bins) and the share of
//! present values in each bin, plus the share of missing values. Categorical features: the
//! share of rows in each entry of the preprocessor's vocabulary, with values mapped exactly as
//! [`Preprocessor::transform`] maps them. This module computes; it does not compare.
//!
//! For monitoring, every numeric reference also holds a quantile sketch
//! ([`REFERENCE_QUANTILES`] + 1 exact quantiles of the present values, their count, mean and
//! standard deviation): a CDF read from it by linear interpolation is within
//! `1 / REFERENCE_QUANTILES` of the data's at every point, and its size does not depend on the
//! number of rows. [`sets`] holds the references per segment, of the model's scores and the
//! slicings that cut new rows the same way.

use serde::{Deserialize, Serialize};

mod sets;

pub use sets::{CalibrationBlock, CalibrationMap, ScoreReference, SegmentReference, SliceSpec};

use crate::error::{Error, Result};
use crate::preprocess::{CategoricalState, ColumnRef, MISSING_CATEGORY, Preprocessor};

/// Number of quantile bins for a numeric feature (fewer when edges coincide).
pub const REFERENCE_BINS: usize = 10;

/// Number of intervals of a numeric feature's quantile sketch: it holds the `k / 256`
/// quantiles for `k = 0..=256` (rank error at most 1/256 ≈ 0.4% when read by interpolation).
pub const REFERENCE_QUANTILES: usize = 256;

/// The reference distribution of every feature, numeric features first, in the
/// preprocessor's order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReferenceDistributions {
    pub features: Vec<FeatureReference>,
    /// Rows the feature references were computed on (0 in bundles written before monitoring).
    #[serde(default)]
    pub rows: u64,
    /// How the rows were sliced for the per-segment references (the `[evaluation]` slices, or
    /// one slicing per segment column).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slicings: Vec<SliceSpec>,
    /// The feature (training rows) and score (test rows) references of every slice group with
    /// enough rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<SegmentReference>,
    /// The model's scores on the test rows, with its test metrics and calibration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<ScoreReference>,
}

/// The reference distribution of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureReference {
    Numeric {
        name: String,
        /// Increasing bin edges: the 0, 10, …, 100 % quantiles of the present values (linear
        /// interpolation, as numpy's default), with repeated edges dropped. Empty when no value
        /// was present; `[v, v]` when every present value was `v`.
        edges: Vec<f64>,
        /// Share of present values in each bin, `edges.len() - 1` of them, summing to 1. Bins
        /// are `[edges[i], edges[i + 1])`, the last one closed (as `numpy.histogram`).
        proportions: Vec<f64>,
        /// Share of rows whose value was missing or not finite.
        missing_fraction: f64,
        /// The sketch: the `k / REFERENCE_QUANTILES` quantiles of the present values (numpy's
        /// linear interpolation), empty when none was present.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        quantiles: Vec<f64>,
        /// Number of present (finite) values.
        #[serde(default)]
        count: u64,
        /// Mean and population standard deviation (ddof 0) of the present values.
        #[serde(default)]
        mean: f64,
        #[serde(default)]
        std: f64,
    },
    Categorical {
        name: String,
        /// The preprocessor's vocabulary (`__other__` first).
        categories: Vec<String>,
        /// Share of all rows in each category, summing to 1 (missing values count as
        /// `__missing__` when the vocabulary has it, else as `__other__`).
        proportions: Vec<f64>,
        /// Number of rows, missing values included.
        #[serde(default)]
        count: u64,
        /// Share of rows whose value was missing.
        #[serde(default)]
        missing_fraction: f64,
    },
}

impl FeatureReference {
    pub fn name(&self) -> &str {
        match self {
            FeatureReference::Numeric { name, .. } | FeatureReference::Categorical { name, .. } => name,
        }
    }
}

impl ReferenceDistributions {
    /// Compute the distributions of the columns the preprocessor was fitted on (normally the
    /// training split). Every input of `preprocessor` must be in `columns`, with the right
    /// kind; all columns must have the same length; extra columns are ignored.
    pub fn fit(preprocessor: &Preprocessor, columns: &[(&str, ColumnRef<'_>)]) -> Result<Self> {
        if let Some((_, first)) = columns.first() {
            for (name, column) in columns {
                if column.len() != first.len() {
                    return Err(Error::LengthMismatch {
                        column: (*name).to_string(),
                        expected: first.len(),
                        found: column.len(),
                    });
                }
            }
        }
        let find = |name: &str| {
            columns
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, c)| *c)
                .ok_or_else(|| Error::MissingColumn { column: name.to_string() })
        };
        let mut features = Vec::with_capacity(preprocessor.numeric.len() + preprocessor.categorical.len());
        for state in &preprocessor.numeric {
            let ColumnRef::Numeric(values) = find(&state.name)? else {
                return Err(Error::ColumnKind { column: state.name.clone(), expected: "numeric" });
            };
            features.push(numeric_reference(&state.name, values));
        }
        for state in &preprocessor.categorical {
            let ColumnRef::Categorical(values) = find(&state.name)? else {
                return Err(Error::ColumnKind { column: state.name.clone(), expected: "categorical" });
            };
            features.push(categorical_reference(state, values));
        }
        let rows = columns.first().map_or(0, |(_, c)| c.len() as u64);
        Ok(Self { features, rows, ..Self::default() })
    }

    /// Whether the bundle holds the monitoring sketches (bundles written before them do not).
    pub fn has_sketches(&self) -> bool {
        self.rows > 0
    }

    /// The reference of one feature, by name.
    pub fn get(&self, name: &str) -> Option<&FeatureReference> {
        self.features.iter().find(|f| f.name() == name)
    }
}

fn numeric_reference(name: &str, values: &[Option<f64>]) -> FeatureReference {
    let mut present: Vec<f64> = values.iter().flatten().copied().filter(|x| x.is_finite()).collect();
    let n_missing = values.len() - present.len();
    let missing_fraction = if values.is_empty() { 0.0 } else { n_missing as f64 / values.len() as f64 };
    present.sort_unstable_by(f64::total_cmp);
    let edges = quantile_edges(&present);
    let proportions = histogram(&present, &edges).into_iter().map(|c| c as f64 / present.len() as f64).collect();
    let (mean, std) = mean_std(&present);
    FeatureReference::Numeric {
        name: name.to_string(),
        edges,
        proportions,
        missing_fraction,
        quantiles: quantiles(&present, REFERENCE_QUANTILES),
        count: present.len() as u64,
        mean,
        std,
    }
}

/// The mean and population standard deviation (two passes, as numpy's `mean` and `std` and
/// scikit-learn's `StandardScaler`, ddof 0).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// The `k / parts` quantiles of sorted values for `k = 0..=parts`, interpolated linearly
/// between order statistics (numpy's default); empty for no values.
pub fn quantiles(sorted: &[f64], parts: usize) -> Vec<f64> {
    if sorted.is_empty() || parts == 0 {
        return Vec::new();
    }
    let n = sorted.len();
    (0..=parts)
        .map(|k| {
            // Position (n - 1) * k / parts, split into whole and fractional parts in integers
            // so that quantiles which fall on a value are exact.
            let scaled = (n - 1) * k;
            let (low, rest) = (scaled / parts, scaled % parts);
            if rest == 0 {
                sorted[low]
            } else {
                let fraction = rest as f64 / parts as f64;
                sorted[low] + fraction * (sorted[low + 1] - sorted[low])
            }
        })
        .collect()
}

/// The 0, 1/B, …, 1 quantiles of sorted finite values, deduplicated; `[v, v]` for one value.
fn quantile_edges(sorted: &[f64]) -> Vec<f64> {
    let Some(&last) = sorted.last() else { return Vec::new() };
    let mut edges = quantiles(sorted, REFERENCE_BINS);
    edges.dedup_by(|next, previous| *next <= *previous);
    if edges.len() == 1 {
        edges.push(last);
    }
    edges
}

/// Counts of sorted values per bin; bins half-open except the last, which is closed.
fn histogram(sorted: &[f64], edges: &[f64]) -> Vec<u64> {
    let n_bins = edges.len().saturating_sub(1);
    let mut counts = vec![0u64; n_bins];
    for &x in sorted {
        // The last edge not above x, capped to the last bin (the maximum falls in it).
        let bin = edges.partition_point(|&e| e <= x).saturating_sub(1).min(n_bins.saturating_sub(1));
        if let Some(count) = counts.get_mut(bin) {
            *count += 1;
        }
    }
    counts
}

fn categorical_reference(state: &CategoricalState, values: &[Option<&str>]) -> FeatureReference {
    let index: std::collections::HashMap<&str, usize> =
        state.vocabulary.iter().enumerate().skip(1).map(|(i, v)| (v.as_str(), i)).collect();
    let missing_index = if state.missing_seen { index.get(MISSING_CATEGORY).copied().unwrap_or(0) } else { 0 };
    let mut counts = vec![0u64; state.vocabulary.len()];
    let missing = values.iter().filter(|v| v.is_none()).count();
    for value in values {
        let code = match value {
            Some(v) => index.get(v).copied().unwrap_or(0),
            None => missing_index,
        };
        counts[code] += 1;
    }
    let n_rows = values.len().max(1) as f64;
    FeatureReference::Categorical {
        name: state.name.clone(),
        categories: state.vocabulary.clone(),
        proportions: counts.into_iter().map(|c| c as f64 / n_rows).collect(),
        count: values.len() as u64,
        missing_fraction: missing as f64 / n_rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_of_eleven_values_are_the_values() {
        // 0..=10: position (n - 1) * k / 10 = k exactly, so each edge is a value.
        let sorted: Vec<f64> = (0..=10).map(f64::from).collect();
        assert_eq!(quantile_edges(&sorted), sorted);
    }

    #[test]
    fn edges_interpolate_like_numpy() {
        // numpy.quantile([1, 2, 4], [0, .1, ..., 1]): positions 0, .2, .4, ..., 2.
        let edges = quantile_edges(&[1.0, 2.0, 4.0]);
        let expected = [1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.4, 2.8, 3.2, 3.6, 4.0];
        assert_eq!(edges.len(), expected.len());
        for (got, want) in edges.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
    }

    #[test]
    fn constant_and_empty_columns() {
        assert_eq!(quantile_edges(&[3.0, 3.0]), vec![3.0, 3.0]);
        assert_eq!(histogram(&[3.0, 3.0], &[3.0, 3.0]), vec![2]);
        assert!(quantile_edges(&[]).is_empty());
        assert!(histogram(&[], &[]).is_empty());
    }

    #[test]
    fn histogram_bins_are_half_open_except_the_last() {
        // numpy.histogram([0, 1, 1, 2, 3], bins=[0, 1, 2, 3]) -> [1, 2, 2].
        assert_eq!(histogram(&[0.0, 1.0, 1.0, 2.0, 3.0], &[0.0, 1.0, 2.0, 3.0]), vec![1, 2, 2]);
    }
}

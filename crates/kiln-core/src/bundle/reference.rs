//! Reference feature distributions: how each feature looked in the training data, stored in
//! every bundle so that a later drift check can compare new data against it.
//!
//! Numeric features: quantile bin edges (up to [`REFERENCE_BINS`] bins) and the share of
//! present values in each bin, plus the share of missing values. Categorical features: the
//! share of rows in each entry of the preprocessor's vocabulary, with values mapped exactly as
//! [`Preprocessor::transform`] maps them. This module computes; it does not compare.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::preprocess::{CategoricalState, ColumnRef, MISSING_CATEGORY, Preprocessor};

/// Number of quantile bins for a numeric feature (fewer when edges coincide).
pub const REFERENCE_BINS: usize = 10;

/// The reference distribution of every feature, numeric features first, in the
/// preprocessor's order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReferenceDistributions {
    pub features: Vec<FeatureReference>,
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
    },
    Categorical {
        name: String,
        /// The preprocessor's vocabulary (`__other__` first).
        categories: Vec<String>,
        /// Share of all rows in each category, summing to 1 (missing values count as
        /// `__missing__` when the vocabulary has it, else as `__other__`).
        proportions: Vec<f64>,
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
        Ok(Self { features })
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
    FeatureReference::Numeric { name: name.to_string(), edges, proportions, missing_fraction }
}

/// The 0, 1/B, …, 1 quantiles of sorted finite values, deduplicated; `[v, v]` for one value.
fn quantile_edges(sorted: &[f64]) -> Vec<f64> {
    let Some(&last) = sorted.last() else { return Vec::new() };
    let n = sorted.len();
    let mut edges: Vec<f64> = Vec::with_capacity(REFERENCE_BINS + 1);
    for k in 0..=REFERENCE_BINS {
        // Position (n - 1) * k / B, split into whole and fractional parts in integers so
        // that quantiles which fall on a value are exact.
        let scaled = (n - 1) * k;
        let (low, rest) = (scaled / REFERENCE_BINS, scaled % REFERENCE_BINS);
        let value = if rest == 0 {
            sorted[low]
        } else {
            let fraction = rest as f64 / REFERENCE_BINS as f64;
            sorted[low] + fraction * (sorted[low + 1] - sorted[low])
        };
        if edges.last().is_none_or(|&previous| value > previous) {
            edges.push(value);
        }
    }
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

//! `kiln data describe`: per-column statistics and the label balance of a loaded table.

use std::collections::HashMap;

use kiln_core::schema::Role;
use polars::prelude::DataType;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::load::Table;

/// Statistics of a numeric column (over present, finite values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericSummary {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub std: f64,
    pub p05: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p95: f64,
}

/// A category and how often it occurs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryCount {
    pub value: String,
    pub count: u64,
    pub fraction: f64,
}

/// One column's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSummary {
    pub name: String,
    pub role: String,
    pub dtype: String,
    pub n_missing: u64,
    pub missing_fraction: f64,
    pub distinct: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numeric: Option<NumericSummary>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<CategoryCount>,
}

/// The description of one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Description {
    pub path: String,
    pub n_rows: u64,
    pub columns: Vec<ColumnSummary>,
    /// Label counts (classification) in class order.
    pub labels: Vec<CategoryCount>,
}

/// Describe every kept column of `table`; `top_k` categories are listed per text column.
pub fn describe(table: &Table, top_k: usize) -> Result<Description> {
    let n_rows = table.n_rows();
    let columns = table
        .schema
        .columns
        .par_iter()
        .map(|col| {
            let series = table
                .df
                .column(&col.name)
                .map_err(|source| Error::Polars { doing: "looking up a column", source })?
                .as_materialized_series();
            let n_missing = series.null_count() as u64;
            let (distinct, numeric, top) = if col.dtype.is_numeric() && col.role != Role::Categorical {
                let values = series
                    .cast(&DataType::Float64)
                    .map_err(|source| Error::Polars { doing: "describing a column", source })?;
                let values = values.f64().map_err(|source| Error::Polars { doing: "describing a column", source })?;
                let mut present: Vec<f64> = values.iter().flatten().filter(|v| v.is_finite()).collect();
                let distinct = {
                    let mut bits: Vec<u64> = present.iter().map(|v| v.to_bits()).collect();
                    bits.sort_unstable();
                    bits.dedup();
                    bits.len() as u64
                };
                (distinct, numeric_summary(&mut present), Vec::new())
            } else {
                let text = series
                    .cast(&DataType::String)
                    .map_err(|source| Error::Polars { doing: "describing a column", source })?;
                let text = text.str().map_err(|source| Error::Polars { doing: "describing a column", source })?;
                let counts = count_values(text.iter().flatten());
                let distinct = counts.len() as u64;
                (distinct, None, top_counts(counts, top_k, n_rows))
            };
            Ok(ColumnSummary {
                name: col.name.clone(),
                role: col.role_label(),
                dtype: col.dtype.as_str().to_string(),
                n_missing,
                missing_fraction: n_missing as f64 / n_rows.max(1) as f64,
                distinct,
                numeric,
                top,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let labels = if table.schema.task.is_classification() {
        let target = table
            .df
            .column(&table.schema.target)
            .map_err(|source| Error::Polars { doing: "looking up the target", source })?
            .as_materialized_series()
            .cast(&DataType::String)
            .map_err(|source| Error::Polars { doing: "describing the target", source })?;
        let text = target.str().map_err(|source| Error::Polars { doing: "describing the target", source })?;
        let counts = count_values(text.iter().flatten());
        table
            .schema
            .classes
            .iter()
            .map(|class| {
                let count = counts.get(class.as_str()).copied().unwrap_or(0);
                CategoryCount { value: class.clone(), count, fraction: count as f64 / n_rows.max(1) as f64 }
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Description { path: table.path.display().to_string(), n_rows: n_rows as u64, columns, labels })
}

fn count_values<'a>(values: impl Iterator<Item = &'a str>) -> HashMap<&'a str, u64> {
    let mut counts = HashMap::new();
    for v in values {
        *counts.entry(v).or_insert(0) += 1;
    }
    counts
}

fn top_counts(counts: HashMap<&str, u64>, top_k: usize, n_rows: usize) -> Vec<CategoryCount> {
    let mut ranked: Vec<(&str, u64)> = counts.into_iter().collect();
    ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked
        .into_iter()
        .take(top_k)
        .map(|(value, count)| CategoryCount {
            value: value.to_string(),
            count,
            fraction: count as f64 / n_rows.max(1) as f64,
        })
        .collect()
}

/// Summary statistics; quantiles use linear interpolation (numpy's default).
pub fn numeric_summary(values: &mut [f64]) -> Option<NumericSummary> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
    let q = |p: f64| {
        let pos = p * (values.len() - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = pos.ceil() as usize;
        values[lo] + (values[hi] - values[lo]) * (pos - lo as f64)
    };
    Some(NumericSummary {
        min: values[0],
        max: values[values.len() - 1],
        mean,
        std,
        p05: q(0.05),
        p25: q(0.25),
        p50: q(0.5),
        p75: q(0.75),
        p95: q(0.95),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_numpy_linear() {
        // numpy.percentile([1, 2, 3, 4, 10], [5, 25, 50, 75, 95]) = [1.2, 2, 3, 4, 8.8]
        let mut v = vec![10.0, 1.0, 3.0, 2.0, 4.0];
        let s = numeric_summary(&mut v).expect("non-empty");
        assert!((s.p05 - 1.2).abs() < 1e-12);
        assert_eq!((s.p25, s.p50, s.p75), (2.0, 3.0, 4.0));
        assert!((s.p95 - 8.8).abs() < 1e-12);
        assert_eq!((s.min, s.max, s.mean), (1.0, 10.0, 4.0));
        assert!(numeric_summary(&mut []).is_none());
    }
}

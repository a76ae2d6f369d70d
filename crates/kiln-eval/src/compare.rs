//! Paired comparison of two models scored on the same rows.
//!
//! - [`mcnemar`]: McNemar's test on the rows exactly one of the two models gets right (exact
//!   binomial for fewer than 25 such rows, else chi-square with continuity correction), as
//!   statsmodels' `mcnemar`.
//! - [`delong`]: DeLong's test for the difference of two correlated ROC AUCs, with the
//!   O(n log n) midrank algorithm of Sun & Xu (2014).
//! - [`paired_bootstrap`] / [`paired_bootstrap_scores`]: a metric difference under a seeded
//!   Poisson(1) bootstrap whose weights both models share in every replicate.
//! - [`erfc`], [`normal_sf`], [`chi2_sf_df1`]: the distribution tails the tests need.

mod bootstrap;
mod delong;
mod mcnemar;
mod normal;

pub use bootstrap::{
    BootstrapConfig, PairedBootstrap, ScoreMetric, paired_bootstrap, paired_bootstrap_scores, poisson1_weights,
};
pub use delong::{DeLong, delong};
pub use mcnemar::{McNemar, McNemarForm, mcnemar, mcnemar_from_counts};
pub use normal::{chi2_sf_df1, erfc, normal_sf};

/// Errors from malformed comparison inputs.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CompareError {
    /// Two input columns have different lengths.
    #[error("column `{name}` has {got} rows, expected {expected}")]
    LengthMismatch {
        /// The offending column.
        name: &'static str,
        /// Its length.
        got: usize,
        /// The length of the labels column.
        expected: usize,
    },
    /// A score is NaN.
    #[error("score column `{name}` holds NaN at row {row}")]
    NanScore {
        /// The offending column.
        name: &'static str,
        /// The row index.
        row: usize,
    },
    /// A sample weight is negative, NaN or infinite.
    #[error("sample weight {value} at row {row} is not a finite non-negative number")]
    BadWeight {
        /// The row index.
        row: usize,
        /// The weight.
        value: f64,
    },
    /// The labels hold one class only, so no AUC is defined.
    #[error("the labels hold one class only")]
    SingleClass,
    /// The metric is undefined on the unweighted rows, so there is no observed difference.
    #[error("the metric is undefined on the unweighted rows")]
    UndefinedMetric,
    /// A bootstrap setting is out of range.
    #[error("invalid bootstrap setting: {0}")]
    BadConfig(&'static str),
}

pub(crate) fn check_len(name: &'static str, got: usize, expected: usize) -> Result<(), CompareError> {
    if got == expected { Ok(()) } else { Err(CompareError::LengthMismatch { name, got, expected }) }
}

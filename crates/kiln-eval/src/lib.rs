//! kiln-eval: evaluation over plain columns (labels, scores, weights, segment codes).
//!
//! - [`metrics`]: binary, multiclass and regression metrics with sample weights, equal to
//!   scikit-learn's definitions.
//! - [`fairness`]: fairlearn's group metrics (demographic parity, equalized odds, TPR/FPR gaps).
//! - [`compare`]: paired tests between two models on the same rows (paired bootstrap,
//!   McNemar, DeLong).
//!
//! No DataFrame crate: the hot loops run over slices of numbers.

pub mod compare;
pub mod fairness;
pub mod metrics;

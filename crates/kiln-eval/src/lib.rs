//! kiln-eval: evaluation over plain columns (labels, scores, weights, segment codes).
//!
//! - [`metrics`]: binary, multiclass and regression metrics with sample weights, equal to
//!   scikit-learn's definitions.
//! - [`slices`]: the overall slice, columns, crosses, numeric bands and single values.
//! - [`ci`]: seeded Poisson bootstrap and jackknife intervals for every metric of every slice.
//! - [`fairness`]: fairlearn's group metrics (demographic parity, equalized odds, TPR/FPR gaps).
//! - [`compare`]: paired tests between two models on the same rows (paired bootstrap,
//!   McNemar, DeLong).
//! - [`plan`]: `[evaluation]` and `[acceptance]` checked into an `EvalPlan`.
//! - [`gates`]: `[acceptance]` into a verdict; [`evaluate`]: everything above for a set of
//!   models into one [`report::EvalReport`]; [`render`]: Markdown and HTML.
//!
//! No DataFrame crate: the hot loops run over slices of numbers.

pub mod ci;
pub mod compare;
pub mod config;
pub mod data;
pub mod error;
pub mod evaluate;
pub mod fairness;
pub mod gates;
pub mod metrics;
pub mod plan;
pub mod render;
pub mod report;
pub mod scan;
mod sliced;
pub mod slices;

pub use error::{Error, Result};

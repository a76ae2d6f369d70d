//! kiln-core: the pieces every other kiln crate, and serving, share.
//!
//! - [`schema`]: `Schema`, `Column`, `Role`, `DType`, `Task`: what the data is.
//! - [`preprocess`]: the fitted `Preprocessor` that encodes features identically in training
//!   and serving.
//! - [`bundle`]: the model bundle, one `.safetensors` file holding a model's tensors and its
//!   JSON `Manifest` (schema, preprocessor, `Architecture`, hashes, metrics, reference
//!   distributions for drift checks); `Bundle::write` and `Bundle::read`.
//! - [`model`]: inference with kiln-core alone: `Model::from_bundle` rebuilds any model kind
//!   (prior, rules, gradient-boosted trees, linear, MLP, ResNet) and `Model::predict` scores
//!   plain columns; kiln-train predicts through the same forward pass.
//! - [`container`]: the one file container of bundles, training checkpoints and
//!   finished-model files (safetensors with a typed JSON header naming its format and version),
//!   written through [`atomic`], the one atomic-write helper.
//! - [`columns`]: `Batch`, owned typed columns of rows (what readers and requests hand a
//!   model); [`rows`]: the check of incoming rows against a bundle's schema, a `RowReport`
//!   of every problem with its column and rows; `model::output`: scores to output columns.
//! - [`device`]: `DeviceSpec` (`auto`, `cpu`, `cuda`, `cuda:N`) and `resolve`, the one place a
//!   run's device is chosen.
//! - [`rng`]: kiln's own seeded generator, so results never depend on another crate's RNG.
//! - [`hash`]: the one content hash used for data, schema and bundle versions.
//! - [`text`]: escaping text for HTML and Markdown reports.
//! - [`error`]: the crate's one `Error` enum.
//!
//! kiln-core sits at the bottom of the crate graph: it must not depend on polars, SQLite or
//! HTTP, so that a serving binary stays small. Training writes bundles and serving reads them
//! through this crate alone: inference needs no training code.

pub mod atomic;
pub mod bundle;
pub mod columns;
pub mod container;
pub mod device;
pub mod error;
pub mod hash;
pub mod model;
pub mod preprocess;
pub mod rng;
pub mod rows;
pub mod schema;
pub mod text;

pub use error::{Error, Result};

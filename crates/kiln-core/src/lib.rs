//! kiln-core: the pieces every other kiln crate, and serving, share.
//!
//! - [`schema`]: `Schema`, `Column`, `Role`, `DType`, `Task`: what the data is.
//! - [`preprocess`]: the fitted `Preprocessor` that encodes features identically in training
//!   and serving.
//! - [`rng`]: kiln's own seeded generator, so results never depend on another crate's RNG.
//! - [`hash`]: the one content hash used for data, schema and bundle versions.
//!
//! kiln-core sits at the bottom of the crate graph: it must not depend on polars, SQLite or
//! HTTP, so that a serving binary stays small.

pub mod error;
pub mod hash;
pub mod preprocess;
pub mod rng;
pub mod schema;

pub use error::{Error, Result};

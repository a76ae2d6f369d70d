//! kiln-data: from a config and raw files to validated, versioned, split data.
//!
//! - [`config`]: the data sections of a config (serde data); [`plan`]: `DataPlan`, the checked
//!   form every command works from.
//! - [`batch`]: files read into kiln-core's plain columns and output columns written, for the
//!   commands that score rows without handling polars types.
//! - [`load`]: CSV and Parquet through polars with declared types enforced (`diagnose` finds
//!   the exact line when a file is malformed); [`parts`]: data spread over a folder or glob of
//!   Parquet files (hive partitions included), read batch by batch.
//! - [`stream`]: `validate` and `snapshot` over such data, batch by batch, in bounded memory.
//! - [`describe`], [`validate`] (a report of every failure), [`snapshot`] (content hashes),
//!   [`split`] (random, stratified, key-hash, fixed), [`fit`] (the preprocessor, fitted on
//!   train only), [`synth`] (synthetic data), [`mod@write`] (atomic output).
//! - [`infer`]: a starter config inferred from a data file (`kiln init`).
//!
//! Depends on kiln-core; must not depend on training or evaluation.

pub mod batch;
pub mod config;
pub mod describe;
mod diagnose;
pub mod error;
pub mod findings;
pub mod fit;
pub mod infer;
pub mod load;
pub mod parts;
pub mod plan;
mod rowhash;
pub mod snapshot;
pub mod split;
pub mod stream;
pub mod synth;
pub mod validate;
pub mod write;

pub use error::{Error, Result};

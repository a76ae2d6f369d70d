//! kiln-monitor: is a deployed model still looking at the data it was trained on, and how well
//! is it doing when no labels have come back yet? Everything works on plain columns (slices of
//! numbers and strings, kiln-core's `Batch`), like kiln-eval; no DataFrame crate, no HTTP.
//!
//! Used by `kiln monitor` (through kiln-pipeline) and by kiln-serve's live drift gauges.

pub mod cbpe;
pub mod check;
pub mod config;
pub mod error;
pub mod grouped;
pub mod live;
pub mod monitor;
pub mod performance;
pub mod profile;
pub mod render;
pub mod report;
pub mod stats;

pub use error::{Error, Result};

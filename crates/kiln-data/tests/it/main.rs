//! kiln-data integration tests: real files (the shipped Adult data, generated CSV and
//! Parquet) in temporary folders.

mod adult;
mod bad_input;
mod batch;
mod common;
mod golden;
mod infer;
mod partitions;
mod snapshot_split;
mod synth;

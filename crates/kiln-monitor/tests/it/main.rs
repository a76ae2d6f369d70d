//! kiln-monitor's integration tests: drift statistics against scipy and Evidently fixtures, the
//! monitoring pass on generated data with known drift.

mod monitor;
mod stats;

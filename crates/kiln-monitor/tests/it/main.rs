//! kiln-monitor's integration tests: drift statistics against scipy and Evidently fixtures.

mod stats;

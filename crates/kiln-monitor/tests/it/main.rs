//! kiln-monitor's integration tests: drift statistics against scipy and Evidently fixtures,
//! performance estimation against scikit-learn and NannyML fixtures and on generated data, the
//! monitoring pass on generated data with known drift.

mod cbpe;
mod monitor;
mod stats;

//! kiln-train integration tests: config parsing and checks, the baselines on hand-made
//! frames, and gradient-boosted trees on the shipped Adult data and generated data.

mod checkpoint;
mod common;
mod config;
mod gbdt;
mod nn;
mod prior;
mod rules;

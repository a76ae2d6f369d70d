//! kiln-train integration tests: config parsing and checks, the baselines on hand-made
//! frames, gradient-boosted trees and the neural models on the shipped Adult data and generated
//! data, neural models through a bundle file, and every model kind loaded and scored by
//! kiln-core alone.

mod checkpoint;
mod common;
mod config;
mod core_inference;
mod finished;
mod gbdt;
mod nn;
mod nn_bundle;
mod prior;
mod rules;

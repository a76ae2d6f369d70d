//! kiln-train integration tests: config parsing and checks, the baselines on hand-made
//! frames, gradient-boosted trees and the neural models on the shipped Adult data and generated
//! data, and neural models through a bundle file.

mod checkpoint;
mod common;
mod config;
mod gbdt;
mod nn;
mod nn_bundle;
mod prior;
mod rules;

//! The non-neural baselines: [`prior`], [`rules`] and [`gbdt`]. Each is fitted on the training
//! split only, predicts [`crate::predictions::Predictions`] for a table, and saves to bytes
//! that load back with identical predictions.

pub mod gbdt;
pub mod prior;
pub mod rules;

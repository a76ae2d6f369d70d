//! kiln-train: model configs and training.
//!
//! - [`config`]: the `[[models]]` tables (`ModelConfig`, tagged by `kind`) and
//!   `ModelsSection::validate`, which checks them against the schema into a `ModelPlan`
//!   (the only form the trainers accept, e.g. `GbdtPlan`).
//! - [`baselines`]: the non-neural models, each fitted on the training split only:
//!   [`baselines::prior::PriorModel`], [`baselines::rules::RulesModel`] and
//!   [`baselines::gbdt::GbdtModel`] (gradient-boosted trees through `perpetual`).
//! - [`session`]: `fit_model` (any planned model) and `score` (the metric that picks the
//!   model to export); [`trained`]: `TrainedModel`, any fitted model, to and from a bundle.
//! - [`finished`]: finished-model files (`kiln.finished.v1`), a trained model saved so that a
//!   resumed run reloads it instead of training it again.
//! - [`predictions`]: `Predictions`, what every model returns; [`target`]: the training
//!   target as class indices or values. ROC AUC comes from `kiln_eval::metrics`.
//! - [`nn`]: kiln's own CPU training of the neural models (linear, MLP, ResNet): `nn::fit`,
//!   `NeuralModel`; `nn::candle::fit` trains the same models with candle tensors on a CPU or
//!   CUDA device. [`backend`]: `Backend`, which trainer and device a run uses (`--device`,
//!   `--precision`).
//!
//! Builds on kiln-core (schema, preprocessor) and kiln-data (tables, splits, the fitted
//! preprocessor's encoding).

pub mod backend;
pub mod baselines;
pub mod config;
pub mod error;
pub mod finished;
pub mod nn;
pub mod predictions;
pub mod session;
pub mod target;
pub mod trained;

pub use error::{Error, Result};

//! kiln's own CPU training path for neural models: logistic / softmax / linear regression and
//! multilayer perceptrons and the tabular ResNet, with forward and backward passes written by hand over contiguous
//! row-major `f32` buffers (matrix products through `faer`'s gemm), AdamW, a warm-up + cosine
//! schedule, gradient clipping and early stopping.
//!
//! - [`fit`] trains a [`NeuralModel`] on the preprocessor's dense (one-hot) features and
//!   returns a [`TrainReport`]; [`NeuralModel::predict`] gives [`crate::predictions::Predictions`].
//! - [`NeuralModel::to_tensors`] / [`NeuralModel::from_tensors`] convert to and from bundle
//!   tensors named as `kiln_core::bundle::Architecture::required_tensors` names them (layer
//!   norms add `mlp.norms.{i}.weight` / `.bias`; the ResNet's norms are
//!   `resnet.blocks.{i}.norm.*` and `resnet.head_norm.*`).
//!
//! [`candle::fit`] trains the same models with candle tensors on a CPU or CUDA device, from the
//! same initial weights and batch order (see its module docs for what differs).
//!
//! Not here yet: batch normalization, and the ResNet's categorical embeddings (its inputs are
//! the one-hot features).

pub mod candle;
mod kernels;
pub mod loss;
mod model;
mod net;
pub mod optim;
mod resnet;
mod train;

pub use model::{Dense, LayerNormParams, NeuralArch, NeuralModel};
pub use train::{EpochStats, TrainParams, TrainReport, fit, mlp_arch, resnet_arch};

#[cfg(test)]
mod tests;

//! kiln's own CPU training path for neural models: logistic / softmax / linear regression and
//! multilayer perceptrons and the tabular ResNet, with forward and backward passes written by hand over contiguous
//! row-major `f32` buffers (matrix products through `faer`'s gemm), AdamW, a warm-up + cosine
//! schedule, gradient clipping and early stopping.
//!
//! - [`fit`] trains a [`NeuralModel`] as a [`FitInput`] says (task, architecture, parameters,
//!   the preprocessor's encoded features: one-hot, or dense features plus index codes for a
//!   ResNet's embeddings; seed; checkpoint) and returns a [`TrainReport`]; both trainers run
//!   their epochs through one driver (`driver`: resume, early stopping, best weights,
//!   checkpoints, observer) over their own steps. [`fit_with`] adds checkpoints
//!   ([`checkpoint`]: save the whole training state, continue bit-identically) and a
//!   [`TrainObserver`] that hears each epoch and may stop the fit;
//!   [`NeuralModel::predict`] gives [`crate::predictions::Predictions`].
//! - [`NeuralModel::to_tensors`] / [`NeuralModel::from_tensors`] convert to and from bundle
//!   tensors named as `kiln_core::bundle::Architecture::required_tensors` names them (norms
//!   add `mlp.norms.{i}.weight` / `.bias`, batch norms also `.running_mean` / `.running_var`;
//!   the ResNet's norms are `resnet.blocks.{i}.norm.*` and `resnet.head_norm.*`, its
//!   categorical embeddings `resnet.embeddings.{j}`).
//! - Batch normalization ([`batchnorm`]) follows PyTorch's `BatchNorm1d`; the ResNet's
//!   categorical embeddings ([`embedding`]) read the preprocessor's index codes
//!   ([`NeuralArch::encoding`] says which encoding a network takes).
//!
//! [`candle::fit`] trains the same models with candle tensors on a CPU or CUDA device, from the
//! same initial weights and batch order (see its module docs for what differs); batch norm
//! and the ResNet's embeddings are native-trainer only for now, and refused there with a
//! clear error.

pub mod batchnorm;
pub mod candle;
pub mod checkpoint;
mod driver;
pub mod embedding;
mod kernels;
pub mod loss;
mod model;
mod net;
pub mod optim;
mod resnet;
mod train;

pub use batchnorm::RunningStats;
pub use checkpoint::{CheckpointSpec, TrainState};
pub use driver::FitInput;
pub use embedding::Embedding;
pub use model::{Dense, LayerNormParams, NeuralArch, NeuralModel, TensorKind};
pub use train::{EpochStats, TrainObserver, TrainParams, TrainReport, fit, fit_with, mlp_arch, resnet_arch};

#[cfg(test)]
mod tests;

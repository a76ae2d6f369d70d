//! The candle trainer: the same neural models as [`crate::nn::fit`] (linear, MLP with or
//! without layer norm and residuals, the tabular ResNet with or without categorical
//! embeddings; not batch norm), trained with candle tensors on a `candle_core::Device`, the CPU
//! or a CUDA GPU.
//!
//! Same semantics as the native trainer:
//! - initial weights drawn from kiln's generator by the native initializer, then uploaded;
//! - the same seeded batch order (the shuffle is drawn on the host, uploaded once per epoch,
//!   and each batch gathered on the device with `index_select` from the resident data);
//! - AdamW, the warm-up + cosine schedule and global-norm clipping with the native math
//!   (written on tensors); class weights; the stable binary cross-entropy
//!   `relu(z) − z·y + log1p(exp(−|z|))`, softmax cross-entropy, squared error; the loss
//!   gradient with respect to the outputs is the native one (`σ(z) − y`, `softmax − onehot`,
//!   `2(z − y)`, weighted) and candle's autograd carries it back through the network;
//! - on a CUDA device the loss and its gradient, clipping and AdamW are kiln's fused kernels
//!   (`fused`, `kernels/train_step.cu`) with the native arithmetic, instead of candle's tensor
//!   ops (which the CPU device keeps); `KILN_CUDA_FUSED=0` turns them off;
//! - embeddings looked up per batch from device-resident codes (`index_select`), the tables'
//!   gradients scatter-added by candle's autograd;
//! - early stopping on the validation metric with the best weights restored, and the
//!   regression target standardized during training then folded into the head;
//! - checkpoints ([`fit_with`]) in the native trainer's format: weights, AdamW's moments, the
//!   generators, the row order and the history; a fit resumed on the same device repeats an
//!   uninterrupted one bit for bit, and a checkpoint of one trainer continues on the other.
//!
//! What differs:
//! - the order of floating-point sums (matrix products, norms, reductions), so weights agree
//!   with the native trainer's to rounding, not bit for bit (the tests bound the difference);
//!   the same device, seed and data give the same weights run after run;
//! - dropout masks are drawn from kiln's generator on the host in the native order (so they
//!   are the native masks) and uploaded per layer as bytes, a cost on a GPU;
//! - a non-finite loss is detected at the end of the epoch (one device sync per epoch), not
//!   at the step: the error names the epoch's last step;
//! - [`Precision::Bf16`] casts the forward matrix products' operands to bf16 (f32 master
//!   weights, optimizer, norms and loss), which only this trainer offers.
//!
//! The fitted weights are copied back into a [`crate::nn::NeuralModel`], so bundles, export
//! and prediction are those of the native path.

#[cfg(feature = "cuda")]
mod fused;
mod net;
mod predict;
mod train;

pub use predict::predict_on;
pub use train::{fit, fit_with};

#[cfg(doc)]
use crate::backend::Precision;
use crate::error::Error;

/// Map a candle error to [`Error::Candle`], naming what was being done.
fn candle_err(doing: &'static str) -> impl Fn(candle_core::Error) -> Error {
    move |source| Error::Candle { doing, source: Box::new(source) }
}

#[cfg(test)]
mod tests;

/// The device type of [`fit`], re-exported.
pub use candle_core::Device;

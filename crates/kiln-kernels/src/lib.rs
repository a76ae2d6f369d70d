//! kiln's own CUDA kernels and their CPU references.
//!
//! Three kernel files live in the workspace's `kernels/` folder, each with a CPU reference here that
//! the tests compare it with:
//!
//! - `sliced_eval.cu`: per-group confusion cells, weights, log-loss and Brier sums in one pass
//!   over the rows, and each group's ROC AUC from its rows in decreasing score order. Reference:
//!   [`reference::bootstrap::point_sums`] for the ranks; `kiln_eval::scan::scan`, which calls
//!   this kernel behind its `cuda` feature, checks the rest.
//! - `bootstrap.cu`: every Poisson(1) replicate's accuracy, log loss and ROC AUC of every group
//!   in one launch, the weights drawn on the device by Philox4x32-10 ([`reference::philox`]).
//!   Reference: [`reference::bootstrap::replicate_sums`].
//! - `train_step.cu`: the non-matrix half of a training step for the CUDA trainer (the loss
//!   and its gradient in one launch, the global gradient norm, clipping fused into AdamW),
//!   launched on the trainer's own stream by `cuda::train::TrainKernels`. References:
//!   [`reference::train_step`] and [`reference::adamw::step`].
//!
//! A leaf crate: raw buffers in, raw buffers out; kiln-eval and kiln-train call it behind their
//! `cuda` features. The host side of both evaluation kernels is [`reference::prep::Prepared`]:
//! the rows sorted once by score on the host (handed in by kiln-eval), then every slicing's groups as lists in decreasing score order,
//! cut into chunks at score changes. The CPU reference walks the same lists with the same
//! formulas, so the kernels mirror it step by step.
//!
//! The `cuda` module (feature `cuda`) loads the PTX that the build script compiled with nvcc
//! and launches the kernels through `cudarc`; without the feature this crate is just the CPU
//! reference API.

pub mod reference;

#[cfg(feature = "cuda")]
pub mod cuda;

/// Malformed inputs of the kernels and their references, and device failures.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Buffers that do not fit each other, or a size or setting the kernels do not support.
    #[error("{0}")]
    Setting(String),
    /// A CUDA driver call failed.
    #[error("CUDA: {0}\nhint: check the driver with nvidia-smi; a build for another GPU needs CUDA_COMPUTE_CAP")]
    Cuda(String),
}

//! kiln's own CUDA kernels and their CPU references.
//!
//! Three kernel files live in the workspace's `kernels/` folder, each with a CPU reference here that
//! the tests compare it with:
//!
//! - `sliced_eval.cu`: per-group confusion cells, weights, log-loss and Brier sums in one pass
//!   over the rows, and each group's ROC AUC from its rows in decreasing score order. Reference:
//!   [`kiln_eval::scan::scan`] itself.
//! - `bootstrap.cu`: every Poisson(1) replicate's accuracy, log loss and ROC AUC of every group
//!   in one launch, the weights drawn on the device by the same Philox4x32-10 as
//!   [`kiln_eval::scan::philox`]. Reference: [`reference::bootstrap::replicate_sums`].
//! - `train_step.cu`: the non-matrix half of a training step for the CUDA trainer (the loss
//!   and its gradient in one launch, the global gradient norm, clipping fused into AdamW),
//!   launched on the trainer's own stream by `cuda::train::TrainKernels`. References:
//!   [`reference::train_step`] and [`reference::adamw::step`].
//!
//! The host side of both evaluation kernels is [`reference::prep::Prepared`]: the rows sorted
//! once by score on the host, then every slicing's groups as lists in decreasing score order,
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
    /// The inputs are not valid fast-path inputs (lengths, labels, scores, weights, codes).
    #[error(transparent)]
    Scan(#[from] kiln_eval::scan::ScanError),
    /// A size or setting the kernels do not support.
    #[error("{0}")]
    Setting(String),
    /// A CUDA driver call failed.
    #[error("CUDA: {0}\nhint: check the driver with nvidia-smi; a build for another GPU needs CUDA_COMPUTE_CAP")]
    Cuda(String),
}

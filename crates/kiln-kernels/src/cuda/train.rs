//! The fused training-step kernels of `train_step.cu`, for a trainer that owns its CUDA context
//! and stream (candle's): [`TrainKernels::load`] loads them into that context and every launch
//! goes on the stream given, so they order with the trainer's own work without a sync.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, CudaView, CudaViewMut};
use cudarc::nvrtc::Ptx;

use super::{cuda_err, grid, launch};
use crate::Error;
use crate::reference::adamw::Scalars;
use crate::reference::train_step::LossKind;

const TRAIN_STEP_PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/train_step.ptx"));

/// Partial sums of squares per tensor (`sq_norm_partial`'s grid): a clipping buffer holds this
/// many `f64` per parameter tensor.
pub const NORM_BLOCKS: usize = 32;
/// Threads of `loss_grad`'s one block (`KILN_LOSS_THREADS`).
const LOSS_THREADS: u32 = 1024;
/// Threads per block of `sq_norm_partial` (`KILN_NORM_THREADS`).
const NORM_THREADS: u32 = 256;

/// The global-norm clipping of a step: the partial sums of squares of every tensor's gradients
/// (`count` entries of `partials`, written by [`TrainKernels::sq_norm_partial`]) and the limit.
#[derive(Debug, Clone, Copy)]
pub struct Clip<'a> {
    /// The partial sums.
    pub partials: &'a CudaSlice<f64>,
    /// How many of them belong to this step.
    pub count: usize,
    /// The largest global L2 norm; `None` leaves the gradients as they are.
    pub max_norm: Option<f64>,
}

/// The batch of a [`TrainKernels::loss_grad`] launch: row-major outputs `[rows, n_outputs]`,
/// one target (label, class index or value) and one weight per row.
#[derive(Debug, Clone, Copy)]
pub struct LossBatch<'a, 'b> {
    /// The model's outputs.
    pub outputs: &'a CudaView<'b, f32>,
    /// One target per row.
    pub targets: &'a CudaView<'b, f32>,
    /// One weight per row.
    pub weights: &'a CudaView<'b, f32>,
    /// Outputs per row.
    pub n_outputs: usize,
    /// Which loss.
    pub kind: LossKind,
}

/// `loss_grad`, `sq_norm_partial` and `clip_adamw`, loaded into one CUDA context.
#[derive(Debug)]
pub struct TrainKernels {
    loss_grad: CudaFunction,
    sq_norm_partial: CudaFunction,
    clip_adamw: CudaFunction,
}

impl TrainKernels {
    /// Loads the kernels into `ctx` (the driver JIT-compiles the PTX on first use).
    pub fn load(ctx: &Arc<CudaContext>) -> Result<Self, Error> {
        let module = ctx.load_module(Ptx::from_src(TRAIN_STEP_PTX)).map_err(cuda_err("load train_step"))?;
        let f = |name: &str| module.load_function(name).map_err(cuda_err(name));
        Ok(Self { loss_grad: f("loss_grad")?, sq_norm_partial: f("sq_norm_partial")?, clip_adamw: f("clip_adamw")? })
    }

    /// The batch's gradient with respect to the outputs into `grad` (`rows × n_outputs`
    /// entries), and its weighted mean loss added to `loss_acc[0]`: exactly
    /// [`crate::reference::train_step::loss_grad`]'s formulas, in double.
    pub fn loss_grad(
        &self,
        stream: &CudaStream,
        batch: &LossBatch<'_, '_>,
        grad: &mut CudaSlice<f32>,
        loss_acc: &mut CudaSlice<f64>,
    ) -> Result<(), Error> {
        let rows = batch.targets.len();
        let n_outputs = batch.n_outputs;
        if batch.weights.len() != rows || batch.outputs.len() != rows * n_outputs || n_outputs == 0 {
            return Err(Error::Setting(format!(
                "loss_grad: {} outputs, {} targets and {} weights do not make rows of {n_outputs} outputs",
                batch.outputs.len(),
                rows,
                batch.weights.len()
            )));
        }
        if (batch.kind != LossKind::Multiclass && n_outputs != 1) || grad.len() < rows * n_outputs {
            return Err(Error::Setting(format!(
                "loss_grad: {n_outputs} outputs per row for {:?}, or a gradient buffer of {} entries for {rows} rows",
                batch.kind,
                grad.len()
            )));
        }
        if loss_acc.is_empty() || u32::try_from(rows * n_outputs).is_err() {
            return Err(Error::Setting(format!("loss_grad: {rows} rows is too many for one launch")));
        }
        let args = launch::LossArgs {
            outputs: batch.outputs,
            targets: batch.targets,
            weights: batch.weights,
            rows: rows as u32,
            n_outputs: n_outputs as u32,
            task: batch.kind.code(),
        };
        launch::loss_grad(stream, &self.loss_grad, grid(1, 1, LOSS_THREADS), &args, grad, loss_acc)
    }

    /// `partials[0..NORM_BLOCKS]` = partial sums of the squares of `grads` (one tensor).
    pub fn sq_norm_partial(
        &self,
        stream: &CudaStream,
        grads: &CudaView<'_, f32>,
        partials: &mut CudaViewMut<'_, f64>,
    ) -> Result<(), Error> {
        if partials.len() < NORM_BLOCKS {
            return Err(Error::Setting(format!("sq_norm_partial: {} slots for {NORM_BLOCKS} sums", partials.len())));
        }
        let n = grads.len() as u64;
        launch::sq_norm_partial(
            stream,
            &self.sq_norm_partial,
            grid(NORM_BLOCKS as u32, 1, NORM_THREADS),
            grads,
            n,
            partials,
        )
    }

    /// One AdamW step of one tensor: `params`, its gradients and both moments (equal lengths),
    /// weight decay when `decay`, the gradients first clipped by `clip`. Bit-identical to
    /// [`crate::reference::train_step::clip_factor`] then [`crate::reference::adamw::step`] up
    /// to the order in which the squared norm is summed.
    #[allow(clippy::too_many_arguments)]
    pub fn clip_adamw(
        &self,
        stream: &CudaStream,
        params: &mut CudaViewMut<'_, f32>,
        grads: &CudaView<'_, f32>,
        m: &mut CudaSlice<f32>,
        v: &mut CudaSlice<f32>,
        decay: bool,
        s: &Scalars,
        clip: &Clip<'_>,
    ) -> Result<(), Error> {
        let n = params.len();
        if grads.len() != n || m.len() < n || v.len() < n || clip.count > clip.partials.len() {
            return Err(Error::Setting(format!(
                "clip_adamw: {n} parameters, {} gradients, moments of {} and {}, {} of {} partial sums",
                grads.len(),
                m.len(),
                v.len(),
                clip.count,
                clip.partials.len()
            )));
        }
        if n == 0 {
            return Ok(());
        }
        let blocks = (n.div_ceil(256) as u32).clamp(1, 4096);
        let args = launch::ClipAdamWArgs {
            n: n as u64,
            decay: i32::from(decay),
            partials: clip.partials,
            n_partials: clip.count as u32,
            max_norm: clip.max_norm.filter(|l| *l > 0.0).unwrap_or(0.0),
        };
        launch::clip_adamw(stream, &self.clip_adamw, grid(blocks, 1, 256), (params, grads, m, v), s, &args)
    }
}

//! The CUDA trainer's step without candle's small elementwise launches: the loss and its
//! gradient, global-norm clipping and AdamW run as kiln-kernels' fused `train_step.cu` kernels
//! on candle's own stream, reading and writing candle's tensors in place.
//!
//! Per step of a 3-layer MLP, candle's tensor ops issue about 20 launches for the loss, about
//! 30 for clipping and about 13 per parameter tensor for AdamW (each with its allocation);
//! these kernels replace them with 1 (loss), 1 per tensor (norm, when clipping) and 1 per
//! tensor (clip + AdamW). The matrix products, activations and their backward pass stay with
//! candle's autograd. The loss of the epoch is summed on the device and read once per epoch.
//!
//! The arithmetic is the native trainer's (`nn::loss`, `nn::optim`): per-row loss math in
//! double, the AdamW update with round-to-nearest f32 operations in the native order, so the
//! CUDA trainer's weights follow the native trainer's closely (the tests bound the difference).
//!
//! `KILN_CUDA_FUSED=0` turns this off (candle's tensor ops then do the same work), to compare
//! the two paths.

use std::sync::{Arc, Mutex};

use candle_core::op::BackpropOp;
use candle_core::{CudaDevice, CudaStorage, Device, InplaceOp2, Layout, Storage, Tensor};
use kiln_core::schema::Task;
use kiln_kernels::cuda::train::{Clip, LossBatch, NORM_BLOCKS, TrainKernels};
use kiln_kernels::cuda::{CudaSlice, CudaStream, CudaView};
use kiln_kernels::reference::adamw::{Hyper, Scalars};
use kiln_kernels::reference::train_step::LossKind;

use super::net::Params;

fn wrap(e: impl std::fmt::Display + Send + Sync + 'static) -> candle_core::Error {
    candle_core::Error::wrap(e)
}

/// The fused kernels and the state they keep: AdamW's moments, the clipping partial sums and
/// the epoch's loss accumulator, all on the device.
pub(super) struct Fused {
    kernels: TrainKernels,
    device: CudaDevice,
    stream: Arc<CudaStream>,
    moments: Vec<Moments>,
    partials: CudaSlice<f64>,
    loss_acc: CudaSlice<f64>,
    kind: LossKind,
    n_outputs: usize,
}

/// One tensor's first and second moments.
struct Moments {
    m: CudaSlice<f32>,
    v: CudaSlice<f32>,
}

impl Fused {
    /// The fused step for `params` on `device`; `None` on a CPU device or when
    /// `KILN_CUDA_FUSED=0`.
    pub(super) fn new(
        device: &Device,
        params: &Params,
        task: Task,
        n_outputs: usize,
    ) -> candle_core::Result<Option<Self>> {
        let Device::Cuda(cuda) = device else { return Ok(None) };
        if std::env::var("KILN_CUDA_FUSED").is_ok_and(|v| v.trim() == "0") {
            return Ok(None);
        }
        let stream = cuda.cuda_stream();
        let kernels = TrainKernels::load(stream.context()).map_err(wrap)?;
        let mut moments = Vec::with_capacity(params.vars.len());
        for var in &params.vars {
            let n = var.elem_count().max(1);
            moments.push(Moments { m: stream.alloc_zeros(n).map_err(wrap)?, v: stream.alloc_zeros(n).map_err(wrap)? });
        }
        let partials = stream.alloc_zeros(NORM_BLOCKS * params.vars.len().max(1)).map_err(wrap)?;
        let loss_acc = stream.alloc_zeros(1).map_err(wrap)?;
        let kind = match task {
            Task::Binary => LossKind::Binary,
            Task::Multiclass => LossKind::Multiclass,
            Task::Regression => LossKind::Regression,
        };
        Ok(Some(Self { kernels, device: cuda.clone(), stream, moments, partials, loss_acc, kind, n_outputs }))
    }

    /// The gradient of the batch's mean loss with respect to `outputs` `[rows, n_outputs]`
    /// (targets `t`, weights `w`, one per row); the loss itself is added to the epoch's sum.
    pub(super) fn loss_grad(&mut self, outputs: &Tensor, t: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
        let (outputs, t, w) = (outputs.contiguous()?, t.contiguous()?, w.contiguous()?);
        let rows = t.elem_count();
        let (so, lo) = outputs.storage_and_layout();
        let (st, lt) = t.storage_and_layout();
        let (sw, lw) = w.storage_and_layout();
        let batch = LossBatch {
            outputs: &view(&so, lo)?,
            targets: &view(&st, lt)?,
            weights: &view(&sw, lw)?,
            n_outputs: self.n_outputs,
            kind: self.kind,
        };
        if rows == 0 {
            return Err(candle_core::Error::msg("the fused CUDA step got an empty batch"));
        }
        let mut grad = self.stream.alloc_zeros::<f32>(rows * self.n_outputs).map_err(wrap)?;
        self.kernels.loss_grad(&self.stream, &batch, &mut grad, &mut self.loss_acc).map_err(wrap)?;
        let storage = Storage::Cuda(CudaStorage::wrap_cuda_slice(grad, self.device.clone()));
        Ok(Tensor::from_storage(storage, (rows, self.n_outputs), BackpropOp::none(), false))
    }

    /// AdamW's moments on the host (for a checkpoint), one pair of vectors per tensor of
    /// `params`.
    pub(super) fn download_moments(&self, params: &Params) -> candle_core::Result<super::train::HostMoments> {
        let (mut first, mut second) = (Vec::new(), Vec::new());
        for (Moments { m, v }, var) in self.moments.iter().zip(&params.vars) {
            let n = var.elem_count();
            let (mut m, mut v) = (self.stream.clone_dtoh(m).map_err(wrap)?, self.stream.clone_dtoh(v).map_err(wrap)?);
            m.truncate(n);
            v.truncate(n);
            first.push(m);
            second.push(v);
        }
        Ok((first, second))
    }

    /// Replace AdamW's moments with `first` and `second` (one vector per tensor, of its size;
    /// the caller checked).
    pub(super) fn upload_moments(&mut self, first: &[Vec<f32>], second: &[Vec<f32>]) -> candle_core::Result<()> {
        for (Moments { m, v }, (f, s)) in self.moments.iter_mut().zip(first.iter().zip(second)) {
            if !f.is_empty() {
                self.stream.memcpy_htod(f.as_slice(), m).map_err(wrap)?;
                self.stream.memcpy_htod(s.as_slice(), v).map_err(wrap)?;
            }
        }
        Ok(())
    }

    /// The epoch's summed batch losses (a device sync), and a fresh sum for the next epoch.
    pub(super) fn take_loss(&mut self) -> candle_core::Result<f64> {
        let host = self.stream.clone_dtoh(&self.loss_acc).map_err(wrap)?;
        self.stream.memset_zeros(&mut self.loss_acc).map_err(wrap)?;
        Ok(host.first().copied().unwrap_or(0.0))
    }

    /// Clip `grads` (one per parameter tensor, in [`Params`] order) to `clip_norm` and take AdamW
    /// step `t` (1-based) at learning rate `lr`, in place.
    pub(super) fn step(
        &mut self,
        params: &Params,
        grads: &[Tensor],
        (lr, weight_decay, t): (f64, f64, u64),
        clip_norm: Option<f64>,
    ) -> candle_core::Result<()> {
        let grads: Vec<Tensor> = grads.iter().map(Tensor::contiguous).collect::<candle_core::Result<_>>()?;
        let Self { kernels, stream, moments, partials, .. } = self;
        if clip_norm.is_some() {
            for (i, g) in grads.iter().enumerate() {
                let (sg, lg) = g.storage_and_layout();
                let mut slots = partials.slice_mut(i * NORM_BLOCKS..(i + 1) * NORM_BLOCKS);
                kernels.sq_norm_partial(stream, &view(&sg, lg)?, &mut slots).map_err(wrap)?;
            }
        }
        let scalars = Scalars::new(&Hyper::new(lr, weight_decay), t);
        let clip = Clip { partials, count: NORM_BLOCKS * grads.len(), max_norm: clip_norm };
        for ((var, grad), (moments, &decay)) in
            params.vars.iter().zip(&grads).zip(moments.iter_mut().zip(&params.decay))
        {
            let op = AdamWOp { kernels, stream, moments: Mutex::new(moments), decay, scalars, clip };
            var.as_tensor().inplace_op2(grad, &op)?;
        }
        Ok(())
    }
}

/// One tensor's clip + AdamW step as candle's in-place op on the parameter (the gradient is the
/// op's source), so candle hands over the parameter's storage for writing.
struct AdamWOp<'a> {
    kernels: &'a TrainKernels,
    stream: &'a CudaStream,
    moments: Mutex<&'a mut Moments>,
    decay: bool,
    scalars: Scalars,
    clip: Clip<'a>,
}

impl InplaceOp2 for AdamWOp<'_> {
    fn name(&self) -> &'static str {
        "kiln-clip-adamw"
    }

    fn cpu_fwd(
        &self,
        _: &mut candle_core::CpuStorage,
        _: &Layout,
        _: &candle_core::CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<()> {
        Err(candle_core::Error::msg("kiln-clip-adamw runs on CUDA devices only"))
    }

    fn cuda_fwd(
        &self,
        param: &mut CudaStorage,
        lp: &Layout,
        grad: &CudaStorage,
        lg: &Layout,
    ) -> candle_core::Result<()> {
        let (start, end) = offsets(lp)?;
        let mut params = param.as_cuda_slice_mut::<f32>()?.slice_mut(start..end);
        let grads = cuda_view(grad, lg)?;
        let mut moments = self.moments.lock().map_err(|_| candle_core::Error::msg("AdamW moments poisoned"))?;
        let Moments { m, v } = &mut **moments;
        self.kernels
            .clip_adamw(self.stream, &mut params, &grads, m, v, self.decay, &self.scalars, &self.clip)
            .map_err(wrap)
    }
}

/// The contiguous `f32` view of a CUDA tensor's storage.
fn view<'a>(storage: &'a Storage, layout: &Layout) -> candle_core::Result<CudaView<'a, f32>> {
    match storage {
        Storage::Cuda(s) => cuda_view(s, layout),
        _ => Err(candle_core::Error::msg("the fused CUDA step got a tensor that is not on the GPU")),
    }
}

fn cuda_view<'a>(storage: &'a CudaStorage, layout: &Layout) -> candle_core::Result<CudaView<'a, f32>> {
    let (start, end) = offsets(layout)?;
    Ok(storage.as_cuda_slice::<f32>()?.slice(start..end))
}

fn offsets(layout: &Layout) -> candle_core::Result<(usize, usize)> {
    layout.contiguous_offsets().ok_or_else(|| candle_core::Error::msg("the fused CUDA step needs contiguous tensors"))
}

//! The candle trainer's steps: device-resident data, batches gathered by index, the native
//! loss gradients, clipping and AdamW on tensors, validation on the device. The epochs (early
//! stopping, checkpoints in the native trainer's format, the observer) are the shared driver's
//! (`crate::nn::driver`).

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use kiln_core::preprocess::Encoded;
use kiln_core::rng::Rng;
use kiln_core::schema::Task;

use super::candle_err;
use super::net::{Dropout, Net, Params, upload_codes};
use crate::backend::Precision;
use crate::error::{Error, Result};
use crate::nn::driver::{EpochTrainer, FitInput, Schedule, TrainerState, drive};
use crate::nn::model::{NeuralArch, NeuralModel};
use crate::nn::optim::learning_rate;
use crate::nn::train::{FitSetup, STREAM_DROPOUT, STREAM_SHUFFLE, prepare_fit};
use crate::nn::{EpochStats, TrainObserver, TrainReport};

/// Rows per forward pass when scoring the validation rows.
const EVAL_BATCH: usize = 8192;

/// Train a model of `input.arch` with candle on `device` at `precision`; otherwise as
/// [`crate::nn::fit`] (same input, checks, seed streams and report).
pub fn fit(
    device: &Device,
    precision: Precision,
    input: &FitInput<'_>,
    mut progress: impl FnMut(&EpochStats),
) -> Result<(NeuralModel, TrainReport)> {
    fit_with(device, precision, input, &mut progress)
}

/// [`fit`] with checkpoints and an observer, as [`crate::nn::fit_with`]: the same checkpoint
/// file and rules (fingerprint, every `every` epochs and at the end, resume when the file
/// exists). A fit resumed on the same device repeats an uninterrupted one bit for bit (except
/// under a wall-time budget); the state is the native trainer's, so a fit checkpointed by one
/// trainer continues on the other (to rounding).
pub fn fit_with(
    device: &Device,
    precision: Precision,
    input: &FitInput<'_>,
    observer: &mut dyn TrainObserver,
) -> Result<(NeuralModel, TrainReport)> {
    input.check_checkpoint()?;
    let setup = prepare_fit(input)?;
    let mut trainer = Candle::new(device, precision, input, &setup)?;
    drive(input, &setup, &mut trainer, observer)
}

/// The candle trainer's state: the network, the parameters and AdamW on the device, the
/// resident data, the generators and the row order.
struct Candle<'a> {
    device: &'a Device,
    input: &'a FitInput<'a>,
    schedule: Schedule,
    net: Net,
    state: State,
    data: DeviceData,
    loss: Loss,
    /// A model of the fit's architecture, into which the device's weights are copied.
    template: NeuralModel,
    order: Vec<u32>,
    shuffle_rng: Rng,
    dropout: Option<Dropout>,
    /// The dropout generator's state when there is no dropout (it is then never drawn from).
    unused_dropout_state: [u64; 4],
    /// Where each step's gradients meet before the update.
    sync: GradientSync,
}

/// Where the gradients of one step meet between back-propagation and the optimizer update.
///
/// On one device they are the update's input as they are. Data-parallel training over several
/// GPUs adds a variant here that sums them across ranks in place (an NCCL all-reduce through
/// cudarc, as a candle custom op) before clipping and AdamW, so that every rank applies the
/// same update: `docs/dev/decisions/004-data-parallel-training.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GradientSync {
    /// One device: nothing to exchange.
    Single,
}

impl GradientSync {
    /// Combine this rank's gradients with the other ranks' (in place).
    fn reduce(self, grads: &mut [Tensor]) -> candle_core::Result<()> {
        match self {
            Self::Single => {
                let _ = grads;
                Ok(())
            }
        }
    }
}

impl<'a> Candle<'a> {
    fn new(device: &'a Device, precision: Precision, input: &'a FitInput<'a>, setup: &FitSetup) -> Result<Self> {
        let (task, params, train) = (input.task, input.params, input.train);
        let n_outputs = setup.model.n_outputs;
        let net = Net::new(&input.arch, precision)?;
        let state = State::new(&setup.model, device, params.weight_decay, (task, n_outputs))?;
        let data = DeviceData::upload((train, input.valid), &input.arch, (&setup.targets, &setup.row_weights), device)?;
        let dropout_rng = Rng::derive(input.seed, STREAM_DROPOUT);
        Ok(Self {
            device,
            input,
            schedule: Schedule::new(params, train.n_rows),
            net,
            state,
            data,
            loss: Loss::new(task, n_outputs, device)?,
            template: setup.model.clone(),
            order: (0..train.n_rows).map(|i| i as u32).collect(),
            shuffle_rng: Rng::derive(input.seed, STREAM_SHUFFLE),
            unused_dropout_state: dropout_rng.state(),
            dropout: (params.dropout > 0.0).then(|| Dropout::new(params.dropout as f32, dropout_rng)),
            sync: GradientSync::Single,
        })
    }
}

impl EpochTrainer for Candle<'_> {
    fn train_epoch(&mut self, epoch: usize, step: &mut usize) -> Result<f64> {
        let Self { device, input, schedule, net, state, data, loss, order, shuffle_rng, dropout, sync, .. } = self;
        let (params, n_rows) = (input.params, input.train.n_rows);
        let err = candle_err("training a batch");
        shuffle_rng.shuffle(order);
        let order_t = Tensor::from_slice(order, order.len(), device).map_err(&err)?;
        let mut loss_sum = Tensor::zeros((), DType::F32, device).map_err(&err)?;
        for start in (0..n_rows).step_by(schedule.batch) {
            let rows = schedule.batch.min(n_rows - start);
            let index = order_t.narrow(0, start, rows).map_err(&err)?;
            let (x, codes, t, w) = data.gather(&index).map_err(&err)?;
            let tracked = state.params.tracked();
            let outputs =
                net.forward(&tracked, state.params.n_dense(), (&x, codes.as_ref()), dropout.as_mut()).map_err(&err)?;
            let grad_outputs = match state.fused_mut() {
                #[cfg(feature = "cuda")]
                Some(fused) => fused.loss_grad(&outputs.detach(), &t, &w).map_err(&err)?,
                _ => {
                    let (batch_loss, grad_outputs) = loss.loss_and_gradient(&outputs.detach(), &t, &w).map_err(&err)?;
                    loss_sum = (loss_sum + batch_loss).map_err(&err)?;
                    grad_outputs
                }
            };
            let lr = learning_rate(params.lr, *step, schedule.warmup_steps, schedule.total_steps);
            let mut grads = state.gradients(&outputs, &grad_outputs).map_err(&err)?;
            sync.reduce(&mut grads).map_err(&err)?;
            state.apply(grads, params.clip_norm, lr).map_err(&err)?;
            *step += 1;
        }
        let loss_sum = match state.fused_mut() {
            #[cfg(feature = "cuda")]
            Some(fused) => fused.take_loss().map_err(&err)?,
            _ => f64::from(loss_sum.to_scalar::<f32>().map_err(&err)?),
        };
        if !loss_sum.is_finite() {
            return Err(Error::NonFiniteLoss { epoch, step: step.saturating_sub(1) });
        }
        Ok(loss_sum)
    }

    fn valid_outputs(&mut self) -> Result<Vec<f32>> {
        self.data.valid_outputs(&self.net, &self.state.params).map_err(candle_err("scoring the validation rows"))
    }

    fn copy_weights(&self, model: &mut NeuralModel) -> Result<()> {
        self.state.params.download_into(model)
    }

    fn snapshot(&self) -> Result<TrainerState> {
        let mut model = self.template.clone();
        self.state.params.download_into(&mut model)?;
        let (adam_first, adam_second) = self.state.moments().map_err(candle_err("saving the optimizer state"))?;
        Ok(TrainerState {
            model,
            adam_step: self.state.t as u64,
            adam_first,
            adam_second,
            shuffle_rng: self.shuffle_rng.state(),
            dropout_rng: self.dropout.as_ref().map_or(self.unused_dropout_state, Dropout::rng_state),
            order: self.order.iter().map(|&r| r as usize).collect(),
        })
    }

    /// The device state is rebuilt from the checkpoint's weights, as a fresh fit builds it
    /// from the initial ones.
    fn restore(&mut self, saved: TrainerState, _path: &Path) -> Result<()> {
        let (task, params) = (self.input.task, self.input.params);
        let n_outputs = saved.model.n_outputs;
        self.state = State::new(&saved.model, self.device, params.weight_decay, (task, n_outputs))?;
        self.state
            .restore(saved.adam_step, &saved.adam_first, &saved.adam_second)
            .map_err(candle_err("restoring the optimizer state"))?;
        self.order = saved.order.iter().map(|&r| r as u32).collect();
        self.template = saved.model;
        self.shuffle_rng = Rng::from_state(saved.shuffle_rng);
        let dropout_rng = Rng::from_state(saved.dropout_rng);
        self.unused_dropout_state = dropout_rng.state();
        self.dropout = (params.dropout > 0.0).then(|| Dropout::new(params.dropout as f32, dropout_rng));
        Ok(())
    }
}

/// The training and validation data, resident on the device: dense features, category codes
/// by feature (`[n_codes, n_rows]`, for embeddings), targets and row weights.
struct DeviceData {
    x: Tensor,
    codes: Option<Tensor>,
    targets: Tensor,
    weights: Tensor,
    valid: Tensor,
    valid_codes: Option<Tensor>,
}

impl DeviceData {
    fn upload(
        (train, valid): (&Encoded, &Encoded),
        arch: &NeuralArch,
        (targets, weights): (&[f32], &[f32]),
        device: &Device,
    ) -> Result<Self> {
        let err = candle_err("uploading the data to the device");
        Ok(Self {
            x: Tensor::from_slice(&train.dense, (train.n_rows, train.n_dense), device).map_err(&err)?,
            codes: upload_codes(train, arch, device).map_err(&err)?,
            targets: Tensor::from_slice(targets, targets.len(), device).map_err(&err)?,
            weights: Tensor::from_slice(weights, weights.len(), device).map_err(&err)?,
            valid: Tensor::from_slice(&valid.dense, (valid.n_rows, valid.n_dense), device).map_err(&err)?,
            valid_codes: upload_codes(valid, arch, device).map_err(&err)?,
        })
    }

    /// The batch's inputs, codes, targets and row weights.
    #[allow(clippy::type_complexity)]
    fn gather(&self, index: &Tensor) -> candle_core::Result<(Tensor, Option<Tensor>, Tensor, Tensor)> {
        Ok((
            self.x.index_select(index, 0)?,
            self.codes.as_ref().map(|c| c.index_select(index, 1)).transpose()?,
            self.targets.index_select(index, 0)?,
            self.weights.index_select(index, 0)?,
        ))
    }

    /// The model's raw outputs on the validation rows, row-major, on the host.
    fn valid_outputs(&self, net: &Net, params: &Params) -> candle_core::Result<Vec<f32>> {
        let values = params.detached();
        let n_rows = self.valid.dim(0)?;
        let mut chunks = Vec::new();
        for start in (0..n_rows).step_by(EVAL_BATCH) {
            let len = EVAL_BATCH.min(n_rows - start);
            let x = self.valid.narrow(0, start, len)?;
            let codes = self.valid_codes.as_ref().map(|c| c.narrow(1, start, len)).transpose()?;
            chunks.push(net.forward(&values, params.n_dense(), (&x, codes.as_ref()), None)?);
        }
        Tensor::cat(&chunks, 0)?.flatten_all()?.to_vec1()
    }
}

/// The training loss and its gradient with respect to the outputs, as the native trainer
/// computes them: `Σ wᵢ lᵢ / Σ wᵢ`.
struct Loss {
    task: Task,
    /// `[1, n_outputs]`: 0, 1, … (multiclass one-hot targets).
    classes: Option<Tensor>,
    /// The smallest positive f32, on the device (no upload per step).
    tiny: Tensor,
}

impl Loss {
    fn new(task: Task, n_outputs: usize, device: &Device) -> Result<Self> {
        let classes = if task == Task::Multiclass {
            let classes = Tensor::arange(0u32, n_outputs as u32, device)
                .and_then(|c| c.to_dtype(DType::F32))
                .and_then(|c| c.unsqueeze(0))
                .map_err(candle_err("preparing the loss"))?;
            Some(classes)
        } else {
            None
        };
        let tiny = Tensor::new(f32::MIN_POSITIVE, device).map_err(candle_err("preparing the loss"))?;
        Ok(Self { task, classes, tiny })
    }

    /// The batch's mean loss (a scalar tensor) and the gradient `[rows, n_outputs]`.
    fn loss_and_gradient(&self, z: &Tensor, t: &Tensor, w: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        // 1 / Σ w (0 when every weight is 0: the gradient is then 0, as in the native loss).
        let inv_total = w.sum_all()?.maximum(&self.tiny)?.recip()?;
        let scale = w.broadcast_mul(&inv_total)?.unsqueeze(1)?;
        let t = t.unsqueeze(1)?;
        let (losses, grad) = match (self.task, &self.classes) {
            (Task::Multiclass, Some(classes)) => {
                let onehot = t.broadcast_eq(classes)?.to_dtype(DType::F32)?;
                let max = z.max_keepdim(1)?;
                let shifted = z.broadcast_sub(&max)?;
                let log_sum = shifted.exp()?.sum_keepdim(1)?.log()?;
                let picked = (&shifted * &onehot)?.sum_keepdim(1)?;
                let probs = candle_nn::ops::softmax_last_dim(z)?;
                (log_sum.sub(&picked)?, (probs - onehot)?)
            }
            (Task::Regression, _) => {
                let d = z.broadcast_sub(&t)?;
                (d.sqr()?, d.affine(2.0, 0.0)?)
            }
            _ => {
                // relu(z) − z·y + log1p(exp(−|z|)), its gradient σ(z) − y.
                let losses = ((z.relu()? - z.broadcast_mul(&t)?)? + z.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?)?;
                (losses, candle_nn::ops::sigmoid(z)?.broadcast_sub(&t)?)
            }
        };
        let loss = losses.broadcast_mul(&scale)?.sum_all()?;
        Ok((loss, grad.broadcast_mul(&scale)?))
    }
}

/// AdamW's first and second moments on the host, one vector per parameter tensor.
pub(super) type HostMoments = (Vec<Vec<f32>>, Vec<Vec<f32>>);

/// The parameters and AdamW's moments, all on the device; on a GPU, the fused kernels that
/// step them (which then keep the moments).
struct State {
    params: Params,
    first: Vec<Tensor>,
    second: Vec<Tensor>,
    weight_decay: f64,
    /// Steps taken so far (for bias correction).
    t: i32,
    #[cfg(feature = "cuda")]
    fused: Option<super::fused::Fused>,
}

/// What [`State::fused_mut`] returns in a build without CUDA: never a value.
#[cfg(not(feature = "cuda"))]
enum NoFused {}

impl State {
    fn new(model: &NeuralModel, device: &Device, weight_decay: f64, (task, n_outputs): (Task, usize)) -> Result<Self> {
        let params = Params::upload(model, device)?;
        #[cfg(feature = "cuda")]
        let fused = super::fused::Fused::new(device, &params, task, n_outputs)
            .map_err(candle_err("loading the fused kernels"))?;
        #[cfg(feature = "cuda")]
        let fused_keeps_moments = fused.is_some();
        #[cfg(not(feature = "cuda"))]
        let fused_keeps_moments = {
            let _ = (task, n_outputs);
            false
        };
        let zeros = |v: &candle_core::Var| v.as_tensor().zeros_like();
        let (first, second) = if fused_keeps_moments {
            (Vec::new(), Vec::new())
        } else {
            let first: Vec<Tensor> = params
                .vars
                .iter()
                .map(zeros)
                .collect::<candle_core::Result<_>>()
                .map_err(candle_err("starting AdamW"))?;
            (first.clone(), first)
        };
        Ok(Self {
            params,
            first,
            second,
            weight_decay,
            t: 0,
            #[cfg(feature = "cuda")]
            fused,
        })
    }

    /// AdamW's moments on the host, one pair of vectors per parameter tensor.
    fn moments(&self) -> candle_core::Result<HostMoments> {
        #[cfg(feature = "cuda")]
        if let Some(fused) = &self.fused {
            return fused.download_moments(&self.params);
        }
        let host = |m: &[Tensor]| m.iter().map(|t| t.flatten_all()?.to_vec1()).collect::<candle_core::Result<Vec<_>>>();
        Ok((host(&self.first)?, host(&self.second)?))
    }

    /// Continue from a checkpoint's AdamW state (one moment per parameter tensor, of its size:
    /// the sizes were checked by `resume_state`).
    fn restore(&mut self, adam_step: u64, first: &[Vec<f32>], second: &[Vec<f32>]) -> candle_core::Result<()> {
        let n = self.params.vars.len();
        if first.len() != n || second.len() != n {
            return Err(candle_core::Error::msg(format!(
                "the checkpoint's optimizer state has {} tensors, the model {n}",
                first.len()
            )));
        }
        self.t = adam_step as i32;
        #[cfg(feature = "cuda")]
        if let Some(fused) = self.fused.as_mut() {
            return fused.upload_moments(first, second);
        }
        let upload = |values: &[Vec<f32>]| {
            values
                .iter()
                .zip(&self.params.vars)
                .map(|(v, var)| Tensor::from_slice(v, var.shape(), var.device()))
                .collect::<candle_core::Result<Vec<_>>>()
        };
        (self.first, self.second) = (upload(first)?, upload(second)?);
        Ok(())
    }

    /// The fused kernels, on a GPU.
    #[cfg(feature = "cuda")]
    fn fused_mut(&mut self) -> Option<&mut super::fused::Fused> {
        self.fused.as_mut()
    }

    #[cfg(not(feature = "cuda"))]
    fn fused_mut(&mut self) -> Option<NoFused> {
        None
    }

    /// The gradient of every parameter for one batch: `grad_outputs` back-propagated from
    /// `outputs`, in [`Params::vars`]' order (zeros for a parameter the batch did not reach).
    fn gradients(&self, outputs: &Tensor, grad_outputs: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        // Σ outputs · g has the gradient g with respect to the outputs.
        let grads = (outputs * grad_outputs)?.sum_all()?.backward()?;
        let mut g: Vec<Tensor> = Vec::with_capacity(self.params.vars.len());
        for var in &self.params.vars {
            g.push(match grads.get(var.as_tensor()) {
                // Detached: a gradient must not keep the step's graph alive in AdamW's moments.
                Some(grad) => grad.detach(),
                None => var.as_tensor().zeros_like()?,
            });
        }
        Ok(g)
    }

    /// Clip the gradients `g` to `clip_norm` (global L2 norm) and take one AdamW step at
    /// learning rate `lr`, as `nn::optim::AdamW` does.
    fn apply(&mut self, mut g: Vec<Tensor>, clip_norm: Option<f64>, lr: f64) -> candle_core::Result<()> {
        self.t += 1;
        #[cfg(feature = "cuda")]
        if let Some(fused) = self.fused.as_mut() {
            return fused.step(&self.params, &g, (lr, self.weight_decay, self.t as u64), clip_norm);
        }
        if let Some(max_norm) = clip_norm {
            let mut sum = Tensor::zeros((), DType::F32, self.params.vars[0].device())?;
            for grad in &g {
                sum = (sum + grad.sqr()?.sum_all()?)?;
            }
            // max_norm / max(norm, max_norm): 1 at or below the limit.
            let limit = sum.ones_like()?.affine(max_norm, 0.0)?;
            let factor = sum.sqrt()?.maximum(&limit)?.recip()?.affine(max_norm, 0.0)?;
            for grad in &mut g {
                *grad = grad.broadcast_mul(&factor)?;
            }
        }
        let (beta1, beta2, eps) = (0.9f64, 0.999f64, 1e-8f64);
        let correction1 = 1.0 - beta1.powi(self.t);
        let correction2 = 1.0 - beta2.powi(self.t);
        let step_size = lr / correction1;
        let inv_sqrt_correction2 = 1.0 / correction2.sqrt();
        // The native update's f32 constants.
        let (b1, b2) = (beta1 as f32, beta2 as f32);
        let (one_minus_b1, one_minus_b2) = (f64::from(1.0 - b1), f64::from(1.0 - b2));
        for (i, grad) in g.iter().enumerate() {
            let m = (self.first[i].affine(f64::from(b1), 0.0)? + grad.affine(one_minus_b1, 0.0)?)?;
            let v = (self.second[i].affine(f64::from(b2), 0.0)? + (grad.affine(one_minus_b2, 0.0)? * grad)?)?;
            let denom = v.sqrt()?.affine(inv_sqrt_correction2, eps)?;
            let shrink = if self.params.decay[i] { f64::from((1.0 - lr * self.weight_decay) as f32) } else { 1.0 };
            let param = self.params.vars[i].as_tensor().detach();
            let updated = (param.affine(shrink, 0.0)? - (m.affine(step_size, 0.0)? / denom)?)?;
            self.params.vars[i].set(&updated)?;
            self.first[i] = m;
            self.second[i] = v;
        }
        Ok(())
    }
}

//! The candle training loop: device-resident data, batches gathered by index, the native loss
//! gradients, clipping and AdamW on tensors, validation on the device, early stopping, and
//! checkpoints in the native trainer's format.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use kiln_core::preprocess::Encoded;
use kiln_core::rng::Rng;
use kiln_core::schema::Task;

use super::candle_err;
use super::net::{Dropout, Net, Params, upload_codes};
use crate::backend::Precision;
use crate::error::{Error, Result};
use crate::nn::model::{NeuralArch, NeuralModel};
use crate::nn::optim::learning_rate;
use crate::nn::train::{
    FitSetup, STREAM_DROPOUT, STREAM_SHUFFLE, end_epoch, fingerprint, fold_target_scale, metric_of_outputs,
    prepare_fit, resume_state,
};
use crate::nn::{CheckpointSpec, EpochStats, TrainObserver, TrainParams, TrainReport, TrainState};
use crate::target::Target;

/// Rows per forward pass when scoring the validation rows.
const EVAL_BATCH: usize = 8192;

/// Train a model of `arch` with candle on `device` at `precision`; otherwise as
/// [`crate::nn::fit`] (same arguments, checks, seed streams and report).
#[allow(clippy::too_many_arguments)]
pub fn fit(
    device: &Device,
    precision: Precision,
    task: Task,
    arch: NeuralArch,
    params: &TrainParams,
    train: &Encoded,
    y_train: &Target,
    valid: &Encoded,
    y_valid: &Target,
    seed: u64,
    mut progress: impl FnMut(&EpochStats),
) -> Result<(NeuralModel, TrainReport)> {
    fit_with(device, precision, task, arch, params, (train, y_train), (valid, y_valid), seed, None, &mut progress)
}

/// [`fit`] with checkpoints and an observer, as [`crate::nn::fit_with`]: the same checkpoint
/// file and rules (fingerprint, every `every` epochs and at the end, resume when the file
/// exists). A fit resumed on the same device repeats an uninterrupted one bit for bit (except
/// under a wall-time budget); the state is the native trainer's, so a fit checkpointed by one
/// trainer continues on the other (to rounding).
#[allow(clippy::too_many_arguments)]
pub fn fit_with(
    device: &Device,
    precision: Precision,
    task: Task,
    arch: NeuralArch,
    params: &TrainParams,
    (train, y_train): (&Encoded, &Target),
    (valid, y_valid): (&Encoded, &Target),
    seed: u64,
    checkpoint: Option<&CheckpointSpec>,
    observer: &mut dyn TrainObserver,
) -> Result<(NeuralModel, TrainReport)> {
    if checkpoint.is_some_and(|c| c.every == 0) {
        return Err(Error::InvalidTrainParam { key: "checkpoint every", problem: "must be at least 1" });
    }
    let FitSetup { mut model, targets, valid_targets, scale, row_weights: weights } =
        prepare_fit(task, arch.clone(), params, (train, y_train), (valid, y_valid), seed)?;
    let n_outputs = model.n_outputs;
    let net = Net::new(&arch, precision)?;
    let batch = params.batch_size.min(train.n_rows);
    let mut order: Vec<u32> = (0..train.n_rows).map(|i| i as u32).collect();
    let (mut shuffle_rng, mut dropout_rng) = (Rng::derive(seed, STREAM_SHUFFLE), Rng::derive(seed, STREAM_DROPOUT));
    let steps_per_epoch = train.n_rows.div_ceil(batch);
    let (total_steps, warmup_steps) = (params.epochs * steps_per_epoch, params.warmup_epochs * steps_per_epoch);
    let higher_is_better = task == Task::Binary;
    let err = candle_err("training a batch");

    let started = Instant::now();
    let mut report = TrainReport { epochs: Vec::new(), best_epoch: 0, stopped_early: false };
    let (mut best_metric, mut best_model) = (f64::NAN, model.clone());
    let (mut step, mut done, mut finished) = (0, 0, false);
    let fingerprint = checkpoint.map(|_| fingerprint(task, &model, params, seed, (train, &targets), (valid, y_valid)));
    let mut moments = None;
    if let Some(saved) = resume_state(checkpoint, fingerprint.as_deref(), &model, train.n_rows)? {
        moments = Some((saved.adam_step, saved.adam_first, saved.adam_second));
        (model, best_model, best_metric) = (saved.model, saved.best_model, saved.best_metric);
        order = saved.order.iter().map(|&r| r as u32).collect();
        (shuffle_rng, dropout_rng) = (Rng::from_state(saved.shuffle_rng), Rng::from_state(saved.dropout_rng));
        report =
            TrainReport { epochs: saved.history, best_epoch: saved.best_epoch, stopped_early: saved.stopped_early };
        (step, done, finished) = (saved.step, saved.epoch, saved.finished);
    }
    let mut state = State::new(&model, device, params.weight_decay, (task, n_outputs))?;
    if let Some((adam_step, first, second)) = moments {
        state.restore(adam_step, &first, &second).map_err(candle_err("restoring the optimizer state"))?;
    }
    let data = DeviceData::upload((train, valid), &arch, (&targets, &weights), device)?;
    let loss = Loss::new(task, n_outputs, device)?;
    let unused_dropout_state = dropout_rng.state();
    let mut dropout = (params.dropout > 0.0).then(|| Dropout::new(params.dropout as f32, dropout_rng));

    observer.start(params.epochs, done);
    let ended_before = finished;
    for epoch in (done + 1..=params.epochs).filter(|_| !ended_before) {
        let epoch_started = Instant::now();
        shuffle_rng.shuffle(&mut order);
        let order_t = Tensor::from_slice(&order, order.len(), device).map_err(&err)?;
        let mut loss_sum = Tensor::zeros((), DType::F32, device).map_err(&err)?;
        for start in (0..train.n_rows).step_by(batch) {
            let rows = batch.min(train.n_rows - start);
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
            let lr = learning_rate(params.lr, step, warmup_steps, total_steps);
            state.step(&outputs, &grad_outputs, params.clip_norm, lr).map_err(&err)?;
            step += 1;
        }
        let loss_sum = match state.fused_mut() {
            #[cfg(feature = "cuda")]
            Some(fused) => fused.take_loss().map_err(&err)?,
            _ => f64::from(loss_sum.to_scalar::<f32>().map_err(&err)?),
        };
        if !loss_sum.is_finite() {
            return Err(Error::NonFiniteLoss { epoch, step: step.saturating_sub(1) });
        }
        let seconds = epoch_started.elapsed().as_secs_f64();
        let outputs = data.valid_outputs(&net, &state.params).map_err(candle_err("scoring the validation rows"))?;
        let valid_metric = metric_of_outputs(task, n_outputs, &outputs, &valid_targets, y_valid, scale)?;
        let stats = EpochStats {
            epoch,
            train_loss: loss_sum / steps_per_epoch as f64,
            valid_metric,
            samples_per_sec: train.n_rows as f64 / seconds.max(1e-9),
            seconds,
        };
        let improved;
        (improved, finished) = end_epoch(&mut report, &mut best_metric, &stats, params, started, higher_is_better);
        if improved {
            state.params.download_into(&mut best_model)?;
        }
        if let (Some(spec), Some(fingerprint)) = (checkpoint, &fingerprint)
            && (finished || epoch % spec.every == 0)
        {
            let mut current = model.clone();
            state.params.download_into(&mut current)?;
            let (adam_first, adam_second) = state.moments().map_err(candle_err("saving the optimizer state"))?;
            TrainState {
                fingerprint: fingerprint.clone(),
                model: current,
                best_model: best_model.clone(),
                best_metric,
                best_epoch: report.best_epoch,
                epoch,
                step,
                finished,
                stopped_early: report.stopped_early,
                adam_step: state.t as u64,
                adam_first,
                adam_second,
                shuffle_rng: shuffle_rng.state(),
                dropout_rng: dropout.as_ref().map_or(unused_dropout_state, Dropout::rng_state),
                order: order.iter().map(|&r| r as usize).collect(),
                history: report.epochs.clone(),
            }
            .write(&spec.path)?;
        }
        if observer.epoch(&stats).is_break() {
            return Err(Error::Interrupted { epoch });
        }
        if finished {
            break;
        }
    }
    fold_target_scale(&mut best_model, scale);
    Ok((best_model, report))
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

    /// Back-propagate `grad_outputs` from `outputs`, clip the gradients to `clip_norm` (global
    /// L2 norm) and take one AdamW step at learning rate `lr`, as `nn::optim::AdamW` does.
    fn step(
        &mut self,
        outputs: &Tensor,
        grad_outputs: &Tensor,
        clip_norm: Option<f64>,
        lr: f64,
    ) -> candle_core::Result<()> {
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
        self.t += 1;
        #[cfg(feature = "cuda")]
        if let Some(fused) = self.fused.as_mut() {
            return fused.step(&self.params, &g, (lr, self.weight_decay, self.t as u64), clip_norm);
        }
        if let Some(max_norm) = clip_norm {
            let mut sum = Tensor::zeros((), DType::F32, outputs.device())?;
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

//! The training loop: seeded shuffled mini-batches, AdamW with warm-up and cosine decay,
//! gradient clipping, dropout, early stopping on the validation metric with the best weights
//! restored, and epoch and wall-time budgets.
//!
//! The same inputs, parameters and seed give bit-identical weights: every random draw comes
//! from `kiln_core::rng::Rng`, and the thread count is fixed by [`TrainParams::threads`].
//! The epochs are run by [`super::driver`], shared with the candle trainer; this module holds
//! the native trainer's steps, the parameters, and the setup both trainers share.
//! [`fit_with`] checkpoints the whole state (see [`super::checkpoint`]) so that a stopped fit
//! continues to the same weights; a wall-time budget (`max_seconds`) restarts its clock on
//! resume, so only epoch-budgeted fits repeat exactly.

use std::ops::ControlFlow;
use std::path::Path;

use kiln_core::rng::Rng;
use kiln_core::schema::Task;

use super::driver::{EpochTrainer, FitInput, Schedule, TrainerState, drive};
use super::embedding;
use super::loss::{loss_and_gradient, softmax_cross_entropy};
use super::model::{NeuralArch, NeuralModel, check_inputs, to_predictions};
use super::net::Workspace;
use super::optim::{AdamW, clip_global_norm, learning_rate};
use crate::config::{LinearConfig, MlpConfig, ResnetConfig};
use crate::error::{Error, Result};
use crate::target::Target;
use kiln_eval::metrics::binary::roc_auc;

/// Seed streams of one run.
pub(crate) const STREAM_INIT: u64 = 1;
pub(crate) const STREAM_SHUFFLE: u64 = 2;
pub(crate) const STREAM_DROPOUT: u64 = 3;

/// How to train: optimizer, schedule, budgets.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainParams {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    /// AdamW's decoupled weight decay, on dense weights only.
    pub weight_decay: f64,
    pub warmup_epochs: usize,
    /// Epochs without a better validation metric before stopping.
    pub patience: usize,
    /// Dropout after each hidden layer.
    pub dropout: f64,
    /// Clip the gradients to this global L2 norm.
    pub clip_norm: Option<f64>,
    /// Stop after the epoch during which this many seconds have passed. Wall time makes a fit
    /// unrepeatable, and a resumed fit restarts the clock: only fits without it resume exactly.
    pub max_seconds: Option<f64>,
    /// Threads of the matrix products (fixed, so that runs repeat exactly).
    pub threads: usize,
    /// A weight per class (classification), for imbalanced data.
    pub class_weights: Option<Vec<f64>>,
}

/// What one epoch did.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochStats {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches.
    pub train_loss: f64,
    /// ROC AUC (binary, higher is better), log loss (multiclass) or RMSE (regression).
    pub valid_metric: f64,
    pub samples_per_sec: f64,
    pub seconds: f64,
}

/// The history of a fit.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    pub epochs: Vec<EpochStats>,
    /// The epoch whose weights were kept (1-based).
    pub best_epoch: usize,
    pub stopped_early: bool,
}

impl TrainParams {
    /// The parameters an `mlp` model table sets (4 threads at most, clipping at norm 1).
    pub fn from_mlp(config: &MlpConfig) -> Self {
        Self {
            epochs: config.epochs,
            batch_size: config.batch_size,
            lr: config.lr,
            weight_decay: config.weight_decay,
            warmup_epochs: config.warmup_epochs,
            patience: config.patience,
            dropout: config.dropout,
            clip_norm: Some(1.0),
            max_seconds: None,
            threads: default_threads(),
            class_weights: None,
        }
    }

    /// The parameters a `resnet` model table sets (no warm-up, clipping at norm 1, 4 threads
    /// at most).
    pub fn from_resnet(config: &ResnetConfig) -> Self {
        Self {
            epochs: config.epochs,
            batch_size: config.batch_size,
            lr: config.lr,
            weight_decay: config.weight_decay,
            warmup_epochs: 0,
            patience: config.patience,
            dropout: config.dropout,
            clip_norm: Some(1.0),
            max_seconds: None,
            threads: default_threads(),
            class_weights: None,
        }
    }

    /// The parameters a `linear` model table sets: `l2` as weight decay, patience 5.
    pub fn from_linear(config: &LinearConfig) -> Self {
        Self {
            epochs: config.epochs,
            batch_size: config.batch_size,
            lr: config.lr,
            weight_decay: config.l2,
            warmup_epochs: 0,
            patience: 5,
            dropout: 0.0,
            clip_norm: Some(1.0),
            max_seconds: None,
            threads: default_threads(),
            class_weights: None,
        }
    }
}

/// The architecture an `mlp` model table describes.
pub fn mlp_arch(config: &MlpConfig) -> NeuralArch {
    NeuralArch::Mlp {
        hidden: config.hidden.clone(),
        activation: config.activation,
        norm: config.norm,
        residual: config.residual,
    }
}

/// The architecture a `resnet` model table describes: the blocks' inner width is
/// `d_block * d_hidden_factor`, rounded (at least 1). With `embedding_dim`, the categorical
/// columns of vocabulary sizes `cardinalities` (the preprocessor's) are embedded; without,
/// `cardinalities` is ignored and they come in one-hot.
pub fn resnet_arch(config: &ResnetConfig, cardinalities: &[usize]) -> NeuralArch {
    let d_hidden = (config.d_block as f64 * config.d_hidden_factor).round().max(1.0) as usize;
    let (d_embedding, cardinalities) = match config.embedding_dim {
        Some(dim) if !cardinalities.is_empty() => (dim, cardinalities.to_vec()),
        _ => (0, Vec::new()),
    };
    NeuralArch::ResNet { d_block: config.d_block, d_hidden, n_blocks: config.n_blocks, d_embedding, cardinalities }
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(4)
}

/// What the training loop tells its caller, and how the caller can stop it.
///
/// Any `FnMut(&EpochStats)` closure is an observer that never stops training.
pub trait TrainObserver {
    /// Training starts with a budget of `epochs`; `done` epochs come from a checkpoint.
    fn start(&mut self, epochs: usize, done: usize) {
        let _ = (epochs, done);
    }

    /// An epoch ended (its checkpoint, when one is due, is already written). Returning
    /// `ControlFlow::Break` stops training with [`Error::Interrupted`].
    fn epoch(&mut self, stats: &EpochStats) -> ControlFlow<()>;
}

impl<F: FnMut(&EpochStats)> TrainObserver for F {
    fn epoch(&mut self, stats: &EpochStats) -> ControlFlow<()> {
        self(stats);
        ControlFlow::Continue(())
    }
}

/// Train a model of `input.arch` on the dense features of `input.train`, early-stopping on
/// `input.valid`. `progress` is called after each epoch.
pub fn fit(input: &FitInput<'_>, mut progress: impl FnMut(&EpochStats)) -> Result<(NeuralModel, TrainReport)> {
    fit_with(input, &mut progress)
}

/// [`fit`] with checkpoints and an observer: saves the whole training state to
/// `input.checkpoint`'s path as the spec says, and with `resume` continues from the file when
/// it exists. A resumed fit gives bit-identical weights to an uninterrupted one, except under
/// a wall-time budget (`max_seconds`), whose clock restarts. `observer` hears of each epoch and
/// may stop the fit.
pub fn fit_with(input: &FitInput<'_>, observer: &mut dyn TrainObserver) -> Result<(NeuralModel, TrainReport)> {
    input.check_checkpoint()?;
    let setup = prepare_fit(input)?;
    let mut trainer = Native::new(input, &setup);
    drive(input, &setup, &mut trainer, observer)
}

/// The native trainer's state: the weights, their gradients, AdamW, the forward/backward
/// workspace, the generators and the row order.
struct Native<'a> {
    input: &'a FitInput<'a>,
    setup: &'a FitSetup,
    schedule: Schedule,
    model: NeuralModel,
    grads: NeuralModel,
    adam: AdamW,
    workspace: Workspace,
    batch_targets: Vec<f32>,
    batch_weights: Vec<f32>,
    order: Vec<usize>,
    shuffle_rng: Rng,
    dropout_rng: Rng,
}

impl<'a> Native<'a> {
    fn new(input: &'a FitInput<'a>, setup: &'a FitSetup) -> Self {
        let (params, train) = (input.params, input.train);
        let mut model = setup.model.clone();
        let sizes: Vec<usize> = model.tensors_mut().iter().map(|(t, _)| t.len()).collect();
        let schedule = Schedule::new(params, train.n_rows);
        let batch = schedule.batch;
        Self {
            input,
            setup,
            schedule,
            grads: model.clone(),
            adam: AdamW::new(&sizes, params.weight_decay),
            workspace: Workspace::new(&model, batch, true),
            model,
            batch_targets: vec![0.0f32; batch],
            batch_weights: vec![0.0f32; batch],
            order: (0..train.n_rows).collect(),
            shuffle_rng: Rng::derive(input.seed, STREAM_SHUFFLE),
            dropout_rng: Rng::derive(input.seed, STREAM_DROPOUT),
        }
    }

    /// One optimizer step on the rows `chunk`; the batch's loss.
    fn step(&mut self, chunk: &[usize], epoch: usize, step: usize) -> Result<f64> {
        let (params, task) = (self.input.params, self.input.task);
        let (rows, n_outputs, dropout) = (chunk.len(), self.model.n_outputs, params.dropout as f32);
        self.workspace.gather_rows(self.input.train, chunk);
        for (row, (t, w)) in chunk.iter().zip(self.batch_targets.iter_mut().zip(self.batch_weights.iter_mut())) {
            *t = self.setup.targets[*row];
            *w = self.setup.row_weights[*row];
        }
        self.workspace.forward(&self.model, rows, Some((dropout, &mut self.dropout_rng)), params.threads);
        self.workspace.update_running_stats(&mut self.model);
        let (outputs, grad_outputs) = self.workspace.outputs_and_grad();
        let loss = loss_and_gradient(
            task,
            &outputs[..rows * n_outputs],
            n_outputs,
            &self.batch_targets[..rows],
            &self.batch_weights[..rows],
            grad_outputs,
        );
        if !loss.is_finite() {
            return Err(Error::NonFiniteLoss { epoch, step });
        }
        self.workspace.backward(&self.model, &mut self.grads, rows, dropout > 0.0, params.threads);
        let mut grad_tensors = self.grads.tensors_mut();
        if let Some(max_norm) = params.clip_norm {
            let mut slices: Vec<&mut [f32]> = grad_tensors.iter_mut().map(|(g, _)| &mut **g).collect();
            clip_global_norm(&mut slices, max_norm);
        }
        let lr = learning_rate(params.lr, step, self.schedule.warmup_steps, self.schedule.total_steps);
        self.adam.begin_step();
        for (slot, ((param, decay), (grad, _))) in self.model.tensors_mut().into_iter().zip(grad_tensors).enumerate() {
            self.adam.update(slot, param, grad, lr, decay);
        }
        Ok(loss)
    }
}

impl EpochTrainer for Native<'_> {
    fn train_epoch(&mut self, epoch: usize, step: &mut usize) -> Result<f64> {
        self.shuffle_rng.shuffle(&mut self.order);
        let order = std::mem::take(&mut self.order);
        let mut loss_sum = 0.0;
        let mut result = Ok(());
        for chunk in order.chunks(self.schedule.batch) {
            match self.step(chunk, epoch, *step) {
                Ok(loss) => loss_sum += loss,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            *step += 1;
        }
        self.order = order;
        result.map(|()| loss_sum)
    }

    fn valid_outputs(&mut self) -> Result<Vec<f32>> {
        self.model.outputs(self.input.valid)
    }

    fn copy_weights(&self, model: &mut NeuralModel) -> Result<()> {
        model.clone_from(&self.model);
        Ok(())
    }

    fn snapshot(&self) -> Result<TrainerState> {
        let (first, second) = self.adam.moments();
        Ok(TrainerState {
            model: self.model.clone(),
            adam_step: self.adam.step,
            adam_first: first.to_vec(),
            adam_second: second.to_vec(),
            shuffle_rng: self.shuffle_rng.state(),
            dropout_rng: self.dropout_rng.state(),
            order: self.order.clone(),
        })
    }

    fn restore(&mut self, state: TrainerState, path: &Path) -> Result<()> {
        self.adam.restore(state.adam_step, state.adam_first, state.adam_second).map_err(|_| {
            Error::CheckpointMismatch { path: path.to_path_buf(), what: "the optimizer state's tensor sizes" }
        })?;
        (self.model, self.order) = (state.model, state.order);
        (self.shuffle_rng, self.dropout_rng) = (Rng::from_state(state.shuffle_rng), Rng::from_state(state.dropout_rng));
        Ok(())
    }
}

/// What both trainers (native and candle) set up before the first epoch.
pub(crate) struct FitSetup {
    /// The initialized model (weights drawn from the run's init stream).
    pub(crate) model: NeuralModel,
    /// Training targets as the loss reads them (regression: standardized).
    pub(crate) targets: Vec<f32>,
    pub(crate) valid_targets: Vec<f32>,
    /// The regression target's (mean, std), folded back into the head after training.
    pub(crate) scale: (f64, f64),
    /// A weight per training row (class weights).
    pub(crate) row_weights: Vec<f32>,
}

/// Check the parameters and data, read the targets and draw the initial weights.
pub(crate) fn prepare_fit(input: &FitInput<'_>) -> Result<FitSetup> {
    let FitInput { task, params, train, y_train, valid, y_valid, seed, .. } = *input;
    let arch = input.arch.clone();
    check_params(params)?;
    if train.n_rows == 0 {
        return Err(Error::NoTrainingRows);
    }
    if valid.n_rows == 0 {
        return Err(Error::NoValidationRows);
    }
    let n_inputs = train.n_dense;
    check_inputs(n_inputs, &arch, train)?;
    check_inputs(n_inputs, &arch, valid)?;
    let (targets, n_outputs, scale) = training_targets(task, y_train, train.n_rows)?;
    let (valid_targets, _, _) = training_targets(task, y_valid, valid.n_rows)?;
    let row_weights = row_weights(task, &targets, params.class_weights.as_deref());
    let mut model = NeuralModel::zeros(task, arch, n_inputs, n_outputs)?;
    initialize(&mut model, &mut Rng::derive(seed, STREAM_INIT));
    Ok(FitSetup { model, targets, valid_targets, scale, row_weights })
}

pub(crate) fn check_params(params: &TrainParams) -> Result<()> {
    let invalid = |key: &'static str, problem: &'static str| Err(Error::InvalidTrainParam { key, problem });
    if params.epochs == 0 {
        return invalid("epochs", "must be at least 1");
    }
    if params.batch_size == 0 {
        return invalid("batch_size", "must be at least 1");
    }
    if !(params.lr.is_finite() && params.lr > 0.0) {
        return invalid("lr", "must be a positive number");
    }
    if !(0.0..1.0).contains(&params.dropout) {
        return invalid("dropout", "must be in [0, 1)");
    }
    if params.threads == 0 {
        return invalid("threads", "must be at least 1");
    }
    Ok(())
}

/// Per-row targets as the loss reads them, the number of outputs, and for regression the
/// mean and standard deviation that standardize the target during training.
pub(crate) fn training_targets(task: Task, target: &Target, n_rows: usize) -> Result<(Vec<f32>, usize, (f64, f64))> {
    if target.len() != n_rows {
        return Err(Error::TargetLength { expected: n_rows, found: target.len() });
    }
    match (task, target) {
        (Task::Binary, Target::Classes { index, .. }) => Ok((index.iter().map(|c| *c as f32).collect(), 1, (0.0, 1.0))),
        (Task::Multiclass, Target::Classes { index, n_classes }) => {
            Ok((index.iter().map(|c| *c as f32).collect(), *n_classes, (0.0, 1.0)))
        }
        (Task::Regression, Target::Values(values)) => {
            let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
            let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / values.len().max(1) as f64;
            let std = if var > 0.0 { var.sqrt() } else { 1.0 };
            Ok((values.iter().map(|v| ((v - mean) / std) as f32).collect(), 1, (mean, std)))
        }
        _ => Err(Error::TargetKind { task: task.as_str() }),
    }
}

pub(crate) fn row_weights(task: Task, targets: &[f32], class_weights: Option<&[f64]>) -> Vec<f32> {
    match class_weights {
        Some(weights) if task.is_classification() => {
            targets.iter().map(|c| weights.get(*c as usize).copied().unwrap_or(1.0) as f32).collect()
        }
        _ => vec![1.0; targets.len()],
    }
}

/// He initialization (normal, std √(2 / fan_in)) for layers followed by an activation, Xavier
/// (uniform, ±√(6 / (fan_in + fan_out))) for the head; zero biases; embeddings uniform in
/// ±1/√dim (drawn after the layers).
pub(crate) fn initialize(model: &mut NeuralModel, rng: &mut Rng) {
    let n_layers = model.dense.len();
    for (layer, dense) in model.dense.iter_mut().enumerate() {
        if layer + 1 < n_layers {
            let std = (2.0 / dense.n_in as f64).sqrt();
            dense.weight.iter_mut().for_each(|w| *w = (rng.normal() * std) as f32);
        } else {
            let limit = (6.0 / (dense.n_in + dense.n_out) as f64).sqrt();
            dense.weight.iter_mut().for_each(|w| *w = ((2.0 * rng.uniform() - 1.0) * limit) as f32);
        }
    }
    embedding::initialize(&mut model.embeddings, rng);
}

/// Make a regression head predict raw values: `W·σ`, `b·σ + μ`.
pub(crate) fn fold_target_scale(model: &mut NeuralModel, (mean, std): (f64, f64)) {
    if model.task != Task::Regression {
        return;
    }
    if let Some(head) = model.dense.last_mut() {
        head.weight.iter_mut().for_each(|w| *w = (f64::from(*w) * std) as f32);
        head.bias.iter_mut().for_each(|b| *b = (f64::from(*b) * std + mean) as f32);
    }
}

/// The validation metric of raw outputs (`rows * n_outputs`): ROC AUC, log loss or RMSE.
pub(crate) fn metric_of_outputs(
    task: Task,
    n_outputs: usize,
    outputs: &[f32],
    targets: &[f32],
    y_valid: &Target,
    (mean, std): (f64, f64),
) -> Result<f64> {
    let n_rows = outputs.len() / n_outputs.max(1);
    Ok(match (task, y_valid) {
        (Task::Binary, Target::Classes { index, .. }) => {
            let labels: Vec<bool> = index.iter().map(|c| *c == 1).collect();
            let scores = to_predictions(task, outputs, 1).values;
            roc_auc(&labels, &scores, None).unwrap_or(0.5)
        }
        (Task::Multiclass, _) => {
            let n = n_outputs;
            let total: f64 = outputs
                .chunks_exact(n)
                .zip(targets)
                .map(|(row, class)| {
                    let row: Vec<f64> = row.iter().map(|v| f64::from(*v)).collect();
                    softmax_cross_entropy(&row, *class as usize)
                })
                .sum();
            total / n_rows as f64
        }
        (_, Target::Values(values)) => {
            let sum: f64 = outputs
                .iter()
                .zip(values)
                .map(|(z, y)| {
                    let d = f64::from(*z) * std + mean - y;
                    d * d
                })
                .sum();
            (sum / n_rows as f64).sqrt()
        }
        _ => return Err(Error::TargetKind { task: task.as_str() }),
    })
}

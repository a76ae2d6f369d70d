//! The epoch driver both neural trainers (native and candle) run: resume from a checkpoint,
//! the epoch loop, the validation metric, early stopping with the best weights kept,
//! checkpoints and the observer. A trainer supplies only what differs between them, through
//! [`EpochTrainer`]: one epoch of optimizer steps, the validation outputs, and its state as a
//! [`TrainerState`] for checkpoints and the best weights.
//!
//! [`FitInput`] is what a fit is asked to do: the task, architecture, parameters, training and
//! validation rows, seed and checkpoint.

use std::path::Path;
use std::time::Instant;

use kiln_core::hash::content_hash;
use kiln_core::preprocess::Encoded;
use kiln_core::schema::Task;

use super::checkpoint::{CheckpointSpec, TrainState};
use super::model::{NeuralArch, NeuralModel};
use super::train::{
    EpochStats, FitSetup, TrainObserver, TrainParams, TrainReport, fold_target_scale, metric_of_outputs,
};
use crate::error::{Error, Result};
use crate::target::Target;

/// One neural fit: what to train, on which rows, from which seed, and where to checkpoint.
#[derive(Debug, Clone)]
pub struct FitInput<'a> {
    pub task: Task,
    pub arch: NeuralArch,
    pub params: &'a TrainParams,
    /// The training rows (encoded features) and their target.
    pub train: &'a Encoded,
    pub y_train: &'a Target,
    /// The validation rows that early stopping watches, and their target.
    pub valid: &'a Encoded,
    pub y_valid: &'a Target,
    pub seed: u64,
    /// Where to save the training state, and whether to continue from it; `None`: no checkpoints.
    pub checkpoint: Option<&'a CheckpointSpec>,
}

impl<'a> FitInput<'a> {
    /// A fit of `arch` for `task` on `train`, early-stopping on `valid`, without checkpoints.
    pub fn new(
        task: Task,
        arch: NeuralArch,
        params: &'a TrainParams,
        (train, y_train): (&'a Encoded, &'a Target),
        (valid, y_valid): (&'a Encoded, &'a Target),
        seed: u64,
    ) -> Self {
        Self { task, arch, params, train, y_train, valid, y_valid, seed, checkpoint: None }
    }

    /// The same fit with checkpoints as `checkpoint` says (`None`: none).
    pub fn with_checkpoint(self, checkpoint: Option<&'a CheckpointSpec>) -> Self {
        Self { checkpoint, ..self }
    }

    /// A checkpoint is saved every 1 or more epochs.
    pub(crate) fn check_checkpoint(&self) -> Result<()> {
        if self.checkpoint.is_some_and(|c| c.every == 0) {
            return Err(Error::InvalidTrainParam { key: "checkpoint every", problem: "must be at least 1" });
        }
        Ok(())
    }
}

/// Batches and the learning-rate schedule's length, the same for both trainers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    /// Rows per batch (the last batch of an epoch may be smaller).
    pub(crate) batch: usize,
    pub(crate) steps_per_epoch: usize,
    pub(crate) total_steps: usize,
    pub(crate) warmup_steps: usize,
}

impl Schedule {
    pub(crate) fn new(params: &TrainParams, n_rows: usize) -> Self {
        let batch = params.batch_size.min(n_rows);
        let steps_per_epoch = n_rows.div_ceil(batch);
        Self {
            batch,
            steps_per_epoch,
            total_steps: params.epochs * steps_per_epoch,
            warmup_steps: params.warmup_epochs * steps_per_epoch,
        }
    }
}

/// A trainer's own state, as a checkpoint keeps it.
#[derive(Debug, Clone)]
pub(crate) struct TrainerState {
    /// The current weights.
    pub(crate) model: NeuralModel,
    pub(crate) adam_step: u64,
    pub(crate) adam_first: Vec<Vec<f32>>,
    pub(crate) adam_second: Vec<Vec<f32>>,
    pub(crate) shuffle_rng: [u64; 4],
    pub(crate) dropout_rng: [u64; 4],
    /// The training rows in the order of the last shuffle.
    pub(crate) order: Vec<usize>,
}

/// What a neural trainer does that the driver does not.
pub(crate) trait EpochTrainer {
    /// Shuffle the rows and take one epoch of optimizer steps, counting them in `step` (the
    /// learning-rate schedule's position); the sum of the batches' losses. A non-finite loss is
    /// [`Error::NonFiniteLoss`] of `epoch`.
    fn train_epoch(&mut self, epoch: usize, step: &mut usize) -> Result<f64>;

    /// The current weights' raw outputs on the validation rows (`rows * n_outputs`).
    fn valid_outputs(&mut self) -> Result<Vec<f32>>;

    /// Copy the current weights into `model` (a model of the same architecture).
    fn copy_weights(&self, model: &mut NeuralModel) -> Result<()>;

    /// The state a checkpoint keeps.
    fn snapshot(&self) -> Result<TrainerState>;

    /// Continue from a checkpoint's state (read from `path`, checked by [`resume_state`]).
    fn restore(&mut self, state: TrainerState, path: &Path) -> Result<()>;
}

/// What the driver itself tracks across epochs.
struct Progress {
    report: TrainReport,
    best_model: NeuralModel,
    best_metric: f64,
    step: usize,
    done: usize,
    finished: bool,
}

/// Run the epochs of `input` with `trainer` (built from `setup`): resume from the checkpoint
/// when asked, train until the epoch budget, patience or time budget ends it, keep the best
/// weights, checkpoint as the spec says and tell `observer` of each epoch. Returns the best
/// weights (regression heads rescaled to raw values) and the report.
pub(crate) fn drive(
    input: &FitInput<'_>,
    setup: &FitSetup,
    trainer: &mut dyn EpochTrainer,
    observer: &mut dyn TrainObserver,
) -> Result<(NeuralModel, TrainReport)> {
    let (task, params) = (input.task, input.params);
    let schedule = Schedule::new(params, input.train.n_rows);
    let started = Instant::now();
    let mut progress = Progress {
        report: TrainReport { epochs: Vec::new(), best_epoch: 0, stopped_early: false },
        best_model: setup.model.clone(),
        best_metric: f64::NAN,
        step: 0,
        done: 0,
        finished: false,
    };
    let fingerprint = input.checkpoint.map(|_| fingerprint(input, &setup.model, &setup.targets));
    if let Some(state) = resume_state(input.checkpoint, fingerprint.as_deref(), &setup.model, input.train.n_rows)? {
        progress = resume(trainer, state, input.checkpoint.map(|c| c.path.as_path()).unwrap_or(Path::new("")))?;
    }
    observer.start(params.epochs, progress.done);
    let ended_before = progress.finished;
    for epoch in (progress.done + 1..=params.epochs).filter(|_| !ended_before) {
        let epoch_started = Instant::now();
        let loss_sum = trainer.train_epoch(epoch, &mut progress.step)?;
        let seconds = epoch_started.elapsed().as_secs_f64();
        let outputs = trainer.valid_outputs()?;
        let n_outputs = setup.model.n_outputs;
        let valid_metric =
            metric_of_outputs(task, n_outputs, &outputs, &setup.valid_targets, input.y_valid, setup.scale)?;
        let stats = EpochStats {
            epoch,
            train_loss: loss_sum / schedule.steps_per_epoch as f64,
            valid_metric,
            samples_per_sec: input.train.n_rows as f64 / seconds.max(1e-9),
            seconds,
        };
        let improved;
        (improved, progress.finished) =
            end_epoch(&mut progress.report, &mut progress.best_metric, &stats, params, started, task == Task::Binary);
        if improved {
            trainer.copy_weights(&mut progress.best_model)?;
        }
        if let (Some(spec), Some(fingerprint)) = (input.checkpoint, &fingerprint)
            && (progress.finished || epoch % spec.every == 0)
        {
            checkpoint_state(trainer.snapshot()?, fingerprint, epoch, &progress).write(&spec.path)?;
        }
        if observer.epoch(&stats).is_break() {
            return Err(Error::Interrupted { epoch });
        }
        if progress.finished {
            break;
        }
    }
    let mut best_model = progress.best_model;
    fold_target_scale(&mut best_model, setup.scale);
    Ok((best_model, progress.report))
}

/// Hand the trainer its part of `state` and return the driver's part.
fn resume(trainer: &mut dyn EpochTrainer, state: TrainState, path: &Path) -> Result<Progress> {
    let TrainState {
        model,
        best_model,
        best_metric,
        best_epoch,
        epoch,
        step,
        finished,
        stopped_early,
        adam_step,
        adam_first,
        adam_second,
        shuffle_rng,
        dropout_rng,
        order,
        history,
        fingerprint: _,
    } = state;
    let own = TrainerState { model, adam_step, adam_first, adam_second, shuffle_rng, dropout_rng, order };
    trainer.restore(own, path)?;
    Ok(Progress {
        report: TrainReport { epochs: history, best_epoch, stopped_early },
        best_model,
        best_metric,
        step,
        done: epoch,
        finished,
    })
}

/// The checkpoint after `epoch`: the trainer's state and the driver's.
fn checkpoint_state(own: TrainerState, fingerprint: &str, epoch: usize, progress: &Progress) -> TrainState {
    TrainState {
        fingerprint: fingerprint.to_string(),
        model: own.model,
        best_model: progress.best_model.clone(),
        best_metric: progress.best_metric,
        best_epoch: progress.report.best_epoch,
        epoch,
        step: progress.step,
        finished: progress.finished,
        stopped_early: progress.report.stopped_early,
        adam_step: own.adam_step,
        adam_first: own.adam_first,
        adam_second: own.adam_second,
        shuffle_rng: own.shuffle_rng,
        dropout_rng: own.dropout_rng,
        order: own.order,
        history: progress.report.epochs.clone(),
    }
}

/// The checkpoint to continue from, when `checkpoint` asks to resume and its file exists,
/// checked against the fit (`fingerprint`, the model's shape and tensor sizes, the row count);
/// the caller applies it.
pub(crate) fn resume_state(
    checkpoint: Option<&CheckpointSpec>,
    fingerprint: Option<&str>,
    model: &NeuralModel,
    n_rows: usize,
) -> Result<Option<TrainState>> {
    let (Some(spec), Some(fingerprint)) = (checkpoint, fingerprint) else { return Ok(None) };
    if !spec.resume || !spec.path.exists() {
        return Ok(None);
    }
    let state = TrainState::read(&spec.path)?;
    let mismatch = |what| Error::CheckpointMismatch { path: spec.path.clone(), what };
    if state.fingerprint != fingerprint {
        return Err(mismatch("the model, its training parameters, the seed or the data"));
    }
    if state.order.len() != n_rows || state.model.architecture() != model.architecture() {
        return Err(mismatch("the shape of the model or the data"));
    }
    let sizes: Vec<usize> = model.named_tensors().iter().map(|(_, _, v)| v.len()).collect();
    let fits = |m: &[Vec<f32>]| m.len() <= sizes.len() && m.iter().zip(&sizes).all(|(m, n)| m.len() == *n);
    if !fits(&state.adam_first) || !fits(&state.adam_second) {
        return Err(mismatch("the optimizer state's tensor sizes"));
    }
    tracing::info!(path = %spec.path.display(), epoch = state.epoch, "resuming training from a checkpoint");
    Ok(Some(state))
}

/// Record an epoch's `stats` in `report` and decide what follows: whether the validation
/// metric improved on `best_metric` (updated; the caller keeps the weights), and whether
/// training has ended (epoch budget, patience or wall-time budget; `stopped_early` set).
pub(crate) fn end_epoch(
    report: &mut TrainReport,
    best_metric: &mut f64,
    stats: &EpochStats,
    params: &TrainParams,
    started: Instant,
    higher_is_better: bool,
) -> (bool, bool) {
    let (epoch, metric) = (stats.epoch, stats.valid_metric);
    report.epochs.push(stats.clone());
    let improved = best_metric.is_nan()
        || (higher_is_better && metric > *best_metric)
        || (!higher_is_better && metric < *best_metric);
    if improved {
        *best_metric = metric;
        report.best_epoch = epoch;
    }
    let out_of_patience = !improved && epoch - report.best_epoch >= params.patience;
    let out_of_time = params.max_seconds.is_some_and(|limit| started.elapsed().as_secs_f64() >= limit);
    report.stopped_early = out_of_patience || (out_of_time && epoch < params.epochs);
    (improved, out_of_patience || out_of_time || epoch == params.epochs)
}

/// What a checkpoint must match to continue a fit: the task, the architecture and input
/// width, every training parameter but the thread count (which never changes the result),
/// the seed, and the training and validation data (`targets`: the training targets as the
/// loss reads them).
pub(crate) fn fingerprint(input: &FitInput<'_>, model: &NeuralModel, targets: &[f32]) -> String {
    let params = TrainParams { threads: 0, ..input.params.clone() };
    let described = format!(
        "{}|{:?}|{}|{}|{params:?}|{}",
        input.task.as_str(),
        model.arch,
        model.n_inputs,
        model.n_outputs,
        input.seed
    );
    let floats = |values: &[f32]| values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    let valid_target = format!("{:?}", input.y_valid);
    content_hash(&[
        described.as_bytes(),
        &floats(&input.train.dense),
        &floats(targets),
        &floats(&input.valid.dense),
        valid_target.as_bytes(),
    ])
}

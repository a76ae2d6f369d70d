//! Fitting the configured models one by one, and scoring them on held-out rows with the
//! metric that picks the model to export.
//!
//! Binary tasks are compared by ROC AUC, multiclass by accuracy, regression by RMSE. Full
//! evaluation (every metric, slices, intervals, gates) belongs to the evaluation crate; this
//! is only what training needs to choose.

use std::time::Instant;

use kiln_core::preprocess::Preprocessor;
use kiln_core::schema::{Schema, Task};
use polars::prelude::DataFrame;
use serde::Serialize;

use crate::backend::Backend;
use crate::baselines::gbdt::GbdtModel;
use crate::baselines::prior::PriorModel;
use crate::baselines::rules::RulesModel;
use crate::config::{ModelSpec, PlannedModel};
use crate::error::{Error, Result};
use crate::nn::{self, CheckpointSpec, FitInput, NeuralArch, TrainObserver, TrainParams, TrainReport};
use crate::predictions::Predictions;
use crate::target::{Target, read_target};
use crate::trained::{Neural, TrainedModel};
use kiln_eval::metrics::binary::roc_auc;

/// A model's score on some rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Score {
    /// `roc_auc`, `accuracy` or `rmse`.
    pub metric: &'static str,
    pub value: f64,
    pub higher_is_better: bool,
}

impl Score {
    /// Whether `self` is better than `other` (NaN is never better).
    pub fn beats(&self, other: &Score) -> bool {
        if self.value.is_nan() {
            return false;
        }
        other.value.is_nan() || if self.higher_is_better { self.value > other.value } else { self.value < other.value }
    }
}

/// The rows and fitted state every model of a run is trained from.
#[derive(Debug, Clone, Copy)]
pub struct TrainingData<'a> {
    pub schema: &'a Schema,
    /// The run's preprocessor (neural models re-encode with their own encoding).
    pub preprocessor: &'a Preprocessor,
    /// The training rows.
    pub train: &'a DataFrame,
    /// The validation rows that early stopping watches.
    pub valid: &'a DataFrame,
    /// The run's seed.
    pub seed: u64,
}

/// Fit one planned model on `data`'s training rows with kiln's native CPU trainer; neural
/// models early-stop on the validation rows, tell `observer` of each epoch, and save (and with
/// `checkpoint.resume` continue from) their training state at `checkpoint` (see
/// [`nn::checkpoint`]). Returns the model, the per-epoch report of neural models, and the
/// fitting time in seconds (of this call only).
pub fn fit_model(
    planned: &PlannedModel,
    data: &TrainingData<'_>,
    checkpoint: Option<&CheckpointSpec>,
    observer: &mut dyn TrainObserver,
) -> Result<(TrainedModel, Option<TrainReport>, f64)> {
    fit_model_on(&Backend::native(), planned, data, checkpoint, observer)
}

/// [`fit_model`] with neural models trained by `backend` (baselines always on the CPU); both
/// trainers keep and resume checkpoints.
pub fn fit_model_on(
    backend: &Backend,
    planned: &PlannedModel,
    data: &TrainingData<'_>,
    checkpoint: Option<&CheckpointSpec>,
    observer: &mut dyn TrainObserver,
) -> Result<(TrainedModel, Option<TrainReport>, f64)> {
    let TrainingData { schema, preprocessor, train, valid, seed } = *data;
    let started = Instant::now();
    let neural = |arch: NeuralArch, params: TrainParams, observer: &mut dyn TrainObserver| {
        let mut dense = preprocessor.clone();
        dense.config.encoding = arch.encoding();
        let encode = |df: &DataFrame| kiln_data::fit::encode(&dense, df, schema).map_err(Error::Encode);
        let (x_train, x_valid) = (encode(train)?, encode(valid)?);
        let (y_train, y_valid) = (read_target(train, schema)?, read_target(valid, schema)?);
        let input = FitInput::new(schema.task, arch, &params, (&x_train, &y_train), (&x_valid, &y_valid), seed)
            .with_checkpoint(checkpoint);
        let (model, report) = backend.fit_with(&input, observer)?;
        let trained = Neural { model, preprocessor: dense.clone(), schema: schema.clone() };
        Ok::<_, Error>((TrainedModel::Neural(Box::new(trained)), Some(report)))
    };
    let (model, report) = match &planned.spec {
        ModelSpec::Linear(config) => neural(NeuralArch::Linear, TrainParams::from_linear(config), observer)?,
        ModelSpec::Mlp(config) => neural(nn::mlp_arch(config), TrainParams::from_mlp(config), observer)?,
        ModelSpec::Resnet(config) => {
            let arch = nn::resnet_arch(config, &preprocessor.cardinalities());
            neural(arch, TrainParams::from_resnet(config), observer)?
        }
        spec => (fit_baseline(planned, spec, seed, preprocessor, (train, valid), schema)?, None),
    };
    Ok((model, report, started.elapsed().as_secs_f64()))
}

fn fit_baseline(
    planned: &PlannedModel,
    spec: &ModelSpec,
    seed: u64,
    preprocessor: &Preprocessor,
    (train, valid): (&DataFrame, &DataFrame),
    schema: &Schema,
) -> Result<TrainedModel> {
    Ok(match spec {
        ModelSpec::Prior => TrainedModel::Prior(PriorModel::fit(train, schema)?),
        ModelSpec::Rules(rules) => TrainedModel::Rules(RulesModel::new(rules.clone(), schema)),
        ModelSpec::Gbdt(plan) => {
            TrainedModel::Gbdt(Box::new(GbdtModel::fit(plan, seed, preprocessor, train, Some(valid), schema)?))
        }
        other => return Err(Error::NotTrainable { name: planned.name.clone(), kind: other.kind() }),
    })
}

/// Score predictions against the target column of `df`.
pub fn score(predictions: &Predictions, df: &DataFrame, schema: &Schema) -> Result<Score> {
    let target = read_target(df, schema)?;
    Ok(match (schema.task, &target) {
        (Task::Binary, Target::Classes { index, .. }) => {
            let labels: Vec<bool> = index.iter().map(|c| *c == 1).collect();
            let value = roc_auc(&labels, &predictions.values, None).unwrap_or(f64::NAN);
            Score { metric: "roc_auc", value, higher_is_better: true }
        }
        (_, Target::Classes { index, .. }) => {
            let predicted = predictions.argmax();
            let hits = predicted.iter().zip(index).filter(|(p, y)| **p == **y as usize).count();
            Score { metric: "accuracy", value: hits as f64 / index.len().max(1) as f64, higher_is_better: true }
        }
        (_, Target::Values(values)) => {
            let se: f64 = predictions.values.iter().zip(values).map(|(p, y)| (p - y) * (p - y)).sum();
            Score { metric: "rmse", value: (se / values.len().max(1) as f64).sqrt(), higher_is_better: false }
        }
    })
}

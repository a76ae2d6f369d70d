//! The stage "train": every configured model fitted (or, on resume, reloaded from the
//! interrupted run's checkpoint folder), turned into its bundle parts, rebuilt as kiln-core's
//! inference model, and scored once on the validation and test rows.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kiln_core::bundle::{Architecture, Bundle, DataHashes, FORMAT_VERSION, KILN_VERSION, Manifest};
use kiln_core::model::Model;
use kiln_track::{GitInfo, NewRun};
use kiln_train::backend::Backend;
use kiln_train::nn::{CheckpointSpec, EpochStats};
use kiln_train::predictions::Predictions;
use kiln_train::session::{Score, TrainingData, fit_model_on, score};

use crate::checkpoints::{self, Finished};
use crate::error::{Error, Result};
use crate::prepare::Prepared;
use crate::progress::Progress;
use crate::score::Rows;
use crate::timed;
use crate::track::{OpenedRun, RunStart, Tracker, data_versions};

/// How the models are trained and the run is recorded.
#[derive(Debug, Clone)]
pub struct TrainOptions<'a> {
    /// Which trainer and device the neural models use.
    pub backend: Backend,
    /// The command recorded with the run: `train`, `run` or `compare`.
    pub command: &'static str,
    /// Continue this interrupted run: its finished models are reloaded, a neural model
    /// continues from its last checkpoint.
    pub resume: Option<&'a str>,
    /// Save each neural model's training state every N epochs (0: never).
    pub checkpoint_every: usize,
}

/// One fitted model: its bundle parts, its kiln-core inference model and its scores.
#[derive(Debug)]
pub struct Fitted {
    pub name: String,
    /// `prior`, `rules`, `gbdt`, `linear`, `mlp` or `resnet`.
    pub kind: &'static str,
    pub finished: Finished,
    /// The model as kiln-core rebuilds it from its bundle (what predicts and serves).
    pub model: Model,
    pub validation: Score,
    pub test: Score,
    /// Scores on every test row (`n_rows × n_outputs`, row-major), computed once.
    pub test_scores: Vec<f64>,
    /// Per-epoch history of a neural model fitted in this call (empty when reloaded).
    pub history: Vec<EpochStats>,
}

/// What the stage "train" produced.
#[derive(Debug)]
pub struct Trained {
    pub run: OpenedRun,
    pub models: Vec<Fitted>,
    /// The validation rows as plain columns, read once for every model.
    pub validation_rows: Rows,
    /// The test rows as plain columns, read once for every model (and kept to time the
    /// models on a sample of them).
    pub test_rows: Rows,
    pub git: Option<GitInfo>,
    /// The device label of the neural models (`cpu`, `cuda:0`, ...).
    pub device: String,
}

impl Trained {
    /// The index of the model with the best validation score.
    pub fn best_by_validation(&self) -> Result<usize> {
        (0..self.models.len())
            .reduce(|best, i| if self.models[i].validation.beats(&self.models[best].validation) { i } else { best })
            .ok_or(Error::NothingTrained)
    }
}

impl Prepared {
    /// The record a run of `command` starts with.
    pub fn new_run(&self, command: &str, device: &str, git: Option<GitInfo>) -> NewRun {
        let config = self.config();
        let params: BTreeMap<String, String> = self
            .parts
            .models
            .models
            .iter()
            .map(|m| (format!("model.{}", m.name), m.spec.kind().to_string()))
            .chain([("split.method".to_string(), self.parts.snapshot.split.method.clone())])
            .collect();
        NewRun {
            name: config.plan.project.name.clone(),
            command: command.into(),
            config: config.text.clone(),
            params,
            data: data_versions(&self.parts.snapshot),
            git,
            seed: Some(config.plan.project.seed),
            device: Some(device.to_string()),
            kiln_version: KILN_VERSION.into(),
        }
    }

    /// The bundle manifest of model `index` with `architecture`: task, schema, preprocessor,
    /// hyperparameters, data hashes, reference distributions and provenance; no metrics.
    pub fn manifest(
        &self,
        index: usize,
        architecture: Architecture,
        git: Option<&GitInfo>,
        device: &str,
    ) -> Result<Manifest> {
        let snapshot = &self.parts.snapshot;
        let hyperparameters = serde_json::to_value(&self.config().config.models[index])
            .map_err(|source| Error::Json { what: "a model's hyperparameters", source })?;
        Ok(Manifest {
            format_version: FORMAT_VERSION.into(),
            task: self.schema().task,
            schema: self.schema().clone(),
            preprocessor: self.preprocessor.clone(),
            architecture,
            hyperparameters,
            data: DataHashes {
                data_hash: snapshot.dataset_hash.clone(),
                schema_hash: snapshot.schema_hash.clone(),
                split_hash: snapshot.split.hash.clone(),
            },
            metrics: BTreeMap::new(),
            reference: self.reference.clone(),
            git_commit: git.map(|g| g.commit.clone()),
            git_dirty: git.is_some_and(|g| g.dirty),
            kiln_version: KILN_VERSION.into(),
            created_at: kiln_track::format_rfc3339(kiln_track::now_ms()),
            device: device.to_string(),
            decision_threshold: (self.schema().task == kiln_core::schema::Task::Binary)
                .then_some(self.config().config.evaluation.threshold),
        })
    }

    /// The stage "train": open the run with `tracker`, then fit every configured model
    /// (reloading those a resumed run already finished), save each finished model for a later
    /// resume, and score it once on the validation and test rows. A training failure marks
    /// the run failed.
    pub fn train(
        &self,
        options: &TrainOptions<'_>,
        tracker: &mut dyn Tracker,
        progress: &dyn Progress,
    ) -> Result<Trained> {
        let git = kiln_track::git_info(std::path::Path::new("."));
        let device = options.backend.label().to_string();
        let start = RunStart {
            run: self.new_run(options.command, &device, git.clone()),
            resume: options.resume,
            config_path: &self.config().path,
        };
        let run = tracker.open(&start)?;
        let mut trained = Trained {
            run,
            models: Vec::new(),
            validation_rows: Rows::extract(&self.parts.holdout, self.schema(), &[])?,
            test_rows: Rows::extract(&self.parts.test, self.schema(), &[])?,
            git,
            device,
        };
        let board = progress.training();
        for index in 0..self.parts.models.models.len() {
            match timed("train model", || self.fit_one(index, options, &mut trained, &*board)) {
                Ok(fitted) => {
                    tracker.trained(&fitted)?;
                    trained.models.push(fitted);
                }
                Err(e) => {
                    tracker.failed(&error_chain(&e))?;
                    return Err(e);
                }
            }
        }
        board.finish(&format!("trained {} model(s)", trained.models.len()));
        Ok(trained)
    }

    fn fit_one(
        &self,
        index: usize,
        options: &TrainOptions<'_>,
        trained: &mut Trained,
        board: &dyn crate::progress::Training,
    ) -> Result<Fitted> {
        let planned = &self.parts.models.models[index];
        let schema = self.schema();
        let mut bar = board.model(&planned.name, planned.spec.kind(), schema.task);
        let stem = checkpoints::file_stem(&planned.name);
        let dir: &PathBuf = &trained.run.checkpoint_dir;
        let saved_path = dir.join(format!("{stem}.model.safetensors"));
        let saved = if options.resume.is_some() { checkpoints::load_finished(&saved_path)? } else { None };
        let reused = saved.is_some();
        let mut history = Vec::new();
        let finished = match saved {
            Some(finished) => {
                bar.reused();
                finished
            }
            None => {
                let spec = (options.checkpoint_every > 0).then(|| CheckpointSpec {
                    path: dir.join(format!("{stem}.ckpt")),
                    every: options.checkpoint_every,
                    resume: options.resume.is_some(),
                });
                let parts = &self.parts;
                let seed = self.config().plan.project.seed;
                let data = TrainingData {
                    schema,
                    preprocessor: &self.preprocessor,
                    train: &parts.train,
                    valid: &parts.holdout,
                    seed,
                };
                let fitted = fit_model_on(&options.backend, planned, &data, spec.as_ref(), &mut *bar);
                let (model, report, seconds) = match fitted {
                    Ok(fitted) => fitted,
                    Err(source) => {
                        bar.failed();
                        return Err(Error::Training { model: planned.name.clone(), source: Box::new(source) });
                    }
                };
                if let Some(report) = report {
                    history = report.epochs;
                }
                let (architecture, tensors) = model.to_bundle_parts(self.n_outputs)?;
                Finished { model, architecture, tensors, seconds }
            }
        };
        let manifest = self.manifest(index, finished.architecture.clone(), trained.git.as_ref(), &trained.device)?;
        if !reused {
            checkpoints::save_finished(&saved_path, manifest.clone(), &finished)?;
        }
        let model = Model::from_bundle(&Bundle::new(manifest, finished.tensors.clone()))
            .map_err(|source| Error::Scoring { model: planned.name.clone(), source: Box::new(source) })?;
        let name = planned.name.clone();
        trained.validation_rows.add_inputs(&self.parts.holdout, &model)?;
        trained.test_rows.add_inputs(&self.parts.test, &model)?;
        let validation = self.score(&self.parts.holdout, trained.validation_rows.score(&name, &model)?)?;
        let test_scores = trained.test_rows.score(&name, &model)?;
        let test = self.score(&self.parts.test, test_scores.clone())?;
        bar.done(&format!("validation {} {}", validation.metric, short(validation.value)));
        tracing::debug!(model = %name, kind = finished.model.kind(), reused, train_seconds = finished.seconds, "model trained and scored");
        Ok(Fitted { name, kind: finished.model.kind(), finished, model, validation, test, test_scores, history })
    }

    /// The selection score of `values` (scores of the rows of `df`).
    fn score(&self, df: &polars::prelude::DataFrame, values: Vec<f64>) -> Result<Score> {
        let schema = self.schema();
        let predictions = Predictions { task: schema.task, n_rows: df.height(), n_outputs: self.n_outputs, values };
        Ok(score(&predictions, df, schema)?)
    }
}

/// A number with up to 4 decimals and no trailing zeros.
fn short(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let text = format!("{value:.4}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

/// An error and its sources, `: `-separated.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

//! The path `kiln train`, `kiln run` and `kiln compare` share: read and validate the data,
//! split and version it, fit the preprocessor, start (or resume) the run, and fit every
//! configured model with progress and checkpoints; then export a chosen model.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use kiln_core::bundle::{
    Architecture, Bundle, DataHashes, FORMAT_VERSION, KILN_VERSION, Manifest, ReferenceDistributions,
};
use kiln_core::device::DeviceSpec;
use kiln_core::preprocess::Preprocessor;
use kiln_core::schema::{Schema, Task};
use kiln_data::fit::{feature_columns, fit_preprocessor, with_refs};
use kiln_data::load::{self, Source, Table};
use kiln_data::snapshot::Snapshot;
use kiln_data::split::{self, Part};
use kiln_track::{Artifact, DataVersions, GitInfo, NewRun, RunHandle, Store};
use kiln_train::backend::{Backend, Precision};
use kiln_train::config::{ModelPlan, ModelsSection};
use kiln_train::nn::{CheckpointSpec, EpochStats};
use kiln_train::session::{Score, TrainingData, fit_model_on, score};
use polars::prelude::DataFrame;

use crate::commands::checkpoints::{self, Finished};
use crate::commands::train::{DeviceArgs, ResumeArgs};
use crate::output::{self, Format, Table as OutTable, num};
use crate::progress::Progress;
use crate::run_config::{self, LoadedConfig};

/// How to run the shared path.
#[derive(Debug, Clone)]
pub(crate) struct PipelineOptions<'a> {
    pub(crate) config: &'a Path,
    pub(crate) device: DeviceSpec,
    pub(crate) precision: Precision,
    /// The command recorded with the run: `train`, `run` or `compare`.
    pub(crate) command: &'static str,
    pub(crate) resume: Option<&'a str>,
    pub(crate) checkpoint_every: usize,
    pub(crate) format: Format,
}

impl<'a> PipelineOptions<'a> {
    /// The options of `command` from its arguments; without `resume` (`kiln compare`), no
    /// resuming and no checkpoints.
    pub(crate) fn new(
        config: &'a Path,
        command: &'static str,
        device: &DeviceArgs,
        resume: Option<&'a ResumeArgs>,
        format: Format,
    ) -> Self {
        Self {
            config,
            device: device.device,
            precision: device.precision,
            command,
            resume: resume.and_then(|r| r.resume.as_deref()),
            checkpoint_every: resume.map_or(0, |r| r.checkpoint_every),
            format,
        }
    }
}

/// Everything prepared before the models are fitted.
pub(crate) struct Session {
    pub(crate) config: LoadedConfig,
    pub(crate) schema: Schema,
    pub(crate) snapshot: Snapshot,
    pub(crate) train_df: DataFrame,
    /// The validation rows (the test rows when no validation part is configured).
    pub(crate) holdout: DataFrame,
    pub(crate) test_df: DataFrame,
    /// Where the test rows came from, for reports.
    pub(crate) test_label: String,
    pub(crate) preprocessor: Preprocessor,
    pub(crate) store: Store,
    /// The live run (taken when it finishes or fails).
    run: Option<RunHandle>,
    pub(crate) run_id: String,
    pub(crate) checkpoint_dir: PathBuf,
    pub(crate) git: Option<GitInfo>,
    pub(crate) device: String,
    /// Which trainer and device the neural models use.
    pub(crate) backend: Backend,
    pub(crate) reference: ReferenceDistributions,
    pub(crate) models: ModelPlan,
    pub(crate) n_outputs: usize,
}

/// One fitted model and its scores.
pub(crate) struct Fitted {
    pub(crate) name: String,
    pub(crate) finished: Finished,
    pub(crate) validation: Score,
    pub(crate) test: Score,
    /// Per-epoch history of a neural model fitted in this call (empty when reloaded).
    pub(crate) history: Vec<EpochStats>,
}

/// Read, validate, split and version the data, fit the preprocessor and open the run.
/// Returns `Ok(None)` after printing every finding when the data fails validation (exit 1).
pub(crate) fn prepare(
    options: &PipelineOptions<'_>,
    store_path: &Path,
    progress: &Progress,
    out: &mut dyn Write,
) -> anyhow::Result<Option<Session>> {
    let config = run_config::load(options.config)?;
    let backend = Backend::select(options.device, options.precision)?;
    let device = backend.label().to_string();
    let plan = &config.plan;
    let step = progress.step(format!("reading {}", plan.train_path.display()));
    let train_file = load::load(plan, Source::Train, plan.validation.max_examples)?;
    let test_file = plan.test_path.as_ref().map(|_| load::load(plan, Source::Test, 5)).transpose()?;
    step.done();
    let report = kiln_data::validate::validate(
        &config.path.display().to_string(),
        &plan.validation,
        &train_file,
        test_file.as_ref(),
    )?;
    if !report.passed() {
        // A validation gate, not a crash: report every finding and exit 1.
        let mut t = OutTable::new(&["check", "file", "column", "count", "detail"]).titled(format!(
            "training refused: {} fails validation ({} error(s)); see `kiln data validate`",
            config.path.display(),
            report.n_errors()
        ));
        for f in report.findings.iter().filter(|f| f.severity == kiln_data::findings::Severity::Error) {
            t.push(vec![
                f.check.as_str().into(),
                f.file.clone(),
                f.column.clone().unwrap_or_default(),
                f.count.to_string(),
                f.message.clone(),
            ]);
        }
        output::emit(out, options.format, &[t], &report)?;
        return Ok(None);
    }
    let schema = train_file.schema.clone();
    let models = ModelsSection { models: config.config.models.clone() }
        .validate(&schema)
        .with_context(|| format!("checking [[models]] in {}", config.path.display()))?;
    anyhow::ensure!(!models.models.is_empty(), "{} declares no [[models]]", config.path.display());

    let n_test_rows = test_file.as_ref().map_or(0, Table::n_rows);
    let split = split::assign(&plan.split, plan.split_seed, &train_file, n_test_rows)?;
    let snapshot =
        kiln_data::snapshot::snapshot(&config.path.display().to_string(), &train_file, test_file.as_ref(), &split)?;
    let train_df = split.select(&train_file.df, Part::Train)?;
    let valid_df = split.select(&train_file.df, Part::Validation)?;
    let (test_df, test_label) = match &test_file {
        Some(t) => (t.df.clone(), t.path.display().to_string()),
        None => (split.select(&train_file.df, Part::Test)?, "the test split".to_string()),
    };
    let holdout = if valid_df.height() > 0 { valid_df } else { test_df.clone() };
    let preprocessor = fit_preprocessor(&plan.preprocess, &train_df, &schema)?;

    let store = crate::commands::track::open_store(store_path)?;
    let git = kiln_track::git_info(Path::new("."));
    let data = DataVersions {
        data_hash: Some(snapshot.dataset_hash.clone()),
        schema_hash: Some(snapshot.schema_hash.clone()),
        split_hash: Some(snapshot.split.hash.clone()),
    };
    let run = match options.resume {
        Some(id) => {
            let detail = store.show_run(id)?;
            checkpoints::check_resumable(&detail, options.command, &config.path, &config.text, &data)?;
            store.resume_run(&detail.id).with_context(|| format!("resuming run {}", detail.id))?
        }
        None => {
            let params: BTreeMap<String, String> = models
                .models
                .iter()
                .map(|m| (format!("model.{}", m.name), m.spec.kind().to_string()))
                .chain([("split.method".to_string(), snapshot.split.method.clone())])
                .collect();
            store.start_run(&NewRun {
                name: plan.project.name.clone(),
                command: options.command.into(),
                config: config.text.clone(),
                params,
                data,
                git: git.clone(),
                seed: Some(plan.project.seed),
                device: Some(device.clone()),
                kiln_version: KILN_VERSION.into(),
            })?
        }
    };
    let run_id = run.id().to_string();
    let checkpoint_dir = checkpoints::run_dir(store.path(), &run_id);
    let features = feature_columns(&train_df, &schema)?;
    let reference = with_refs(&features, |refs| ReferenceDistributions::fit(&preprocessor, refs))?;
    let n_outputs = if schema.task == Task::Multiclass { schema.classes.len() } else { 1 };
    Ok(Some(Session {
        config,
        schema,
        snapshot,
        train_df,
        holdout,
        test_df,
        test_label,
        preprocessor,
        store,
        run: Some(run),
        run_id,
        checkpoint_dir,
        git,
        device,
        backend,
        reference,
        models,
        n_outputs,
    }))
}

impl Session {
    /// The live run.
    pub(crate) fn run(&self) -> anyhow::Result<&RunHandle> {
        self.run.as_ref().context("the run has already ended")
    }

    /// Mark the run failed with `error`.
    pub(crate) fn fail(&mut self, error: &str) -> anyhow::Result<()> {
        if let Some(run) = self.run.take() {
            run.fail(error)?;
        }
        Ok(())
    }

    /// Mark the run finished and remove its checkpoints.
    pub(crate) fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(run) = self.run.take() {
            run.finish(kiln_track::RunStatus::Finished)?;
        }
        self.remove_checkpoints();
        Ok(())
    }

    /// The manifest of model `index`; callers set its architecture and metrics.
    pub(crate) fn manifest(&self, index: usize) -> anyhow::Result<Manifest> {
        Ok(Manifest {
            format_version: FORMAT_VERSION.into(),
            task: self.schema.task,
            schema: self.schema.clone(),
            preprocessor: self.preprocessor.clone(),
            architecture: Architecture::Prior { values: Vec::new() },
            hyperparameters: serde_json::to_value(&self.config.config.models[index])?,
            data: DataHashes {
                data_hash: self.snapshot.dataset_hash.clone(),
                schema_hash: self.snapshot.schema_hash.clone(),
                split_hash: self.snapshot.split.hash.clone(),
            },
            metrics: BTreeMap::new(),
            reference: self.reference.clone(),
            git_commit: self.git.as_ref().map(|g| g.commit.clone()),
            git_dirty: self.git.as_ref().is_some_and(|g| g.dirty),
            kiln_version: KILN_VERSION.into(),
            created_at: kiln_track::format_rfc3339(now_ms()),
            device: self.device.clone(),
        })
    }

    /// Fit every configured model (reloading those a resumed run already finished), log
    /// their epochs and scores, and save each finished model for a later resume.
    pub(crate) fn fit_all(
        &mut self,
        options: &PipelineOptions<'_>,
        progress: &Progress,
    ) -> anyhow::Result<Vec<Fitted>> {
        let board = progress.board();
        let mut fitted_models = Vec::new();
        let seed = self.config.plan.project.seed;
        let plans = self.models.models.clone();
        for (index, planned) in plans.iter().enumerate() {
            let mut bar = board.model(&planned.name, planned.spec.kind(), self.schema.task);
            let stem = checkpoints::file_stem(&planned.name);
            let saved_path = self.checkpoint_dir.join(format!("{stem}.model.safetensors"));
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
                        path: self.checkpoint_dir.join(format!("{stem}.ckpt")),
                        every: options.checkpoint_every,
                        resume: options.resume.is_some(),
                    });
                    let data = TrainingData {
                        schema: &self.schema,
                        preprocessor: &self.preprocessor,
                        train: &self.train_df,
                        valid: &self.holdout,
                        seed,
                    };
                    let fitted = fit_model_on(&self.backend, planned, &data, spec.as_ref(), &mut bar);
                    let (model, report, seconds) = match fitted {
                        Ok(fitted) => fitted,
                        Err(e) => {
                            bar.failed();
                            self.fail(&format!("{e}"))?;
                            return Err(anyhow::Error::new(e).context(format!("training model `{}`", planned.name)));
                        }
                    };
                    if let Some(report) = report {
                        for e in &report.epochs {
                            let step = e.epoch as u64;
                            self.run()?.log_metrics(&[
                                (&format!("{}.epoch.train_loss", planned.name), step, e.train_loss),
                                (&format!("{}.epoch.valid_metric", planned.name), step, e.valid_metric),
                                (&format!("{}.epoch.samples_per_sec", planned.name), step, e.samples_per_sec),
                            ])?;
                        }
                        history = report.epochs;
                    }
                    let (architecture, tensors) = model.to_bundle_parts(self.n_outputs)?;
                    Finished { model, architecture, tensors, seconds }
                }
            };
            let model = &finished.model;
            let validation = score(&model.predict(&self.holdout)?, &self.holdout, &self.schema)?;
            let test = score(&model.predict(&self.test_df)?, &self.test_df, &self.schema)?;
            self.run()?.log_metrics(&[
                (&format!("{}.valid_{}", planned.name, validation.metric), 0, validation.value),
                (&format!("{}.test_{}", planned.name, test.metric), 0, test.value),
                (&format!("{}.train_seconds", planned.name), 0, finished.seconds),
            ])?;
            if !reused {
                checkpoints::save_finished(&saved_path, self.manifest(index)?, &finished)?;
            }
            bar.done(&format!("validation {} {}", validation.metric, num(validation.value, 4)));
            fitted_models.push(Fitted { name: planned.name.clone(), finished, validation, test, history });
        }
        board.finish(&format!("trained {} model(s)", fitted_models.len()));
        Ok(fitted_models)
    }

    /// Write model `index` to its bundle (`out`, or `.kiln/bundles/<project>-<model>-<run>`),
    /// with `metrics` in its manifest, and log it as an artifact of the run.
    pub(crate) fn export(
        &mut self,
        index: usize,
        fitted: &Fitted,
        metrics: BTreeMap<String, f64>,
        out: Option<&Path>,
    ) -> anyhow::Result<(PathBuf, Artifact)> {
        let manifest =
            Manifest { architecture: fitted.finished.architecture.clone(), metrics, ..self.manifest(index)? };
        let project = &self.config.plan.project.name;
        let bundle_path = out.map(Path::to_path_buf).unwrap_or_else(|| {
            PathBuf::from(".kiln/bundles").join(format!("{project}-{}-{}.safetensors", fitted.name, self.run_id))
        });
        let written = Bundle::new(manifest, fitted.finished.tensors.clone()).write(&bundle_path);
        if let Err(e) = written {
            self.fail(&format!("writing the bundle {}: {e}", bundle_path.display()))?;
            return Err(anyhow::Error::new(e).context(format!("writing the bundle {}", bundle_path.display())));
        }
        let artifact = self.run()?.log_artifact(&bundle_path)?;
        Ok((bundle_path, artifact))
    }

    /// Remove the finished run's checkpoint folder (a warning if that fails).
    fn remove_checkpoints(&self) {
        if self.checkpoint_dir.exists()
            && let Err(error) = std::fs::remove_dir_all(&self.checkpoint_dir)
        {
            tracing::warn!(path = %self.checkpoint_dir.display(), %error, "could not remove the finished run's checkpoints");
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

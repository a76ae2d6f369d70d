//! Tracking as a sink: the stages tell a [`Tracker`] what they produced (a run opened, a model
//! trained, a report written, a bundle exported, a version registered) and it records it.
//! [`StoreTracker`] records into kiln-track's store: run, metrics, artifacts, registry and
//! audit log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_eval::report::EvalReport;
use kiln_track::{AuditAction, DataVersions, NewAuditEvent, NewModelVersion, NewRun, RunHandle, RunStatus, Store};

use crate::checkpoints;
use crate::error::{Error, Result};
use crate::export::{Exported, Registration};
use crate::train::Fitted;

/// What a run is started (or resumed) with.
#[derive(Debug, Clone)]
pub struct RunStart<'a> {
    /// The new run's record.
    pub run: NewRun,
    /// Continue this interrupted run instead of starting one.
    pub resume: Option<&'a str>,
    /// The config file, for the messages of a refused resume.
    pub config_path: &'a Path,
}

/// A started (or resumed) run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedRun {
    pub id: String,
    /// Where the run keeps its checkpoints and finished models until it finishes.
    pub checkpoint_dir: PathBuf,
}

/// Receives what the stages produced.
pub trait Tracker {
    /// Start the run, or resume `start.resume` after checking that it may be continued.
    fn open(&mut self, start: &RunStart<'_>) -> Result<OpenedRun>;
    /// A model is trained (or reloaded) and scored.
    fn trained(&mut self, fitted: &Fitted) -> Result<()>;
    /// The models were evaluated and the report written to `files`.
    fn evaluated(&mut self, report: &EvalReport, files: &[PathBuf]) -> Result<()>;
    /// A bundle evaluated alone (`kiln eval`): its overall metrics and report files.
    fn bundle_evaluated(&mut self, report: &EvalReport, files: &[PathBuf]) -> Result<()>;
    /// A model was exported to a bundle.
    fn exported(&mut self, exported: &Exported) -> Result<()>;
    /// Register the exported model; returns its version.
    fn registered(&mut self, registration: &Registration<'_>) -> Result<i64>;
    /// The run ended well.
    fn finished(&mut self) -> Result<()>;
    /// The run failed with `error`.
    fn failed(&mut self, error: &str) -> Result<()>;
}

/// Records into a kiln-track store.
#[derive(Debug)]
pub struct StoreTracker {
    path: PathBuf,
    /// Opened with the run, so that a run refused before it starts leaves no store behind.
    store: Option<Store>,
    run: Option<RunHandle>,
}

impl StoreTracker {
    /// A tracker for the store at `path` (created, if needed, when a run opens).
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf(), store: None, run: None }
    }

    /// The store, opened on first use.
    pub fn store(&mut self) -> Result<&Store> {
        if self.store.is_none() {
            let store = Store::open(&self.path)
                .map_err(|source| Error::OpenStore { path: self.path.clone(), source: Box::new(source) })?;
            self.store = Some(store);
        }
        self.store.as_ref().ok_or(Error::RunEnded)
    }

    fn run(&self) -> Result<&RunHandle> {
        self.run.as_ref().ok_or(Error::RunEnded)
    }

    fn audit(&mut self, action: AuditAction, target: String, details: serde_json::Value) -> Result<()> {
        let event = NewAuditEvent { actor: kiln_track::default_actor(), action, target, reason: None, details };
        self.store()?.append_audit(&event)?;
        Ok(())
    }
}

impl Tracker for StoreTracker {
    fn open(&mut self, start: &RunStart<'_>) -> Result<OpenedRun> {
        let store = self.store()?.clone();
        let run = match start.resume {
            Some(id) => {
                let detail = store.show_run(id)?;
                let new = &start.run;
                checkpoints::check_resumable(&detail, &new.command, start.config_path, &new.config, &new.data)?;
                store
                    .resume_run(&detail.id)
                    .map_err(|source| Error::Resume { id: detail.id.to_string(), source: Box::new(source) })?
            }
            None => store.start_run(&start.run)?,
        };
        let id = run.id().to_string();
        self.run = Some(run);
        Ok(OpenedRun { checkpoint_dir: checkpoints::run_dir(store.path(), &id), id })
    }

    fn trained(&mut self, fitted: &Fitted) -> Result<()> {
        let run = self.run()?;
        let name = &fitted.name;
        for e in &fitted.history {
            let step = e.epoch as u64;
            run.log_metrics(&[
                (&format!("{name}.epoch.train_loss"), step, e.train_loss),
                (&format!("{name}.epoch.valid_metric"), step, e.valid_metric),
                (&format!("{name}.epoch.samples_per_sec"), step, e.samples_per_sec),
            ])?;
        }
        let (validation, test) = (&fitted.validation, &fitted.test);
        run.log_metrics(&[
            (&format!("{name}.valid_{}", validation.metric), 0, validation.value),
            (&format!("{name}.test_{}", test.metric), 0, test.value),
            (&format!("{name}.train_seconds"), 0, fitted.finished.seconds),
        ])?;
        Ok(())
    }

    fn evaluated(&mut self, report: &EvalReport, files: &[PathBuf]) -> Result<()> {
        let run = self.run()?;
        let mut points: Vec<(String, f64)> = Vec::new();
        for (model, verdict) in report.models.iter().zip(&report.verdicts) {
            if let Some(overall) = model.overall() {
                for (metric, value) in &overall.metrics {
                    if let Some(v) = value.value {
                        points.push((format!("{}.test.{metric}", model.name), v));
                    }
                }
            }
            points.push((format!("{}.gates_passed", model.name), if verdict.passed { 1.0 } else { 0.0 }));
        }
        let refs: Vec<(&str, u64, f64)> = points.iter().map(|(k, v)| (k.as_str(), 0, *v)).collect();
        run.log_metrics(&refs)?;
        for f in files {
            run.log_artifact(f)?;
        }
        let run_id = run.id().to_string();
        let verdicts: BTreeMap<_, _> = report.verdicts.iter().map(|v| (v.model.clone(), v.passed)).collect();
        self.audit(AuditAction::Evaluate, run_id, serde_json::json!({ "chosen": report.chosen, "verdicts": verdicts }))
    }

    fn bundle_evaluated(&mut self, report: &EvalReport, files: &[PathBuf]) -> Result<()> {
        let run = self.run()?;
        if let Some(m) = report.models.first() {
            let points: Vec<(String, f64)> = m
                .overall()
                .map(|s| s.metrics.iter().filter_map(|(k, v)| Some((format!("eval.{k}"), v.value?))).collect())
                .unwrap_or_default();
            let refs: Vec<(&str, u64, f64)> = points.iter().map(|(k, v)| (k.as_str(), 0, *v)).collect();
            run.log_metrics(&refs)?;
        }
        for f in files {
            run.log_artifact(f)?;
        }
        Ok(())
    }

    fn exported(&mut self, exported: &Exported) -> Result<()> {
        let size = std::fs::metadata(&exported.path).ok().map(|m| m.len());
        let id = self.run()?.id().clone();
        self.store()?.record_artifact(&id, &exported.path.display().to_string(), &exported.sha256, size)?;
        Ok(())
    }

    fn registered(&mut self, registration: &Registration<'_>) -> Result<i64> {
        let run_id = self.run()?.id().clone();
        let exported = registration.exported;
        let bundle = exported.path.display().to_string();
        let version = self.store()?.register_model(&NewModelVersion {
            name: registration.project.to_string(),
            run_id: run_id.clone(),
            bundle_path: bundle.clone(),
            bundle_sha256: exported.sha256.clone(),
            passed: registration.passed,
            verdict: registration.verdict.clone(),
            actor: kiln_track::default_actor(),
        })?;
        let details = serde_json::json!({ "run": run_id.as_str(), "model": exported.model, "sha256": exported.sha256 });
        if registration.record_training {
            self.audit(AuditAction::Train, run_id.to_string(), details.clone())?;
        }
        self.audit(AuditAction::Export, bundle, details)?;
        Ok(version.version)
    }

    fn finished(&mut self) -> Result<()> {
        if let Some(run) = self.run.take() {
            run.finish(RunStatus::Finished)?;
        }
        Ok(())
    }

    fn failed(&mut self, error: &str) -> Result<()> {
        if let Some(run) = self.run.take() {
            run.fail(error)?;
        }
        Ok(())
    }
}

/// The data versions of a run, from its snapshot.
pub(crate) fn data_versions(snapshot: &kiln_data::snapshot::Snapshot) -> DataVersions {
    DataVersions {
        data_hash: Some(snapshot.dataset_hash.clone()),
        schema_hash: Some(snapshot.schema_hash.clone()),
        split_hash: Some(snapshot.split.hash.clone()),
    }
}

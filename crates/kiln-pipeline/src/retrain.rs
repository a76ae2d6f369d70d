//! `kiln retrain` as a library: one retraining of a served model from the world's labels.
//!
//! 1. Lock: the store lock `retrain-<model>`, so that two retrainings of one model never
//!    interleave (a second is refused, naming the holder, or waits). Runs left `running` by a
//!    dead process were marked `interrupted` when the store opened; the retraining names the
//!    interrupted retrainings since the last one that ended and removes their checkpoints.
//! 2. Triggers ([`trigger`]): new labels since the champion was registered, the drift verdict
//!    of the recent log, enough judging rows.
//! 3. Dataset ([`dataset`]): the original data plus the labelled logged rows of the window,
//!    less the judging rows, written with its hashed manifest.
//! 4. Train: [`crate::run::run`] as `kiln run` runs it, on a copy of the config whose `[data]`
//!    train file is the dataset; the run records `retrain.parent`, `retrain.dataset`,
//!    `retrain.dataset_hash` and `retrain.manifest`.
//! 5. Judge ([`verdict`], [`judge`]): champion and challenger on the judging rows, every
//!    `[acceptance]` gate and the paired non-inferiority test overall and per slice group.
//! 6. Register the challenger with that verdict; when it passed, point the alias `challenger`
//!    at it, with the figures in the audit log.
//!
//! Every file is written atomically and every registry move is one transaction, so a process
//! killed at any step leaves nothing half-written and the next retraining starts cleanly. The
//! kill -9 drills stop it at the failpoints `retrain.locked`, `retrain.dataset`,
//! `retrain.judged` (verdict written, challenger not registered), `retrain.registered`,
//! `retrain.recorded` and `retrain.aliased` ([`crate::failpoint`]).

pub mod config;
pub mod dataset;
pub mod judge;
pub mod tracker;
pub mod trigger;
pub mod verdict;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kiln_core::bundle::Bundle;
use kiln_core::schema::Task;
use kiln_data::validate::ValidationReport;
use kiln_track::{LineageTarget, ModelVersion, Promotion, RunFilter, RunStatus, Store};
use kiln_train::backend::Backend;

use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::feedback::{LabelledRows, LogQuery, labelled_rows};
use crate::progress::Progress;
use crate::retrain::config::RetrainPlan;
use crate::retrain::dataset::{Assembly, Dataset, DatasetManifest, assemble, hold_out};
use crate::retrain::tracker::RetrainTracker;
use crate::retrain::verdict::{HeldOutJudge, RetrainVerdict};
use crate::run::{Outcome, RunOptions, run};
use crate::track::StoreTracker;
use crate::train::TrainOptions;

/// The alias a passing challenger gets.
pub const CHALLENGER: &str = "challenger";

/// What to retrain and how.
#[derive(Debug, Clone)]
pub struct RetrainRequest<'a> {
    pub config: &'a LoadedConfig,
    /// `NAME@ALIAS` or `NAME@vN`: the model served now (NAME is the config's project).
    pub model: &'a str,
    /// The prediction log folder.
    pub log_dir: &'a Path,
    pub store: &'a Path,
    /// Retrain only with at least this many new labels (default `[retrain] min_new_labels`).
    pub min_new_labels: Option<u64>,
    /// Retrain only when the recent log drifted (also when `[retrain] on_drift`).
    pub on_drift: bool,
    /// Wait for another retraining of the model instead of refusing.
    pub wait: bool,
    /// The time the window is counted back from (ms since the epoch).
    pub now_ms: i64,
    pub backend: Backend,
    /// The report folder (default `<store folder>/reports/<project>-retrain-<time>`).
    pub report_dir: Option<&'a Path>,
}

/// Why a retraining did not run, with the figures that decided it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NotTriggered {
    pub champion: String,
    pub reason: String,
    pub labelled_rows: usize,
    pub new_labels: usize,
    pub judge_rows: usize,
    pub drift: Option<bool>,
}

/// What a retraining did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Retrained {
    pub champion: String,
    pub run_id: String,
    /// The challenger's registered version.
    pub version: i64,
    pub passed: bool,
    /// Whether the alias `challenger` now points at it.
    pub aliased: bool,
    pub dataset: DatasetManifest,
    pub manifest_path: PathBuf,
    pub verdict: RetrainVerdict,
    pub report_dir: PathBuf,
    pub report_files: Vec<PathBuf>,
    /// The drift verdict of the recent log, when the retraining asked for one.
    pub drift: Option<bool>,
    /// Retraining runs that were interrupted (their process died) since the last one ended.
    pub interrupted: Vec<String>,
}

/// The outcome of a retraining.
#[derive(Debug)]
pub enum RetrainOutcome {
    NotTriggered(NotTriggered),
    /// The dataset failed validation: nothing trained.
    Refused(ValidationReport),
    Done(Box<Retrained>),
}

/// Run one retraining.
pub fn retrain(request: &RetrainRequest<'_>, progress: &dyn Progress) -> Result<RetrainOutcome> {
    let config = request.config;
    let project = config.plan.project.name.clone();
    let target = champion_target(request.model, &project)?;
    let store = Store::open(request.store)
        .map_err(|source| Error::OpenStore { path: request.store.to_path_buf(), source: Box::new(source) })?;
    let lock_name = format!("retrain-{project}");
    let _lock = match store.lock(&lock_name)? {
        Some(lock) => lock,
        None if request.wait => {
            progress.step(format!("waiting for the retraining of {project} that holds the lock")).done();
            store.lock_wait(&lock_name)?
        }
        None => {
            let holder = store.lock_holder(&lock_name)?;
            return Err(Error::RetrainBusy {
                model: project,
                holder: holder.map_or_else(
                    || "another process".to_string(),
                    |h| format!("process {} on {} since {}", h.pid, h.host, h.since),
                ),
            });
        }
    };
    crate::failpoint::hit("retrain.locked");
    let interrupted = interrupted_retrainings(&store, &project)?;
    let champion = match target {
        Served::Alias(alias) => store.resolve_alias(&project, &alias)?,
        Served::Version(version) => store.model_version(&project, version)?,
    };
    let parent = format!("{}@v{}", champion.name, champion.version);
    let champion_path = PathBuf::from(&champion.bundle_path);
    let champion_bundle = Bundle::read(&champion_path)?;
    let plan = &config.retrain;
    let window = (request.now_ms - plan.window.as_millis() as i64, request.now_ms);
    let score_column = score_column(&champion_bundle);
    let step = progress.step(format!("reading the labelled rows of {project} in {}", request.log_dir.display()));
    let query = LogQuery {
        log_dir: request.log_dir,
        model: &project,
        versions: None,
        routes: &[],
        since_ms: Some(window.0),
        until_ms: Some(window.1),
        labelled_only: true,
    };
    let rows = labelled_rows(&query, &score_column)?;
    step.done();
    let drift = match check_triggers(request, &champion, &champion_bundle, &rows, progress)? {
        Ok(drift) => drift,
        Err(skip) => return Ok(RetrainOutcome::NotTriggered(skip)),
    };
    let stamp = kiln_track::format_rfc3339(request.now_ms).replace([':', '-', '.'], "");
    let kiln_dir = store.path().parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let report_dir = request
        .report_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| kiln_dir.join("reports").join(format!("{project}-retrain-{stamp}")));
    let step = progress.step("assembling the dataset".into());
    let dataset = assemble(&Assembly {
        config,
        rows: &rows,
        window,
        judge: plan.judge,
        parent: &parent,
        dir: &kiln_dir.join("datasets"),
    })?;
    step.done();
    crate::failpoint::hit("retrain.dataset");
    let train_config = dataset_config(config, &dataset.path)?;
    let judge = HeldOutJudge {
        config,
        champion: (&parent, &champion_path),
        judging: &dataset.judging,
        report_dir: report_dir.join("judge"),
        outcome: Mutex::new(None),
    };
    let bundle = kiln_dir.join("bundles").join(format!("{project}-challenger-{stamp}.safetensors"));
    let train =
        TrainOptions { backend: request.backend.clone(), command: "retrain", resume: None, checkpoint_every: 0 };
    let options =
        RunOptions { train: &train, report_dir: Some(&report_dir), export: Some(Some(&bundle)), judge: Some(&judge) };
    let mut tracker =
        RetrainTracker { inner: StoreTracker::new(request.store), params: retrain_params(&parent, &dataset) };
    let summary = match run(train_config, &options, &mut tracker, progress)? {
        Outcome::Refused(report) => return Ok(RetrainOutcome::Refused(report)),
        Outcome::Done(summary) => summary,
    };
    let (Some((_, version)), Some((verdict, judge_files))) = (summary.exported, judge.take()) else {
        return Err(Error::NoChallenger { run: summary.run_id });
    };
    crate::failpoint::hit("retrain.registered");
    let mut report_files = summary.report_files;
    report_files.extend(judge_files);
    record(&store, &summary.run_id, &verdict, &report_files, &dataset)?;
    crate::failpoint::hit("retrain.recorded");
    let aliased = verdict.passed && point_challenger(&store, &project, version, &summary.run_id, &verdict)?;
    crate::failpoint::hit("retrain.aliased");
    Ok(RetrainOutcome::Done(Box::new(Retrained {
        champion: parent,
        run_id: summary.run_id,
        version,
        passed: verdict.passed,
        aliased,
        dataset: dataset.manifest,
        manifest_path: dataset.manifest_path,
        verdict,
        report_dir,
        report_files,
        drift,
        interrupted,
    })))
}

/// The served model: an alias or a version of the config's project.
enum Served {
    Alias(String),
    Version(i64),
}

/// `NAME@ALIAS` or `NAME@vN` of the config's project.
fn champion_target(model: &str, project: &str) -> Result<Served> {
    let target: LineageTarget = model.parse().map_err(|_| Error::ModelTarget { model: model.to_string() })?;
    let (name, served) = match target {
        LineageTarget::Alias { name, alias } => (name, Served::Alias(alias)),
        LineageTarget::Version { name, version } => (name, Served::Version(version)),
        LineageTarget::Run(_) => return Err(Error::ModelTarget { model: model.to_string() }),
    };
    if name != project {
        return Err(Error::ModelProject { model: model.to_string(), project: project.to_string() });
    }
    Ok(served)
}

/// The logged output read as each row's score: the positive class's probability (binary),
/// else the prediction.
fn score_column(bundle: &Bundle) -> String {
    let schema = &bundle.manifest.schema;
    match schema.task {
        Task::Binary => format!("p_{}", schema.classes.get(1).map_or("1", String::as_str)),
        _ => "predicted".to_string(),
    }
}

/// The drift verdict (when asked for) if the retraining should run, else why not.
fn check_triggers(
    request: &RetrainRequest<'_>,
    champion: &ModelVersion,
    bundle: &Bundle,
    rows: &LabelledRows,
    progress: &dyn Progress,
) -> Result<Result<Option<bool>, NotTriggered>> {
    let plan: &RetrainPlan = &request.config.retrain;
    let held = hold_out(rows, plan.judge);
    let labelled = held.train.len() + held.judge.len();
    let new_labels = trigger::new_labels(rows, &champion.created_at);
    let mut skip = NotTriggered {
        champion: format!("{}@v{}", champion.name, champion.version),
        reason: String::new(),
        labelled_rows: labelled,
        new_labels,
        judge_rows: held.judge.len(),
        drift: None,
    };
    let min_new = request.min_new_labels.unwrap_or(plan.min_new_labels);
    if (new_labels as u64) < min_new {
        skip.reason = format!("{new_labels} new label(s) since {} was registered; {min_new} wanted", skip.champion);
        return Ok(Err(skip));
    }
    if held.judge.len() < plan.min_judge_rows {
        skip.reason = format!(
            "{} labelled row(s) to judge on; [retrain] min_judge_rows = {}\nhint: wait for more labels, or lower \
             min_judge_rows or raise judge_share",
            held.judge.len(),
            plan.min_judge_rows
        );
        return Ok(Err(skip));
    }
    if request.on_drift || plan.on_drift {
        let query = LogQuery {
            log_dir: request.log_dir,
            model: &champion.name,
            versions: None,
            routes: &["primary", "canary"],
            since_ms: Some(request.now_ms - plan.window.as_millis() as i64),
            until_ms: Some(request.now_ms),
            labelled_only: false,
        };
        let recent = labelled_rows(&query, &score_column(bundle))?;
        let drift = trigger::drifted(request.config, (bundle, Path::new(&champion.bundle_path)), &recent, progress)?;
        skip.drift = Some(drift);
        if !drift {
            skip.reason = format!("no drift in the {} logged rows of the window", recent.len());
            return Ok(Err(skip));
        }
    }
    Ok(Ok(skip.drift))
}

/// The retraining runs of `project` interrupted since the last one that ended; their
/// checkpoint folders are removed (a retraining restarts, it does not resume).
fn interrupted_retrainings(store: &Store, project: &str) -> Result<Vec<String>> {
    let runs = store.list_runs(&RunFilter { name: Some(project.to_string()), ..RunFilter::default() })?;
    let mut interrupted = Vec::new();
    // newest first: stop at the last retraining that ended
    for run in runs.iter().filter(|r| r.command == "retrain") {
        match run.status {
            RunStatus::Interrupted => {
                crate::checkpoints::remove_run_dir(&crate::checkpoints::run_dir(store.path(), run.id.as_str()));
                interrupted.push(run.id.to_string());
            }
            RunStatus::Finished | RunStatus::Failed => break,
            RunStatus::Running => {}
        }
    }
    Ok(interrupted)
}

/// The config with its training data replaced by the dataset.
fn dataset_config(config: &LoadedConfig, dataset: &Path) -> Result<LoadedConfig> {
    let parse_error =
        |source| Error::from(kiln_data::Error::ConfigParse { path: config.path.clone(), source: Box::new(source) });
    let mut table: toml::Table = toml::from_str(&config.text).map_err(parse_error)?;
    let absolute =
        std::path::absolute(dataset).map_err(|source| Error::ReportFolder { path: dataset.to_path_buf(), source })?;
    if let Some(data) = table.get_mut("data").and_then(toml::Value::as_table_mut) {
        data.insert("train".into(), toml::Value::String(absolute.display().to_string()));
    }
    let text = toml::to_string(&table).map_err(|source| Error::ConfigText { source })?;
    crate::config::parse(&config.path, &text)
}

fn retrain_params(parent: &str, dataset: &Dataset) -> BTreeMap<String, String> {
    BTreeMap::from([
        (kiln_track::PARENT_PARAM.to_string(), parent.to_string()),
        (kiln_track::DATASET_PARAM.to_string(), dataset.path.display().to_string()),
        (kiln_track::DATASET_HASH_PARAM.to_string(), dataset.manifest.hash.clone()),
        (kiln_track::MANIFEST_PARAM.to_string(), dataset.manifest_path.display().to_string()),
    ])
}

/// The verdict's figures, its files and the dataset manifest, on the run.
fn record(store: &Store, run: &str, verdict: &RetrainVerdict, files: &[PathBuf], dataset: &Dataset) -> Result<()> {
    let id = store.resolve_run(run)?;
    let status = if verdict.passed { "passed" } else { "failed" };
    store.log_params(&id, &BTreeMap::from([("retrain.verdict".to_string(), status.to_string())]))?;
    let mut points = vec![("retrain.passed".to_string(), if verdict.passed { 1.0 } else { 0.0 })];
    if let Some(overall) = verdict.tests.first() {
        let metric = &verdict.metric;
        for (what, value) in [
            ("champion", overall.champion),
            ("challenger", overall.challenger),
            ("improvement", overall.improvement),
            ("lower", overall.lower),
        ] {
            if let Some(v) = value {
                points.push((format!("retrain.{metric}.{what}"), v));
            }
        }
    }
    let refs: Vec<(&str, u64, f64)> = points.iter().map(|(k, v)| (k.as_str(), 0, *v)).collect();
    store.log_metrics(&id, &refs)?;
    for file in files.iter().chain([&dataset.manifest_path]) {
        store.log_artifact(&id, file)?;
    }
    Ok(())
}

/// Point `challenger` at the passing version, with the figures in the audit log.
fn point_challenger(store: &Store, name: &str, version: i64, run: &str, verdict: &RetrainVerdict) -> Result<bool> {
    let overall = verdict.tests.first();
    let figure = |v: Option<f64>| v.map_or_else(|| "none".to_string(), |v| format!("{v:.4}"));
    let reason = format!(
        "retrain: passed against {} on {} judging rows: {} {} vs {}, lower bound {} > -{}",
        verdict.champion,
        verdict.judge_rows,
        verdict.metric,
        figure(overall.and_then(|t| t.challenger)),
        figure(overall.and_then(|t| t.champion)),
        figure(overall.and_then(|t| t.lower)),
        verdict.margin
    );
    let figures = serde_json::json!({ "run": run, "verdict": verdict.tests, "champion": verdict.champion });
    let promotion = Promotion { name, version, alias: CHALLENGER, actor: &kiln_track::default_actor(), force: None };
    store.promote_because(&promotion, Some((&reason, figures)))?;
    Ok(true)
}

//! kiln's runs into MLflow: one experiment per project (the run's name), one MLflow run per kiln
//! run (found again by its `kiln.run_id` tag, so exporting twice updates instead of
//! duplicating), its parameters, metric series with their steps, kiln's provenance as tags, the
//! resolved config and the run's files as artifacts, then the registered model versions the
//! runs produced (`versions`).
//!
//! It reads the store and never writes to it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_track::{Artifact, RunDetail, RunFilter, RunId, RunSort, RunStatus, Store};
use serde::Serialize;

use crate::client::{MetricPoint, MlflowClient, MlflowRun};
use crate::error::{Error, Result};
use crate::time::parse_rfc3339_ms;
use crate::versions::{VersionExport, export_versions};

/// The tag that holds a run's kiln id in MLflow.
pub const RUN_ID_TAG: &str = "kiln.run_id";
/// The artifact folder of a run's bundle (a model version's source).
pub const BUNDLE_FOLDER: &str = "bundle";
/// Where the run's resolved config goes among its artifacts.
pub const CONFIG_ARTIFACT: &str = "kiln/config.toml";

/// MLflow's limits on one `log-batch` request.
const BATCH_PARAMS: usize = 100;
const BATCH_METRICS: usize = 1000;
/// Longer tag values are cut here (MLflow stores at most 8000 characters).
const TAG_VALUE_CHARS: usize = 5000;

/// What an export did, run by run and version by version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportReport {
    /// The tracking server's URL.
    pub url: String,
    pub runs: Vec<RunExport>,
    pub model_versions: Vec<VersionExport>,
}

/// Whether a run or model version was new to MLflow or already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Created,
    Updated,
}

impl Action {
    /// `created` or `updated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
        }
    }
}

/// One kiln run in MLflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunExport {
    /// kiln's run id.
    pub run_id: String,
    /// The experiment's name (the kiln project) and MLflow id.
    pub experiment: String,
    pub experiment_id: String,
    pub mlflow_run_id: String,
    pub action: Action,
    pub n_params: usize,
    pub n_metric_points: usize,
    pub n_tags: usize,
    pub artifacts: Vec<ArtifactExport>,
}

/// One file of a run and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArtifactExport {
    /// The path kiln recorded (the resolved config: [`CONFIG_ARTIFACT`]).
    pub path: String,
    /// Its path under the MLflow run's artifacts.
    pub destination: String,
    pub outcome: ArtifactOutcome,
}

/// What became of one artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactOutcome {
    Uploaded,
    /// The file is gone from where the run wrote it.
    Missing,
    /// The file's content is no longer what the run recorded (its sha256 differs).
    Changed,
    /// The server keeps artifacts where its REST API cannot write (started without
    /// `--serve-artifacts`).
    NotProxied,
}

/// Exports the runs `run_ids` (ids or unique prefixes, in that order; every run of the store,
/// oldest first, when empty), then the model versions they produced, to the tracking server of
/// `client`. Runs are read from the store one at a time.
pub fn export(store: &Store, client: &MlflowClient, run_ids: &[String]) -> Result<ExportReport> {
    let ids = select_runs(store, run_ids)?;
    let mut experiments: BTreeMap<String, String> = BTreeMap::new();
    let mut runs = Vec::with_capacity(ids.len());
    let mut mlflow_runs = BTreeMap::new();
    let mut version_tags = Vec::new();
    for id in &ids {
        let detail = store.show_run(id.as_str())?;
        let experiment_id = match experiments.get(&detail.name) {
            Some(id) => id.clone(),
            None => {
                let id = client.experiment_id(&detail.name)?;
                experiments.insert(detail.name.clone(), id.clone());
                id
            }
        };
        let (exported, mlflow_run) = export_run(store, client, &detail, &experiment_id)?;
        tracing::info!(run = %detail.id, mlflow_run = %exported.mlflow_run_id, action = ?exported.action, "exported a run to MLflow");
        mlflow_runs.insert(detail.id.to_string(), mlflow_run);
        version_tags.extend(detail.model_versions);
        runs.push(exported);
    }
    let model_versions = export_versions(store, client, &version_tags, &mlflow_runs)?;
    Ok(ExportReport { url: client.url().to_string(), runs, model_versions })
}

/// The full ids of the runs to export, each once.
fn select_runs(store: &Store, run_ids: &[String]) -> Result<Vec<RunId>> {
    if run_ids.is_empty() {
        let filter = RunFilter { sort: RunSort::Started { descending: false }, ..RunFilter::default() };
        return Ok(store.list_runs(&filter)?.into_iter().map(|run| run.id).collect());
    }
    let mut ids: Vec<RunId> = Vec::with_capacity(run_ids.len());
    for id_or_prefix in run_ids {
        let id = store.resolve_run(id_or_prefix)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

fn export_run(
    store: &Store,
    client: &MlflowClient,
    detail: &RunDetail,
    experiment_id: &str,
) -> Result<(RunExport, MlflowRun)> {
    let start_ms = parse_rfc3339_ms(&detail.started_at).unwrap_or(0);
    let tags = run_tags(detail);
    let (run, action) = match client.find_run(experiment_id, RUN_ID_TAG, detail.id.as_str())? {
        Some(run) => (run, Action::Updated),
        None => (client.create_run(experiment_id, detail.id.as_str(), start_ms, &tags)?, Action::Created),
    };
    let params: Vec<(String, String)> = detail.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let points: Vec<MetricPoint<'_>> = detail
        .metrics
        .iter()
        .flat_map(|(key, series)| {
            series.iter().map(move |point| MetricPoint {
                key,
                value: point.value,
                timestamp_ms: start_ms,
                step: point.step,
            })
        })
        .collect();
    client.log_batch(&run.run_id, &params[..params.len().min(BATCH_PARAMS)], &[], &tags)?;
    for chunk in params.chunks(BATCH_PARAMS).skip(1) {
        client.log_batch(&run.run_id, chunk, &[], &[])?;
    }
    for chunk in points.chunks(BATCH_METRICS) {
        client.log_batch(&run.run_id, &[], chunk, &[])?;
    }
    let artifacts = upload_artifacts(store, client, detail, &run)?;
    let end_ms = detail.ended_at.as_deref().and_then(parse_rfc3339_ms);
    client.update_run(&run.run_id, mlflow_status(detail.status), end_ms)?;
    let exported = RunExport {
        run_id: detail.id.to_string(),
        experiment: detail.name.clone(),
        experiment_id: experiment_id.to_string(),
        mlflow_run_id: run.run_id.clone(),
        action,
        n_params: params.len(),
        n_metric_points: points.len(),
        n_tags: tags.len(),
        artifacts,
    };
    Ok((exported, run))
}

/// kiln's record of a run as MLflow tags: provenance under `kiln.`, and the git commit also
/// where MLflow's UI shows a run's source version.
pub fn run_tags(detail: &RunDetail) -> Vec<(String, String)> {
    let mut tags: Vec<(&str, String)> = vec![
        (RUN_ID_TAG, detail.id.to_string()),
        ("kiln.command", detail.command.clone()),
        ("kiln.status", detail.status.as_str().to_string()),
        ("kiln.config_hash", detail.config_hash.clone()),
        ("kiln.kiln_version", detail.kiln_version.clone()),
        ("kiln.host", detail.host.clone()),
    ];
    let data = &detail.data;
    for (key, value) in [
        ("kiln.data_hash", &data.data_hash),
        ("kiln.schema_hash", &data.schema_hash),
        ("kiln.split_hash", &data.split_hash),
    ] {
        if let Some(value) = value {
            tags.push((key, value.clone()));
        }
    }
    if let Some(git) = &detail.git {
        tags.push(("kiln.git_commit", git.commit.clone()));
        tags.push(("kiln.git_dirty", git.dirty.to_string()));
        tags.push(("mlflow.source.git.commit", git.commit.clone()));
    }
    if let Some(device) = &detail.device {
        tags.push(("kiln.device", device.clone()));
    }
    if let Some(seed) = detail.seed {
        tags.push(("kiln.seed", seed.to_string()));
    }
    if let Some(error) = &detail.error {
        tags.push(("kiln.error", error.clone()));
    }
    if !detail.model_versions.is_empty() {
        tags.push(("kiln.model_versions", detail.model_versions.join(",")));
    }
    tags.into_iter().map(|(key, value)| (key.to_string(), clip(value))).collect()
}

fn clip(value: String) -> String {
    match value.char_indices().nth(TAG_VALUE_CHARS) {
        Some((at, _)) => format!("{}...", &value[..at]),
        None => value,
    }
}

/// MLflow's run status for kiln's.
pub fn mlflow_status(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "RUNNING",
        RunStatus::Finished => "FINISHED",
        RunStatus::Failed => "FAILED",
        RunStatus::Interrupted => "KILLED",
    }
}

/// The resolved config, then each recorded file whose content is still what the run recorded.
fn upload_artifacts(
    store: &Store,
    client: &MlflowClient,
    detail: &RunDetail,
    run: &MlflowRun,
) -> Result<Vec<ArtifactExport>> {
    let bundles = bundle_paths(store, detail)?;
    let mut exported = Vec::with_capacity(detail.artifacts.len() + 1);
    let config_outcome =
        uploaded(client.upload_artifact(&run.artifact_uri, CONFIG_ARTIFACT, detail.config.as_bytes())?);
    exported.push(ArtifactExport {
        path: CONFIG_ARTIFACT.to_string(),
        destination: CONFIG_ARTIFACT.to_string(),
        outcome: config_outcome,
    });
    for artifact in &detail.artifacts {
        let destination = destination(artifact, &bundles, &exported);
        let outcome = upload_file(client, run, artifact, &destination)?;
        if outcome != ArtifactOutcome::Uploaded {
            tracing::warn!(run = %detail.id, path = %artifact.path, ?outcome, "artifact not uploaded to MLflow");
        }
        exported.push(ArtifactExport { path: artifact.path.clone(), destination, outcome });
    }
    Ok(exported)
}

/// The bundle paths of the model versions the run produced.
fn bundle_paths(store: &Store, detail: &RunDetail) -> Result<Vec<String>> {
    let mut paths = Vec::new();
    for tag in &detail.model_versions {
        let (name, version) = crate::versions::split_version_tag(tag);
        if let Some(version) = version {
            paths.push(store.model_version(name, version)?.bundle_path);
        }
    }
    Ok(paths)
}

/// `bundle/NAME` for a bundle, `NAME` for other files; a name taken already by another file of
/// the run gets a numbered folder (`2/NAME`).
fn destination(artifact: &Artifact, bundles: &[String], taken: &[ArtifactExport]) -> String {
    let name = Path::new(&artifact.path)
        .file_name()
        .map_or_else(|| artifact.path.clone(), |n| n.to_string_lossy().into_owned());
    let folder = if bundles.contains(&artifact.path) { format!("{BUNDLE_FOLDER}/") } else { String::new() };
    let first = format!("{folder}{name}");
    let is_free = |candidate: &String| !taken.iter().any(|t| &t.destination == candidate);
    if is_free(&first) {
        return first;
    }
    (2..).map(|n| format!("{folder}{n}/{name}")).find(is_free).expect("some numbered folder is free")
}

fn upload_file(
    client: &MlflowClient,
    run: &MlflowRun,
    artifact: &Artifact,
    destination: &str,
) -> Result<ArtifactOutcome> {
    let path = PathBuf::from(&artifact.path);
    if !path.is_file() {
        return Ok(ArtifactOutcome::Missing);
    }
    let read_error = |source| Error::ReadArtifact { url: client.url().to_string(), path: path.clone(), source };
    let sha256 = kiln_track::sha256_file(&path).map_err(|e| match e {
        kiln_track::Error::ReadFile { source, .. } => read_error(source),
        other => Error::Store(other),
    })?;
    if sha256 != artifact.sha256 {
        return Ok(ArtifactOutcome::Changed);
    }
    let file = std::fs::File::open(&path).map_err(read_error)?;
    Ok(uploaded(client.upload_artifact(&run.artifact_uri, destination, file)?))
}

fn uploaded(proxied: bool) -> ArtifactOutcome {
    if proxied { ArtifactOutcome::Uploaded } else { ArtifactOutcome::NotProxied }
}

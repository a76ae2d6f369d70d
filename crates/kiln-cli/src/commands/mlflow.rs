//! `kiln runs export --mlflow URL [RUN_ID...]`: arguments and result tables of the export of
//! kiln's runs into an MLflow tracking server. kiln-mlflow does the work; this module only
//! formats its report.

use std::io::Write;

use clap::Args;
use kiln_mlflow::{ArtifactOutcome, ExportReport, MlflowClient};
use kiln_track::Store;

use crate::EXIT_OK;
use crate::output::{self, Format, Table};
use crate::progress::Progress;

/// `kiln runs export`
#[derive(Debug, Clone, Args)]
pub struct RunsExportArgs {
    /// The MLflow tracking server, e.g. http://127.0.0.1:5000 (default: MLFLOW_TRACKING_URI).
    #[arg(long, value_name = "URL", env = crate::env::MLFLOW_TRACKING_URI)]
    pub mlflow: String,
    /// Runs to export (ids or unique prefixes); every run of the store when none is given.
    #[arg(value_name = "RUN_ID")]
    pub ids: Vec<String>,
}

/// Exports the runs and prints what became of each run, model version and file.
pub(crate) fn runs_export(
    store: &Store,
    args: &RunsExportArgs,
    format: Format,
    progress: Progress,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let client = MlflowClient::new(&args.mlflow)?;
    let what = if args.ids.is_empty() { "every run".to_string() } else { format!("{} runs", args.ids.len()) };
    let step = progress.step(format!("exporting {what} to MLflow at {}", client.url()));
    let report = kiln_mlflow::export(store, &client, &args.ids);
    step.done();
    let report = report?;
    output::emit(out, format, &tables(&report), &report)?;
    Ok(EXIT_OK)
}

fn tables(report: &ExportReport) -> Vec<Table> {
    let mut runs = Table::new(&["run", "experiment", "mlflow run", "action", "params", "metric points", "files"])
        .titled(format!("{} runs exported to {}", report.runs.len(), report.url));
    let mut skipped = Table::new(&["run", "file", "why"]).titled("files not uploaded");
    for run in &report.runs {
        let uploaded = run.artifacts.iter().filter(|a| a.outcome == ArtifactOutcome::Uploaded).count();
        runs.push(vec![
            run.run_id.clone(),
            format!("{} ({})", run.experiment, run.experiment_id),
            run.mlflow_run_id.clone(),
            run.action.as_str().to_string(),
            run.n_params.to_string(),
            run.n_metric_points.to_string(),
            format!("{uploaded}/{}", run.artifacts.len()),
        ]);
        for artifact in run.artifacts.iter().filter(|a| a.outcome != ArtifactOutcome::Uploaded) {
            skipped.push(vec![run.run_id.clone(), artifact.path.clone(), why(artifact.outcome).to_string()]);
        }
    }
    let mut versions = Table::new(&["model", "kiln version", "mlflow version", "action", "aliases"])
        .titled(format!("{} model versions", report.model_versions.len()));
    for version in &report.model_versions {
        versions.push(vec![
            version.name.clone(),
            format!("v{}", version.version),
            version.mlflow_version.clone(),
            version.action.as_str().to_string(),
            version.aliases.join(", "),
        ]);
    }
    let mut tables = vec![runs, versions];
    if !skipped.rows.is_empty() {
        tables.push(skipped);
    }
    tables
}

fn why(outcome: ArtifactOutcome) -> &'static str {
    match outcome {
        ArtifactOutcome::Uploaded => "uploaded",
        ArtifactOutcome::Missing => "missing: the file is no longer where the run wrote it",
        ArtifactOutcome::Changed => "changed since the run (its sha256 differs from the recorded one)",
        ArtifactOutcome::NotProxied => "the server does not proxy artifacts (start it with --serve-artifacts)",
    }
}

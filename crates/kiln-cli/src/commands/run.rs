//! `kiln run` (the whole path: validate → snapshot → split → train every model → evaluate →
//! gate → record → export the best passing model → write the report folder) and
//! `kiln compare` (the same without export: every model side by side).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use kiln_eval::data::{CurvePoint, ModelOutput};
use kiln_eval::evaluate::{EvalInput, evaluate};
use kiln_eval::report::EvalReport;
use kiln_track::{AuditAction, NewAuditEvent, NewModelVersion};
use serde::Serialize;

use super::evaluation::{eval_data, files_table, measure_cost, report_tables, scores, write_report};
use super::pipeline::{self, Fitted, PipelineOptions, Session};
use super::train::{DeviceArgs, ResumeArgs};
use crate::output::{self, Format, Table};
use crate::progress::Progress;
use crate::{EXIT_FAILED, EXIT_OK};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The config file.
    pub config: PathBuf,
    /// The report folder (default `.kiln/reports/<project>-<run id>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Where to write the bundle of the chosen model
    /// (default `.kiln/bundles/<project>-<model>-<run>.safetensors`).
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub resume: ResumeArgs,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The config file.
    pub config: PathBuf,
    /// The report folder (default `.kiln/reports/<project>-<run id>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// The JSON result of `kiln run` and `kiln compare`.
#[derive(Debug, Serialize)]
struct RunResult<'a> {
    run_id: &'a str,
    report_dir: String,
    /// The exported bundle (`kiln run` with a passing model).
    bundle: Option<String>,
    bundle_sha256: Option<String>,
    version: Option<i64>,
    report: &'a EvalReport,
}

pub fn run(args: &RunArgs, store_path: &Path, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    let options = PipelineOptions::new(&args.config, "run", &args.device, Some(&args.resume), args.format);
    whole_path(&options, args.out.as_deref(), Some(args.bundle.as_deref()), store_path, &progress, out)
}

pub fn compare(args: &CompareArgs, store_path: &Path, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    let options = PipelineOptions::new(&args.config, "compare", &args.device, None, args.format);
    whole_path(&options, args.out.as_deref(), None, store_path, &progress, out)
}

/// Train, evaluate and gate every model; with `export = Some(path)`, export and register
/// the chosen model.
fn whole_path(
    options: &PipelineOptions<'_>,
    report_dir: Option<&Path>,
    export: Option<Option<&Path>>,
    store_path: &Path,
    progress: &Progress,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let Some(mut session) = pipeline::prepare(options, store_path, progress, out)? else { return Ok(EXIT_FAILED) };
    let fitted = session.fit_all(options, progress)?;
    let report = match evaluate_all(&session, &fitted, progress) {
        Ok(report) => report,
        Err(e) => {
            session.fail(&format!("{e:#}"))?;
            return Err(e);
        }
    };
    let run_id = session.run_id.clone();
    let project = session.config.plan.project.name.clone();
    let dir = report_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".kiln/reports").join(format!("{project}-{run_id}")));
    let files = write_report(&dir, &report)?;
    record(&session, &report, &files)?;

    let mut exported = None;
    if let (Some(bundle_out), Some(chosen)) = (export, report.chosen.as_deref()) {
        let index = fitted
            .iter()
            .position(|f| f.name == chosen)
            .ok_or_else(|| anyhow::anyhow!("the chosen model `{chosen}` is not among the trained models"))?;
        let metrics: BTreeMap<String, f64> = report.models[index]
            .overall()
            .map(|s| s.metrics.iter().filter_map(|(k, v)| Some((k.clone(), v.value?))).collect())
            .unwrap_or_default();
        let (bundle_path, artifact) = session.export(index, &fitted[index], metrics, bundle_out)?;
        let verdict = &report.verdicts[index];
        let version = session.store.register_model(&NewModelVersion {
            name: project.clone(),
            run_id: session.run()?.id().clone(),
            bundle_path: bundle_path.display().to_string(),
            bundle_sha256: artifact.sha256.clone(),
            passed: verdict.passed,
            verdict: serde_json::to_value(verdict)?,
            actor: kiln_track::default_actor(),
        })?;
        session.store.append_audit(&NewAuditEvent {
            actor: kiln_track::default_actor(),
            action: AuditAction::Export,
            target: bundle_path.display().to_string(),
            reason: None,
            details: serde_json::json!({ "run": run_id, "model": chosen, "sha256": artifact.sha256 }),
        })?;
        exported = Some((bundle_path, artifact.sha256, version.version));
    }
    session.finish()?;

    let mut tables = report_tables(&report);
    let mut summary = Table::new(&["run", "chosen", "bundle"]).titled(match (&export, &report.chosen) {
        (Some(_), Some(_)) => "exported the best model that passed every gate",
        (Some(_), None) => "no model passed the gates: nothing exported",
        (None, _) => "compared (nothing exported)",
    });
    summary.push(vec![
        run_id.clone(),
        report.chosen.clone().unwrap_or_else(|| "-".into()),
        exported.as_ref().map(|(p, _, v)| format!("{} (v{v})", p.display())).unwrap_or_else(|| "-".into()),
    ]);
    tables.push(summary);
    tables.push(files_table(&files));
    let result = RunResult {
        run_id: &run_id,
        report_dir: dir.display().to_string(),
        bundle: exported.as_ref().map(|(p, _, _)| p.display().to_string()),
        bundle_sha256: exported.as_ref().map(|(_, s, _)| s.clone()),
        version: exported.as_ref().map(|(_, _, v)| *v),
        report: &report,
    };
    output::emit(out, options.format, &tables, &result)?;
    let failed = match export {
        Some(_) => report.chosen.is_none(),
        None => false,
    };
    Ok(if failed { EXIT_FAILED } else { EXIT_OK })
}

/// Every fitted model on the test rows: scores, costs, learning curves, then the report.
fn evaluate_all(session: &Session, fitted: &[Fitted], progress: &Progress) -> anyhow::Result<EvalReport> {
    let evaluation = &session.config.config.evaluation;
    let step = progress.step(format!("evaluating {} model(s) on {} rows", fitted.len(), session.test_df.height()));
    let data = eval_data(&session.test_df, &session.schema, evaluation)?;
    let mut models = Vec::with_capacity(fitted.len());
    for f in fitted {
        let model = &f.finished.model;
        step.set_message(format!("scoring and timing {}", f.name));
        models.push(ModelOutput {
            name: f.name.clone(),
            kind: model.kind().to_string(),
            baseline: matches!(model.kind(), "prior" | "rules"),
            scores: scores(model, &session.test_df)?,
            cost: measure_cost(model, &session.test_df, session.n_outputs, Some(f.finished.seconds))?,
            learning_curve: f
                .history
                .iter()
                .map(|e| CurvePoint { epoch: e.epoch, train_loss: e.train_loss, valid_metric: e.valid_metric })
                .collect(),
        });
    }
    step.set_message("slices, intervals, fairness, comparison and gates");
    let segments: Vec<String> = session.schema.segments().map(|c| c.name.clone()).collect();
    let report = evaluate(&EvalInput {
        project: &session.config.plan.project.name,
        data_label: &session.test_label,
        data: &data,
        models: &models,
        evaluation,
        acceptance: &session.config.config.acceptance,
        segments: &segments,
    })?;
    step.done();
    Ok(report)
}

/// Per-model test metrics and verdicts into the run, the report files as artifacts, and an
/// evaluation event in the audit log.
fn record(session: &Session, report: &EvalReport, files: &[PathBuf]) -> anyhow::Result<()> {
    let run = session.run()?;
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
    session.store.append_audit(&NewAuditEvent {
        actor: kiln_track::default_actor(),
        action: AuditAction::Evaluate,
        target: session.run_id.clone(),
        reason: None,
        details: serde_json::json!({
            "chosen": report.chosen,
            "verdicts": report.verdicts.iter().map(|v| (v.model.clone(), v.passed)).collect::<BTreeMap<_, _>>(),
        }),
    })?;
    Ok(())
}

//! `kiln eval`: an exported model on new data, as a batch evaluation report.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use kiln_core::bundle::{Bundle, KILN_VERSION};
use kiln_core::schema::Task;
use kiln_data::load;
use kiln_eval::config::{AcceptanceConfig, EvaluationConfig};
use kiln_eval::data::ModelOutput;
use kiln_eval::evaluate::{EvalInput, evaluate};
use kiln_track::{DataVersions, NewRun, RunStatus};
use kiln_train::trained::TrainedModel;

use super::evaluation::{eval_data, measure_cost, report_tables, scores, write_report};
use crate::output::{self, Format};
use crate::progress::Progress;
use crate::run_config;
use crate::{EXIT_FAILED, EXIT_OK};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The model bundle (.safetensors).
    #[arg(long)]
    pub bundle: PathBuf,
    /// Labelled rows: Parquet, or CSV with a header, with the bundle's columns.
    #[arg(long)]
    pub data: PathBuf,
    /// A config whose `[evaluation]` and `[acceptance]` apply (default: the segment columns,
    /// every metric of the task, no gates).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The report folder (default `.kiln/reports/eval-<bundle name>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn eval(args: &EvalArgs, store_path: &Path, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    let bundle = Bundle::read(&args.bundle)?;
    let model = TrainedModel::from_bundle(&bundle)
        .with_context(|| format!("loading the model in {}", args.bundle.display()))?;
    let schema = &bundle.manifest.schema;
    let config = args.config.as_deref().map(run_config::load).transpose()?;
    let (evaluation, acceptance, config_text) = match &config {
        Some(c) => (c.config.evaluation.clone(), c.config.acceptance.clone(), c.text.clone()),
        None => (EvaluationConfig::default(), AcceptanceConfig::default(), String::new()),
    };
    let step = progress.step(format!("reading {}", args.data.display()));
    // With a config, the file is read with its read options (header, separator, missing
    // markers, label map); without one, as Parquet or CSV with a header.
    let table = match &config {
        Some(c) => load::load_path(&c.plan, &args.data, "data to evaluate", 5)?,
        None => load::load_for_schema(&args.data, schema, 5)?,
    };
    step.done();
    if let Some(first) = table.findings.first() {
        anyhow::bail!("{} has {} bad cell(s); first: {}", args.data.display(), first.count, first.summary());
    }
    let data = eval_data(&table.df, schema, &evaluation)
        .with_context(|| format!("reading the labelled rows of {}", args.data.display()))?;
    let step = progress.step("scoring and timing the model");
    let n_outputs = if schema.task == Task::Multiclass { schema.classes.len() } else { 1 };
    let mut cost = measure_cost(&model, &table.df, n_outputs, None)?;
    cost.size_bytes = std::fs::metadata(&args.bundle).ok().map(|m| m.len());
    let name = args.bundle.file_stem().map_or_else(|| "model".to_string(), |s| s.to_string_lossy().to_string());
    let models = vec![ModelOutput {
        name: name.clone(),
        kind: model.kind().to_string(),
        baseline: matches!(model.kind(), "prior" | "rules"),
        scores: scores(&model, &table.df)?,
        cost,
        learning_curve: Vec::new(),
    }];
    step.done();
    let segments: Vec<String> = schema.segments().map(|c| c.name.clone()).collect();
    let step = progress.step("evaluating");
    let data_label = args.data.display().to_string();
    let report = evaluate(&EvalInput {
        project: &name,
        data_label: &data_label,
        data: &data,
        models: &models,
        evaluation: &evaluation,
        acceptance: &acceptance,
        segments: &segments,
    })?;
    step.done();
    let dir = args.out.clone().unwrap_or_else(|| PathBuf::from(".kiln/reports").join(format!("eval-{name}")));
    let files = write_report(&dir, &report)?;

    let store = crate::commands::track::open_store(store_path)?;
    let run = store.start_run(&NewRun {
        name: name.clone(),
        command: "eval".into(),
        config: config_text,
        params: BTreeMap::from([
            ("bundle".to_string(), args.bundle.display().to_string()),
            ("data".to_string(), data_label.clone()),
        ]),
        data: DataVersions { data_hash: None, schema_hash: Some(schema.hash()), split_hash: None },
        git: kiln_track::git_info(Path::new(".")),
        seed: Some(evaluation.ci.seed),
        device: Some("cpu".into()),
        kiln_version: KILN_VERSION.into(),
    })?;
    if let Some(m) = report.models.first() {
        let points: Vec<(String, f64)> = m
            .overall()
            .map(|s| s.metrics.iter().filter_map(|(k, v)| Some((format!("eval.{k}"), v.value?))).collect())
            .unwrap_or_default();
        let refs: Vec<(&str, u64, f64)> = points.iter().map(|(k, v)| (k.as_str(), 0, *v)).collect();
        run.log_metrics(&refs)?;
    }
    for f in &files {
        run.log_artifact(f)?;
    }
    run.finish(RunStatus::Finished)?;

    let mut tables = report_tables(&report);
    tables.push(super::evaluation::files_table(&files));
    output::emit(out, args.format, &tables, &report)?;
    let passed = report.verdicts.iter().all(|v| v.passed);
    Ok(if passed { EXIT_OK } else { EXIT_FAILED })
}

//! `kiln train` (fit every configured model, export the best to a bundle, record the run)
//! and `kiln predict` (batch inference from a bundle).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use kiln_core::bundle::Bundle;
use kiln_core::device::DeviceSpec;
use kiln_core::model::Model;
use kiln_core::rows;
use kiln_data::batch::{self, Reading};
use kiln_pipeline::run::Outcome;
use kiln_pipeline::track::StoreTracker;
use kiln_pipeline::train::TrainOptions;
use kiln_train::backend::{Backend, Precision};
use kiln_train::session::Score;
use serde::Serialize;

use crate::commands::report::refusal;
use crate::output::{self, Format, Table as OutTable, num};
use crate::progress::Progress;
use crate::run_config;
use crate::{EXIT_FAILED, EXIT_OK};

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The config file.
    pub config: PathBuf,
    /// Where to write the bundle (default `.kiln/bundles/<project>-<model>-<run>.safetensors`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub resume: ResumeArgs,
}

/// Where and at what precision the neural models train (`kiln train`, `kiln run`, `kiln compare`).
#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// auto, cpu, cuda or cuda:N (neural models; baselines and trees train on the CPU).
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    /// f32, or bf16 matrix products (needs --device cuda or cpu-candle).
    #[arg(long, default_value = "f32")]
    pub precision: Precision,
}

/// Resuming an interrupted run, and how often to save what resuming needs (`kiln train`,
/// `kiln run`).
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Continue the interrupted (or failed) run RUN_ID with the same config and data: models
    /// it finished are reloaded, a neural model continues from its last checkpoint, and the
    /// run ends under its own id. Repeats an uninterrupted run exactly unless a model has a
    /// wall-time budget (`max_seconds`).
    #[arg(long, value_name = "RUN_ID")]
    pub resume: Option<String>,
    /// Save each neural model's training state every N epochs (0: never), under
    /// `<store folder>/checkpoints/<run id>/`.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub checkpoint_every: usize,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The model bundle (.safetensors).
    #[arg(long)]
    pub bundle: PathBuf,
    /// Rows to score: Parquet, or CSV with a header; any file the config reads with --config.
    #[arg(long)]
    pub data: PathBuf,
    /// A config whose `[data]` section says how to read --data (no header, separator, comment
    /// lines, missing markers, value maps), as for its own train and test files.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where to write the predictions (.parquet or .csv).
    #[arg(long)]
    pub out: PathBuf,
}

/// One trained model's line in the result.
#[derive(Debug, Serialize)]
struct ModelLine {
    name: String,
    kind: &'static str,
    train_seconds: f64,
    validation: Score,
    test: Option<Score>,
    exported: bool,
}

#[derive(Debug, Serialize)]
struct TrainResult {
    run_id: String,
    bundle: String,
    bundle_sha256: String,
    model: String,
    version: i64,
    models: Vec<ModelLine>,
}

/// The training options of `command` from its arguments; without `resume` (`kiln compare`),
/// no resuming and no checkpoints.
pub(crate) fn train_options<'a>(
    command: &'static str,
    device: &DeviceArgs,
    resume: Option<&'a ResumeArgs>,
) -> anyhow::Result<TrainOptions<'a>> {
    Ok(TrainOptions {
        backend: Backend::select(device.device, device.precision)?,
        command,
        resume: resume.and_then(|r| r.resume.as_deref()),
        checkpoint_every: resume.map_or(0, |r| r.checkpoint_every),
    })
}

pub fn train(args: &TrainArgs, store_path: &Path, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    let config = run_config::load(&args.config)?;
    let options = train_options("train", &args.device, Some(&args.resume))?;
    let mut tracker = StoreTracker::new(store_path);
    let summary = match kiln_pipeline::run::train(config, &options, args.out.as_deref(), &mut tracker, &progress)? {
        Outcome::Done(summary) => summary,
        Outcome::Refused(report) => {
            refusal(out, args.format, &args.config, &report)?;
            return Ok(EXIT_FAILED);
        }
    };
    let (run_id, project, best) = (&summary.run_id, &summary.project, summary.best);
    let bundle_path = &summary.exported.path;
    let lines: Vec<ModelLine> = summary
        .models
        .iter()
        .enumerate()
        .map(|(i, f)| ModelLine {
            name: f.name.clone(),
            kind: f.kind,
            train_seconds: f.finished.seconds,
            validation: f.validation,
            test: Some(f.test),
            exported: i == best,
        })
        .collect();
    let mut t = OutTable::new(&["model", "kind", "validation", "test", "train s", "exported"]).titled(format!(
        "run {run_id}: {project} v{} -> {}",
        summary.version,
        bundle_path.display()
    ));
    for line in &lines {
        t.push(vec![
            line.name.clone(),
            line.kind.into(),
            format!("{} {}", line.validation.metric, num(line.validation.value, 4)),
            line.test.map(|s| format!("{} {}", s.metric, num(s.value, 4))).unwrap_or_default(),
            num(line.train_seconds, 2),
            if line.exported { "yes".into() } else { String::new() },
        ]);
    }
    let result = TrainResult {
        run_id: run_id.clone(),
        bundle: bundle_path.display().to_string(),
        bundle_sha256: summary.exported.sha256.clone(),
        model: project.clone(),
        version: summary.version,
        models: lines,
    };
    output::emit(out, args.format, &[t], &result)?;
    Ok(EXIT_OK)
}

pub fn predict(args: &PredictArgs, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    let bundle = Bundle::read(&args.bundle)?;
    let model =
        Model::from_bundle(&bundle).with_context(|| format!("loading the model in {}", args.bundle.display()))?;
    let manifest = &bundle.manifest;
    let config = args.config.as_deref().map(run_config::load).transpose()?;
    let step = progress.step(format!("reading {}", args.data.display()));
    // With a config, the file is read as the config declares it (header, separator, comment
    // lines, missing markers, value maps); without one, as Parquet or CSV with a header.
    let reading = match &config {
        Some(c) => Reading::Plan(&c.plan),
        None => Reading::Schema(&manifest.schema),
    };
    let read = batch::read_batch(&args.data, reading)?;
    step.done();
    let mut report = rows::check(&manifest.schema, &manifest.preprocessor, &read.batch);
    report.problems.extend(read.problems);
    let report = report.into_result().with_context(|| format!("checking the rows of {}", args.data.display()))?;
    let columns = model.predict_columns(&read.batch).with_context(|| format!("scoring {}", args.data.display()))?;
    batch::write_batch(&args.out, &columns)?;
    let mut t = OutTable::new(&["bundle", "rows", "predictions"]).titled("predictions written");
    t.push(vec![args.bundle.display().to_string(), report.n_rows.to_string(), args.out.display().to_string()]);
    let mut tables = vec![t];
    if !report.notes.is_empty() {
        let mut notes = OutTable::new(&["column", "missing", "unseen categories", "e.g."])
            .titled("scored as the preprocessor encodes them");
        for note in &report.notes {
            notes.push(vec![
                note.column.clone(),
                note.missing.to_string(),
                note.unseen.to_string(),
                note.unseen_values.join(", "),
            ]);
        }
        tables.push(notes);
    }
    output::emit(out, Format::Table, &tables, &())?;
    Ok(EXIT_OK)
}

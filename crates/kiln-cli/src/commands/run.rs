//! `kiln run` (the whole path: validate → snapshot → split → train every model → evaluate →
//! gate → record → export the best passing model → write the report folder) and
//! `kiln compare` (the same without export: every model side by side).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use kiln_eval::report::EvalReport;
use kiln_pipeline::run::{Outcome, RunOptions};
use kiln_pipeline::track::StoreTracker;
use serde::Serialize;

use super::report::{files_table, refusal, report_tables};
use super::train::{DeviceArgs, ResumeArgs, train_options};
use crate::output::{self, Format, Table};
use crate::progress::Progress;
use crate::run_config;
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
    let train = train_options("run", &args.device, Some(&args.resume))?;
    let options = RunOptions {
        train: &train,
        report_dir: args.out.as_deref(),
        export: Some(args.bundle.as_deref()),
        judge: None,
    };
    whole_path(&args.config, &options, args.format, store_path, &progress, out)
}

pub fn compare(args: &CompareArgs, store_path: &Path, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    let train = train_options("compare", &args.device, None)?;
    let options = RunOptions { train: &train, report_dir: args.out.as_deref(), export: None, judge: None };
    whole_path(&args.config, &options, args.format, store_path, &progress, out)
}

/// Run the pipeline and print its report, the chosen model and the report files.
fn whole_path(
    config: &Path,
    options: &RunOptions<'_>,
    format: Format,
    store_path: &Path,
    progress: &Progress,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let loaded = run_config::load(config)?;
    let mut tracker = StoreTracker::new(store_path);
    let summary = match kiln_pipeline::run::run(loaded, options, &mut tracker, progress)? {
        Outcome::Done(summary) => summary,
        Outcome::Refused(report) => {
            refusal(out, format, config, &report)?;
            return Ok(EXIT_FAILED);
        }
    };
    let report = &summary.report;
    let exported = summary.exported.as_ref();
    let mut tables = report_tables(report);
    let mut table = Table::new(&["run", "chosen", "bundle"]).titled(match (&options.export, &report.chosen) {
        (Some(_), Some(_)) => "exported the best model that passed every gate",
        (Some(_), None) => "no model passed the gates: nothing exported",
        (None, _) => "compared (nothing exported)",
    });
    table.push(vec![
        summary.run_id.clone(),
        report.chosen.clone().unwrap_or_else(|| "-".into()),
        exported.map(|(e, v)| format!("{} (v{v})", e.path.display())).unwrap_or_else(|| "-".into()),
    ]);
    tables.push(table);
    tables.push(files_table(&summary.report_files));
    let result = RunResult {
        run_id: &summary.run_id,
        report_dir: summary.report_dir.display().to_string(),
        bundle: exported.map(|(e, _)| e.path.display().to_string()),
        bundle_sha256: exported.map(|(e, _)| e.sha256.clone()),
        version: exported.map(|(_, v)| *v),
        report,
    };
    output::emit(out, format, &tables, &result)?;
    let failed = options.export.is_some() && report.chosen.is_none();
    Ok(if failed { EXIT_FAILED } else { EXIT_OK })
}

//! `kiln eval`: an exported model on new data, as a batch evaluation report.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use kiln_pipeline::bundle_eval::{BundleEval, evaluate_bundle};
use kiln_pipeline::track::StoreTracker;

use super::report::{files_table, report_tables};
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
    let config = args.config.as_deref().map(run_config::load).transpose()?;
    let request =
        BundleEval { bundle: &args.bundle, data: &args.data, config: config.as_ref(), out: args.out.as_deref() };
    let mut tracker = StoreTracker::new(store_path);
    let evaluation = evaluate_bundle(&request, &mut tracker, &progress)?;
    let report = &evaluation.report;
    let mut tables = report_tables(report);
    tables.push(files_table(&evaluation.report_files));
    output::emit(out, args.format, &tables, report)?;
    let passed = report.verdicts.iter().all(|v| v.passed);
    Ok(if passed { EXIT_OK } else { EXIT_FAILED })
}

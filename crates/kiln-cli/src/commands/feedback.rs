//! `kiln feedback ingest`: ground-truth labels (CSV or Parquet) joined to the prediction log of
//! a served model; accepted labels go to the model's label store, refused rows are reported
//! with their reason; exit 1 when any row was refused.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use kiln_pipeline::feedback::{IngestOptions, IngestReport, ingest};

use super::track::open_store;
use crate::output::{self, Format, Table};
use crate::progress::Progress;
use crate::{EXIT_FAILED, EXIT_OK};

/// Refused rows listed in the table output (all of them are in the JSON and the refused file).
const LISTED: usize = 20;

#[derive(Debug, Subcommand)]
pub enum FeedbackCmd {
    /// Join a label file to the prediction log and append the accepted labels to the model's
    /// label store (`<log>/<model>/labels/`).
    Ingest(IngestArgs),
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The label file: CSV with a header, or Parquet.
    #[arg(long)]
    pub labels: PathBuf,
    /// The prediction log folder (`[serving.log] dir` of kiln-serve).
    #[arg(long)]
    pub log: PathBuf,
    /// The served model's name.
    #[arg(long)]
    pub model: String,
    /// Join on this logged input column (an id the requests carried) instead of `request_id`
    /// (and `row`, when the file has it).
    #[arg(long)]
    pub id_column: Option<String>,
    /// The label column (default: the model's target column, else `label`).
    #[arg(long)]
    pub label_column: Option<String>,
    /// When each label became known: RFC 3339 or milliseconds since the epoch (default
    /// `labelled_at` when the file has it, else the ingest time).
    #[arg(long)]
    pub time_column: Option<String>,
    /// Merge nothing when any row is refused.
    #[arg(long)]
    pub strict: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(cmd: &FeedbackCmd, store: &Path, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    match cmd {
        FeedbackCmd::Ingest(args) => ingest_cmd(args, store, progress, out),
    }
}

fn ingest_cmd(args: &IngestArgs, store: &Path, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    let store = open_store(store)?;
    let options = IngestOptions {
        labels: &args.labels,
        log_dir: &args.log,
        model: &args.model,
        id_column: args.id_column.as_deref(),
        label_column: args.label_column.as_deref(),
        time_column: args.time_column.as_deref(),
        strict: args.strict,
    };
    let step = progress.step(format!("ingesting labels from {}", args.labels.display()));
    let report =
        ingest(&options, &store).with_context(|| format!("ingesting the labels of {}", args.labels.display()))?;
    step.done();
    output::emit(out, args.format, &tables(&report), &report)?;
    Ok(if report.refused.is_empty() { EXIT_OK } else { EXIT_FAILED })
}

fn tables(report: &IngestReport) -> Vec<Table> {
    let verdict = match (report.refused.len(), report.merged) {
        (0, _) => "every label taken".to_string(),
        (n, true) => format!("{n} row(s) refused, the rest merged"),
        (n, false) => format!("{n} row(s) refused, nothing merged (--strict)"),
    };
    let mut summary = Table::new(&["outcome", "rows"]).titled(format!(
        "labels for {} from {} ({verdict})",
        report.model,
        report.file.display()
    ));
    for (outcome, n) in &report.counts {
        summary.push(vec![outcome.clone(), n.to_string()]);
    }
    summary.push(vec!["labels stored".into(), report.stored.to_string()]);
    let mut tables = vec![summary];
    if !report.refused.is_empty() {
        let title = match &report.refused_file {
            Some(path) if report.refused.len() > LISTED => {
                format!("refused rows (first {LISTED}; all in {})", path.display())
            }
            Some(path) => format!("refused rows (also in {})", path.display()),
            None => "refused rows".to_string(),
        };
        let mut refused = Table::new(&["reason", "file row", "key", "label", "detail"]).titled(title);
        for r in report.refused.iter().take(LISTED) {
            refused.push(vec![
                r.reason.as_str().to_string(),
                r.file_row.to_string(),
                r.key.clone(),
                r.label.clone(),
                r.detail.clone(),
            ]);
        }
        tables.push(refused);
    }
    tables
}

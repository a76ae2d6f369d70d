//! `kiln data describe|validate|snapshot|split|synth`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use kiln_data::config::FileFormat;
use kiln_data::findings::Severity;
use kiln_data::load::{self, Source, Table};
use kiln_data::stream::Opened;
use kiln_data::synth::{self, SynthCase, SynthOptions};
use kiln_data::write;
use kiln_track::{AuditAction, NewAuditEvent};
use serde::Serialize;

use crate::output::{self, Format, Table as OutTable, num, pct};
use crate::progress::Progress;
use crate::run_config::{self, LoadedConfig};
use crate::{EXIT_FAILED, EXIT_OK};

#[derive(Debug, Subcommand)]
pub enum DataCmd {
    /// Per-column statistics and the label balance.
    Describe(DescribeArgs),
    /// Check every expectation of the validation section over every row.
    Validate(ValidateArgs),
    /// Content hashes of the data, the schema and the split, written as a manifest.
    Snapshot(SnapshotArgs),
    /// Write the train, validation and test splits as Parquet with their hashes.
    Split(SplitArgs),
    /// Generate synthetic tabular data (and a config describing it).
    Synth(SynthArgs),
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The config file.
    pub config: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Categories listed per text column.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    pub config: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    pub config: PathBuf,
    /// Where to write the manifest (default `.kiln/snapshots/<dataset hash>.json`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct SplitArgs {
    pub config: PathBuf,
    /// Folder for train.parquet, validation.parquet, test.parquet and split.json.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// What `kiln data synth` generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum SynthCaseArg {
    /// Numeric and categorical features, segments, missing values and a label that is a
    /// logistic function of them (main effects); 20% positive by default.
    #[default]
    Default,
    /// 33 categorical columns of 10 to 52 values with skewed frequencies and 7 numeric ones;
    /// the label comes mainly from interactions between pairs of categorical columns, where
    /// trees beat a linear model; 6% positive by default.
    Interactions,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Which data to generate.
    #[arg(long, value_enum, default_value_t)]
    pub case: SynthCaseArg,
    /// Number of rows.
    #[arg(long, default_value_t = 10_000)]
    pub rows: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output file (.csv or .parquet). A config describing it is written beside it.
    #[arg(long)]
    pub out: PathBuf,
    /// Distribution shift in standard deviations (for drift tests).
    #[arg(long, default_value_t = 0.0)]
    pub shift: f64,
    /// Share of positive labels [default: 0.2, or 0.06 with --case interactions].
    #[arg(long)]
    pub positive_rate: Option<f64>,
    /// Share of missing values in the columns that have them.
    #[arg(long, default_value_t = 0.03)]
    pub missing_rate: f64,
    /// Do not write the companion config.
    #[arg(long)]
    pub no_config: bool,
}

pub fn run(cmd: &DataCmd, store: &Path, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    match cmd {
        DataCmd::Describe(args) => describe(args, progress, out),
        DataCmd::Validate(args) => validate(args, store, progress, out),
        DataCmd::Snapshot(args) => snapshot(args, store, progress, out),
        DataCmd::Split(args) => split_cmd(args, store, progress, out),
        DataCmd::Synth(args) => synth_cmd(args, progress, out),
    }
}

/// Append one event to the audit log of the tracking store at `store`.
fn audit(store: &Path, action: AuditAction, target: &str, details: serde_json::Value) -> anyhow::Result<()> {
    let store = crate::commands::track::open_store(store)?;
    store
        .append_audit(&NewAuditEvent {
            actor: kiln_track::default_actor(),
            action,
            target: target.to_string(),
            reason: None,
            details,
        })
        .with_context(|| format!("recording the {action:?} event in the audit log of {}", store.location()))?;
    Ok(())
}

fn load_config(path: &Path) -> anyhow::Result<LoadedConfig> {
    Ok(run_config::load(path)?)
}

/// Load the training file and the test file (when configured).
fn load_tables(config: &LoadedConfig, progress: Progress) -> anyhow::Result<(Table, Option<Table>)> {
    let plan = &config.plan;
    let limit = plan.validation.max_examples;
    let step = progress.step(format!("reading {}", plan.train_path.display()));
    let train = load::load(plan, Source::Train, limit)?;
    step.done();
    let test = match &plan.test_path {
        Some(path) => {
            let step = progress.step(format!("reading {}", path.display()));
            let test = load::load(plan, Source::Test, limit)?;
            step.done();
            Some(test)
        }
        None => None,
    };
    Ok((train, test))
}

fn describe(args: &DescribeArgs, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    let config = load_config(&args.config)?;
    let (train, test) = load_tables(&config, progress)?;
    let mut descriptions = Vec::new();
    for table in std::iter::once(&train).chain(test.as_ref()) {
        table.ensure_parsed()?;
        descriptions.push(kiln_data::describe::describe(table, args.top)?);
    }
    let mut tables = Vec::new();
    for d in &descriptions {
        let mut t =
            OutTable::new(&["column", "role", "type", "missing", "distinct", "min", "p50", "max", "mean", "top"])
                .titled(format!("{} ({} rows)", d.path, d.n_rows));
        for c in &d.columns {
            let (min, p50, max, mean) = match &c.numeric {
                Some(n) => (num(n.min, 4), num(n.p50, 4), num(n.max, 4), num(n.mean, 4)),
                None => Default::default(),
            };
            let top: Vec<String> = c.top.iter().map(|t| format!("{} {}", t.value, pct(t.fraction))).collect();
            t.push(vec![
                c.name.clone(),
                c.role.clone(),
                c.dtype.clone(),
                pct(c.missing_fraction),
                c.distinct.to_string(),
                min,
                p50,
                max,
                mean,
                top.join(", "),
            ]);
        }
        tables.push(t);
        if !d.labels.is_empty() {
            let mut labels = OutTable::new(&["label", "count", "share"]).titled("label balance");
            for l in &d.labels {
                labels.push(vec![l.value.clone(), l.count.to_string(), pct(l.fraction)]);
            }
            tables.push(labels);
        }
    }
    output::emit(out, args.format, &tables, &descriptions)?;
    Ok(EXIT_OK)
}

fn validate(args: &ValidateArgs, store: &Path, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    let config = load_config(&args.config)?;
    // Batch by batch: a folder or glob of Parquet files is never held in memory whole.
    let step = progress.step(format!("reading and validating {}", config.plan.train_path.display()));
    let report = kiln_data::stream::validate(&config.path.display().to_string(), &config.plan)?;
    step.done();
    let details = serde_json::json!({
        "passed": report.passed(),
        "errors": report.n_errors(),
        "findings": report.findings.len(),
        "files": report.files,
    });
    audit(store, AuditAction::Validate, &report.config, details)?;
    let mut files = OutTable::new(&["file", "path", "rows", "columns"]).titled(format!(
        "validation of {}: {} ({} error(s), {} warning(s))",
        report.config,
        if report.passed() { "passed" } else { "FAILED" },
        report.n_errors(),
        report.findings.len() - report.n_errors()
    ));
    for f in &report.files {
        files.push(vec![f.role.clone(), f.path.clone(), f.n_rows.to_string(), f.n_columns.to_string()]);
    }
    let mut findings = OutTable::new(&["severity", "check", "file", "column", "count", "rows", "detail"]);
    for f in &report.findings {
        findings.push(vec![
            match f.severity {
                Severity::Error => "error".into(),
                Severity::Warning => "warning".into(),
            },
            f.check.as_str().into(),
            f.file.clone(),
            f.column.clone().unwrap_or_default(),
            f.count.to_string(),
            f.examples.iter().map(u64::to_string).collect::<Vec<_>>().join(","),
            f.message.clone(),
        ]);
    }
    let checks: Vec<&str> = report.checks.iter().map(|c| c.as_str()).collect();
    let mut tables = vec![files];
    if report.findings.is_empty() {
        tables.push(OutTable::new(&["checks run"]).titled("no findings"));
        tables[1].push(vec![checks.join(", ")]);
    } else {
        tables.push(findings);
    }
    #[derive(Serialize)]
    struct Json<'a> {
        passed: bool,
        #[serde(flatten)]
        report: &'a kiln_data::validate::ValidationReport,
    }
    output::emit(out, args.format, &tables, &Json { passed: report.passed(), report: &report })?;
    Ok(if report.passed() { EXIT_OK } else { EXIT_FAILED })
}

fn snapshot(args: &SnapshotArgs, store: &Path, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    let config = load_config(&args.config)?;
    // Batch by batch: a folder or glob of Parquet files is never held in memory whole.
    let step = progress.step(format!("reading and hashing {}", config.plan.train_path.display()));
    let snap = kiln_data::stream::snapshot(&config.path.display().to_string(), &config.plan)?;
    step.done();
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(".kiln/snapshots").join(format!("{}.json", &snap.dataset_hash[..16])));
    write::write_text(&path, &serde_json::to_string_pretty(&snap)?)
        .with_context(|| format!("writing the snapshot manifest {}", path.display()))?;
    let details = serde_json::json!({ "config": snap.config, "manifest": path.display().to_string(),
        "schema_hash": snap.schema_hash, "split_hash": snap.split.hash });
    audit(store, AuditAction::Snapshot, &snap.dataset_hash, details)?;
    let mut t = OutTable::new(&["item", "rows", "hash"]).titled(format!("snapshot written to {}", path.display()));
    t.push(vec!["dataset".into(), String::new(), snap.dataset_hash.clone()]);
    t.push(vec!["schema".into(), String::new(), snap.schema_hash.clone()]);
    for f in &snap.files {
        t.push(vec![format!("{} data", f.role), f.n_rows.to_string(), f.data_hash.clone()]);
    }
    t.push(vec![
        format!("split ({})", snap.split.method),
        format!("{}/{}/{}", snap.split.train, snap.split.validation, snap.split.test),
        snap.split.hash.clone(),
    ]);
    output::emit(out, args.format, &[t], &snap)?;
    Ok(EXIT_OK)
}

fn split_cmd(args: &SplitArgs, store: &Path, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    let config = load_config(&args.config)?;
    let plan = &config.plan;
    // A folder or glob of Parquet files is read batch by batch, never whole.
    let train = Opened::open(plan, Source::Train)?;
    let test = plan.test_path.as_ref().map(|_| Opened::open(plan, Source::Test)).transpose()?;
    let step = progress.step(format!("writing splits to {}", args.out.display()));
    let (manifest, manifest_path) =
        kiln_pipeline::split_files::write_split_from(&config, &train, test.as_ref(), &args.out)?;
    step.done();
    audit(store, AuditAction::Split, &manifest.split_hash, serde_json::to_value(&manifest)?)?;
    let mut t = OutTable::new(&["part", "rows", "file", "data hash"]).titled(format!(
        "split {} ({}), manifest {}",
        manifest.split_hash,
        manifest.method,
        manifest_path.display()
    ));
    for f in &manifest.files {
        t.push(vec![f.part.clone(), f.n_rows.to_string(), f.path.clone(), f.data_hash.clone()]);
    }
    output::emit(out, args.format, &[t], &manifest)?;
    Ok(EXIT_OK)
}

fn synth_cmd(args: &SynthArgs, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    let format = FileFormat::from_path(&args.out).with_context(|| {
        format!("cannot tell the format of {}\nhint: name the file .csv or .parquet", args.out.display())
    })?;
    let case = match args.case {
        SynthCaseArg::Default => SynthCase::Default,
        SynthCaseArg::Interactions => SynthCase::Interactions,
    };
    let positive_rate = args.positive_rate.unwrap_or(case.default_positive_rate());
    anyhow::ensure!(
        positive_rate > 0.0 && positive_rate < 1.0,
        "--positive-rate must be between 0 and 1, got {positive_rate}"
    );
    anyhow::ensure!(
        (0.0..1.0).contains(&args.missing_rate),
        "--missing-rate must be in [0, 1), got {}",
        args.missing_rate
    );
    let opts = SynthOptions {
        case,
        rows: args.rows,
        seed: args.seed,
        shift: args.shift,
        positive_rate,
        missing_rate: args.missing_rate,
    };
    let step = progress.step(format!("generating {} rows", args.rows));
    let mut df = synth::synth(&opts)?;
    step.done();
    let step = progress.step(format!("writing {}", args.out.display()));
    write::write_table(&args.out, format, &mut df)?;
    step.done();
    let mut t = OutTable::new(&["file", "rows"]).titled("synthetic data");
    t.push(vec![args.out.display().to_string(), args.rows.to_string()]);
    let mut config_path = None;
    if !args.no_config {
        let path = args.out.with_extension("toml");
        let name = args.out.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        write::write_text(&path, &synth::config_toml(&name, &opts))?;
        t.push(vec![path.display().to_string(), "config".into()]);
        config_path = Some(path.display().to_string());
    }
    #[derive(Serialize)]
    struct Json {
        data: String,
        config: Option<String>,
        rows: usize,
        seed: u64,
    }
    let json = Json { data: args.out.display().to_string(), config: config_path, rows: args.rows, seed: args.seed };
    output::emit(out, Format::Table, &[t], &json)?;
    Ok(EXIT_OK)
}

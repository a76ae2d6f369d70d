//! `kiln monitor`: new rows (a data file, or the prediction log of a served model) checked for
//! drift against a bundle's references or a config's training data, per window and slicing
//! group; exit 1 when drift is found.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use kiln_core::bundle::Bundle;
use kiln_monitor::config::{MonitorPlan, parse_duration};
use kiln_monitor::monitor::group_name;
use kiln_monitor::report::MonitorReport;
use kiln_pipeline::monitor::{Against, CurrentRows, monitor, write_monitor_report};
use kiln_serve::source::{Registry, Source};

use super::report::files_table;
use crate::output::{self, Format, Table};
use crate::progress::Progress;
use crate::run_config;
use crate::{EXIT_FAILED, EXIT_OK};

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// The model bundle whose references the rows are checked against.
    #[arg(long, conflicts_with = "model")]
    pub bundle: Option<PathBuf>,
    /// A registered model (NAME@ALIAS or NAME@vN): its bundle's references; with `--log`, the
    /// rows it answered.
    #[arg(long)]
    pub model: Option<String>,
    /// The rows to check: Parquet, or CSV with a header, with the model's feature columns.
    #[arg(long, conflicts_with = "log")]
    pub data: Option<PathBuf>,
    /// A prediction log folder (`[serving.log] dir` of kiln-serve); needs `--model`.
    #[arg(long, requires = "model")]
    pub log: Option<PathBuf>,
    /// With `--log`: only rows logged in the last DURATION (90s, 15m, 1h, 2d).
    #[arg(long, requires = "log")]
    pub since: Option<String>,
    /// A config whose `[monitoring]` section applies; without a bundle or model, its training
    /// data is the reference (exact statistics).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The report folder (default `.kiln/monitor/<model or config name>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn monitor_cmd(args: &MonitorArgs, store: &Path, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    let config = args.config.as_deref().map(run_config::load).transpose()?;
    let plan = match &config {
        Some(c) => c.config.monitoring.plan().with_context(|| format!("{}", c.path.display()))?,
        None => MonitorPlan::default(),
    };
    let bundle_path = match (&args.bundle, &args.model) {
        (Some(path), _) => Some(path.clone()),
        (None, Some(model)) => Some(resolve(model, store)?.1),
        (None, None) => None,
    };
    let bundle = bundle_path.as_deref().map(Bundle::read).transpose().context("reading the bundle")?;
    let against = match (&bundle, &bundle_path, &config) {
        (Some(bundle), Some(path), _) => Against::Bundle { bundle, path },
        (_, _, Some(config)) => Against::Data(config),
        _ => anyhow::bail!(
            "nothing to compare against\nhint: give --bundle, --model or --config (whose training data is then the reference)"
        ),
    };
    let current = match (&args.data, &args.log) {
        (Some(data), _) => CurrentRows::read(data, &against, config.as_ref())?,
        (None, Some(log)) => {
            let model = args.model.as_deref().unwrap_or_default();
            let since =
                args.since.as_deref().map(parse_duration).transpose().map_err(|e| anyhow::anyhow!("--since: {e}"))?;
            super::monitor_log::read(log, model, store, since)?
        }
        (None, None) => anyhow::bail!("no rows to check\nhint: give --data FILE, or --log DIR with --model"),
    };
    let report = monitor(&against, current, &plan, &progress)?;
    let dir = args.out.clone().unwrap_or_else(|| default_dir(args));
    let files = write_monitor_report(&dir, &report)?;
    let mut tables = tables(&report);
    tables.push(files_table(&files));
    output::emit(out, args.format, &tables, &report)?;
    Ok(if report.drift { EXIT_FAILED } else { EXIT_OK })
}

/// The registry version `model` names now, and its bundle's path.
pub fn resolve(model: &str, store: &Path) -> anyhow::Result<(i64, PathBuf)> {
    let source: Source = model.parse()?;
    let registry = Registry::open(store, !matches!(source, Source::File(_)))?;
    let resolved = registry.resolve(&source)?;
    Ok((resolved.version, resolved.path))
}

fn default_dir(args: &MonitorArgs) -> PathBuf {
    let name = args
        .model
        .as_deref()
        .map(|m| m.replace('@', "-"))
        .or_else(|| args.bundle.as_deref().and_then(Path::file_stem).map(|s| s.to_string_lossy().into_owned()))
        .or_else(|| args.config.as_deref().and_then(Path::file_stem).map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "monitor".into());
    PathBuf::from(".kiln/monitor").join(name)
}

fn tables(report: &MonitorReport) -> Vec<Table> {
    let verdict = if report.drift { "drift found" } else { "no drift found" };
    let mut findings = Table::new(&["window", "finding", "drift"]).titled(format!("monitoring: {verdict}"));
    for f in &report.findings {
        findings.push(vec![f.window.to_string(), f.message.clone(), if f.drift { "yes".into() } else { "".into() }]);
    }
    let mut groups = Table::new(&["window", "group", "rows", "drifted", "share", "scores"]).titled("groups");
    for w in &report.windows {
        for g in &w.groups {
            let (drifted, share) = match (&g.dataset, &g.skipped) {
                (_, Some(why)) => (why.clone(), String::new()),
                (Some(d), None) => (format!("{} of {}", d.n_drifted, d.n_columns), format!("{:.1}%", d.share * 100.0)),
                (None, None) => (String::new(), String::new()),
            };
            let scores = g.scores.as_ref().map_or(String::new(), |s| {
                format!("{} {:.4}{}", s.result.test, s.result.score, if s.result.drifted { " drift" } else { "" })
            });
            groups.push(vec![w.index.to_string(), group_name(g), g.rows.to_string(), drifted, share, scores]);
        }
    }
    vec![findings, groups]
}

//! `kiln retrain CONFIG --model NAME@ALIAS --log DIR`: one retraining (or one per round of a
//! schedule) from the labelled rows of the prediction log, judged against the served model on
//! the newest labelled rows; a passing challenger gets the alias `challenger`. Exit 0 when it
//! passed or nothing triggered it, 1 when the challenger failed (or the dataset failed
//! validation), 2 on an error (another retraining of the model holds the lock, without
//! `--wait`).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use kiln_monitor::config::parse_duration;
use kiln_pipeline::retrain::{NotTriggered, RetrainOutcome, RetrainRequest, Retrained, retrain};
use serde::Serialize;

use super::report::{files_table, refusal};
use super::train::{DeviceArgs, train_options};
use crate::output::{self, Format, Table, num};
use crate::progress::Progress;
use crate::run_config;
use crate::{EXIT_FAILED, EXIT_OK};

#[derive(Debug, Args)]
pub struct RetrainArgs {
    /// The config file (its `[retrain]` section applies).
    pub config: PathBuf,
    /// The served model the challenger is judged against: `NAME@ALIAS` or `NAME@vN`.
    #[arg(long)]
    pub model: String,
    /// The prediction log folder (`[serving.log] dir`), with its label store.
    #[arg(long)]
    pub log: PathBuf,
    /// Retrain only when at least N labels arrived since the model was registered (default
    /// `[retrain] min_new_labels`).
    #[arg(long, value_name = "N")]
    pub if_new_labels: Option<u64>,
    /// Retrain only when `kiln monitor` finds drift in the recent log (also with
    /// `[retrain] on_drift = true`).
    #[arg(long)]
    pub if_drift: bool,
    /// Retrain on a schedule: every DURATION (90s, 15m, 1h, 2d; default `[retrain] every`),
    /// until stopped or for `--rounds`.
    #[arg(long, value_name = "DURATION", num_args = 0..=1, default_missing_value = "")]
    pub every: Option<String>,
    /// With `--every`: the number of rounds.
    #[arg(long, requires = "every")]
    pub rounds: Option<u64>,
    /// Wait for another retraining of the model to end instead of refusing.
    #[arg(long)]
    pub wait: bool,
    /// The report folder (default `<store folder>/reports/<project>-retrain-<time>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// The JSON result of one round.
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum RoundResult<'a> {
    NotTriggered(&'a NotTriggered),
    Passed(&'a Retrained),
    Failed(&'a Retrained),
}

pub fn retrain_cmd(args: &RetrainArgs, store: &Path, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    let config = run_config::load(&args.config)?;
    let backend = train_options("retrain", &args.device, None)?.backend;
    let every = match args.every.as_deref() {
        None => None,
        Some("") => Some(config.retrain.every),
        Some(text) => Some(parse_duration(text).map_err(|e| anyhow::anyhow!("--every: {e}"))?),
    };
    let rounds = match every {
        None => Some(1),
        Some(_) => args.rounds,
    };
    let mut code = EXIT_OK;
    let mut round = 0;
    while rounds.is_none_or(|n| round < n) {
        round += 1;
        let out_dir =
            args.out.as_ref().map(|o| if rounds == Some(1) { o.clone() } else { o.join(format!("round-{round}")) });
        let request = RetrainRequest {
            config: &config,
            model: &args.model,
            log_dir: &args.log,
            store,
            min_new_labels: args.if_new_labels,
            on_drift: args.if_drift,
            wait: args.wait,
            now_ms: kiln_track::now_ms(),
            backend: backend.clone(),
            report_dir: out_dir.as_deref(),
        };
        let outcome = retrain(&request, &progress)?;
        code = code.max(print(out, args, &outcome)?);
        if let Some(every) = every.filter(|_| rounds.is_none_or(|n| round < n)) {
            let step = progress.step(format!("next retraining round in {}s", every.as_secs()));
            std::thread::sleep(every);
            step.done();
        }
    }
    Ok(code)
}

/// Print one round's outcome; its exit code.
fn print(out: &mut dyn Write, args: &RetrainArgs, outcome: &RetrainOutcome) -> anyhow::Result<i32> {
    match outcome {
        RetrainOutcome::Refused(report) => {
            refusal(out, args.format, &args.config, report)?;
            Ok(EXIT_FAILED)
        }
        RetrainOutcome::NotTriggered(skip) => {
            let mut t = Table::new(&["champion", "labelled rows", "new labels", "judging rows", "drift", "reason"])
                .titled(format!("retraining of {} not triggered", args.model));
            let drift = skip.drift.map_or_else(|| "-".into(), |d| if d { "yes" } else { "no" }.to_string());
            t.push(vec![
                skip.champion.clone(),
                skip.labelled_rows.to_string(),
                skip.new_labels.to_string(),
                skip.judge_rows.to_string(),
                drift,
                skip.reason.clone(),
            ]);
            output::emit(out, args.format, &[t], &RoundResult::NotTriggered(skip))?;
            Ok(EXIT_OK)
        }
        RetrainOutcome::Done(done) => {
            let result = if done.passed { RoundResult::Passed(done) } else { RoundResult::Failed(done) };
            output::emit(out, args.format, &done_tables(done), &result)?;
            Ok(if done.passed { EXIT_OK } else { EXIT_FAILED })
        }
    }
}

fn done_tables(done: &Retrained) -> Vec<Table> {
    let name = done.champion.split('@').next().unwrap_or_default();
    let verdict = &done.verdict;
    let mut summary = Table::new(&["item", "value"]).titled(format!(
        "challenger {name}@v{} {} against {} on {} judging rows",
        done.version,
        if done.passed { "passed" } else { "failed" },
        done.champion,
        verdict.judge_rows
    ));
    let d = &done.dataset;
    for (item, value) in [
        ("run", done.run_id.clone()),
        ("alias challenger", if done.aliased { format!("{name}@v{}", done.version) } else { "not moved".into() }),
        ("dataset", d.path.clone()),
        ("dataset hash", d.hash.clone()),
        ("rows", format!("{} ({} original, {} logged added)", d.rows, d.original.rows, d.rows_added)),
        (
            "held out to judge",
            format!("{} (logged at or after {})", d.judge_rows, kiln_track::format_rfc3339(d.judge_cutoff_ms)),
        ),
        ("copies dropped", d.rows_deduplicated.to_string()),
        ("drift", done.drift.map_or_else(|| "not asked".into(), |d| if d { "yes" } else { "no" }.to_string())),
        ("interrupted before", if done.interrupted.is_empty() { "-".into() } else { done.interrupted.join(", ") }),
    ] {
        summary.push(vec![item.to_string(), value]);
    }
    let figure = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| num(v, 4));
    let mut tests =
        Table::new(&["slice", "group", "rows", "test", "champion", "challenger", "improvement", "lower", "status"])
            .titled(format!(
                "{} not worse by more than {} (one-sided, alpha {})",
                verdict.metric, verdict.margin, verdict.alpha
            ));
    for t in &verdict.tests {
        tests.push(vec![
            t.slicing.clone(),
            t.group.clone(),
            t.rows.to_string(),
            t.method.clone(),
            figure(t.champion),
            figure(t.challenger),
            figure(t.improvement),
            figure(t.lower),
            format!("{:?}{}", t.status, t.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default())
                .to_lowercase(),
        ]);
    }
    let mut reasons = Table::new(&["why it failed"]);
    for r in &verdict.reasons {
        reasons.push(vec![r.clone()]);
    }
    let mut tables = vec![summary, tests];
    if !verdict.reasons.is_empty() {
        tables.push(reasons);
    }
    tables.push(files_table(&done.report_files));
    tables
}

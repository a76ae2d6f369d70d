//! `kiln rollout start|status|run|step|abort`: a challenger rolled out against the champion
//! of the servers that follow it (shadow, canary steps, promotion or rollback). The decisions
//! and the store moves are kiln-pipeline's `rollout` module; this module parses arguments,
//! fetches each server's `/metrics` over HTTP and prints the answers.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use kiln_pipeline::rollout::scrape::Scrape;
use kiln_pipeline::rollout::{Decision, Evaluated, RolloutPlan, StepInputs, StepReport};
use kiln_track::{Rollout, RolloutPhase, Store};

use super::track::open_store;
use crate::output::{self, Format, Table, num};
use crate::{EXIT_ERROR, EXIT_FAILED, EXIT_OK};

/// `kiln rollout ...`
#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t)]
    pub format: Format,
    /// Who is acting (default: KILN_ACTOR, then the OS user).
    #[arg(long, global = true, env = crate::env::KILN_ACTOR)]
    pub actor: Option<String>,
    #[command(subcommand)]
    pub cmd: RolloutCmd,
}

#[derive(Debug, Subcommand)]
pub enum RolloutCmd {
    /// Start rolling a challenger out, in shadow, with the config's `[rollout]` plan recorded.
    #[command(disable_version_flag = true)]
    Start {
        /// Model name.
        name: String,
        /// The version to roll out (default: the one alias `challenger` points at).
        #[arg(long = "version", id = "challenger_version", value_name = "VERSION")]
        version: Option<i64>,
        /// The run config whose `[rollout]` section is the plan.
        #[arg(long)]
        config: PathBuf,
        /// Start even though the version did not pass its acceptance gate (needs --reason;
        /// audited).
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why: required with --force.
        #[arg(long)]
        reason: Option<String>,
    },
    /// The model's active rollout (or its latest), with the figures of its last move.
    Status {
        /// Model name.
        name: String,
    },
    /// The controller: evaluate every interval until the rollout is promoted (exit 0) or
    /// rolled back (exit 1). A restarted controller goes on from the recorded step.
    Run(LoopArgs),
    /// One evaluation (for cron): exit 0 while it goes on or once promoted, 1 once rolled back.
    Step(StepArgs),
    /// Stop the active rollout; the champion serves on alone.
    Abort {
        /// Model name.
        name: String,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: String,
    },
}

/// What one evaluation reads.
#[derive(Debug, Clone, Args)]
pub struct StepArgs {
    /// Model name (its name in the prediction log and the servers' metrics too).
    pub name: String,
    /// The run config; its `[rollout]` plan must be the one the rollout was started with
    /// (default: the recorded plan).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The prediction log folder the servers write (`[serving.log] dir`).
    #[arg(long)]
    pub log: PathBuf,
    /// The base URL of each server that serves the model (repeatable).
    #[arg(long = "server", value_name = "URL", required = true)]
    pub servers: Vec<String>,
}

/// `kiln rollout run`.
#[derive(Debug, Clone, Args)]
pub struct LoopArgs {
    #[command(flatten)]
    pub step: StepArgs,
    /// Stop (exit 2) when the rollout has not ended after this long ("90s", "15m", "1h").
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    kiln_pipeline::rollout::parse_duration(text)
}

/// Entry point of `kiln rollout`.
pub(crate) fn rollout(
    args: &RolloutArgs,
    store: &Path,
    quiet: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let store = open_store(store)?;
    let actor = args.actor.clone().unwrap_or_else(kiln_track::default_actor);
    match &args.cmd {
        RolloutCmd::Start { name, version, config, force, reason } => {
            let plan = plan_of(config)?;
            let force = if *force { reason.as_deref() } else { None };
            let rollout = kiln_pipeline::rollout::start(&store, name, *version, &plan, &actor, force)?;
            print(out, args.format, &rollout, &rollout)?;
            Ok(EXIT_OK)
        }
        RolloutCmd::Status { name } => {
            let rollout = kiln_pipeline::rollout::control::latest(&store, name)?;
            print(out, args.format, &rollout, &rollout)?;
            Ok(EXIT_OK)
        }
        RolloutCmd::Abort { name, reason } => {
            let rollout = kiln_pipeline::rollout::abort(&store, name, reason, &actor)?;
            print(out, args.format, &rollout, &rollout)?;
            Ok(EXIT_OK)
        }
        RolloutCmd::Step(step) => {
            let evaluated = evaluate(&store, step, &actor)?;
            let rollout = match &evaluated {
                Evaluated::Ended { rollout } => rollout,
                Evaluated::Stepped(report) => &report.rollout,
            };
            print(out, args.format, rollout, &evaluated)?;
            Ok(exit_code(rollout.phase))
        }
        RolloutCmd::Run(run) => control_loop(&store, run, &actor, args.format, quiet, out, err),
    }
}

/// Evaluate every interval until the rollout ends or the timeout passes.
fn control_loop(
    store: &Store,
    args: &LoopArgs,
    actor: &str,
    format: Format,
    quiet: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let started = Instant::now();
    loop {
        let evaluated = evaluate(store, &args.step, actor)?;
        let (rollout, interval) = match &evaluated {
            Evaluated::Ended { rollout } => (rollout.clone(), None),
            Evaluated::Stepped(report) => {
                if !quiet {
                    writeln!(err, "{}", progress_line(report))?;
                }
                let plan = kiln_pipeline::rollout::control::recorded_plan(&report.rollout)?;
                (report.rollout.clone(), Some(Duration::from_millis(plan.interval_ms)))
            }
        };
        let Some(interval) = interval.filter(|_| rollout.phase.is_active()) else {
            print(out, format, &rollout, &rollout)?;
            return Ok(exit_code(rollout.phase));
        };
        if args.timeout.is_some_and(|limit| started.elapsed() + interval > limit) {
            writeln!(
                err,
                "error: rollout {} of {} is still in {} step {} after {:?}\nhint: run `kiln rollout run` again to go on from there",
                rollout.id,
                rollout.name,
                rollout.phase,
                rollout.step,
                started.elapsed()
            )?;
            return Ok(EXIT_ERROR);
        }
        std::thread::sleep(interval);
    }
}

/// One evaluation: fetch every server's metrics, then let the pipeline decide and move.
fn evaluate(store: &Store, args: &StepArgs, actor: &str) -> anyhow::Result<Evaluated> {
    let plan = args.config.as_deref().map(plan_of).transpose()?;
    let scrapes = scrape(&args.servers)?;
    let inputs = StepInputs {
        name: &args.name,
        plan: plan.as_ref(),
        log_dir: &args.log,
        scrapes: &scrapes,
        actor,
        now_ms: kiln_track::now_ms(),
    };
    Ok(kiln_pipeline::rollout::step(store, &inputs)?)
}

/// The `[rollout]` plan of a run config.
fn plan_of(config: &Path) -> anyhow::Result<RolloutPlan> {
    let loaded = kiln_pipeline::config::load(config).with_context(|| format!("reading {}", config.display()))?;
    loaded.config.rollout.plan().with_context(|| format!("reading {}", config.display()))
}

/// `GET <server>/metrics` of each server.
fn scrape(servers: &[String]) -> anyhow::Result<Vec<Scrape>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    runtime.block_on(async {
        let mut scrapes = Vec::new();
        for server in servers {
            let server = server.trim_end_matches('/').to_owned();
            let url = format!("{server}/metrics");
            let hint = "hint: pass the base URL of a running kiln-serve server (--server http://HOST:PORT)";
            let response = client.get(&url).send().await.with_context(|| format!("fetching {url}\n{hint}"))?;
            let status = response.status();
            if !status.is_success() {
                anyhow::bail!("{url} answered {status}\n{hint}");
            }
            let text = response.text().await.with_context(|| format!("reading {url}"))?;
            scrapes.push(Scrape { server, text });
        }
        Ok(scrapes)
    })
}

/// 0 while a rollout goes on or once promoted; 1 once rolled back or aborted.
fn exit_code(phase: RolloutPhase) -> i32 {
    match phase {
        RolloutPhase::RolledBack | RolloutPhase::Aborted => EXIT_FAILED,
        _ => EXIT_OK,
    }
}

/// One line per evaluation, on stderr.
fn progress_line(report: &StepReport) -> String {
    let what = match &report.decision {
        Decision::Wait { .. } => "wait".to_owned(),
        Decision::Advance { step, share, .. } => format!("canary step {step} ({} %)", num(share * 100.0, 2)),
        Decision::Promote { .. } => "promoted".to_owned(),
        Decision::RollBack { .. } => "rolled back".to_owned(),
    };
    format!("rollout {} of {}: {what}: {}", report.rollout.id, report.rollout.name, report.decision.reason())
}

fn print(out: &mut dyn Write, format: Format, rollout: &Rollout, json: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut table = Table::new(&["field", "value"]).titled(format!("rollout {} of {}", rollout.id, rollout.name));
    let time = |ms: i64| kiln_track::format_rfc3339(ms);
    let rows = [
        ("phase", rollout.phase.to_string()),
        ("step", rollout.step.to_string()),
        ("share", format!("{} %", num(rollout.share * 100.0, 2))),
        ("champion", format!("v{}", rollout.champion_version)),
        ("challenger", format!("v{}", rollout.challenger_version)),
        ("started", time(rollout.started_ms)),
        ("step started", time(rollout.step_started_ms)),
        ("ended", rollout.ended_ms.map(time).unwrap_or_default()),
        ("reason", rollout.reason.clone().unwrap_or_default()),
    ];
    for (field, value) in rows {
        table.push(vec![field.into(), value]);
    }
    output::emit(out, format, &[table], json)?;
    Ok(())
}

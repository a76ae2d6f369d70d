//! kiln-cli: the `kiln` binary's library half.
//!
//! [`run`] parses arguments with clap, runs a command and returns the exit code: 0 success,
//! 1 a validation or acceptance gate failed, 2 a usage or runtime error. It writes results to
//! the `out` writer and errors to `err`, so that tests can drive it in process. All logic of
//! substance lives in the library crates (the stages of `kiln run` in kiln-pipeline); this
//! crate holds argument parsing, output formatting and progress display.

pub mod commands;
pub mod env;
pub mod output;
pub mod progress;

/// The config file's sections, parsed and checked (kiln-pipeline's).
pub use kiln_pipeline::config as run_config;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: a validation or acceptance gate failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: usage or runtime error.
pub const EXIT_ERROR: i32 = 2;

/// kiln: from a tabular dataset to a model you can trust in production.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// No progress display.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// The tracking store: runs, registry and audit log. A path is an SQLite file;
    /// postgres://USER@HOST:PORT/DB (or postgresql://) a PostgreSQL database.
    #[arg(long, global = true, env = env::KILN_STORE, default_value = kiln_track::DEFAULT_STORE_PATH)]
    pub store: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a starter config inferred from a data file: column roles and types, target,
    /// task, validation bounds, models and acceptance gates, each choice explained.
    Init(commands::init::InitArgs),
    /// The whole path: validate, version, split, train every model, evaluate, gate, record,
    /// export the best passing model and write the report folder.
    Run(commands::run::RunArgs),
    /// Train and evaluate every model side by side (no export).
    Compare(commands::run::CompareArgs),
    /// Inspect, validate, version, split and generate data.
    #[command(subcommand)]
    Data(commands::data::DataCmd),
    /// Train every model of the config, export the best to a bundle, record the run.
    Train(commands::train::TrainArgs),
    /// Score rows with a model bundle (batch inference with probabilities).
    Predict(commands::train::PredictArgs),
    /// Evaluate a model bundle on labelled rows: sliced metrics, intervals, fairness, gates, report.
    Eval(commands::eval::EvalArgs),
    /// Runs recorded in the tracking store: list, show, diff, export to MLflow.
    Runs(commands::track::RunsArgs),
    /// The model registry: versions, aliases, promotion and rollback.
    Models(commands::track::ModelsArgs),
    /// The hash-chained audit log: list events, verify the chain.
    Audit(commands::track::AuditArgs),
    /// The store itself: copy it between SQLite and PostgreSQL (`kiln store migrate`).
    Store(commands::store::StoreArgs),
    /// The chain from an alias or run back to the data it was trained on, through each
    /// retraining.
    Lineage(commands::track::LineageArgs),
    /// Retrain a served model on the labelled rows of its prediction log, judge the challenger
    /// against it on the newest labelled rows, register it, alias it `challenger` when it passes.
    Retrain(commands::retrain::RetrainArgs),
    /// Roll a challenger out against the champion: shadow, canary steps, then promotion or
    /// rollback, each move decided on live figures and audited.
    Rollout(commands::rollout::RolloutArgs),
    /// Serve registered models over HTTP (the same flags as `kiln-serve`).
    Serve(kiln_serve::ServeArgs),
    /// Check new rows or the prediction log for drift against a model's references, per
    /// window and segment; estimated and realised metrics; exit 1 when drift is found.
    Monitor(commands::monitor::MonitorArgs),
    /// Ground-truth labels joined to the prediction log: refused rows reported with their
    /// reason, accepted labels stored for `kiln monitor --log` and retraining.
    #[command(subcommand)]
    Feedback(commands::feedback::FeedbackCmd),
}

/// Run kiln with `args` (including the program name). Returns the exit code.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { EXIT_OK };
            let text = e.render().to_string();
            let _ = if e.use_stderr() { write!(err, "{text}") } else { write!(out, "{text}") };
            return code;
        }
    };
    let progress = progress::Progress::new(cli.quiet);
    let result = match &cli.command {
        Command::Init(args) => commands::init::init(args, progress, out),
        Command::Run(args) => commands::run::run(args, &cli.store, progress, out),
        Command::Compare(args) => commands::run::compare(args, &cli.store, progress, out),
        Command::Data(cmd) => commands::data::run(cmd, &cli.store, progress, out),
        Command::Train(args) => commands::train::train(args, &cli.store, progress, out),
        Command::Predict(args) => commands::train::predict(args, progress, out),
        Command::Serve(args) => kiln_serve::run(args, Some(&cli.store)).map(|()| EXIT_OK).map_err(anyhow::Error::from),
        Command::Eval(args) => commands::eval::eval(args, &cli.store, progress, out),
        Command::Monitor(args) => commands::monitor::monitor_cmd(args, &cli.store, progress, out),
        Command::Feedback(cmd) => commands::feedback::run(cmd, &cli.store, progress, out),
        Command::Runs(args) => commands::track::runs(args, &cli.store, progress, out),
        Command::Models(args) => commands::track::models(args, &cli.store, out),
        Command::Audit(args) => commands::track::audit(args, &cli.store, out),
        Command::Store(args) => commands::store::store(args, out),
        Command::Lineage(args) => commands::track::lineage(args, &cli.store, out),
        Command::Retrain(args) => commands::retrain::retrain_cmd(args, &cli.store, progress, out),
        Command::Rollout(args) => commands::rollout::rollout(args, &cli.store, cli.quiet, out, &mut *err),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "error: {e:#}");
            EXIT_ERROR
        }
    }
}

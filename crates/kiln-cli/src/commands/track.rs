//! `kiln runs list|show|diff`, `kiln models list|promote|rollback|history`,
//! `kiln audit log|verify` and `kiln lineage`'s arguments: argument parsing and result tables over the
//! kiln-track store. The store does the work; this module only opens it and formats answers.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use clap::{Args, Subcommand};
use kiln_track::{
    AliasMove, AuditAction, AuditEvent, AuditFilter, MetricFilter, ParamFilter, Promotion, RunFilter, RunSort,
    RunStatus, Store, Tamper, ValueDiff,
};
use serde::Serialize;

use crate::output::{self, Format, Table, num};
use crate::{EXIT_FAILED, EXIT_OK};

/// Options shared by every tracking command.
#[derive(Debug, Clone, Args)]
pub struct TrackOpts {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t)]
    pub format: Format,
}

/// `kiln runs ...`
#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(flatten)]
    pub opts: TrackOpts,
    #[command(subcommand)]
    pub cmd: RunsCmd,
}

#[derive(Debug, Subcommand)]
pub enum RunsCmd {
    /// List runs, newest first, with filters.
    List(RunsListArgs),
    /// Everything recorded about one run (id or unique id prefix).
    Show {
        /// Run id or a unique prefix of one.
        id: String,
    },
    /// Parameters, data versions and final metrics of two runs side by side.
    Diff {
        /// First run (id or unique prefix).
        a: String,
        /// Second run (id or unique prefix).
        b: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct RunsListArgs {
    /// Keep runs whose parameter KEY equals VALUE (repeatable): `--param lr=0.1`.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<ParamFilter>,
    /// Keep runs whose latest metric value compares as given (repeatable): `--metric 'auc>=0.9'`.
    #[arg(long = "metric", value_name = "KEY OP VALUE")]
    pub metrics: Vec<MetricFilter>,
    /// Keep runs with this status (running, finished, failed, interrupted).
    #[arg(long)]
    pub status: Option<RunStatus>,
    /// Keep runs whose data hash starts with this.
    #[arg(long = "data", value_name = "HASH")]
    pub data_hash: Option<String>,
    /// Keep runs with this name.
    #[arg(long)]
    pub name: Option<String>,
    /// `started` or a metric key, optionally with `:asc` or `:desc` (metrics default to desc).
    #[arg(long, default_value = "started:desc")]
    pub sort: RunSort,
    /// At most this many runs (0: all).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

/// `kiln models ...`
#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(flatten)]
    pub opts: TrackOpts,
    #[command(subcommand)]
    pub cmd: ModelsCmd,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCmd {
    /// Registered models with their versions and aliases.
    List,
    /// Point an alias (default `champion`) at a version; refused (exit 1) when the version did
    /// not pass its acceptance gate, unless forced with a reason.
    Promote {
        /// Model name.
        name: String,
        /// Version number (`3` or `v3`).
        #[arg(id = "model_version", value_name = "VERSION", value_parser = parse_version)]
        version: i64,
        #[arg(long, default_value = "champion")]
        alias: String,
        /// Promote even though the gate did not pass (needs --reason; audited).
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why: required with --force, recorded in the alias history and audit log.
        #[arg(long)]
        reason: Option<String>,
        /// Who is acting (default: KILN_ACTOR, then the OS user).
        #[arg(long, env = crate::env::KILN_ACTOR)]
        actor: Option<String>,
    },
    /// Move an alias back to the version it held before its last promotion.
    Rollback {
        /// Model name.
        name: String,
        #[arg(long, default_value = "champion")]
        alias: String,
        /// Who is acting (default: KILN_ACTOR, then the OS user).
        #[arg(long, env = crate::env::KILN_ACTOR)]
        actor: Option<String>,
    },
    /// Every move of the model's aliases: who, when, from, to, why.
    History {
        /// Model name.
        name: String,
        /// Only this alias.
        #[arg(long)]
        alias: Option<String>,
    },
}

/// `kiln audit ...`
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub opts: TrackOpts,
    #[command(subcommand)]
    pub cmd: AuditCmd,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Audit events, newest first.
    Log {
        /// At most this many events (0: all).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only this action (data_read, train, promote, forced_override, ...).
        #[arg(long)]
        action: Option<AuditAction>,
        #[arg(long)]
        actor: Option<String>,
        /// Only events about this target (run id, NAME@vN, data hash).
        #[arg(long)]
        target: Option<String>,
    },
    /// Check the hash chain and the database file; exit 1 when anything was tampered with.
    Verify,
}

/// `kiln lineage TARGET`
#[derive(Debug, Args)]
pub struct LineageArgs {
    #[command(flatten)]
    pub opts: TrackOpts,
    /// `NAME@ALIAS`, `NAME@vN`, `NAME:N` or a run id (or unique prefix).
    pub target: String,
}

/// Opens the store named by the global `--store` / `KILN_STORE`.
pub(crate) fn open_store(path: &Path) -> anyhow::Result<Store> {
    Store::open(path).with_context(|| format!("opening the tracking store {}", path.display()))
}

/// Entry point of `kiln runs`.
pub(crate) fn runs(args: &RunsArgs, store: &Path, out: &mut dyn Write) -> anyhow::Result<i32> {
    let store = open_store(store)?;
    runs_cmd(&store, &args.cmd, args.opts.format, out)
}

/// Entry point of `kiln models`.
pub(crate) fn models(args: &ModelsArgs, store: &Path, out: &mut dyn Write) -> anyhow::Result<i32> {
    let store = open_store(store)?;
    models_cmd(&store, &args.cmd, args.opts.format, out)
}

/// Entry point of `kiln audit`.
pub(crate) fn audit(args: &AuditArgs, store: &Path, out: &mut dyn Write) -> anyhow::Result<i32> {
    let store = open_store(store)?;
    audit_cmd(&store, &args.cmd, args.opts.format, out)
}

/// Entry point of `kiln lineage`.
pub(crate) fn lineage(args: &LineageArgs, store: &Path, out: &mut dyn Write) -> anyhow::Result<i32> {
    let store = open_store(store)?;
    super::lineage::lineage_cmd(&store, &args.target, args.opts.format, out)
}

pub(crate) fn runs_cmd(store: &Store, cmd: &RunsCmd, format: Format, out: &mut dyn Write) -> anyhow::Result<i32> {
    match cmd {
        RunsCmd::List(args) => runs_list(store, args, format, out),
        RunsCmd::Show { id } => runs_show(store, id, format, out),
        RunsCmd::Diff { a, b } => runs_diff(store, a, b, format, out),
    }
}

pub(crate) fn models_cmd(store: &Store, cmd: &ModelsCmd, format: Format, out: &mut dyn Write) -> anyhow::Result<i32> {
    match cmd {
        ModelsCmd::List => models_list(store, format, out),
        ModelsCmd::Promote { name, version, alias, force, reason, actor } => {
            let actor = actor.clone().unwrap_or_else(kiln_track::default_actor);
            let promotion = Promotion {
                name,
                version: *version,
                alias,
                actor: &actor,
                force: if *force { Some(reason.as_deref().unwrap_or("")) } else { None },
            };
            models_promote(store, &promotion, format, out)
        }
        ModelsCmd::Rollback { name, alias, actor } => {
            let actor = actor.clone().unwrap_or_else(kiln_track::default_actor);
            let moved = store.rollback(name, alias, &actor).with_context(|| format!("rolling back {name}@{alias}"))?;
            let table = moves_table(std::slice::from_ref(&moved))
                .titled(format!("{name}@{alias} rolled back to v{}", moved.to_version));
            output::emit(out, format, &[table], &moved)?;
            Ok(EXIT_OK)
        }
        ModelsCmd::History { name, alias } => {
            let moves = store
                .alias_history(name, alias.as_deref())
                .with_context(|| format!("reading the alias history of {name}"))?;
            let table = moves_table(&moves).titled(format!("alias history of {name}"));
            output::emit(out, format, &[table], &moves)?;
            Ok(EXIT_OK)
        }
    }
}

pub(crate) fn audit_cmd(store: &Store, cmd: &AuditCmd, format: Format, out: &mut dyn Write) -> anyhow::Result<i32> {
    match cmd {
        AuditCmd::Log { limit, action, actor, target } => {
            let filter = AuditFilter {
                action: *action,
                actor: actor.clone(),
                target: target.clone(),
                limit: (*limit > 0).then_some(*limit),
            };
            let events = store.audit_log(&filter).context("reading the audit log")?;
            output::emit(out, format, &[events_table(&events)], &events)?;
            Ok(EXIT_OK)
        }
        AuditCmd::Verify => audit_verify(store, format, out),
    }
}

fn runs_list(store: &Store, args: &RunsListArgs, format: Format, out: &mut dyn Write) -> anyhow::Result<i32> {
    let filter = RunFilter {
        params: args.params.clone(),
        metrics: args.metrics.clone(),
        status: args.status,
        data_hash: args.data_hash.clone(),
        name: args.name.clone(),
        sort: args.sort.clone(),
        limit: (args.limit > 0).then_some(args.limit),
    };
    let runs = store.list_runs(&filter).context("listing runs")?;
    // Metric columns: those the filters and sort name, else every metric of the listed runs.
    let mut metric_keys: Vec<String> = args.metrics.iter().map(|m| m.key.clone()).collect();
    if let RunSort::Metric { key, .. } = &args.sort {
        metric_keys.insert(0, key.clone());
    }
    if metric_keys.is_empty() {
        metric_keys = runs.iter().flat_map(|run| run.metrics.keys().cloned()).collect();
        metric_keys.sort();
    }
    metric_keys.dedup();
    metric_keys.truncate(8);
    let mut headers = vec!["id", "name", "command", "status", "started", "data"];
    headers.extend(metric_keys.iter().map(String::as_str));
    let mut table = Table::new(&headers).titled(format!("{} runs", runs.len()));
    for run in &runs {
        let mut row = vec![
            run.id.to_string(),
            run.name.clone(),
            run.command.clone(),
            run.status.to_string(),
            when(&run.started_at),
            opt(run.data_hash.as_deref().map(short).as_deref()),
        ];
        row.extend(metric_keys.iter().map(|key| run.metrics.get(key).map_or_else(String::new, |v| num(*v, 4))));
        table.push(row);
    }
    output::emit(out, format, &[table], &runs)?;
    Ok(EXIT_OK)
}

fn runs_show(store: &Store, id: &str, format: Format, out: &mut dyn Write) -> anyhow::Result<i32> {
    let run = store.show_run(id).with_context(|| format!("showing run {id}"))?;
    let mut about = Table::new(&["field", "value"]).titled(format!("run {}", run.id));
    let fields = [
        ("name", run.name.clone()),
        ("command", run.command.clone()),
        ("status", run.status.to_string()),
        ("error", opt(run.error.as_deref())),
        ("started", run.started_at.clone()),
        ("ended", opt(run.ended_at.as_deref())),
        ("duration", run.duration_ms.map_or_else(String::new, |ms| format!("{:.1} s", ms as f64 / 1000.0))),
        ("config hash", run.config_hash.clone()),
        ("data hash", opt(run.data.data_hash.as_deref())),
        ("schema hash", opt(run.data.schema_hash.as_deref())),
        ("split hash", opt(run.data.split_hash.as_deref())),
        ("git", git_text(run.git.as_ref())),
        ("seed", run.seed.map_or_else(String::new, |seed| seed.to_string())),
        ("device", opt(run.device.as_deref())),
        ("kiln version", run.kiln_version.clone()),
        ("process", format!("{} on {}", run.pid, run.host)),
        ("model versions", run.model_versions.join(", ")),
    ];
    for (field, value) in fields {
        about.push(vec![field.to_owned(), value]);
    }
    let mut params = Table::new(&["parameter", "value"]).titled("parameters");
    for (key, value) in &run.params {
        params.push(vec![key.clone(), value.clone()]);
    }
    let mut metrics = Table::new(&["metric", "final", "steps", "min", "max"]).titled("metrics");
    for (key, series) in &run.metrics {
        let values = series.iter().map(|point| point.value).filter(|v| !v.is_nan());
        let min = values.clone().fold(f64::INFINITY, f64::min);
        let max = values.fold(f64::NEG_INFINITY, f64::max);
        metrics.push(vec![
            key.clone(),
            run.final_metrics.get(key).map_or_else(String::new, |v| num(*v, 4)),
            series.len().to_string(),
            if min.is_finite() { num(min, 4) } else { String::new() },
            if max.is_finite() { num(max, 4) } else { String::new() },
        ]);
    }
    let mut artifacts = Table::new(&["artifact", "sha256", "bytes"]).titled("artifacts");
    for artifact in &run.artifacts {
        artifacts.push(vec![
            artifact.path.clone(),
            artifact.sha256.clone(),
            artifact.size_bytes.map_or_else(String::new, |n| n.to_string()),
        ]);
    }
    output::emit(out, format, &[about, params, metrics, artifacts], &run)?;
    Ok(EXIT_OK)
}

fn runs_diff(store: &Store, a: &str, b: &str, format: Format, out: &mut dyn Write) -> anyhow::Result<i32> {
    let diff = store.diff_runs(a, b).with_context(|| format!("comparing runs {a} and {b}"))?;
    let headers = ["", "key", diff.a.as_str(), diff.b.as_str()];
    let value_table = |title: &str, rows: &[ValueDiff]| {
        let mut table = Table::new(&headers).titled(title);
        for row in rows {
            table.push(vec![mark(row.differs), row.key.clone(), opt(row.a.as_deref()), opt(row.b.as_deref())]);
        }
        table
    };
    let mut metrics = Table::new(&["", "metric", diff.a.as_str(), diff.b.as_str(), "delta"]).titled("final metrics");
    for row in &diff.metrics {
        let show = |value: Option<f64>| value.map_or_else(String::new, |v| num(v, 4));
        metrics.push(vec![
            mark(row.differs),
            row.key.clone(),
            show(row.a),
            show(row.b),
            row.delta.map_or_else(String::new, |d| format!("{}{}", if d > 0.0 { "+" } else { "" }, num(d, 4))),
        ]);
    }
    let tables = [
        value_table("parameters", &diff.params),
        value_table("data versions", &diff.data),
        value_table("setup", &diff.setup),
        metrics,
    ];
    output::emit(out, format, &tables, &diff)?;
    Ok(EXIT_OK)
}

fn models_list(store: &Store, format: Format, out: &mut dyn Write) -> anyhow::Result<i32> {
    let models = store.list_models().context("listing models")?;
    let mut table =
        Table::new(&["model", "versions", "latest", "aliases", "created"]).titled(format!("{} models", models.len()));
    for model in &models {
        let aliases: Vec<String> = model.aliases.iter().map(|(alias, version)| format!("{alias}=v{version}")).collect();
        table.push(vec![
            model.name.clone(),
            model.n_versions.to_string(),
            format!("v{}", model.latest_version),
            aliases.join(", "),
            when(&model.created_at),
        ]);
    }
    output::emit(out, format, &[table], &models)?;
    Ok(EXIT_OK)
}

/// JSON of `models promote`: the move, or why it was refused.
#[derive(Debug, Serialize)]
struct PromoteResult<'a> {
    promoted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    alias_move: Option<&'a AliasMove>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<String>,
}

fn models_promote(
    store: &Store,
    promotion: &Promotion<'_>,
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let Promotion { name, version, alias, .. } = *promotion;
    match store.promote(promotion) {
        Ok(moved) => {
            let verb = if moved.forced { "forced to" } else { "now points at" };
            let table = moves_table(std::slice::from_ref(&moved))
                .titled(format!("{name}@{alias} {verb} v{}", moved.to_version));
            let json = PromoteResult { promoted: true, alias_move: Some(&moved), refused: None };
            output::emit(out, format, &[table], &json)?;
            Ok(EXIT_OK)
        }
        Err(error) if error.is_gate_refusal() => {
            let message = error.to_string();
            let mut table = Table::new(&["refused"]).titled(format!("{name} v{version} not promoted to {alias}"));
            for line in message.lines() {
                table.push(vec![line.to_owned()]);
            }
            let json = PromoteResult { promoted: false, alias_move: None, refused: Some(message) };
            output::emit(out, format, &[table], &json)?;
            Ok(EXIT_FAILED)
        }
        Err(error) => Err(anyhow::Error::new(error).context(format!("promoting {name} v{version} to {alias}"))),
    }
}

/// JSON of `audit verify`.
#[derive(Debug, Serialize)]
struct VerifyResult<'a> {
    ok: bool,
    chain: &'a kiln_track::AuditReport,
    integrity: &'a [String],
}

fn audit_verify(store: &Store, format: Format, out: &mut dyn Write) -> anyhow::Result<i32> {
    let report = store.verify_audit().context("verifying the audit log")?;
    let integrity = store.integrity_check().context("checking the database file")?;
    let ok = report.ok && integrity.is_empty();
    let mut summary =
        Table::new(&["check", "result"]).titled(if ok { "audit log verified" } else { "audit log TAMPERED" });
    summary.push(vec!["events".to_owned(), report.n_events.to_string()]);
    summary.push(vec![
        "head".to_owned(),
        match (report.head_seq, &report.head_hash) {
            (Some(seq), Some(hash)) => format!("#{seq} {hash}"),
            _ => "(empty)".to_owned(),
        },
    ]);
    summary.push(vec![
        "hash chain".to_owned(),
        if report.ok { "ok".to_owned() } else { format!("{} problems", report.issues.len()) },
    ]);
    summary.push(vec![
        "database file".to_owned(),
        if integrity.is_empty() { "ok".to_owned() } else { integrity.join("; ") },
    ]);
    let mut tables = vec![summary];
    if !report.issues.is_empty() {
        let mut issues = Table::new(&["problem", "rows"]).titled("tampering found");
        for issue in &report.issues {
            let (kind, rows) = match issue {
                Tamper::Edited { seq } => ("edited", format!("#{seq}")),
                Tamper::Rehashed { seq } => ("edited and rehashed", format!("#{seq}")),
                Tamper::Deleted { first_seq, last_seq } if first_seq == last_seq => {
                    ("deleted", format!("#{first_seq}"))
                }
                Tamper::Deleted { first_seq, last_seq } => ("deleted", format!("#{first_seq}..#{last_seq}")),
                Tamper::Inserted { seq } => ("inserted", format!("#{seq}")),
                Tamper::HeadMissing => ("head record missing", String::new()),
            };
            issues.push(vec![kind.to_owned(), rows]);
        }
        tables.push(issues);
    }
    let json = VerifyResult { ok, chain: &report, integrity: &integrity };
    output::emit(out, format, &tables, &json)?;
    Ok(if ok { EXIT_OK } else { EXIT_FAILED })
}

fn moves_table(moves: &[AliasMove]) -> Table {
    let mut table = Table::new(&["#", "alias", "from", "to", "action", "forced", "actor", "reason", "at"]);
    for moved in moves {
        table.push(vec![
            moved.seq.to_string(),
            moved.alias.clone(),
            moved.from_version.map_or_else(String::new, |v| format!("v{v}")),
            format!("v{}", moved.to_version),
            moved.action.clone(),
            if moved.forced { "yes".to_owned() } else { String::new() },
            moved.actor.clone(),
            opt(moved.reason.as_deref()),
            when(&moved.at),
        ]);
    }
    table
}

pub(super) fn events_table(events: &[AuditEvent]) -> Table {
    let mut table = Table::new(&["#", "at", "actor", "action", "target", "reason"]);
    for event in events {
        table.push(vec![
            event.seq.to_string(),
            when(&event.at),
            event.actor.clone(),
            event.action.clone(),
            event.target.clone(),
            opt(event.reason.as_deref()),
        ]);
    }
    table
}

/// `3` or `v3`.
fn parse_version(text: &str) -> Result<i64, String> {
    text.strip_prefix('v')
        .unwrap_or(text)
        .parse::<i64>()
        .ok()
        .filter(|version| *version > 0)
        .ok_or_else(|| format!("invalid version {text:?}: use a number such as 3 or v3"))
}

/// `2026-05-07T10:15:00.123Z` as `2026-05-07 10:15:00`.
pub(super) fn when(rfc3339: &str) -> String {
    rfc3339.get(..19).unwrap_or(rfc3339).replacen('T', " ", 1)
}

/// The first 12 characters of a hash.
pub(super) fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

pub(super) fn opt(value: Option<&str>) -> String {
    value.unwrap_or("").to_owned()
}

fn mark(differs: bool) -> String {
    if differs { "*".to_owned() } else { String::new() }
}

pub(super) fn git_text(git: Option<&kiln_track::GitInfo>) -> String {
    git.map_or_else(String::new, |git| format!("{}{}", short(&git.commit), if git.dirty { " (dirty)" } else { "" }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_track::{DataVersions, NewModelVersion, NewRun};

    fn store_with_two_runs() -> (tempfile::TempDir, Store, Vec<String>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("kiln.db")).expect("open");
        let mut ids = Vec::new();
        for (lr, auc) in [("0.1", 0.91), ("0.01", 0.87)] {
            let run = store
                .start_run(&NewRun {
                    name: "churn".to_owned(),
                    command: "train".to_owned(),
                    config: format!("lr = {lr}"),
                    params: [("lr".to_owned(), lr.to_owned())].into(),
                    data: DataVersions { data_hash: Some("d1".repeat(20)), ..DataVersions::default() },
                    kiln_version: "0.1.0".to_owned(),
                    ..NewRun::default()
                })
                .expect("start");
            run.log_metrics(&[("auc", 0, 0.5), ("auc", 1, auc)]).expect("log");
            ids.push(run.id().to_string());
            run.finish(RunStatus::Finished).expect("finish");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        for (index, passed) in [true, false].into_iter().enumerate() {
            store
                .register_model(&NewModelVersion {
                    name: "churn".to_owned(),
                    run_id: kiln_track::RunId::new(ids[index].clone()),
                    bundle_path: "b.safetensors".to_owned(),
                    bundle_sha256: "c".repeat(64),
                    passed,
                    verdict: serde_json::json!({ "passed": passed }),
                    actor: "ana".to_owned(),
                })
                .expect("register");
        }
        (dir, store, ids)
    }

    fn text(f: impl FnOnce(&mut Vec<u8>) -> anyhow::Result<i32>) -> (i32, String) {
        let mut out = Vec::new();
        let code = f(&mut out).expect("command");
        (code, String::from_utf8(out).expect("utf-8"))
    }

    fn list_args(metric: &str) -> RunsListArgs {
        RunsListArgs {
            params: Vec::new(),
            metrics: vec![metric.parse().expect("metric")],
            status: None,
            data_hash: None,
            name: None,
            sort: "auc".parse().expect("sort"),
            limit: 20,
        }
    }

    #[test]
    fn runs_list_show_and_diff() {
        let (_dir, store, ids) = store_with_two_runs();
        let cmd = RunsCmd::List(list_args("auc>=0.9"));
        let (code, out) = text(|out| runs_cmd(&store, &cmd, Format::Table, out));
        assert_eq!(code, EXIT_OK);
        assert!(out.starts_with("1 runs\n"), "{out}");
        assert!(out.contains(&ids[0]) && !out.contains(&ids[1]), "{out}");
        assert!(out.contains("0.91"), "{out}");

        let (_, json) = text(|out| runs_cmd(&store, &cmd, Format::Json, out));
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(value[0]["id"], ids[0].as_str());

        let show = RunsCmd::Show { id: ids[1].clone() };
        let (_, out) = text(|out| runs_cmd(&store, &show, Format::Markdown, out));
        assert!(out.contains("| lr | 0.01 |"), "{out}");
        assert!(out.contains("| auc | 0.87 | 2 | 0.5 | 0.87 |"), "{out}");

        let diff = RunsCmd::Diff { a: ids[0].clone(), b: ids[1].clone() };
        let (_, out) = text(|out| runs_cmd(&store, &diff, Format::Table, out));
        assert!(out.lines().any(|line| line.starts_with("*") && line.contains("lr")), "{out}");
        assert!(out.contains("-0.04"), "{out}");
    }

    #[test]
    fn a_refused_promotion_exits_1_and_a_forced_one_is_recorded() {
        let (_dir, store, _ids) = store_with_two_runs();
        let promote = |version: i64, force: bool, reason: Option<&str>| ModelsCmd::Promote {
            name: "churn".to_owned(),
            version,
            alias: "champion".to_owned(),
            force,
            reason: reason.map(str::to_owned),
            actor: Some("ana".to_owned()),
        };
        let (code, _) = text(|out| models_cmd(&store, &promote(1, false, None), Format::Table, out));
        assert_eq!(code, EXIT_OK);
        let (code, out) = text(|out| models_cmd(&store, &promote(2, false, None), Format::Table, out));
        assert_eq!(code, EXIT_FAILED);
        assert!(out.contains("did not pass"), "{out}");
        let (code, out) = text(|out| models_cmd(&store, &promote(2, true, Some("incident 7")), Format::Json, out));
        assert_eq!(code, EXIT_OK);
        assert!(out.contains("\"forced\": true"), "{out}");
        let mut sink = Vec::new();
        assert!(models_cmd(&store, &promote(2, true, None), Format::Table, &mut sink).is_err());

        let rollback = ModelsCmd::Rollback {
            name: "churn".to_owned(),
            alias: "champion".to_owned(),
            actor: Some("bo".to_owned()),
        };
        let (code, out) = text(|out| models_cmd(&store, &rollback, Format::Table, out));
        assert_eq!(code, EXIT_OK);
        assert!(out.contains("rolled back to v1"), "{out}");
        let history = ModelsCmd::History { name: "churn".to_owned(), alias: None };
        let (_, out) = text(|out| models_cmd(&store, &history, Format::Table, out));
        assert!(out.contains("incident 7") && out.contains("rollback"), "{out}");
        let (_, out) = text(|out| models_cmd(&store, &ModelsCmd::List, Format::Table, out));
        assert!(out.contains("champion=v1"), "{out}");

        let (_, out) = text(|out| super::super::lineage::lineage_cmd(&store, "churn@champion", Format::Table, out));
        assert!(out.contains("churn@v1") && out.contains("data snapshot"), "{out}");
    }

    #[test]
    fn audit_verify_exits_1_on_tampering() {
        let (dir, store, _ids) = store_with_two_runs();
        let (code, out) = text(|out| audit_cmd(&store, &AuditCmd::Verify, Format::Table, out));
        assert_eq!(code, EXIT_OK, "{out}");
        let log = AuditCmd::Log { limit: 10, action: Some(AuditAction::Register), actor: None, target: None };
        let (_, out) = text(|out| audit_cmd(&store, &log, Format::Table, out));
        assert!(out.contains("churn@v2") && out.contains("churn@v1"), "{out}");

        let conn = rusqlite::Connection::open(dir.path().join("kiln.db")).expect("raw connection");
        conn.execute_batch(
            "DROP TRIGGER audit_no_update;
             UPDATE audit SET actor = 'eve' WHERE seq = 1;",
        )
        .expect("tamper");
        let (code, out) = text(|out| audit_cmd(&store, &AuditCmd::Verify, Format::Table, out));
        assert_eq!(code, EXIT_FAILED, "{out}");
        assert!(out.contains("TAMPERED") && out.contains("edited"), "{out}");
        let (code, json) = text(|out| audit_cmd(&store, &AuditCmd::Verify, Format::Json, out));
        assert_eq!(code, EXIT_FAILED);
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(value["chain"]["issues"][0]["kind"], "edited");
        assert_eq!(value["chain"]["issues"][0]["seq"], 1);
    }

    #[test]
    fn versions_parse_with_or_without_v() {
        assert_eq!(parse_version("3"), Ok(3));
        assert_eq!(parse_version("v12"), Ok(12));
        assert!(parse_version("0").is_err() && parse_version("vx").is_err());
    }
}

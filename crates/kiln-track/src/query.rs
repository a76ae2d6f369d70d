//! Reading runs back: `list` with parameter / metric / status / dataset filters and sorting,
//! `show` of one run (found by id or unique id prefix) with its series and artifacts, and `diff`
//! of two runs. Every answer is a plain `Serialize` struct; nothing here writes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use crate::db::{Db, OptionalExtension, Value};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::provenance::GitInfo;
use crate::runs::{Artifact, DataVersions, RunId, RunStatus};
use crate::store::{Fail, Store};
use crate::time::format_rfc3339;

/// Keeps runs whose parameter `key` equals `value` (parsed from `key=value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamFilter {
    pub key: String,
    pub value: String,
}

/// A comparison in a metric filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// Keeps runs whose latest value of metric `key` compares to `value` with `op` (parsed from
/// `auc>=0.9`, `loss<0.3`, `epochs=10`, `acc!=1`). Runs without the metric are left out.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFilter {
    pub key: String,
    pub op: CmpOp,
    pub value: f64,
}

/// Order of a run list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunSort {
    /// By start time.
    Started { descending: bool },
    /// By the latest value of a metric. Runs without the metric (or with NaN) are left out.
    Metric { key: String, descending: bool },
}

impl Default for RunSort {
    fn default() -> Self {
        RunSort::Started { descending: true }
    }
}

/// What `runs list` asks for. The default lists every run, newest first.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub params: Vec<ParamFilter>,
    pub metrics: Vec<MetricFilter>,
    pub status: Option<RunStatus>,
    /// Keeps runs whose data hash starts with this (hex) prefix.
    pub data_hash: Option<String>,
    /// Keeps runs with exactly this name.
    pub name: Option<String>,
    pub sort: RunSort,
    pub limit: Option<usize>,
}

/// One line of `runs list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub id: RunId,
    pub name: String,
    pub command: String,
    pub status: RunStatus,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub data_hash: Option<String>,
    pub git_commit: Option<String>,
    /// Latest value of every metric series of the run.
    pub metrics: BTreeMap<String, f64>,
}

/// One point of a metric series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MetricPoint {
    pub step: u64,
    pub value: f64,
}

/// Everything recorded about one run (`runs show`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDetail {
    pub id: RunId,
    pub name: String,
    pub command: String,
    pub status: RunStatus,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub duration_ms: Option<i64>,
    /// Why it failed or was interrupted.
    pub error: Option<String>,
    pub config: String,
    pub config_hash: String,
    pub params: BTreeMap<String, String>,
    pub data: DataVersions,
    pub git: Option<GitInfo>,
    pub seed: Option<u64>,
    pub device: Option<String>,
    pub kiln_version: String,
    pub pid: i64,
    pub host: String,
    /// Each series in step order.
    pub metrics: BTreeMap<String, Vec<MetricPoint>>,
    /// Latest value of each series.
    pub final_metrics: BTreeMap<String, f64>,
    pub artifacts: Vec<Artifact>,
    /// Registered model versions this run produced, as `NAME@vN`.
    pub model_versions: Vec<String>,
}

/// One row of a side-by-side comparison of text values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueDiff {
    pub key: String,
    pub a: Option<String>,
    pub b: Option<String>,
    pub differs: bool,
}

/// One row of a side-by-side comparison of final metric values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricDiff {
    pub key: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// `b - a` where both exist.
    pub delta: Option<f64>,
    pub differs: bool,
}

/// Two runs side by side (`runs diff A B`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDiff {
    pub a: RunId,
    pub b: RunId,
    /// Parameters, by key (union of both runs).
    pub params: Vec<ValueDiff>,
    /// Data, schema and split hashes.
    pub data: Vec<ValueDiff>,
    /// Config hash, git commit, seed, device, kiln version, command, status.
    pub setup: Vec<ValueDiff>,
    /// Final metric values, by key (union of both runs).
    pub metrics: Vec<MetricDiff>,
}

impl CmpOp {
    /// The operator as written in filters and SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
        }
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ParamFilter {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok(ParamFilter { key: key.trim().to_owned(), value: value.trim().to_owned() })
            }
            _ => Err(Error::ParseFilter {
                what: "parameter",
                text: text.to_owned(),
                hint: "write KEY=VALUE, e.g. lr=0.1",
            }),
        }
    }
}

impl FromStr for MetricFilter {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let err = || Error::ParseFilter {
            what: "metric",
            text: text.to_owned(),
            hint: "write KEY OP VALUE with OP one of >= > <= < = !=, e.g. auc>=0.9",
        };
        let at = text.find(['<', '>', '=', '!']).ok_or_else(err)?;
        let (key, rest) = text.split_at(at);
        let (op, value) = [
            (">=", CmpOp::Ge),
            ("<=", CmpOp::Le),
            ("!=", CmpOp::Ne),
            ("==", CmpOp::Eq),
            (">", CmpOp::Gt),
            ("<", CmpOp::Lt),
            ("=", CmpOp::Eq),
        ]
        .iter()
        .find_map(|(symbol, op)| rest.strip_prefix(symbol).map(|value| (*op, value)))
        .ok_or_else(err)?;
        let key = key.trim();
        let value: f64 = value.trim().parse().map_err(|_| err())?;
        if key.is_empty() || value.is_nan() {
            return Err(err());
        }
        Ok(MetricFilter { key: key.to_owned(), op, value })
    }
}

impl FromStr for RunSort {
    type Err = Error;

    /// `started`, `started:asc`, `auc` (descending), `loss:asc`, `auc:desc`.
    fn from_str(text: &str) -> Result<Self> {
        let (key, descending) = match text.rsplit_once(':') {
            Some((key, "asc")) => (key, false),
            Some((key, "desc")) => (key, true),
            Some(_) => {
                return Err(Error::ParseFilter {
                    what: "sort",
                    text: text.to_owned(),
                    hint: "write started or METRIC, optionally followed by :asc or :desc",
                });
            }
            None => (text, true),
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(Error::ParseFilter {
                what: "sort",
                text: text.to_owned(),
                hint: "write started or METRIC, optionally followed by :asc or :desc",
            });
        }
        Ok(if key == "started" || key == "start" {
            RunSort::Started { descending }
        } else {
            RunSort::Metric { key: key.to_owned(), descending }
        })
    }
}

impl Store {
    /// Runs matching `filter`, in its order, at most `filter.limit` of them.
    pub fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>> {
        self.read("list runs", |conn| {
            let (sql, values) = list_sql(conn, filter)?;
            let rows: Vec<(i64, RunSummary, String)> = conn.query_map(&sql, values, |row| {
                let started_ms: i64 = row.get(5)?;
                let ended_ms: Option<i64> = row.get(6)?;
                Ok((
                    row.get::<_, i64>(0)?,
                    RunSummary {
                        id: RunId::new(row.get::<_, String>(1)?),
                        name: row.get(2)?,
                        command: row.get(3)?,
                        status: RunStatus::Running,
                        started_at: format_rfc3339(started_ms),
                        ended_at: ended_ms.map(format_rfc3339),
                        duration_ms: ended_ms.map(|ended| ended - started_ms),
                        data_hash: row.get(7)?,
                        git_commit: row.get(8)?,
                        metrics: BTreeMap::new(),
                    },
                    row.get::<_, String>(4)?,
                ))
            })?;
            let mut out = Vec::with_capacity(rows.len());
            for (pk, mut summary, status) in rows {
                summary.status = parse_status(self, &status)?;
                summary.metrics =
                    conn.query_map("SELECT key, value FROM latest_metrics WHERE run = ?1", [pk], |row| {
                        Ok((row.get(0)?, metric_value(row.get(1)?)))
                    })?;
                out.push(summary);
            }
            Ok(out)
        })
    }

    /// The full id of the run whose id is `id_or_prefix`, or the one run whose id starts with
    /// it ([`Error::AmbiguousRunId`] when several do).
    pub fn resolve_run(&self, id_or_prefix: &str) -> Result<RunId> {
        self.read("find a run", |conn| resolve_run(conn, id_or_prefix))
    }

    /// Everything about one run, found by id or unique id prefix.
    pub fn show_run(&self, id_or_prefix: &str) -> Result<RunDetail> {
        self.read("show a run", |conn| {
            let id = resolve_run(conn, id_or_prefix)?;
            show(self, conn, &id)
        })
    }

    /// Parameters, data versions, setup and final metrics of two runs side by side.
    pub fn diff_runs(&self, a: &str, b: &str) -> Result<RunDiff> {
        let a = self.show_run(a)?;
        let b = self.show_run(b)?;
        let text = |value: &Option<String>| value.clone();
        let data = vec![
            value_diff("data_hash", text(&a.data.data_hash), text(&b.data.data_hash)),
            value_diff("schema_hash", text(&a.data.schema_hash), text(&b.data.schema_hash)),
            value_diff("split_hash", text(&a.data.split_hash), text(&b.data.split_hash)),
        ];
        let git = |detail: &RunDetail| {
            detail.git.as_ref().map(|git| format!("{}{}", git.commit, if git.dirty { " (dirty)" } else { "" }))
        };
        let setup = vec![
            value_diff("command", Some(a.command.clone()), Some(b.command.clone())),
            value_diff("status", Some(a.status.to_string()), Some(b.status.to_string())),
            value_diff("config_hash", Some(a.config_hash.clone()), Some(b.config_hash.clone())),
            value_diff("git_commit", git(&a), git(&b)),
            value_diff("seed", a.seed.map(|s| s.to_string()), b.seed.map(|s| s.to_string())),
            value_diff("device", text(&a.device), text(&b.device)),
            value_diff("kiln_version", Some(a.kiln_version.clone()), Some(b.kiln_version.clone())),
        ];
        let param_keys: BTreeSet<&String> = a.params.keys().chain(b.params.keys()).collect();
        let params = param_keys
            .into_iter()
            .map(|key| value_diff(key, a.params.get(key).cloned(), b.params.get(key).cloned()))
            .collect();
        let metric_keys: BTreeSet<&String> = a.final_metrics.keys().chain(b.final_metrics.keys()).collect();
        let metrics = metric_keys
            .into_iter()
            .map(|key| {
                let value_a = a.final_metrics.get(key).copied();
                let value_b = b.final_metrics.get(key).copied();
                let delta = value_a.zip(value_b).map(|(x, y)| y - x);
                let same = match (value_a, value_b) {
                    (Some(x), Some(y)) => x == y || (x.is_nan() && y.is_nan()),
                    (None, None) => true,
                    _ => false,
                };
                MetricDiff { key: key.clone(), a: value_a, b: value_b, delta, differs: !same }
            })
            .collect();
        Ok(RunDiff { a: a.id, b: b.id, params, data, setup, metrics })
    }
}

fn value_diff(key: &str, a: Option<String>, b: Option<String>) -> ValueDiff {
    ValueDiff { key: key.to_owned(), differs: a != b, a, b }
}

/// SQLite stores NaN as NULL; give it back as NaN.
fn metric_value(value: Option<f64>) -> f64 {
    value.unwrap_or(f64::NAN)
}

fn parse_status(store: &Store, text: &str) -> Result<RunStatus, Fail> {
    RunStatus::from_str(text).map_err(|_| {
        Fail::Kiln(Error::UnknownValue { path: store.path().to_path_buf(), what: "run status", value: text.to_owned() })
    })
}

/// Builds the `list` statement. Metric filters and the metric sort join `latest_metrics`, whose
/// `(key, value)` index returns the best runs first without reading the others.
fn list_sql(db: &Db<'_>, filter: &RunFilter) -> Result<(String, Vec<Value>)> {
    let mut joins = String::new();
    let mut wheres = vec!["1 = 1".to_owned()];
    let mut values: Vec<Value> = Vec::new();
    let sort_key = match &filter.sort {
        RunSort::Metric { key, .. } => Some(key.as_str()),
        RunSort::Started { .. } => None,
    };
    if let Some(key) = sort_key {
        joins.push_str(" JOIN latest_metrics s ON s.run = r.pk AND s.key = ? AND s.value IS NOT NULL");
        values.push(Value::Text(key.to_owned()));
    }
    for (index, metric) in filter.metrics.iter().enumerate() {
        // A filter on the sort key reuses the sort join, so one index range serves both.
        let alias = if sort_key == Some(metric.key.as_str()) {
            "s".to_owned()
        } else {
            let alias = format!("m{index}");
            joins.push_str(&format!(" JOIN latest_metrics {alias} ON {alias}.run = r.pk AND {alias}.key = ?"));
            values.push(Value::Text(metric.key.clone()));
            alias
        };
        joins.push_str(&format!(" AND {alias}.value {} ?", metric.op.as_str()));
        values.push(Value::Real(metric.value));
    }
    for (index, param) in filter.params.iter().enumerate() {
        joins.push_str(&format!(
            " JOIN params p{index} ON p{index}.run = r.pk AND p{index}.key = ? AND p{index}.value = ?"
        ));
        values.push(Value::Text(param.key.clone()));
        values.push(Value::Text(param.value.clone()));
    }
    if let Some(status) = filter.status {
        wheres.push("r.status = ?".to_owned());
        values.push(Value::Text(status.as_str().to_owned()));
    }
    if let Some(prefix) = &filter.data_hash {
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::ParseFilter {
                what: "dataset hash",
                text: prefix.clone(),
                hint: "give a hash or a prefix of one (letters and digits)",
            });
        }
        let (clause, value) = db.starts_with("r.data_hash", prefix);
        wheres.push(clause);
        values.push(value);
    }
    if let Some(name) = &filter.name {
        wheres.push("r.name = ?".to_owned());
        values.push(Value::Text(name.clone()));
    }
    let order = match &filter.sort {
        RunSort::Started { descending: true } => "r.started_ms DESC, r.pk DESC",
        RunSort::Started { descending: false } => "r.started_ms ASC, r.pk ASC",
        RunSort::Metric { descending: true, .. } => "s.value DESC, r.started_ms DESC",
        RunSort::Metric { descending: false, .. } => "s.value ASC, r.started_ms DESC",
    };
    let limit = filter.limit.map_or(i64::MAX, |limit| i64::try_from(limit).unwrap_or(i64::MAX));
    values.push(Value::Integer(limit));
    let sql = format!(
        "SELECT r.pk, r.id, r.name, r.command, r.status, r.started_ms, r.ended_ms, r.data_hash,
                r.git_commit
         FROM runs r{joins}
         WHERE {}
         ORDER BY {order}
         LIMIT ?",
        wheres.join(" AND ")
    );
    Ok((sql, values))
}

fn resolve_run(conn: &Db<'_>, id_or_prefix: &str) -> Result<RunId, Fail> {
    let wanted = id_or_prefix.trim();
    let exact: Option<String> =
        conn.query_row("SELECT id FROM runs WHERE id = ?1", [wanted], |row| row.get(0)).optional()?;
    if let Some(id) = exact {
        return Ok(RunId::new(id));
    }
    let not_found = || Fail::Kiln(Error::RunNotFound { id: wanted.to_owned() });
    if wanted.is_empty() || wanted.contains(['*', '?', '[', ']']) {
        return Err(not_found());
    }
    let (clause, value) = conn.starts_with("id", wanted);
    let mut matches: Vec<String> =
        conn.query_map(&format!("SELECT id FROM runs WHERE {clause} ORDER BY id LIMIT 11"), vec![value], |row| {
            row.get::<_, String>(0)
        })?;
    match matches.len() {
        0 => Err(not_found()),
        1 => Ok(RunId::new(matches.remove(0))),
        _ => Err(Error::AmbiguousRunId { prefix: wanted.to_owned(), candidates: matches }.into()),
    }
}

fn show(store: &Store, conn: &Db<'_>, id: &RunId) -> Result<RunDetail, Fail> {
    let (pk, mut detail, status) = conn.query_row(
        "SELECT pk, id, name, command, status, started_ms, ended_ms, error, config, config_hash,
                data_hash, schema_hash, split_hash, git_commit, git_dirty, seed, device,
                kiln_version, pid, host
         FROM runs WHERE id = ?1",
        [id.as_str()],
        |row| {
            let started_ms: i64 = row.get(5)?;
            let ended_ms: Option<i64> = row.get(6)?;
            let git_commit: Option<String> = row.get(13)?;
            let git_dirty: Option<bool> = row.get(14)?;
            Ok((
                row.get::<_, i64>(0)?,
                RunDetail {
                    id: RunId::new(row.get::<_, String>(1)?),
                    name: row.get(2)?,
                    command: row.get(3)?,
                    status: RunStatus::Running,
                    started_at: format_rfc3339(started_ms),
                    ended_at: ended_ms.map(format_rfc3339),
                    duration_ms: ended_ms.map(|ended| ended - started_ms),
                    error: row.get(7)?,
                    config: row.get(8)?,
                    config_hash: row.get(9)?,
                    params: BTreeMap::new(),
                    data: DataVersions { data_hash: row.get(10)?, schema_hash: row.get(11)?, split_hash: row.get(12)? },
                    git: git_commit.map(|commit| GitInfo { commit, dirty: git_dirty.unwrap_or(true) }),
                    seed: row.get::<_, Option<i64>>(15)?.map(i64::cast_unsigned),
                    device: row.get(16)?,
                    kiln_version: row.get(17)?,
                    pid: row.get(18)?,
                    host: row.get(19)?,
                    metrics: BTreeMap::new(),
                    final_metrics: BTreeMap::new(),
                    artifacts: Vec::new(),
                    model_versions: Vec::new(),
                },
                row.get::<_, String>(4)?,
            ))
        },
    )?;
    detail.status = parse_status(store, &status)?;
    detail.params = conn.query_map("SELECT key, value FROM params WHERE run = ?1 ORDER BY key", [pk], |row| {
        Ok((row.get(0)?, row.get(1)?))
    })?;
    let points: Vec<(String, MetricPoint)> =
        conn.query_map("SELECT key, step, value FROM metrics WHERE run = ?1 ORDER BY key, step", [pk], |row| {
            Ok((
                row.get::<_, String>(0)?,
                MetricPoint { step: row.get::<_, i64>(1)?.cast_unsigned(), value: metric_value(row.get(2)?) },
            ))
        })?;
    for (key, point) in points {
        detail.metrics.entry(key).or_default().push(point);
    }
    detail.final_metrics = conn.query_map("SELECT key, value FROM latest_metrics WHERE run = ?1", [pk], |row| {
        Ok((row.get(0)?, metric_value(row.get(1)?)))
    })?;
    detail.artifacts = conn.query_map(
        "SELECT path, sha256, size_bytes, logged_ms FROM artifacts WHERE run = ?1 ORDER BY path",
        [pk],
        |row| {
            Ok(Artifact {
                path: row.get(0)?,
                sha256: row.get(1)?,
                size_bytes: row.get::<_, Option<i64>>(2)?.map(i64::cast_unsigned),
                logged_at: format_rfc3339(row.get(3)?),
            })
        },
    )?;
    detail.model_versions = conn.query_map(
        "SELECT name, version FROM model_versions WHERE run_id = ?1 ORDER BY name, version",
        [id.as_str()],
        |row| Ok(format!("{}@v{}", row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
    )?;
    Ok(detail)
}

//! Recording runs: starting one (with its config, parameters, data hashes and provenance),
//! logging metric series and artifacts, ending it, and the per-run lock file that lets the next
//! `Store::open` tell a run whose process died (`interrupted`) from one still going.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::db::{Db, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::hashing::{sha256_file, sha256_hex};
use crate::locks::PgLock;
use crate::provenance::{GitInfo, host_name, random_u64};
use crate::store::{Fail, Store};
use crate::time::{format_compact, format_rfc3339, now_ms};

/// A run's id: a UTC timestamp to the millisecond and a random suffix,
/// e.g. `20260507-101500123-3fa9c2`. Ids sort by start time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// Wraps an id read from the user or the database (not checked: lookups check it).
    pub fn new(id: impl Into<String>) -> Self {
        RunId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn generate(now_ms: i64) -> Self {
        RunId(format!("{}-{:06x}", format_compact(now_ms), random_u64() & 0xff_ffff))
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Its process is recording it now.
    Running,
    /// It ended normally.
    Finished,
    /// It ended with an error, recorded with it.
    Failed,
    /// Its process stopped (killed, crashed, or dropped the handle) without ending it.
    Interrupted,
}

impl RunStatus {
    /// The name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "running" => Ok(RunStatus::Running),
            "finished" => Ok(RunStatus::Finished),
            "failed" => Ok(RunStatus::Failed),
            "interrupted" => Ok(RunStatus::Interrupted),
            _ => Err(Error::ParseFilter {
                what: "status",
                text: text.to_owned(),
                hint: "use running, finished, failed or interrupted",
            }),
        }
    }
}

/// Content hashes of the data a run read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataVersions {
    /// Hash of the dataset snapshot (the rows).
    pub data_hash: Option<String>,
    /// Hash of the validated schema.
    pub schema_hash: Option<String>,
    /// Hash of the split (which rows went to train, validation and test).
    pub split_hash: Option<String>,
}

/// Everything known about a run when it starts.
#[derive(Debug, Clone, Default)]
pub struct NewRun {
    /// Human name (often the project or model name).
    pub name: String,
    /// The command that made it: `train`, `evaluate`, `run`, ...
    pub command: String,
    /// The fully resolved config (TOML or JSON text); its SHA-256 is stored beside it.
    pub config: String,
    /// Flat parameters, key to value.
    pub params: BTreeMap<String, String>,
    /// Hashes of the data, schema and split it reads.
    pub data: DataVersions,
    /// Commit of the work tree, from [`crate::git_info`].
    pub git: Option<GitInfo>,
    /// Seed of every random choice in the run.
    pub seed: Option<u64>,
    /// Device it runs on (`cpu`, `cuda:0`, ...).
    pub device: Option<String>,
    /// Version of kiln that records it.
    pub kiln_version: String,
}

/// A file a run produced, with its content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// Path as given when it was logged.
    pub path: String,
    /// Lowercase hex SHA-256 of its content.
    pub sha256: String,
    /// Size in bytes, when known.
    pub size_bytes: Option<u64>,
    /// When it was logged (RFC 3339, UTC).
    pub logged_at: String,
}

/// A live run, owned by the process recording it. It holds the run's lock file, so other
/// processes know the run is alive; dropping it without [`RunHandle::finish`] marks the run
/// `interrupted`.
#[derive(Debug)]
pub struct RunHandle {
    store: Store,
    id: RunId,
    lock: Option<RunLock>,
}

/// What keeps a run alive: an exclusive lock on `<store folder>/locks/<run id>.lock` (removed
/// when dropped), or, on a PostgreSQL store, a session advisory lock held by a connection of
/// its own (the server releases it when the process dies).
#[derive(Debug)]
pub(crate) enum RunLock {
    File {
        path: PathBuf,
        // Closing the file releases the lock; kept last so that it drops after the removal.
        _file: File,
    },
    Postgres(#[expect(dead_code, reason = "held for its lock")] PgLock),
}

impl Store {
    /// Records a new run as `running` and returns the handle that keeps it alive.
    pub fn start_run(&self, new: &NewRun) -> Result<RunHandle> {
        let started_ms = now_ms();
        let (id, lock) = loop {
            let id = RunId::generate(started_ms);
            // The lock is taken before the row exists, so no open can see the row unlocked.
            if let Some(lock) = RunLock::try_acquire(self, &id)? {
                break (id, lock);
            }
        };
        let config_hash = sha256_hex(new.config.as_bytes());
        self.write("start a run", |tx| {
            let pk = tx.insert_returning(
                "INSERT INTO runs (id, name, command, status, config, config_hash, data_hash,
                    schema_hash, split_hash, git_commit, git_dirty, seed, device, kiln_version,
                    pid, host, started_ms)
                 VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                    ?15, ?16)",
                params![
                    id.as_str(),
                    new.name,
                    new.command,
                    new.config,
                    config_hash,
                    new.data.data_hash,
                    new.data.schema_hash,
                    new.data.split_hash,
                    new.git.as_ref().map(|git| &git.commit),
                    new.git.as_ref().map(|git| git.dirty),
                    new.seed.map(u64::cast_signed),
                    new.device,
                    new.kiln_version,
                    std::process::id(),
                    host_name(),
                    started_ms,
                ],
                "pk",
            )?;
            for (key, value) in &new.params {
                tx.execute("INSERT INTO params (run, key, value) VALUES (?1, ?2, ?3)", params![pk, key, value])?;
            }
            Ok(())
        })?;
        Ok(RunHandle { store: self.clone(), id, lock: Some(lock) })
    }

    /// Continues an `interrupted` or `failed` run: marks it `running` again under this process
    /// (clearing its end time and error) and returns the handle that keeps it alive. Its
    /// config, data hashes, metrics and artifacts stay as recorded.
    pub fn resume_run(&self, id: &RunId) -> Result<RunHandle> {
        let lock = RunLock::try_acquire(self, id)?.ok_or_else(|| Error::RunBusy { id: id.to_string() })?;
        self.write("resume a run", |tx| {
            let changed = tx.execute(
                "UPDATE runs SET status = 'running', pid = ?2, host = ?3, ended_ms = NULL, error = NULL
                 WHERE id = ?1 AND status IN ('interrupted', 'failed')",
                params![id.as_str(), std::process::id(), host_name()],
            )?;
            if changed == 0 {
                let current: Option<String> = tx
                    .query_row("SELECT status FROM runs WHERE id = ?1", [id.as_str()], |row| row.get(0))
                    .optional()?;
                return Err(match current {
                    Some(status) => Error::RunNotResumable { id: id.to_string(), status },
                    None => Error::RunNotFound { id: id.to_string() },
                }
                .into());
            }
            Ok(())
        })?;
        Ok(RunHandle { store: self.clone(), id: id.clone(), lock: Some(lock) })
    }

    /// Adds (or overwrites) parameters of a run.
    pub fn log_params(&self, run: &RunId, params: &BTreeMap<String, String>) -> Result<()> {
        self.write("log parameters", |tx| {
            let pk = run_pk(tx, run)?;
            let insert = tx.upsert_sql("params", &["run", "key", "value"], &["run", "key"]);
            for (key, value) in params {
                tx.execute(&insert, params![pk, key, value])?;
            }
            Ok(())
        })
    }

    /// Logs one point of the metric series `key`. Logging a step again replaces its value.
    /// A NaN is stored (and read back) as NaN.
    pub fn log_metric(&self, run: &RunId, key: &str, step: u64, value: f64) -> Result<()> {
        self.log_metrics(run, &[(key, step, value)])
    }

    /// Logs many metric points in one transaction: `(key, step, value)`.
    pub fn log_metrics(&self, run: &RunId, points: &[(&str, u64, f64)]) -> Result<()> {
        self.write("log metrics", |tx| {
            let pk = run_pk(tx, run)?;
            let insert = tx.upsert_sql("metrics", &["run", "key", "step", "value"], &["run", "key", "step"]);
            for &(key, step, value) in points {
                tx.execute(&insert, params![pk, key, step.cast_signed(), value])?;
            }
            Ok(())
        })
    }

    /// Hashes the file at `path` and records it as an artifact of the run.
    pub fn log_artifact(&self, run: &RunId, path: &Path) -> Result<Artifact> {
        let sha256 = sha256_file(path)?;
        let size_bytes = std::fs::metadata(path).ok().map(|meta| meta.len());
        self.record_artifact(run, &path.to_string_lossy(), &sha256, size_bytes)
    }

    /// Records an artifact whose hash is already known (replacing one at the same path).
    pub fn record_artifact(&self, run: &RunId, path: &str, sha256: &str, size_bytes: Option<u64>) -> Result<Artifact> {
        let logged_ms = now_ms();
        self.write("log an artifact", |tx| {
            let pk = run_pk(tx, run)?;
            let insert =
                tx.upsert_sql("artifacts", &["run", "path", "sha256", "size_bytes", "logged_ms"], &["run", "path"]);
            tx.execute(&insert, params![pk, path, sha256, size_bytes.map(u64::cast_signed), logged_ms])?;
            Ok(())
        })?;
        Ok(Artifact {
            path: path.to_owned(),
            sha256: sha256.to_owned(),
            size_bytes,
            logged_at: format_rfc3339(logged_ms),
        })
    }

    /// Ends a run with `status` (`finished`, `failed` or `interrupted`) and releases its lock.
    pub fn finish_run(&self, mut run: RunHandle, status: RunStatus) -> Result<()> {
        run.end(status, None)
    }

    /// Ends a run as `failed`, recording the error that stopped it.
    pub fn fail_run(&self, mut run: RunHandle, error: &str) -> Result<()> {
        run.end(RunStatus::Failed, Some(error))
    }
}

impl RunHandle {
    /// The run's id.
    pub fn id(&self) -> &RunId {
        &self.id
    }

    /// See [`Store::log_metric`].
    pub fn log_metric(&self, key: &str, step: u64, value: f64) -> Result<()> {
        self.store.log_metric(&self.id, key, step, value)
    }

    /// See [`Store::log_metrics`].
    pub fn log_metrics(&self, points: &[(&str, u64, f64)]) -> Result<()> {
        self.store.log_metrics(&self.id, points)
    }

    /// See [`Store::log_artifact`].
    pub fn log_artifact(&self, path: &Path) -> Result<Artifact> {
        self.store.log_artifact(&self.id, path)
    }

    /// Ends the run with `status` and releases its lock.
    pub fn finish(mut self, status: RunStatus) -> Result<()> {
        self.end(status, None)
    }

    /// Ends the run as `failed` with the error that stopped it.
    pub fn fail(mut self, error: &str) -> Result<()> {
        self.end(RunStatus::Failed, Some(error))
    }

    fn end(&mut self, status: RunStatus, error: Option<&str>) -> Result<()> {
        let status = if status == RunStatus::Running { RunStatus::Interrupted } else { status };
        let Some(lock) = self.lock.take() else {
            return Ok(());
        };
        let outcome = set_ended(&self.store, &self.id, status, error);
        // The status is written before the lock goes: nobody sees an unlocked `running` row.
        drop(lock);
        outcome
    }
}

impl Drop for RunHandle {
    fn drop(&mut self) {
        if self.lock.is_some()
            && let Err(error) = self.end(RunStatus::Interrupted, None)
        {
            tracing::warn!(run = %self.id, error = %error, "could not mark dropped run interrupted");
        }
    }
}

impl RunLock {
    /// Locks the run's lock file, creating it; `None` when another process holds it.
    pub(crate) fn try_acquire(store: &Store, id: &RunId) -> Result<Option<RunLock>> {
        if store.is_postgres() {
            return Ok(PgLock::take(store, &format!("run/{id}"), false)?.map(RunLock::Postgres));
        }
        let dir = store.lock_dir();
        std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir { path: dir.to_path_buf(), source })?;
        let path = dir.join(format!("{id}.lock"));
        let lock_err = |source| Error::RunLock { path: path.clone(), source };
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(lock_err)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(RunLock::File { path, _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(source)) => Err(lock_err(source)),
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Best effort: a stale lock file is harmless (the next open locks and removes it).
        if let RunLock::File { path, .. } = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Marks `interrupted` every `running` run whose lock file no live process holds. Called by
/// [`Store::open`]; returns the runs it marked.
pub(crate) fn mark_dead_runs(store: &Store) -> Result<Vec<RunId>> {
    let running: Vec<(RunId, i64, String)> = store.read("list running runs", |conn| {
        conn.query_map("SELECT id, pid, host FROM runs WHERE status = 'running'", (), |row| {
            Ok((RunId(row.get(0)?), row.get(1)?, row.get(2)?))
        })
    })?;
    let mut marked = Vec::new();
    for (id, pid, host) in running {
        let Some(lock) = RunLock::try_acquire(store, &id)? else {
            continue;
        };
        let error = format!("process {pid} on {host} stopped without ending the run");
        let changed = store.write("mark a dead run interrupted", |tx| {
            tx.execute(
                "UPDATE runs SET status = 'interrupted', ended_ms = ?2, error = ?3
                 WHERE id = ?1 AND status = 'running'",
                params![id.as_str(), now_ms(), error],
            )
        })?;
        drop(lock);
        if changed > 0 {
            tracing::info!(run = %id, pid, host = %host, "marked run interrupted");
            marked.push(id);
        }
    }
    Ok(marked)
}

fn set_ended(store: &Store, id: &RunId, status: RunStatus, error: Option<&str>) -> Result<()> {
    store.write("end a run", |tx| {
        let changed = tx.execute(
            "UPDATE runs SET status = ?2, ended_ms = ?3, error = ?4
             WHERE id = ?1 AND status = 'running'",
            params![id.as_str(), status.as_str(), now_ms(), error],
        )?;
        if changed == 0 {
            let current: Option<String> =
                tx.query_row("SELECT status FROM runs WHERE id = ?1", [id.as_str()], |row| row.get(0)).optional()?;
            return Err(match current {
                Some(status) => Error::RunEnded { id: id.to_string(), status },
                None => Error::RunNotFound { id: id.to_string() },
            }
            .into());
        }
        Ok(())
    })
}

/// The internal key of run `id`, or [`Error::RunNotFound`].
pub(crate) fn run_pk(conn: &Db<'_>, id: &RunId) -> Result<i64, Fail> {
    conn.query_row("SELECT pk FROM runs WHERE id = ?1", [id.as_str()], |row| row.get(0))
        .optional()?
        .ok_or_else(|| Error::RunNotFound { id: id.to_string() }.into())
}

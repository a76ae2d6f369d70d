//! Ground-truth labels joined to the prediction log.
//!
//! Labels arrive late and out of order, as CSV or Parquet files keyed by the request id a
//! prediction was logged under (plus the row within the request), or by an id column the
//! request carried. [`ingest`] checks every label against the log and the model's target and
//! appends the accepted ones to the model's label store; [`labelled_rows`] reads the logged
//! rows back with the stored label of each.
//!
//! # The label store
//!
//! `<log>/<model>/labels/<UTC stamp YYYYMMDDTHHMMSSZ>-<seq>.parquet`, one file per ingest that
//! accepted labels, each written atomically, never changed afterwards. Columns: `request_id`
//! Utf8, `row` UInt32 (null: every row of the request), `label` Utf8 (the class as text, a
//! regression target's number as text), `labelled_at` and `ingested_at` Int64 (milliseconds
//! since the Unix epoch, UTC), `source` Utf8 (the label file's path) and `source_sha256`
//! Utf8. A key is never stored with two different labels: [`ingest`] refuses the second.
//! Refused rows of an ingest are written to `labels/refused/<stamp>-<seq>.csv`.

mod ingest;
mod labels_file;
mod store;
mod time;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kiln_core::columns::{Batch, Values};
use kiln_log::read::{LoggedRows, read_rows};

pub use ingest::{IngestOptions, IngestReport, Reason, Refusal, ingest};
pub use store::{LABELS_FOLDER, REFUSED_FOLDER};
pub use time::parse_time_ms;

use crate::error::{Error, Result};

/// Which logged rows [`labelled_rows`] reads.
#[derive(Debug, Clone, Copy)]
pub struct LogQuery<'a> {
    /// The prediction log folder (`[serving.log] dir`).
    pub log_dir: &'a Path,
    /// The served model's name (a folder of the log).
    pub model: &'a str,
    /// The versions read; `None`: every version folder of the model. A listed version that
    /// logged nothing yet gives no rows.
    pub versions: Option<&'a [i64]>,
    /// The routes read (`primary`, `canary`, `shadow`, `fallback`); empty: every route.
    pub routes: &'a [&'a str],
    /// Only rows whose request arrived at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only rows whose request arrived before this time (ms since the epoch).
    pub until_ms: Option<i64>,
    /// Only rows that have a stored label.
    pub labelled_only: bool,
}

/// Logged rows with their stored labels: one entry per logged row (a request answered on two
/// routes, or by two versions, is two entries with the same request id and row), in the order
/// of the versions, then of the log.
#[derive(Debug, Clone, Default)]
pub struct LabelledRows {
    /// The raw inputs as logged; a column some version did not log is missing there.
    pub inputs: Batch,
    pub request_ids: Vec<String>,
    /// Each row's index within its request.
    pub rows: Vec<u32>,
    /// When each row's request arrived, ms since the epoch.
    pub times_ms: Vec<i64>,
    pub versions: Vec<i64>,
    pub routes: Vec<String>,
    pub latency_ms: Vec<f64>,
    /// The score column as logged (NaN where it was not logged).
    pub scores: Vec<f64>,
    /// The stored label (text), `None` for a row without one.
    pub labels: Vec<Option<String>>,
    /// When each stored label became known, ms since the epoch.
    pub labelled_at_ms: Vec<Option<i64>>,
    /// The log segments read.
    pub segments: Vec<PathBuf>,
    /// The label store files read.
    pub label_files: Vec<PathBuf>,
}

impl LabelledRows {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.request_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.request_ids.is_empty()
    }

    /// The number of rows with a label.
    pub fn n_labelled(&self) -> usize {
        self.labels.iter().filter(|l| l.is_some()).count()
    }
}

/// The rows of the log that `query` selects, each with its stored label; `score_column` is the
/// output read as each row's score (`p_<positive class>` for a binary model, `predicted` for a
/// regression).
pub fn labelled_rows(query: &LogQuery<'_>, score_column: &str) -> Result<LabelledRows> {
    let model_dir = model_folder(query.log_dir, query.model)?;
    let store = store::LabelStore::read(&model_dir.join(LABELS_FOLDER))?;
    let versions = match query.versions {
        Some(versions) => versions.to_vec(),
        None => version_folders(&model_dir)?,
    };
    let mut out = LabelledRows { label_files: store.files.clone(), ..LabelledRows::default() };
    let mut inputs = Inputs::default();
    for version in versions {
        if !model_dir.join(format!("v{version}")).is_dir() {
            continue;
        }
        let logged = read_rows(query.log_dir, query.model, version, query.since_ms, query.routes, score_column)
            .map_err(|e| Error::ReadLog(Box::new(e)))?;
        let keep: Vec<usize> = (0..logged.times_ms.len())
            .filter(|&i| query.until_ms.is_none_or(|u| logged.times_ms[i] < u))
            .filter(|&i| !query.labelled_only || store.get(&logged.request_ids[i], logged.rows[i]).is_some())
            .collect();
        inputs.add(&logged.inputs, &keep);
        for &i in &keep {
            let stored = store.get(&logged.request_ids[i], logged.rows[i]);
            out.labels.push(stored.map(|s| s.label.clone()));
            out.labelled_at_ms.push(stored.map(|s| s.labelled_at_ms));
            out.versions.push(version);
        }
        take_fixed(&mut out, logged, &keep);
    }
    out.inputs = inputs.finish();
    Ok(out)
}

/// `<log>/<model>`, which must exist.
fn model_folder(log_dir: &Path, model: &str) -> Result<PathBuf> {
    let dir = log_dir.join(model);
    if dir.is_dir() { Ok(dir) } else { Err(Error::NoLog { dir: log_dir.to_path_buf(), model: model.to_string() }) }
}

/// The version numbers of the `v<N>` folders under a model's log folder, ascending.
pub(crate) fn version_folders(model_dir: &Path) -> Result<Vec<i64>> {
    let entries =
        std::fs::read_dir(model_dir).map_err(|source| Error::ReadFolder { path: model_dir.to_path_buf(), source })?;
    let versions: BTreeSet<i64> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str()?.strip_prefix('v')?.parse().ok())
        .collect();
    Ok(versions.into_iter().collect())
}

/// Append the kept rows' fixed columns of one version's logged rows.
fn take_fixed(out: &mut LabelledRows, logged: LoggedRows, keep: &[usize]) {
    let LoggedRows { times_ms, routes, request_ids, rows, latency_ms, scores, segments, .. } = logged;
    out.times_ms.extend(keep.iter().map(|&i| times_ms[i]));
    out.routes.extend(keep.iter().map(|&i| routes[i].clone()));
    out.request_ids.extend(keep.iter().map(|&i| request_ids[i].clone()));
    out.rows.extend(keep.iter().map(|&i| rows[i]));
    out.latency_ms.extend(keep.iter().map(|&i| latency_ms[i]));
    out.scores.extend(keep.iter().map(|&i| scores[i]));
    out.segments.extend(segments);
}

/// Input columns gathered across versions, by name: a column a version lacks, or logged with
/// another type, is missing in that version's rows.
#[derive(Default)]
struct Inputs {
    n: usize,
    columns: Vec<(String, Values)>,
}

impl Inputs {
    fn add(&mut self, batch: &Batch, keep: &[usize]) {
        for (name, values) in &batch.columns {
            let index = match self.columns.iter().position(|(n, _)| n == name) {
                Some(index) => index,
                None => {
                    self.columns.push((name.clone(), empty_like(values)));
                    self.columns.len() - 1
                }
            };
            let target = &mut self.columns[index].1;
            pad(target, self.n);
            extend_rows(target, values, keep);
        }
        self.n += keep.len();
        for (_, values) in &mut self.columns {
            pad(values, self.n);
        }
    }

    fn finish(self) -> Batch {
        Batch::new(self.columns)
    }
}

fn empty_like(values: &Values) -> Values {
    match values {
        Values::Int(_) => Values::Int(Vec::new()),
        Values::Float(_) => Values::Float(Vec::new()),
        Values::Text(_) => Values::Text(Vec::new()),
        Values::Bool(_) => Values::Bool(Vec::new()),
    }
}

/// `from`'s rows `keep` appended to `to` (missing when the types differ).
fn extend_rows(to: &mut Values, from: &Values, keep: &[usize]) {
    match (to, from) {
        (Values::Int(t), Values::Int(f)) => t.extend(keep.iter().map(|&i| f[i])),
        (Values::Float(t), Values::Float(f)) => t.extend(keep.iter().map(|&i| f[i])),
        (Values::Text(t), Values::Text(f)) => t.extend(keep.iter().map(|&i| f[i].clone())),
        (Values::Bool(t), Values::Bool(f)) => t.extend(keep.iter().map(|&i| f[i])),
        (to, _) => {
            let n = to.len() + keep.len();
            pad(to, n);
        }
    }
}

/// Missing values up to `n` rows.
fn pad(values: &mut Values, n: usize) {
    match values {
        Values::Int(v) => v.resize(n.max(v.len()), None),
        Values::Float(v) => v.resize(n.max(v.len()), None),
        Values::Text(v) => v.resize(n.max(v.len()), None),
        Values::Bool(v) => v.resize(n.max(v.len()), None),
    }
}

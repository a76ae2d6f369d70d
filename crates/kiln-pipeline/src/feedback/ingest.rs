//! `kiln feedback ingest` as a library: a label file checked row by row against the prediction
//! log, the label store and the model's target; accepted labels appended to the store, refused
//! rows reported with their reason and written beside it, and an audit event recorded.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use kiln_core::bundle::Bundle;
use kiln_core::columns::Values;
use kiln_core::schema::{Schema, Task};
use kiln_log::read::read_rows;
use kiln_track::{AuditAction, NewAuditEvent, Store};
use polars::prelude::{Column, DataFrame, IntoColumn, NewChunkedArray, StringChunked};
use serde::Serialize;

use super::labels_file::LabelFile;
use super::store::{self, LABELS_FOLDER, LabelStore, NewLabel, REFUSED_FOLDER};
use super::time::parse_time_ms;
use super::{model_folder, version_folders};
use crate::error::{Error, Result};

/// The key column of a label file by default.
const REQUEST_ID: &str = "request_id";
/// The column giving the row within the request, used when the file has it.
const ROW: &str = "row";
/// The label column when the model's target is unknown.
const LABEL: &str = "label";
/// The time column by default.
const LABELLED_AT: &str = "labelled_at";

/// What to ingest, and how to read it.
#[derive(Debug, Clone, Copy)]
pub struct IngestOptions<'a> {
    /// The label file: CSV with a header, or Parquet.
    pub labels: &'a Path,
    /// The prediction log folder.
    pub log_dir: &'a Path,
    /// The served model's name (a folder of the log).
    pub model: &'a str,
    /// Join on this logged input column instead of `request_id` (a label then applies to
    /// every logged row whose column has the value).
    pub id_column: Option<&'a str>,
    /// The label column (default: the model's target column, else `label`).
    pub label_column: Option<&'a str>,
    /// The column of when each label became known (default `labelled_at`, optional; the
    /// ingest time when absent).
    pub time_column: Option<&'a str>,
    /// Merge nothing when any row is refused.
    pub strict: bool,
}

/// Why a label was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No logged row has the key (ingesting the file again later picks it up).
    UnknownId,
    /// A different label is stored for the key, or the file gives the key two labels.
    Conflict,
    /// Not a class of the target, or not a finite number for a regression.
    OutsideDomain,
    /// An empty key or label.
    Missing,
    /// A request id of a request with several rows, without a row.
    Ambiguous,
    /// A time that is neither milliseconds since the epoch nor RFC 3339.
    BadTime,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::UnknownId => "unknown_id",
            Reason::Conflict => "conflict",
            Reason::OutsideDomain => "outside_domain",
            Reason::Missing => "missing",
            Reason::Ambiguous => "ambiguous",
            Reason::BadTime => "bad_time",
        }
    }
}

/// A refused row of the label file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    pub reason: Reason,
    /// The row's number in the file (the first data row is 1).
    pub file_row: usize,
    /// The key as the file gives it (`req-1`, `req-1 row 2`, an id column's value).
    pub key: String,
    /// The label as the file gives it.
    pub label: String,
    /// What is wrong, in words.
    pub detail: String,
}

/// What an ingest did.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    pub file: PathBuf,
    pub sha256: String,
    pub model: String,
    /// How rows were matched to the log (`request_id`, `request_id + row`, or the id column).
    pub key: String,
    pub label_column: String,
    /// Data rows in the file.
    pub rows: usize,
    /// Rows whose labels were new.
    pub accepted: usize,
    /// Rows whose labels were all stored already (or given earlier in the file).
    pub already_known: usize,
    /// Labels appended to the store (a row matched by an id column may label several).
    pub stored: usize,
    /// Rows by outcome: `accepted`, `already_known` and each refusal reason.
    pub counts: BTreeMap<String, usize>,
    pub refused: Vec<Refusal>,
    /// False when `strict` kept the accepted labels out of the store.
    pub merged: bool,
    /// The store file written, if any.
    pub store_file: Option<PathBuf>,
    /// The refused rows' file, if any.
    pub refused_file: Option<PathBuf>,
}

/// A file row that passed the row-level checks: its label and the logged rows it labels.
struct Candidate {
    file_row: usize,
    key: String,
    label: String,
    labelled_at_ms: i64,
    targets: Vec<(String, u32)>,
}

/// Check the label file of `options` against the log and the store, append the accepted
/// labels (unless `strict` and something was refused) and record an audit event in `store`.
pub fn ingest(options: &IngestOptions<'_>, store: &Store) -> Result<IngestReport> {
    let model_dir = model_folder(options.log_dir, options.model)?;
    let labels_dir = model_dir.join(LABELS_FOLDER);
    let schema = logged_schema(&model_dir, options.model, store);
    let file = LabelFile::read(options.labels)?;
    let sha256 = kiln_track::sha256_file(options.labels)?;
    let columns = Columns::find(&file, options, schema.as_ref())?;
    let index = LogIndex::read(options.log_dir, options.model, &model_dir, options.id_column)?;
    let _lock = store::lock(&labels_dir)?;
    let mut stored_labels = LabelStore::read(&labels_dir)?;
    let now = kiln_track::now_ms();
    let domain = Domain::of(schema.as_ref());
    let mut refused = Vec::new();
    let mut candidates = Vec::new();
    for i in 0..file.n_rows {
        match columns.candidate(i, &index, &domain, now) {
            Ok(candidate) => candidates.push(candidate),
            Err(refusal) => refused.push(refusal),
        }
    }
    let (new, accepted, already_known) = decide(&candidates, &mut stored_labels, &mut refused);
    refused.sort_by_key(|r| r.file_row);
    let merged = !options.strict || refused.is_empty();
    let stem = store::next_stem(&labels_dir, now);
    let store_file = (merged && !new.is_empty()).then(|| labels_dir.join(format!("{stem}.parquet")));
    if let Some(path) = &store_file {
        store::write(path, &new, options.labels, &sha256, now)?;
    }
    let refused_file = (!refused.is_empty()).then(|| labels_dir.join(REFUSED_FOLDER).join(format!("{stem}.csv")));
    if let Some(path) = &refused_file {
        write_refused(path, &refused)?;
    }
    let mut counts = BTreeMap::from([("accepted".to_string(), accepted), ("already_known".to_string(), already_known)]);
    for r in &refused {
        *counts.entry(r.reason.as_str().to_string()).or_default() += 1;
    }
    let report = IngestReport {
        file: options.labels.to_path_buf(),
        sha256,
        model: options.model.to_string(),
        key: columns.key_text(),
        label_column: columns.label_name.clone(),
        rows: file.n_rows,
        accepted,
        already_known,
        stored: if store_file.is_some() { new.len() } else { 0 },
        counts,
        refused,
        merged,
        store_file,
        refused_file,
    };
    audit(store, options, &report)?;
    Ok(report)
}

/// Refuse candidates that contradict the store or each other, count the known ones, and
/// return the new labels with the numbers of accepted and already known rows.
fn decide(
    candidates: &[Candidate],
    stored: &mut LabelStore,
    refused: &mut Vec<Refusal>,
) -> (Vec<NewLabel>, usize, usize) {
    let mut in_file: HashMap<(&str, u32), BTreeSet<&str>> = HashMap::new();
    for c in candidates {
        for (id, row) in &c.targets {
            in_file.entry((id.as_str(), *row)).or_default().insert(c.label.as_str());
        }
    }
    let (mut new, mut accepted, mut known) = (Vec::new(), 0, 0);
    for c in candidates {
        let refuse = |detail: String| Refusal {
            reason: Reason::Conflict,
            file_row: c.file_row,
            key: c.key.clone(),
            label: c.label.clone(),
            detail,
        };
        if let Some(labels) =
            c.targets.iter().filter_map(|(id, row)| in_file.get(&(id.as_str(), *row))).find(|l| l.len() > 1)
        {
            let labels: Vec<&str> = labels.iter().copied().collect();
            refused.push(refuse(format!("the file gives this key the labels {}", labels.join(", "))));
            continue;
        }
        let stored_other = c
            .targets
            .iter()
            .find_map(|(id, row)| stored.get(id, *row).filter(|s| s.label != c.label).map(|s| (row, s.label.clone())));
        if let Some((row, label)) = stored_other {
            refused.push(refuse(format!("the label stored for row {row} is `{label}`")));
            continue;
        }
        let fresh: Vec<&(String, u32)> = c.targets.iter().filter(|(id, row)| stored.get(id, *row).is_none()).collect();
        if fresh.is_empty() {
            known += 1;
            continue;
        }
        accepted += 1;
        for (id, row) in fresh {
            let label = NewLabel {
                request_id: id.clone(),
                row: Some(*row),
                label: c.label.clone(),
                labelled_at_ms: c.labelled_at_ms,
            };
            stored.insert(&label);
            new.push(label);
        }
    }
    (new, accepted, known)
}

/// The label file's columns that matter.
struct Columns<'a> {
    key_name: String,
    keys: &'a [Option<String>],
    rows: Option<&'a [Option<String>]>,
    label_name: String,
    labels: &'a [Option<String>],
    times: Option<&'a [Option<String>]>,
    by_id_column: bool,
}

impl<'a> Columns<'a> {
    fn find(file: &'a LabelFile, options: &IngestOptions<'_>, schema: Option<&Schema>) -> Result<Self> {
        let key_name = options.id_column.unwrap_or(REQUEST_ID).to_string();
        let hint = match options.id_column {
            Some(_) => "the label file needs the id column named by --id-column",
            None => "give each label's request id in a `request_id` column, or name the id column with --id-column",
        };
        let keys = file.require(&key_name, hint)?;
        let label_name = options
            .label_column
            .map(str::to_string)
            .or_else(|| {
                // the target's name, unless only a `label` column is there
                let target = &schema?.target;
                (file.column(target).is_some() || file.column(LABEL).is_none()).then(|| target.clone())
            })
            .unwrap_or_else(|| LABEL.to_string());
        let labels = file.require(&label_name, "name the label column with --label-column")?;
        let times = match options.time_column {
            Some(name) => {
                Some(file.require(name, "name the column of when each label became known, or leave out --time-column")?)
            }
            None => file.column(LABELLED_AT),
        };
        let rows = if options.id_column.is_none() { file.column(ROW) } else { None };
        Ok(Self { key_name, keys, rows, label_name, labels, times, by_id_column: options.id_column.is_some() })
    }

    fn key_text(&self) -> String {
        match (self.by_id_column, self.rows.is_some()) {
            (true, _) => format!("logged input column `{}`", self.key_name),
            (false, true) => "request_id + row".to_string(),
            (false, false) => "request_id".to_string(),
        }
    }

    /// File row `i` checked on its own: its label, time and the logged rows it labels.
    fn candidate(&self, i: usize, index: &LogIndex, domain: &Domain, now: i64) -> Result<Candidate, Refusal> {
        let key = self.keys[i].clone().unwrap_or_default();
        let row = self.rows.and_then(|rows| rows[i].clone());
        let label = self.labels[i].clone().unwrap_or_default();
        let key_text = match &row {
            Some(r) => format!("{key} row {r}"),
            None => key.clone(),
        };
        let refuse = |reason, detail: String| Refusal {
            reason,
            file_row: i + 1,
            key: key_text.clone(),
            label: label.clone(),
            detail,
        };
        if key.is_empty() {
            return Err(refuse(Reason::Missing, format!("no `{}`", self.key_name)));
        }
        if label.is_empty() {
            return Err(refuse(Reason::Missing, format!("no `{}`", self.label_name)));
        }
        let label = domain.check(&label).map_err(|detail| refuse(Reason::OutsideDomain, detail))?;
        let labelled_at_ms = match self.times.and_then(|t| t[i].as_deref()) {
            None => now,
            Some(text) => parse_time_ms(text).ok_or_else(|| {
                refuse(
                    Reason::BadTime,
                    format!("`{text}` is not a time: give RFC 3339 or milliseconds since the epoch"),
                )
            })?,
        };
        let targets = if self.by_id_column {
            index.by_id.get(&key).cloned().ok_or_else(|| {
                refuse(Reason::UnknownId, format!("no logged row has `{}` = `{key}` (yet)", self.key_name))
            })?
        } else {
            index.request_rows(&key, row.as_deref()).map_err(|(reason, detail)| refuse(reason, detail))?
        };
        Ok(Candidate { file_row: i + 1, key: key_text, label, labelled_at_ms, targets })
    }
}

/// The logged rows of every version of a model: the rows of each request, and with an id
/// column, the rows with each of its values.
struct LogIndex {
    rows: HashMap<String, BTreeSet<u32>>,
    by_id: HashMap<String, Vec<(String, u32)>>,
}

impl LogIndex {
    fn read(log_dir: &Path, model: &str, model_dir: &Path, id_column: Option<&str>) -> Result<Self> {
        let mut index = LogIndex { rows: HashMap::new(), by_id: HashMap::new() };
        let mut id_seen = false;
        for version in version_folders(model_dir)? {
            let logged = read_rows(log_dir, model, version, None, &[], "").map_err(|e| Error::ReadLog(Box::new(e)))?;
            for (id, row) in logged.request_ids.iter().zip(&logged.rows) {
                index.rows.entry(id.clone()).or_default().insert(*row);
            }
            let Some(values) = id_column.and_then(|c| logged.inputs.get(c)) else { continue };
            id_seen = true;
            for (i, value) in text_values(values).into_iter().enumerate() {
                let Some(value) = value else { continue };
                let rows = index.by_id.entry(value).or_default();
                let key = (logged.request_ids[i].clone(), logged.rows[i]);
                if !rows.contains(&key) {
                    rows.push(key);
                }
            }
        }
        match id_column {
            Some(column) if !id_seen && !index.rows.is_empty() => {
                Err(Error::NoLogColumn { model: model.to_string(), column: column.to_string() })
            }
            _ => Ok(index),
        }
    }

    /// The logged rows a request id (and row, when given) labels.
    fn request_rows(&self, id: &str, row: Option<&str>) -> Result<Vec<(String, u32)>, (Reason, String)> {
        let Some(rows) = self.rows.get(id) else {
            return Err((Reason::UnknownId, format!("no logged request has the id `{id}` (yet)")));
        };
        match row {
            Some(text) => {
                let row: u32 = text
                    .parse()
                    .map_err(|_| (Reason::UnknownId, format!("row `{text}` is not a row number (0, 1, ...)")))?;
                if rows.contains(&row) {
                    Ok(vec![(id.to_string(), row)])
                } else {
                    Err((Reason::UnknownId, format!("request `{id}` has no row {row} (it has {} rows)", rows.len())))
                }
            }
            None if rows.len() == 1 => Ok(vec![(id.to_string(), *rows.first().expect("one row"))]),
            None => Err((
                Reason::Ambiguous,
                format!("request `{id}` has {} rows: give the row in a `row` column", rows.len()),
            )),
        }
    }
}

/// A logged column's values as text, as an id column's values compare with a file's.
fn text_values(values: &Values) -> Vec<Option<String>> {
    match values {
        Values::Text(v) => v.clone(),
        Values::Int(v) => v.iter().map(|x| x.map(|x| x.to_string())).collect(),
        Values::Float(v) => v.iter().map(|x| x.map(|x| x.to_string())).collect(),
        Values::Bool(v) => v.iter().map(|x| x.map(|x| x.to_string())).collect(),
    }
}

/// The values a label may take.
enum Domain {
    Classes {
        target: String,
        classes: Vec<String>,
    },
    Number {
        target: String,
    },
    /// The model's schema is unknown: any text.
    Any,
}

impl Domain {
    fn of(schema: Option<&Schema>) -> Self {
        match schema {
            Some(s) if s.task == Task::Regression => Domain::Number { target: s.target.clone() },
            Some(s) if !s.classes.is_empty() => {
                Domain::Classes { target: s.target.clone(), classes: s.classes.clone() }
            }
            _ => Domain::Any,
        }
    }

    /// The label as stored, or why it is outside the domain.
    fn check(&self, label: &str) -> Result<String, String> {
        match self {
            Domain::Any => Ok(label.to_string()),
            Domain::Number { target } => match label.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v.to_string()),
                _ => Err(format!("`{label}` is not a finite number (the target `{target}` is numeric)")),
            },
            Domain::Classes { target, classes } => {
                if classes.iter().any(|c| c == label) {
                    return Ok(label.to_string());
                }
                // a class written as a float by a Parquet writer (1.0 for class 1)
                let integral = label.parse::<f64>().ok().filter(|v| v.fract() == 0.0).map(|v| format!("{}", v as i64));
                integral.filter(|t| classes.contains(t)).ok_or_else(|| {
                    format!("`{label}` is not a class of the target `{target}` (classes: {})", classes.join(", "))
                })
            }
        }
    }
}

/// The schema of the newest logged version whose bundle the registry can give.
fn logged_schema(model_dir: &Path, model: &str, store: &Store) -> Option<Schema> {
    let versions = version_folders(model_dir).ok()?;
    versions.iter().rev().find_map(|&version| {
        let recorded = store.model_version(model, version).ok()?;
        let path = bundle_path(store.path(), &recorded.bundle_path);
        match Bundle::read(&path) {
            Ok(bundle) => Some(bundle.manifest.schema),
            Err(error) => {
                tracing::debug!(model, version, %error, "no bundle schema for the labels' domain");
                None
            }
        }
    })
}

/// A bundle path as the registry recorded it: relative paths are relative to the project
/// folder (the one holding `.kiln/`), or to the current folder.
fn bundle_path(store_path: &Path, recorded: &str) -> PathBuf {
    let path = PathBuf::from(recorded);
    if path.is_absolute() || path.exists() {
        return path;
    }
    store_path.parent().and_then(Path::parent).unwrap_or(Path::new(".")).join(path)
}

/// The refused rows as CSV, reason first (atomically).
fn write_refused(path: &Path, refused: &[Refusal]) -> Result<()> {
    let text = |name: &str, f: &dyn Fn(&Refusal) -> String| {
        StringChunked::from_iter_values(name.into(), refused.iter().map(f)).into_column()
    };
    let columns: Vec<Column> = vec![
        text("reason", &|r| r.reason.as_str().to_string()),
        text("file_row", &|r| r.file_row.to_string()),
        text("key", &|r| r.key.clone()),
        text("label", &|r| r.label.clone()),
        text("detail", &|r| r.detail.clone()),
    ];
    let mut df = DataFrame::new_infer_height(columns)
        .map_err(|source| kiln_data::Error::Polars { doing: "assembling the refused labels", source })?;
    kiln_data::write::write_table(path, kiln_data::config::FileFormat::Csv, &mut df)?;
    Ok(())
}

/// Record the ingest in the audit log.
fn audit(store: &Store, options: &IngestOptions<'_>, report: &IngestReport) -> Result<()> {
    let details = serde_json::json!({
        "file": report.file.display().to_string(),
        "sha256": report.sha256,
        "rows": report.rows,
        "counts": report.counts,
        "stored": report.stored,
        "store_file": report.store_file.as_ref().map(|p| p.display().to_string()),
        "strict": options.strict,
        "merged": report.merged,
    });
    store.append_audit(&NewAuditEvent {
        actor: kiln_track::default_actor(),
        action: AuditAction::FeedbackIngest,
        target: options.model.to_string(),
        reason: None,
        details,
    })?;
    Ok(())
}

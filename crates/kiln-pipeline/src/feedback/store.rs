//! The label store of one model: the Parquet files under `<log>/<model>/labels/`, read whole
//! into a map from key to label, and appended to one file per ingest.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::{
    Column, DataFrame, Int64Chunked, IntoColumn, NewChunkedArray, ParquetReader, SerReader, StringChunked,
    UInt32Chunked,
};

use crate::error::{Error, Result};

/// The store's folder under a model's log folder.
pub const LABELS_FOLDER: &str = "labels";
/// The folder of refused rows under the store's folder.
pub const REFUSED_FOLDER: &str = "refused";
/// The file taken as the store's lock while an ingest checks and appends.
const LOCK_FILE: &str = ".ingest.lock";

/// A stored label.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredLabel {
    pub label: String,
    pub labelled_at_ms: i64,
}

/// One label to append.
#[derive(Debug, Clone)]
pub(crate) struct NewLabel {
    pub request_id: String,
    pub row: Option<u32>,
    pub label: String,
    pub labelled_at_ms: i64,
}

/// Every stored label of a model, by request id, then row (`None`: every row).
#[derive(Debug, Default)]
pub(crate) struct LabelStore {
    labels: HashMap<String, HashMap<Option<u32>, StoredLabel>>,
    /// The files read, in name order.
    pub files: Vec<PathBuf>,
}

impl LabelStore {
    /// Read every store file under `dir` (none when the folder does not exist).
    pub(crate) fn read(dir: &Path) -> Result<Self> {
        let mut store = LabelStore::default();
        let Ok(entries) = std::fs::read_dir(dir) else { return Ok(store) };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "parquet"))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| !n.starts_with('.')))
            .collect();
        files.sort();
        for path in &files {
            store.add_file(path)?;
        }
        store.files = files;
        Ok(store)
    }

    fn add_file(&mut self, path: &Path) -> Result<()> {
        let bad = |source| Error::LabelStore { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(|source| Error::ReadFolder { path: path.to_path_buf(), source })?;
        let df = ParquetReader::new(file).finish().map_err(bad)?;
        let ids = df.column("request_id").and_then(|c| c.str().cloned()).map_err(bad)?;
        let rows = df.column("row").and_then(|c| c.u32().cloned()).map_err(bad)?;
        let labels = df.column("label").and_then(|c| c.str().cloned()).map_err(bad)?;
        let times = df.column("labelled_at").and_then(|c| c.i64().cloned()).map_err(bad)?;
        for (((id, row), label), time) in ids.iter().zip(rows.iter()).zip(labels.iter()).zip(times.iter()) {
            let (Some(id), Some(label)) = (id, label) else { continue };
            let stored = StoredLabel { label: label.to_string(), labelled_at_ms: time.unwrap_or_default() };
            // a key is stored once (ingest refuses a second, different label): the first wins
            self.labels.entry(id.to_string()).or_default().entry(row).or_insert(stored);
        }
        Ok(())
    }

    /// The label of row `row` of request `request_id`: stored for that row, else for every
    /// row of the request.
    pub(crate) fn get(&self, request_id: &str, row: u32) -> Option<&StoredLabel> {
        let rows = self.labels.get(request_id)?;
        rows.get(&Some(row)).or_else(|| rows.get(&None))
    }

    /// Remember labels just appended, so that later checks in the same ingest see them.
    pub(crate) fn insert(&mut self, label: &NewLabel) {
        let stored = StoredLabel { label: label.label.clone(), labelled_at_ms: label.labelled_at_ms };
        self.labels.entry(label.request_id.clone()).or_default().entry(label.row).or_insert(stored);
    }
}

/// Holds the store's lock (an OS file lock, released when dropped or when the process dies).
pub(crate) struct StoreLock {
    _file: File,
}

/// Take the lock of the store under `dir`, waiting for another ingest to finish.
pub(crate) fn lock(dir: &Path) -> Result<StoreLock> {
    let path = dir.join(LOCK_FILE);
    let io = |source| Error::LockLabels { path: path.clone(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let file = File::options().create(true).truncate(false).write(true).open(&path).map_err(io)?;
    file.lock().map_err(io)?;
    Ok(StoreLock { _file: file })
}

/// The name stem of the next files of the store under `dir`: the ingest's UTC time and one
/// more than the highest sequence number stored or refused.
pub(crate) fn next_stem(dir: &Path, now_ms: i64) -> String {
    let names = |d: PathBuf| -> Vec<String> {
        std::fs::read_dir(d)
            .map(|entries| entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
            .unwrap_or_default()
    };
    let mut all = names(dir.to_path_buf());
    all.extend(names(dir.join(REFUSED_FOLDER)));
    let seq = all
        .iter()
        .filter_map(|n| n.split('.').next()?.rsplit_once('-')?.1.parse::<u64>().ok())
        .max()
        .map_or(1, |s| s + 1);
    format!("{}-{seq:04}", compact_stamp(now_ms))
}

/// `YYYYMMDDTHHMMSSZ` of a time in ms since the epoch.
fn compact_stamp(ms: i64) -> String {
    let text = kiln_track::format_rfc3339(ms);
    // 2026-12-06T08:15:00.123Z → 20261206T081500Z
    let digits: String = text.chars().take(19).filter(|c| c.is_ascii_digit() || *c == 'T').collect();
    format!("{digits}Z")
}

/// Append `labels` as the store file `path` (atomically).
pub(crate) fn write(path: &Path, labels: &[NewLabel], source: &Path, sha256: &str, now_ms: i64) -> Result<()> {
    let n = labels.len();
    let source = source.display().to_string();
    let columns: Vec<Column> = vec![
        StringChunked::from_iter_values("request_id".into(), labels.iter().map(|l| l.request_id.as_str()))
            .into_column(),
        UInt32Chunked::from_iter_options("row".into(), labels.iter().map(|l| l.row)).into_column(),
        StringChunked::from_iter_values("label".into(), labels.iter().map(|l| l.label.as_str())).into_column(),
        Int64Chunked::from_vec("labelled_at".into(), labels.iter().map(|l| l.labelled_at_ms).collect()).into_column(),
        Int64Chunked::from_vec("ingested_at".into(), vec![now_ms; n]).into_column(),
        StringChunked::from_iter_values("source".into(), std::iter::repeat_n(source.as_str(), n)).into_column(),
        StringChunked::from_iter_values("source_sha256".into(), std::iter::repeat_n(sha256, n)).into_column(),
    ];
    let mut df = DataFrame::new_infer_height(columns)
        .map_err(|source| kiln_data::Error::Polars { doing: "assembling the label store file", source })?;
    kiln_data::write::write_table(path, kiln_data::config::FileFormat::Parquet, &mut df)?;
    Ok(())
}

//! The label store of one model: the Parquet files under `<log>/<model>/labels/`, read whole
//! into a map from key to label, and appended to one file per ingest.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::{ParquetReader, SerReader};

use crate::error::{Error, Result};

/// The store's folder under a model's log folder.
pub const LABELS_FOLDER: &str = "labels";
/// The folder of refused rows under the store's folder.
pub const REFUSED_FOLDER: &str = "refused";

/// A stored label.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredLabel {
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
}

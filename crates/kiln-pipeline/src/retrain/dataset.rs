//! The retraining dataset: the config's training data plus the labelled logged rows of the
//! window, less the judging rows (the newest labelled rows, held out by request time), one row
//! per `(request_id, row)` however many routes logged it; the label becomes the target column,
//! the inputs are taken as logged. Written with its manifest (`kiln.dataset.v1`: the original
//! data and its hash, each log segment and label file with its sha256, the window, the judging
//! cutoff, rows added and deduplicated, the parent version), both atomically, under a name
//! holding the dataset's kiln-data content hash.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use kiln_data::config::FileFormat;
use kiln_data::load::{self, Source, Table};
use polars::prelude::{Column, DataFrame, IdxCa, IdxSize, IntoColumn, NamedFrom, Series};
use serde::{Deserialize, Serialize};

use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::feedback::LabelledRows;
use crate::retrain::config::JudgeBy;

/// The manifest format.
pub const FORMAT: &str = "kiln.dataset.v1";

/// A file the dataset read, with its content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    pub path: String,
    pub sha256: String,
}

/// The original training data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginalData {
    pub path: String,
    /// kiln-data's content hash of its rows.
    pub hash: String,
    pub rows: u64,
}

/// `<dataset>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetManifest {
    pub format: String,
    pub project: String,
    pub path: String,
    /// kiln-data's content hash of the dataset's rows.
    pub hash: String,
    pub rows: u64,
    pub original: OriginalData,
    /// The prediction log segments read.
    pub segments: Vec<SourceFile>,
    /// The label store files read.
    pub label_files: Vec<SourceFile>,
    /// Logged rows taken from this time (ms since the epoch) ...
    pub window_since_ms: i64,
    /// ... to this one.
    pub window_until_ms: i64,
    /// Labelled rows logged at or after this time are the judging rows, never trained on.
    pub judge_cutoff_ms: i64,
    pub judge_rows: u64,
    /// Labelled logged rows added to the original data.
    pub rows_added: u64,
    /// Logged rows left out as copies of a `(request_id, row)` already taken (other routes).
    pub rows_deduplicated: u64,
    /// `NAME@vN` of the version retrained.
    pub parent: String,
    pub created_at: String,
}

/// The assembled dataset and the judging rows.
#[derive(Debug)]
pub struct Dataset {
    pub path: PathBuf,
    pub manifest_path: PathBuf,
    pub manifest: DatasetManifest,
    /// The judging rows, in the dataset's columns (the label as the target).
    pub judging: DataFrame,
    /// Their request ids and row indices.
    pub judging_keys: Vec<(String, u32)>,
}

/// What the dataset is assembled from.
#[derive(Debug, Clone, Copy)]
pub struct Assembly<'a> {
    pub config: &'a LoadedConfig,
    /// The labelled logged rows of the window.
    pub rows: &'a LabelledRows,
    pub window: (i64, i64),
    pub judge: JudgeBy,
    /// `NAME@vN` of the version retrained.
    pub parent: &'a str,
    /// The folder of datasets (`.kiln/datasets` beside the store).
    pub dir: &'a Path,
}

/// The logged rows split into training and judging rows (indices into the labelled rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub train: Vec<usize>,
    pub judge: Vec<usize>,
    pub cutoff_ms: i64,
    pub deduplicated: usize,
}

/// One row per labelled `(request_id, row)` (the first logged), then the newest ones held out:
/// every row at or after the cutoff judges, every row before it may train.
pub fn hold_out(rows: &LabelledRows, judge: JudgeBy) -> Held {
    let mut seen = HashSet::new();
    let mut unique = Vec::new();
    let mut deduplicated = 0;
    for i in 0..rows.request_ids.len() {
        if rows.labels[i].is_none() {
            continue;
        }
        if seen.insert((rows.request_ids[i].as_str(), rows.rows[i])) {
            unique.push(i);
        } else {
            deduplicated += 1;
        }
    }
    let mut times: Vec<i64> = unique.iter().map(|&i| rows.times_ms[i]).collect();
    times.sort_unstable();
    let cutoff_ms = match (judge, times.last()) {
        (_, None) => i64::MAX,
        (JudgeBy::Span(span), Some(&newest)) => newest - span.as_millis() as i64,
        (JudgeBy::Share(share), Some(_)) => {
            let n_judge = ((times.len() as f64 * share).ceil() as usize).clamp(1, times.len());
            times[times.len() - n_judge]
        }
    };
    let (judge, train) = unique.into_iter().partition(|&i| rows.times_ms[i] >= cutoff_ms);
    Held { train, judge, cutoff_ms, deduplicated }
}

/// Assemble, hash and write the dataset and its manifest; the judging rows come back with it.
pub fn assemble(assembly: &Assembly<'_>) -> Result<Dataset> {
    let config = assembly.config;
    let held = hold_out(assembly.rows, assembly.judge);
    let original = load::load(&config.plan, Source::Train, config.plan.validation.max_examples)?;
    let original_version = kiln_data::snapshot::file_version("train", &original)?;
    let target = &original.schema.target;
    let added = logged_frame(assembly.rows, &held.train, &original.df, target)?;
    let judging = logged_frame(assembly.rows, &held.judge, &original.df, target)?;
    let mut df = original.df.clone();
    df.vstack_mut(&added).map_err(|source| polars_error("appending the logged rows", source))?;
    let project = &config.plan.project.name;
    let mut table = Table { path: PathBuf::new(), df, schema: original.schema.clone(), findings: Vec::new() };
    let hash = kiln_data::snapshot::file_version("dataset", &table)?.data_hash;
    let stem = format!("{project}-{}", &hash[..hash.len().min(16)]);
    let path = assembly.dir.join(format!("{stem}.parquet"));
    let manifest_path = assembly.dir.join(format!("{stem}.json"));
    std::fs::create_dir_all(assembly.dir)
        .map_err(|source| Error::ReportFolder { path: assembly.dir.to_path_buf(), source })?;
    kiln_data::write::write_table(&path, FileFormat::Parquet, &mut table.df)?;
    let manifest = DatasetManifest {
        format: FORMAT.into(),
        project: project.clone(),
        path: path.display().to_string(),
        hash,
        rows: table.df.height() as u64,
        original: OriginalData {
            path: original.path.display().to_string(),
            hash: original_version.data_hash,
            rows: original.df.height() as u64,
        },
        segments: hashed(&assembly.rows.segments)?,
        label_files: hashed(&assembly.rows.label_files)?,
        window_since_ms: assembly.window.0,
        window_until_ms: assembly.window.1,
        judge_cutoff_ms: held.cutoff_ms,
        judge_rows: held.judge.len() as u64,
        rows_added: held.train.len() as u64,
        rows_deduplicated: held.deduplicated as u64,
        parent: assembly.parent.to_string(),
        created_at: kiln_track::format_rfc3339(kiln_track::now_ms()),
    };
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|source| Error::Json { what: "the dataset manifest", source })?;
    kiln_data::write::write_text(&manifest_path, &(text + "\n"))?;
    let judging_keys =
        held.judge.iter().map(|&i| (assembly.rows.request_ids[i].clone(), assembly.rows.rows[i])).collect();
    Ok(Dataset { path, manifest_path, manifest, judging, judging_keys })
}

/// The logged rows `take` in the columns (names, order and types) of `like`; the label as the
/// target column; a column the log lacks is missing.
pub fn logged_frame(rows: &LabelledRows, take: &[usize], like: &DataFrame, target: &str) -> Result<DataFrame> {
    let inputs = kiln_data::batch::batch_frame(&rows.inputs)?;
    let idx = IdxCa::from_vec("rows".into(), take.iter().map(|&i| i as IdxSize).collect());
    let inputs = inputs.take(&idx).map_err(|source| polars_error("selecting the logged rows", source))?;
    let mut columns = Vec::with_capacity(like.width());
    for column in like.columns() {
        let name = column.name().clone();
        let dtype = column.dtype();
        let values: Column = if name.as_str() == target {
            let labels: Vec<Option<&str>> = take.iter().map(|&i| rows.labels[i].as_deref()).collect();
            Series::new(name.clone(), labels).into_column()
        } else {
            match inputs.column(name.as_str()) {
                Ok(logged) => logged.clone(),
                Err(_) => Column::full_null(name.clone(), take.len(), dtype),
            }
        };
        let cast = values
            .cast(dtype)
            .map_err(|source| polars_error("converting a logged column to the data's type", source))?;
        columns.push(cast);
    }
    DataFrame::new(take.len(), columns).map_err(|source| polars_error("assembling the logged rows", source))
}

/// Each file with its SHA-256; a log segment finished since it was read is hashed (and named)
/// as finished, so that the manifest names a file that no longer changes.
fn hashed(paths: &[PathBuf]) -> Result<Vec<SourceFile>> {
    paths
        .iter()
        .map(|p| kiln_log::read::settled(p))
        .map(|p| Ok(SourceFile { path: p.display().to_string(), sha256: kiln_track::sha256_file(&p)? }))
        .collect()
}

fn polars_error(doing: &'static str, source: polars::error::PolarsError) -> Error {
    Error::from(kiln_data::Error::Polars { doing, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_core::columns::{Batch, Values};
    use polars::prelude::DataType;
    use std::time::Duration;

    /// Six logged rows, the third a shadow copy of the second, the last without a label.
    fn rows() -> LabelledRows {
        let ids = ["a", "b", "b", "c", "d", "e"];
        LabelledRows {
            inputs: Batch::new(vec![("x".into(), Values::Int((0..6).map(Some).collect()))]),
            request_ids: ids.iter().map(|s| s.to_string()).collect(),
            rows: vec![0; 6],
            times_ms: vec![1_000, 2_000, 2_000, 3_000, 4_000, 5_000],
            versions: vec![1; 6],
            routes: ["primary", "primary", "shadow", "primary", "primary", "primary"].map(String::from).to_vec(),
            latency_ms: vec![1.0; 6],
            scores: vec![0.5; 6],
            labels: [Some("1"), Some("0"), Some("0"), Some("1"), Some("0"), None].map(|l| l.map(String::from)).to_vec(),
            labelled_at_ms: vec![Some(9_000); 6],
            segments: Vec::new(),
            label_files: Vec::new(),
        }
    }

    #[test]
    fn the_newest_labelled_rows_judge_and_copies_are_dropped() {
        let held = hold_out(&rows(), JudgeBy::Share(0.5));
        // four labelled keys (a, b, c, d); the newest two (c at 3 s, d at 4 s) judge
        assert_eq!((held.train, held.judge, held.cutoff_ms, held.deduplicated), (vec![0, 1], vec![3, 4], 3_000, 1));
        let held = hold_out(&rows(), JudgeBy::Span(Duration::from_millis(2_500)));
        assert_eq!((held.train, held.judge, held.cutoff_ms), (vec![0], vec![1, 3, 4], 1_500));
    }

    #[test]
    fn logged_rows_take_the_data_columns_and_types() {
        let like = DataFrame::new(
            1,
            vec![
                Series::new("x".into(), [1.5f64]).into_column(),
                Series::new("z".into(), ["q"]).into_column(),
                Series::new("y".into(), ["1"]).into_column(),
            ],
        )
        .expect("frame");
        let df = logged_frame(&rows(), &[0, 3], &like, "y").expect("frame");
        let names: Vec<&str> = df.columns().iter().map(|c| c.name().as_str()).collect();
        assert_eq!(names, vec!["x", "z", "y"]);
        assert_eq!(df.column("x").expect("x").dtype(), &DataType::Float64);
        let x: Vec<Option<f64>> = df.column("x").expect("x").f64().expect("f64").iter().collect();
        assert_eq!(x, vec![Some(0.0), Some(3.0)]);
        assert_eq!(df.column("z").expect("z").null_count(), 2);
        let y: Vec<Option<&str>> = df.column("y").expect("y").str().expect("str").iter().collect();
        assert_eq!(y, vec![Some("1"), Some("1")]);
    }
}

//! Reading a model version's rows back from the log: every finished segment and every open
//! one up to its last whole record batch, rows since a time, as kiln-core columns (the raw
//! inputs, as received) with each row's time, route and the model's score.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType, UInt32Type};
use arrow_array::{Array, RecordBatch};
use arrow_ipc::reader::StreamReader;
use arrow_schema::DataType;
use kiln_core::columns::{Batch, Values};

/// Rows of one model version read from the log.
#[derive(Debug, Clone, Default)]
pub struct LoggedRows {
    /// The input columns (names as they arrived); a column absent from a segment is missing
    /// there.
    pub inputs: Batch,
    /// Milliseconds since the epoch of each row's request.
    pub times_ms: Vec<i64>,
    pub routes: Vec<String>,
    pub request_ids: Vec<String>,
    /// Each row's index within its request (0 where a segment lacked the column).
    pub rows: Vec<u32>,
    /// The time each row's request took to score (NaN where a segment lacked the column).
    pub latency_ms: Vec<f64>,
    /// The output column `score_column` of each row (missing where a segment lacked it).
    pub scores: Vec<f64>,
    /// The segments read, in order.
    pub segments: Vec<PathBuf>,
}

/// What went wrong reading the log.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("no prediction log for {model} v{version} under {}\nhint: point --log at the folder of `[serving.log] dir` and check the model and version served", dir.display())]
    NoFolder { dir: PathBuf, model: String, version: i64 },
    #[error("cannot read the prediction log segment {}: {message}\nhint: the file is not a kiln prediction log segment (Arrow IPC stream); move it out of the folder", path.display())]
    Segment { path: PathBuf, message: String },
}

/// The rows of `model` version `version` under `dir` logged at or after `since_ms`, on the
/// routes `routes` (all when empty); `score_column` is the output read as each row's score.
pub fn read_rows(
    dir: &Path,
    model: &str,
    version: i64,
    since_ms: Option<i64>,
    routes: &[&str],
    score_column: &str,
) -> Result<LoggedRows, ReadError> {
    let folder = dir.join(model).join(format!("v{version}"));
    let entries = std::fs::read_dir(&folder).map_err(|_| ReadError::NoFolder {
        dir: dir.to_path_buf(),
        model: model.into(),
        version,
    })?;
    let mut segments: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(".arrows") || s.ends_with(".arrows.open")))
        .collect();
    segments.sort();
    let mut out = Collector::default();
    for path in &mut segments {
        *path = settled(path);
        for batch in read_segment(path)? {
            out.add(&batch, since_ms, routes, score_column);
        }
    }
    Ok(out.finish(segments))
}

/// Where a listed segment is now: an `.arrows.open` segment that the writer finished since it
/// was listed has been renamed to `.arrows` (the same stream, finished), and is read there.
pub fn settled(path: &Path) -> PathBuf {
    let finished = path.to_str().and_then(|p| p.strip_suffix(".open")).map(PathBuf::from);
    match finished {
        Some(finished) if !path.exists() && finished.exists() => finished,
        _ => path.to_path_buf(),
    }
}

/// Every whole record batch of one segment (an open segment's torn tail is left out).
fn read_segment(path: &Path) -> Result<Vec<RecordBatch>, ReadError> {
    let file = File::open(path).map_err(|e| ReadError::Segment { path: path.into(), message: e.to_string() })?;
    let reader = StreamReader::try_new(BufReader::new(file), None)
        .map_err(|e| ReadError::Segment { path: path.into(), message: e.to_string() })?;
    let open = path.extension().is_some_and(|e| e == "open");
    let mut batches = Vec::new();
    for batch in reader {
        match batch {
            Ok(b) => batches.push(b),
            Err(_) if open => break,
            Err(e) => return Err(ReadError::Segment { path: path.into(), message: e.to_string() }),
        }
    }
    Ok(batches)
}

#[derive(Default)]
struct Collector {
    n: usize,
    inputs: BTreeMap<String, Values>,
    order: Vec<String>,
    times: Vec<i64>,
    routes: Vec<String>,
    ids: Vec<String>,
    rows: Vec<u32>,
    latency: Vec<f64>,
    scores: Vec<f64>,
}

impl Collector {
    fn add(&mut self, batch: &RecordBatch, since_ms: Option<i64>, routes: &[&str], score_column: &str) {
        let (Some(time), Some(route), Some(ids)) =
            (batch.column_by_name("time"), batch.column_by_name("route"), batch.column_by_name("request_id"))
        else {
            return;
        };
        let (time, route, ids) =
            (time.as_primitive::<TimestampMillisecondType>(), route.as_string::<i32>(), ids.as_string::<i32>());
        let keep: Vec<usize> = (0..batch.num_rows())
            .filter(|&i| since_ms.is_none_or(|s| time.value(i) >= s))
            .filter(|&i| routes.is_empty() || routes.contains(&route.value(i)))
            .collect();
        if keep.is_empty() {
            return;
        }
        let score = batch.column_by_name(score_column).filter(|c| c.data_type() == &DataType::Float64);
        let row = batch.column_by_name("row").filter(|c| c.data_type() == &DataType::UInt32);
        let latency = batch.column_by_name("latency_ms").filter(|c| c.data_type() == &DataType::Float64);
        for &i in &keep {
            self.times.push(time.value(i));
            self.routes.push(route.value(i).to_string());
            self.ids.push(ids.value(i).to_string());
            let r = row.map(|c| c.as_primitive::<UInt32Type>()).filter(|c| c.is_valid(i)).map(|c| c.value(i));
            self.rows.push(r.unwrap_or(0));
            let l = latency.map(|c| c.as_primitive::<Float64Type>()).filter(|c| c.is_valid(i)).map(|c| c.value(i));
            self.latency.push(l.unwrap_or(f64::NAN));
            let s = score.map(|c| c.as_primitive::<Float64Type>()).filter(|c| c.is_valid(i)).map(|c| c.value(i));
            self.scores.push(s.unwrap_or(f64::NAN));
        }
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            if field.metadata().get("kiln.role").map(String::as_str) != Some("input") {
                continue;
            }
            let name = field.metadata().get("kiln.column").cloned().unwrap_or_else(|| field.name().clone());
            self.append(&name, column.as_ref(), &keep);
        }
        self.n += keep.len();
        for values in self.inputs.values_mut() {
            pad(values, self.n);
        }
    }

    fn append(&mut self, name: &str, column: &dyn Array, keep: &[usize]) {
        let n = self.n;
        let values = self.inputs.entry(name.to_string()).or_insert_with(|| {
            self.order.push(name.to_string());
            empty_like(column.data_type())
        });
        pad(values, n);
        let valid = |i: usize| column.is_valid(i);
        match (values, column.data_type()) {
            (Values::Int(v), DataType::Int64) => {
                let c = column.as_primitive::<Int64Type>();
                v.extend(keep.iter().map(|&i| valid(i).then(|| c.value(i))));
            }
            (Values::Float(v), DataType::Float64) => {
                let c = column.as_primitive::<Float64Type>();
                v.extend(keep.iter().map(|&i| valid(i).then(|| c.value(i))));
            }
            (Values::Text(v), DataType::Utf8) => {
                let c = column.as_string::<i32>();
                v.extend(keep.iter().map(|&i| valid(i).then(|| c.value(i).to_string())));
            }
            (Values::Bool(v), DataType::Boolean) => {
                let c = column.as_boolean();
                v.extend(keep.iter().map(|&i| valid(i).then(|| c.value(i))));
            }
            // the column's type changed between segments: those rows read as missing
            (values, _) => pad(values, n + keep.len()),
        }
    }

    fn finish(self, segments: Vec<PathBuf>) -> LoggedRows {
        let mut inputs = self.inputs;
        let columns = self.order.iter().filter_map(|name| Some((name.clone(), inputs.remove(name)?))).collect();
        LoggedRows {
            inputs: Batch::new(columns),
            times_ms: self.times,
            routes: self.routes,
            request_ids: self.ids,
            rows: self.rows,
            latency_ms: self.latency,
            scores: self.scores,
            segments,
        }
    }
}

fn empty_like(data_type: &DataType) -> Values {
    match data_type {
        DataType::Int64 => Values::Int(Vec::new()),
        DataType::Float64 => Values::Float(Vec::new()),
        DataType::Boolean => Values::Bool(Vec::new()),
        _ => Values::Text(Vec::new()),
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

#[cfg(test)]
mod settled_tests {
    use super::settled;

    #[test]
    fn an_open_segment_finished_since_it_was_listed_is_read_under_its_finished_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let open = dir.path().join("20261206T081500Z-0000.arrows.open");
        let finished = dir.path().join("20261206T081500Z-0000.arrows");
        std::fs::write(&open, b"stream").expect("write");
        assert_eq!(settled(&open), open, "still open");
        std::fs::rename(&open, &finished).expect("finish");
        assert_eq!(settled(&open), finished, "finished since");
        assert_eq!(settled(&finished), finished);
        let gone = dir.path().join("20261206T090000Z-0001.arrows.open");
        assert_eq!(settled(&gone), gone, "a missing segment stays as listed, for its error to name");
    }
}

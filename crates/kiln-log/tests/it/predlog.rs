//! The prediction log against its files: every appended value read back from the segments
//! with arrow-rs's `StreamReader`, rotation by rows, age and schema, the queue bound, lost rows,
//! bad folders and settings. `recovery`: a writer killed or never closed, torn tails;
//! `python`: pyarrow reads the segments.

mod python;
mod recovery;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType, UInt32Type};
use arrow_array::{Array, RecordBatch};
use arrow_ipc::reader::StreamReader;
use arrow_schema::{DataType, TimeUnit};
use kiln_core::columns::{Batch, Values};
use kiln_core::rng::Rng;
use kiln_log::{Entry, LogError, LogSettings, PredictionLog, Route};

/// Named columns, as kiln holds them: what an entry becomes and what a segment reads back as.
type Table = Vec<(String, Values)>;

const WORKCLASSES: [&str; 4] = ["Private", "Self-emp-not-inc", "State-gov", "Local-gov"];
const EDUCATIONS: [&str; 3] = ["Bachelors", "HS-grad", "Masters"];

/// `n` Adult-like rows: ints and floats with missing values, text with missing values.
fn adult_inputs(rng: &mut Rng, n: usize) -> Batch {
    let maybe = |p_missing: f64, rng: &mut Rng| rng.uniform() >= p_missing;
    let age = (0..n).map(|_| maybe(0.1, rng).then(|| 17 + rng.below(60) as i64)).collect();
    let hours = (0..n).map(|_| Some(1 + rng.below(98) as i64)).collect();
    let gain = (0..n).map(|_| maybe(0.2, rng).then(|| (rng.uniform() * 99_999.0).round() / 4.0)).collect();
    let workclass = (0..n).map(|_| maybe(0.15, rng).then(|| WORKCLASSES[rng.below(4) as usize].to_owned())).collect();
    let education = (0..n).map(|_| Some(EDUCATIONS[rng.below(3) as usize].to_owned())).collect();
    Batch::new(vec![
        ("age".to_owned(), Values::Int(age)),
        ("hours_per_week".to_owned(), Values::Int(hours)),
        ("capital_gain".to_owned(), Values::Float(gain)),
        ("workclass".to_owned(), Values::Text(workclass)),
        ("education".to_owned(), Values::Text(education)),
    ])
}

/// Binary outputs as the output assembly shapes them: `p_<class>` and `predicted`.
fn binary_outputs(rng: &mut Rng, n: usize) -> Batch {
    let p_high: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
    Batch::new(vec![
        ("p_<=50K".to_owned(), Values::Float(p_high.iter().map(|p| Some(1.0 - p)).collect())),
        ("p_>50K".to_owned(), Values::Float(p_high.iter().map(|p| Some(*p)).collect())),
        (
            "predicted".to_owned(),
            Values::Text(p_high.iter().map(|p| Some(if *p >= 0.5 { ">50K" } else { "<=50K" }.to_owned())).collect()),
        ),
    ])
}

fn entry(rng: &mut Rng, request: usize, model: &str, version: i64, route: Route, n: usize) -> Entry {
    Entry {
        request_id: format!("req-{request:05}"),
        time_ms: 1_796_544_900_000 + request as i64 * 37,
        model: model.to_owned(),
        version,
        route,
        latency_ms: 0.25 + request as f64 / 8.0,
        inputs: Arc::new(adult_inputs(rng, n)),
        outputs: binary_outputs(rng, n),
    }
}

fn settings(dir: &Path) -> LogSettings {
    LogSettings { flush_interval_ms: 3_600_000, ..LogSettings::new(dir) }
}

/// The table an entry should become: the fixed columns, then its inputs and outputs.
fn expected_table(entries: &[&Entry]) -> Table {
    let mut table: Table = Vec::new();
    for entry in entries {
        let n = entry.inputs.n_rows();
        let repeat_text = |value: &str| Values::Text(vec![Some(value.to_owned()); n]);
        let mut columns = vec![
            ("request_id".to_owned(), repeat_text(&entry.request_id)),
            ("row".to_owned(), Values::Int((0..n as i64).map(Some).collect())),
            ("time".to_owned(), Values::Int(vec![Some(entry.time_ms); n])),
            ("model".to_owned(), repeat_text(&entry.model)),
            ("version".to_owned(), Values::Int(vec![Some(entry.version); n])),
            ("route".to_owned(), repeat_text(entry.route.as_str())),
            ("latency_ms".to_owned(), Values::Float(vec![Some(entry.latency_ms); n])),
        ];
        columns.extend(entry.inputs.columns.iter().cloned());
        columns.extend(entry.outputs.columns.iter().cloned());
        append_table(&mut table, columns);
    }
    table
}

fn append_table(table: &mut Table, columns: Table) {
    if table.is_empty() {
        *table = columns;
        return;
    }
    assert_eq!(table.len(), columns.len(), "same columns");
    for ((name, values), (other_name, other)) in table.iter_mut().zip(columns) {
        assert_eq!(*name, other_name);
        match (values, other) {
            (Values::Int(a), Values::Int(b)) => a.extend(b),
            (Values::Float(a), Values::Float(b)) => a.extend(b),
            (Values::Text(a), Values::Text(b)) => a.extend(b),
            (Values::Bool(a), Values::Bool(b)) => a.extend(b),
            (a, b) => panic!("column {name}: {:?} then {:?}", a.dtype(), b.dtype()),
        }
    }
}

/// A record batch's columns as kiln values (UInt32 and timestamps as integers).
fn batch_table(batch: &RecordBatch) -> Table {
    let schema = batch.schema();
    schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, array)| {
            let values = match array.data_type() {
                DataType::Int64 => Values::Int(array.as_primitive::<Int64Type>().iter().collect()),
                DataType::UInt32 => {
                    Values::Int(array.as_primitive::<UInt32Type>().iter().map(|v| v.map(i64::from)).collect())
                }
                DataType::Timestamp(..) => {
                    Values::Int(array.as_primitive::<TimestampMillisecondType>().iter().collect())
                }
                DataType::Float64 => Values::Float(array.as_primitive::<Float64Type>().iter().collect()),
                DataType::Utf8 => Values::Text(array.as_string::<i32>().iter().map(|v| v.map(str::to_owned)).collect()),
                DataType::Boolean => Values::Bool(array.as_boolean().iter().collect()),
                other => panic!("unexpected type {other}"),
            };
            (field.name().clone(), values)
        })
        .collect()
}

fn read_stream(path: &Path) -> Vec<RecordBatch> {
    let file = fs::File::open(path).expect("open segment");
    let reader = StreamReader::try_new_buffered(file, None).expect("a stream with a schema");
    reader.map(|batch| batch.expect("a whole batch")).collect()
}

/// The segment files of one model version, in name order, with their batches.
fn segments(dir: &Path, model: &str, version: i64) -> Vec<(String, Vec<RecordBatch>)> {
    let folder = dir.join(model).join(format!("v{version}"));
    let mut names: Vec<String> = fs::read_dir(&folder)
        .expect("version folder")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    names.into_iter().map(|name| (name.clone(), read_stream(&folder.join(&name)))).collect()
}

fn table_of(segments: &[(String, Vec<RecordBatch>)]) -> Table {
    let mut table = Vec::new();
    for batch in segments.iter().flat_map(|(_, batches)| batches) {
        append_table(&mut table, batch_table(batch));
    }
    table
}

fn rows_per_segment(segments: &[(String, Vec<RecordBatch>)]) -> Vec<usize> {
    segments.iter().map(|(_, batches)| batches.iter().map(RecordBatch::num_rows).sum()).collect()
}

fn is_segment_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    name.len() == "20261206T081500Z-0000.arrows".len()
        && name.ends_with(".arrows")
        && bytes[..8].iter().all(u8::is_ascii_digit)
        && bytes[8] == b'T'
        && bytes[9..15].iter().all(u8::is_ascii_digit)
        && &name[15..17] == "Z-"
        && bytes[17..21].iter().all(u8::is_ascii_digit)
}

/// Polls `done` every few milliseconds for at most 30 s.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn every_appended_value_reads_back_from_the_segments() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = PredictionLog::start(LogSettings { flush_rows: 50, ..settings(dir.path()) }).expect("start");
    let mut rng = Rng::new(14);
    let routes = [Route::Primary, Route::Shadow, Route::Fallback];
    let entries: Vec<Entry> = (0..60)
        .map(|i| {
            let version = if i % 3 == 0 { 4 } else { 3 };
            entry(&mut rng, i, "adult", version, routes[i % 3], 1 + (i * 7) % 23)
        })
        .collect();
    for e in &entries {
        log.append(e.clone());
    }
    let total: usize = entries.iter().map(Entry::n_rows).sum();
    let stats = log.close().expect("close");
    assert_eq!((stats.rows_appended, stats.rows_written), (total as u64, total as u64));
    assert_eq!((stats.rows_dropped, stats.rows_lost, stats.write_errors), (0, 0, 0));
    assert_eq!((stats.segments_opened, stats.segments_finished), (2, 2));

    for version in [3, 4] {
        let appended: Vec<&Entry> = entries.iter().filter(|e| e.version == version).collect();
        let found = segments(dir.path(), "adult", version);
        assert_eq!(found.len(), 1, "one segment for v{version}");
        assert!(is_segment_name(&found[0].0), "segment name {}", found[0].0);
        assert_eq!(table_of(&found), expected_table(&appended), "v{version}");
        // Rows are gathered into one batch per flush, not one per request.
        let batches = &found[0].1;
        assert!(batches.len() < appended.len());
        for batch in &batches[..batches.len() - 1] {
            assert!(batch.num_rows() >= 50, "a flush by count holds at least flush_rows rows");
        }
        let schema = batches[0].schema();
        assert_eq!(schema.metadata().get("kiln.format").map(String::as_str), Some("kiln.predlog.v1"));
        assert_eq!(schema.field(1).data_type(), &DataType::UInt32);
        assert_eq!(schema.field(2).data_type(), &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())));
        let workclass = schema.field_with_name("workclass").expect("input column");
        assert_eq!(workclass.metadata().get("kiln.role").map(String::as_str), Some("input"));
        assert!(workclass.is_nullable());
    }
}

#[test]
fn dropping_the_log_drains_the_queue_and_finishes_the_segments() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = PredictionLog::start(settings(dir.path())).expect("start");
    let mut rng = Rng::new(15);
    let entries: Vec<Entry> = (0..5).map(|i| entry(&mut rng, i, "adult", 1, Route::Primary, 9)).collect();
    for e in &entries {
        log.append(e.clone());
    }
    drop(log);
    let found = segments(dir.path(), "adult", 1);
    assert_eq!(found.len(), 1);
    assert!(found[0].0.ends_with(".arrows"));
    assert_eq!(table_of(&found), expected_table(&entries.iter().collect::<Vec<_>>()));
}

#[test]
fn buffered_rows_are_flushed_by_the_interval_and_idle_segments_finished_by_age() {
    let mut rng = Rng::new(24);
    let entries: Vec<Entry> = (0..2).map(|i| entry(&mut rng, i, "adult", 6, Route::Primary, 3)).collect();
    let expected = expected_table(&entries.iter().collect::<Vec<_>>());

    // 6 rows never reach flush_rows: only the interval writes them before close.
    let dir = tempfile::tempdir().expect("temp dir");
    let log =
        PredictionLog::start(LogSettings { flush_interval_ms: 20, ..LogSettings::new(dir.path()) }).expect("start");
    for e in &entries {
        log.append(e.clone());
    }
    wait_until("6 rows flushed by the interval", || log.stats().rows_written == 6);
    let open: Vec<PathBuf> =
        fs::read_dir(dir.path().join("adult/v6")).expect("folder").map(|e| e.expect("entry").path()).collect();
    let mut read = Vec::new();
    for batch in read_stream(&open[0]) {
        append_table(&mut read, batch_table(&batch));
    }
    assert_eq!(read, expected);
    let stats = log.close().expect("close");
    assert_eq!((stats.rows_written, stats.rows_queued, stats.segments_finished), (6, 0, 1));

    // A segment past segment_seconds is finished even when no more rows come.
    let dir = tempfile::tempdir().expect("temp dir");
    let log =
        PredictionLog::start(LogSettings { flush_rows: 6, segment_seconds: 0, ..settings(dir.path()) }).expect("start");
    for e in &entries {
        log.append(e.clone());
    }
    wait_until("the idle segment finished", || log.stats().segments_finished == 1);
    let found = segments(dir.path(), "adult", 6);
    assert!(found.len() == 1 && is_segment_name(&found[0].0), "{found:?}");
    assert_eq!(table_of(&found), expected);
    log.close().expect("close");
}

#[test]
fn the_largest_intervals_mean_never() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = PredictionLog::start(LogSettings {
        flush_rows: 4,
        flush_interval_ms: u64::MAX,
        segment_seconds: u64::MAX,
        ..LogSettings::new(dir.path())
    })
    .expect("start");
    let mut rng = Rng::new(26);
    let entries: Vec<Entry> = (0..3).map(|i| entry(&mut rng, i, "adult", 1, Route::Primary, 2)).collect();
    for e in &entries {
        log.append(e.clone());
    }
    let stats = log.close().expect("close");
    assert_eq!((stats.rows_written, stats.segments_finished), (6, 1));
    assert_eq!(table_of(&segments(dir.path(), "adult", 1)), expected_table(&entries.iter().collect::<Vec<_>>()));
}

#[test]
fn segments_rotate_after_segment_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log =
        PredictionLog::start(LogSettings { flush_rows: 3, segment_rows: 5, ..settings(dir.path()) }).expect("start");
    let mut rng = Rng::new(16);
    let entries: Vec<Entry> = (0..6).map(|i| entry(&mut rng, i, "adult", 2, Route::Primary, 2)).collect();
    for e in &entries {
        log.append(e.clone());
    }
    let stats = log.close().expect("close");
    let found = segments(dir.path(), "adult", 2);
    // 12 rows flushed 4 at a time into segments of at most 5 rows.
    assert_eq!(rows_per_segment(&found), [5, 5, 2]);
    assert_eq!((stats.segments_opened, stats.segments_finished), (3, 3));
    assert!(found.iter().all(|(name, _)| is_segment_name(name)), "{found:?}");
    // A request split across two segments keeps its row numbers.
    assert_eq!(table_of(&found), expected_table(&entries.iter().collect::<Vec<_>>()));
}

#[test]
fn segments_rotate_after_segment_seconds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log =
        PredictionLog::start(LogSettings { flush_rows: 3, segment_seconds: 0, ..settings(dir.path()) }).expect("start");
    let mut rng = Rng::new(17);
    let entries: Vec<Entry> = (0..4).map(|i| entry(&mut rng, i, "adult", 2, Route::Shadow, 3)).collect();
    for e in &entries {
        log.append(e.clone());
    }
    log.close().expect("close");
    let found = segments(dir.path(), "adult", 2);
    // With segment_seconds = 0 every flush starts a segment; all of them start within a few
    // seconds, so several share a stamp and differ by their sequence number.
    assert_eq!(rows_per_segment(&found), [3, 3, 3, 3]);
    assert!(found.iter().all(|(name, _)| is_segment_name(name)), "{found:?}");
    assert_eq!(table_of(&found), expected_table(&entries.iter().collect::<Vec<_>>()));
}

#[test]
fn a_schema_change_finishes_the_segment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = PredictionLog::start(LogSettings { flush_rows: 1, ..settings(dir.path()) }).expect("start");
    let mut rng = Rng::new(18);
    let plain = entry(&mut rng, 0, "adult", 5, Route::Primary, 4);
    let mut retyped = entry(&mut rng, 1, "adult", 5, Route::Primary, 3);
    // The same column names, but age arrives as a float.
    let Values::Int(ages) = &retyped.inputs.columns[0].1 else { panic!("age is an int column") };
    let mut inputs = (*retyped.inputs).clone();
    inputs.columns[0].1 = Values::Float(ages.iter().map(|a| a.map(|a| a as f64)).collect());
    retyped.inputs = Arc::new(inputs);
    let mut colliding = entry(&mut rng, 2, "adult", 5, Route::Fallback, 2);
    let mut inputs = (*colliding.inputs).clone();
    inputs.columns.push(("predicted".to_owned(), Values::Bool(vec![Some(true), None])));
    colliding.inputs = Arc::new(inputs);
    let again = entry(&mut rng, 3, "adult", 5, Route::Primary, 2);
    for e in [&plain, &retyped, &colliding, &again] {
        log.append(e.clone());
    }
    let stats = log.close().expect("close");
    assert_eq!(stats.segments_opened, 4);
    let found = segments(dir.path(), "adult", 5);
    assert_eq!(rows_per_segment(&found), [4, 3, 2, 2]);
    assert_eq!(table_of(&found[..1]), expected_table(&[&plain]));
    assert_eq!(table_of(&found[1..2]), expected_table(&[&retyped]));
    assert_eq!(table_of(&found[3..]), expected_table(&[&again]));
    // An input named like an output column is stored as input.<name>.
    let mut expected = expected_table(&[&colliding]);
    let position = expected.iter().position(|(name, v)| name == "predicted" && matches!(v, Values::Bool(_)));
    expected[position.expect("the colliding input")].0 = "input.predicted".to_owned();
    assert_eq!(table_of(&found[2..3]), expected);
}

#[test]
fn rows_that_cannot_be_written_are_counted_as_lost_and_the_rest_carry_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    // v2's folder cannot be made: a file stands where it goes.
    fs::create_dir_all(dir.path().join("adult")).expect("mkdir");
    fs::write(dir.path().join("adult/v2"), b"in the way").expect("write file");
    let log = PredictionLog::start(LogSettings { flush_rows: 1, ..settings(dir.path()) }).expect("start");
    let mut rng = Rng::new(25);
    let good = entry(&mut rng, 0, "adult", 1, Route::Primary, 3);
    let blocked = entry(&mut rng, 1, "adult", 2, Route::Primary, 4);
    let escaping = Entry { model: "../outside".to_owned(), ..entry(&mut rng, 2, "adult", 1, Route::Primary, 5) };
    let mut uneven = entry(&mut rng, 3, "adult", 1, Route::Primary, 6);
    uneven.outputs.columns[0].1 = Values::Float(vec![Some(0.5); 2]);
    let after = entry(&mut rng, 4, "adult", 1, Route::Primary, 2);
    for e in [&good, &blocked, &escaping, &uneven, &after] {
        log.append(e.clone());
    }
    let stats = log.close().expect("close");
    assert_eq!((stats.rows_appended, stats.rows_written, stats.rows_lost), (20, 5, 15));
    assert_eq!(stats.write_errors, 1, "only the blocked folder is a write error");
    assert_eq!(table_of(&segments(dir.path(), "adult", 1)), expected_table(&[&good, &after]));
    assert!(!dir.path().join("outside").exists() && !dir.path().parent().expect("tmp").join("outside").exists());
}

#[test]
fn a_full_queue_drops_and_counts_rows_without_blocking() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (log, hold) = PredictionLog::start_held(LogSettings { queue_rows: 10, ..settings(dir.path()) }).expect("start");
    let mut rng = Rng::new(19);
    let sizes = [4, 4, 3, 2, 1, 11];
    let entries: Vec<Entry> =
        sizes.iter().enumerate().map(|(i, n)| entry(&mut rng, i, "adult", 1, Route::Primary, *n)).collect();
    for e in &entries {
        log.append(e.clone());
    }
    // 4 + 4 fit, 3 does not (11 > 10), 2 fits (10), 1 does not, 11 never could.
    let stats = log.stats();
    assert_eq!((stats.rows_appended, stats.rows_queued, stats.rows_dropped, stats.rows_written), (10, 10, 15, 0));
    hold.release();
    let stats = log.close().expect("close");
    assert_eq!((stats.rows_written, stats.rows_dropped), (10, 15));
    let kept = [&entries[0], &entries[1], &entries[3]];
    assert_eq!(table_of(&segments(dir.path(), "adult", 1)), expected_table(&kept));

    // Closing a log whose writer is still held drains the queue all the same.
    let dir = tempfile::tempdir().expect("temp dir");
    let (log, hold) = PredictionLog::start_held(settings(dir.path())).expect("start");
    log.append(entries[5].clone());
    let stats = log.close().expect("close");
    assert_eq!((stats.rows_written, stats.rows_dropped), (11, 0));
    drop(hold);
}

#[test]
fn a_folder_that_cannot_be_created_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("not-a-folder");
    fs::write(&file, b"x").expect("write file");
    let wanted = file.join("log");
    match PredictionLog::start(settings(&wanted)) {
        Err(error @ LogError::CreateDir { .. }) => {
            let text = error.to_string();
            assert!(text.contains(&wanted.display().to_string()), "{text}");
            assert!(text.contains("hint: point serving.log.dir at a folder"), "{text}");
        }
        Err(other) => panic!("expected CreateDir, got {other}"),
        Ok(_) => panic!("a folder under a file cannot be created"),
    }
}

#[test]
fn a_folder_takes_one_log_at_a_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = PredictionLog::start(settings(dir.path())).expect("start");
    match PredictionLog::start(settings(dir.path())) {
        Err(error @ LogError::Locked { .. }) => {
            let text = error.to_string();
            assert!(text.contains(&dir.path().display().to_string()) && text.contains("hint:"), "{text}");
        }
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("two logs may not write one folder"),
    }
    first.close().expect("close");
    PredictionLog::start(settings(dir.path())).expect("free again").close().expect("close");
}

#[cfg(unix)]
#[test]
fn a_read_only_folder_is_a_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let log_dir = dir.path().join("log");
    fs::create_dir(&log_dir).expect("mkdir");
    fs::set_permissions(&log_dir, fs::Permissions::from_mode(0o555)).expect("chmod");
    let privileged = fs::write(log_dir.join("probe"), b"").is_ok();
    let result = PredictionLog::start(settings(&log_dir));
    fs::set_permissions(&log_dir, fs::Permissions::from_mode(0o755)).expect("chmod back");
    if privileged {
        // Running as root, permission bits do not stop writes: the log starts.
        let log = result.expect("a root process may write anywhere");
        log.close().expect("close");
        return;
    }
    match result {
        Err(error @ LogError::NotWritable { .. }) => {
            let text = error.to_string();
            assert!(text.contains(&log_dir.display().to_string()) && text.contains("hint:"), "{text}");
        }
        Err(other) => panic!("expected NotWritable, got {other}"),
        Ok(_) => panic!("a read-only folder cannot hold the log"),
    }
}

#[test]
fn settings_read_from_toml_with_documented_defaults() {
    let parsed: LogSettings = toml::from_str("dir = \"/var/lib/kiln/predlog\"\nflush_rows = 10\n").expect("parse");
    assert_eq!(parsed, LogSettings { flush_rows: 10, ..LogSettings::new("/var/lib/kiln/predlog") });
    assert_eq!(
        (parsed.flush_interval_ms, parsed.segment_rows, parsed.segment_seconds, parsed.queue_rows),
        (1000, 1_000_000, 3600, 1_000_000)
    );
    let unknown = toml::from_str::<LogSettings>("dir = \"x\"\nflush_row = 10\n").expect_err("unknown key");
    assert!(unknown.to_string().contains("flush_row"), "{unknown}");
    assert!(toml::from_str::<LogSettings>("flush_rows = 10\n").is_err(), "dir has no default");

    let zero = LogSettings { queue_rows: 0, ..LogSettings::new("x") };
    let error = zero.validate().expect_err("zero queue");
    assert!(matches!(error, LogError::Setting { key: "queue_rows", value: 0, min: 1 }), "{error}");
    assert!(error.to_string().contains("serving.log.queue_rows = 0"), "{error}");
    assert!(LogSettings { segment_seconds: 0, ..LogSettings::new("x") }.validate().is_ok());
}

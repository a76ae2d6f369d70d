//! Crashes: the segment of a writer that never closes reads back with every flushed row, a
//! `kill -9` loses only unflushed rows, and a torn tail is cut to its last whole message on the
//! next start.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use arrow_array::RecordBatch;
use kiln_core::rng::Rng;
use kiln_log::{Entry, LogSettings, PredictionLog, Route};

use super::{
    append_table, batch_table, entry, expected_table, is_segment_name, read_stream, rows_per_segment, segments,
    settings, table_of, wait_until,
};

#[test]
fn flushed_rows_survive_a_writer_that_is_never_closed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = PredictionLog::start(LogSettings { flush_rows: 4, ..settings(dir.path()) }).expect("start");
    let mut rng = Rng::new(20);
    let entries: Vec<Entry> = (0..3).map(|i| entry(&mut rng, i, "adult", 7, Route::Primary, 4)).collect();
    for e in &entries {
        log.append(e.clone());
    }
    wait_until("12 rows written", || log.stats().rows_written == 12);
    let folder = dir.path().join("adult/v7");
    let open: Vec<PathBuf> = fs::read_dir(&folder).expect("folder").map(|e| e.expect("entry").path()).collect();
    assert_eq!(open.len(), 1);
    assert!(open[0].to_string_lossy().ends_with(".arrows.open"), "{open:?}");
    // The open segment is a valid stream prefix: every flushed row reads back.
    let expected = expected_table(&entries.iter().collect::<Vec<_>>());
    let mut read = Vec::new();
    for batch in read_stream(&open[0]) {
        append_table(&mut read, batch_table(&batch));
    }
    assert_eq!(read, expected);

    // Left as a crash leaves it, the next start finishes it.
    let other = tempfile::tempdir().expect("temp dir");
    let copy = other.path().join("adult/v7").join(open[0].file_name().expect("name"));
    fs::create_dir_all(copy.parent().expect("folder")).expect("mkdir");
    fs::copy(&open[0], &copy).expect("copy");
    std::mem::forget(log);
    let restarted = PredictionLog::start(settings(other.path())).expect("restart");
    let recovered = restarted.recovered().to_vec();
    restarted.close().expect("close");
    assert_eq!(recovered.len(), 1);
    assert_eq!((recovered[0].batches, recovered[0].rows, recovered[0].cut_bytes), (3, 12, 0));
    let found = segments(other.path(), "adult", 7);
    assert_eq!(found.len(), 1);
    assert!(is_segment_name(&found[0].0));
    assert_eq!(table_of(&found), expected);
}

/// Kills the child process when dropped, so that a failed assertion leaves no process behind.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Set in the child process of the kill test: the log folder it writes.
const CHILD_DIR_ENV: &str = "KILN_PREDLOG_TEST_CHILD_DIR";

#[test]
fn a_killed_writer_loses_only_the_rows_it_had_not_flushed() {
    let mut rng = Rng::new(21);
    let flushed: Vec<Entry> = (0..3).map(|i| entry(&mut rng, i, "adult", 9, Route::Primary, 5)).collect();
    let buffered = entry(&mut rng, 3, "adult", 9, Route::Primary, 2);
    if let Some(dir) = std::env::var_os(CHILD_DIR_ENV) {
        // The child: flush 15 rows, buffer 2 more, say so, and wait to be killed.
        let dir = PathBuf::from(dir);
        let log = PredictionLog::start(LogSettings { flush_rows: 5, ..settings(&dir.join("log")) }).expect("start");
        for e in flushed.iter().chain([&buffered]) {
            log.append(e.clone());
        }
        wait_until("15 rows written", || log.stats().rows_written == 15);
        fs::write(dir.join("ready"), b"").expect("ready marker");
        std::thread::sleep(Duration::from_secs(60));
        panic!("the parent did not kill this process");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = KillOnDrop(
        std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "predlog::recovery::a_killed_writer_loses_only_the_rows_it_had_not_flushed",
                "--nocapture",
            ])
            .env(CHILD_DIR_ENV, dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn the child"),
    );
    wait_until("the child's ready marker", || {
        let exited = child.0.try_wait().expect("child status");
        assert!(exited.is_none(), "the child exited before writing: {exited:?}");
        dir.path().join("ready").exists()
    });
    child.0.kill().expect("kill -9");
    child.0.wait().expect("reap");

    let log = PredictionLog::start(settings(&dir.path().join("log"))).expect("restart");
    let recovered = log.recovered().to_vec();
    log.close().expect("close");
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].rows, 15, "every flushed row is kept, the 2 buffered rows are lost");
    let found = segments(&dir.path().join("log"), "adult", 9);
    assert_eq!(table_of(&found), expected_table(&flushed.iter().collect::<Vec<_>>()));
}

#[test]
fn a_torn_tail_is_cut_to_its_last_whole_message_on_start() {
    let source = tempfile::tempdir().expect("temp dir");
    let log = PredictionLog::start(LogSettings { flush_rows: 3, ..settings(source.path()) }).expect("start");
    let mut rng = Rng::new(22);
    let entries: Vec<Entry> = (0..3).map(|i| entry(&mut rng, i, "adult", 1, Route::Primary, 3)).collect();
    for e in &entries {
        log.append(e.clone());
    }
    log.close().expect("close");
    let found = segments(source.path(), "adult", 1);
    assert_eq!(rows_per_segment(&found), [9]);
    let bytes = fs::read(source.path().join("adult/v1").join(&found[0].0)).expect("read segment");
    let len = bytes.len();

    // A cut every 97 bytes (a message is some kilobytes, its buffers being 64-byte aligned) and
    // at the edges of the end-of-stream marker, each cut file left as a segment of its own in
    // one folder: every one is kept, holding exactly the requests whose batch was whole.
    let mut cuts: Vec<usize> = (0..=len).step_by(97).collect();
    cuts.extend([len - 9, len - 8, len - 1, len]);
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("adult/v1");
    fs::create_dir_all(&folder).expect("mkdir");
    for (i, cut) in cuts.iter().enumerate() {
        fs::write(folder.join(format!("20261206T081500Z-{i:04}.arrows.open")), &bytes[..*cut]).expect("write");
    }
    let log = PredictionLog::start(settings(dir.path())).expect("start recovers");
    let recovered = log.recovered().to_vec();
    log.close().expect("close");
    assert_eq!(recovered.len(), cuts.len());
    let mut rows_by_cut = BTreeMap::new();
    for (i, (cut, segment)) in cuts.iter().copied().zip(&recovered).enumerate() {
        let stem = folder.join(format!("20261206T081500Z-{i:04}"));
        assert!(!folder.join(format!("20261206T081500Z-{i:04}.arrows.open")).exists(), "cut at {cut}: renamed");
        if segment.path.to_string_lossy().ends_with(".arrows.unreadable") {
            // Not even the schema is whole: nothing to read, and the bytes are kept.
            assert_eq!(segment.path, stem.with_extension("arrows.unreadable"));
            assert_eq!(fs::read(&segment.path).expect("kept"), &bytes[..cut]);
            assert_eq!(segment.rows, 0);
            rows_by_cut.insert(cut, 0);
            continue;
        }
        assert_eq!(segment.path, stem.with_extension("arrows"), "cut at {cut}");
        let batches = read_stream(&segment.path);
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!((segment.rows, segment.batches), (rows, batches.len()), "cut at {cut}");
        let mut read = Vec::new();
        for batch in &batches {
            append_table(&mut read, batch_table(batch));
        }
        let whole: Vec<&Entry> = entries.iter().take(rows / 3).collect();
        assert_eq!(rows % 3, 0, "cut at {cut}: whole requests only");
        if rows > 0 {
            assert_eq!(read, expected_table(&whole), "cut at {cut}");
        }
        let recovered_len = fs::metadata(&segment.path).expect("metadata").len();
        let cut_end = if cut == len { len as u64 } else { cut as u64 + 8 };
        assert_eq!(segment.cut_bytes, cut_end - recovered_len, "cut at {cut}");
        rows_by_cut.insert(cut, rows);
    }
    assert_eq!(rows_by_cut[&0], 0);
    assert_eq!((rows_by_cut[&(len - 9)], rows_by_cut[&(len - 8)], rows_by_cut[&len]), (6, 9, 9));
    let counts: Vec<usize> = rows_by_cut.values().copied().collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "more bytes never give fewer rows: {counts:?}");
    for rows in [0, 3, 6, 9] {
        assert!(counts.contains(&rows), "some cut keeps {rows} rows: {counts:?}");
    }
}

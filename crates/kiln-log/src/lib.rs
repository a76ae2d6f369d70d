//! The prediction log: every scored row, appended off the response path to rotated Arrow IPC
//! stream segments that a drift monitor and a feedback join read later.
//!
//! [`PredictionLog::append`] never blocks and never fails the caller: it reserves room for the
//! entry's rows in a queue bounded by [`LogSettings::queue_rows`] and hands the entry to one
//! writer thread, or drops and counts the rows when the queue is full. The writer buffers rows
//! per model version, writes one record batch per flush (every [`LogSettings::flush_rows`]
//! rows or [`LogSettings::flush_interval_ms`]) and rotates segments by rows, age and schema.
//!
//! # Files
//!
//! `<dir>/<model>/v<version>/<UTC start, 20261206T081500Z>-<seq>.arrows`, one Arrow IPC
//! *stream* per file (readable with `pyarrow.ipc.open_stream` or arrow-rs's `StreamReader`).
//! While a segment is written its name ends `.arrows.open`; finishing it writes the
//! end-of-stream marker, syncs the file and renames it to `.arrows`. A segment is created with
//! its schema message already in it (written through [`kiln_core::atomic`]), and each flush
//! appends one whole record batch message with a single `write_all`, so an `.open` segment is
//! always a readable stream prefix. On start, leftover `.open` segments of a crashed process
//! are cut back to their last whole message, finished and renamed (`docs/dev/prediction-log.md`
//! says how).
//!
//! # Columns
//!
//! `request_id` Utf8, `row` UInt32 (the row's index within its request), `time`
//! Timestamp(ms, UTC) (when the request arrived), `model` Utf8, `version` Int64, `route` Utf8
//! (`primary`, `shadow`, `fallback`), `latency_ms` Float64; then the request's input columns
//! and the model's output columns, nullable, typed by their values (Int64, Float64, Utf8,
//! Boolean). An input column named like a fixed or output column is stored as
//! `input.<name>`, an output column named like a fixed column as `output.<name>`. Input and
//! output fields carry the metadata `kiln.role` (`input` or `output`) and, when renamed,
//! `kiln.column` (the name they had). The schema carries `kiln.format` = [`FORMAT`].
//!
//! # What a crash loses
//!
//! A `kill -9` loses only rows that were not flushed, at most: the rows waiting in the queue
//! (at most `queue_rows`), plus for each model version the rows buffered since its last flush
//! (at most `flush_rows - 1`), plus the rows of the one request the writer is adding when the
//! process dies. A buffered row is flushed at most `flush_interval_ms` after the writer takes
//! it from the queue. Flushed rows are in the operating system's page cache and survive the
//! process; segments are fsynced when they are finished, so a machine crash can also lose the
//! flushed rows of the open segments.
//!
//! One log writes a folder at a time: it holds an exclusive lock on `<dir>/.kiln-predlog.lock`
//! (released when its writer ends, or when its process dies).

mod error;
mod layout;
pub mod read;
mod recover;
mod segment;
mod settings;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;

use kiln_core::columns::Batch;
use serde::{Deserialize, Serialize};

pub use error::{LogError, SegmentError};
pub use recover::Recovered;
pub use settings::LogSettings;

/// The value of the schema metadata key `kiln.format` in every segment.
pub const FORMAT: &str = "kiln.predlog.v1";

/// Which way a request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// The served version (by alias, version or traffic split).
    Primary,
    /// A new version given a share of the traffic in steps.
    Canary,
    /// A challenger scoring a copy of the request; its outputs are never returned.
    Shadow,
    /// The rules fallback answering while the breaker is open.
    Fallback,
}

/// One scored request (or one request's rows for one route).
#[derive(Debug, Clone)]
pub struct Entry {
    pub request_id: String,
    /// Unix milliseconds when the request arrived.
    pub time_ms: i64,
    /// The served model's name (a folder of the log).
    pub model: String,
    /// The registry version, or 0 for a bundle served from a file.
    pub version: i64,
    pub route: Route,
    /// The time the request took to score.
    pub latency_ms: f64,
    /// The raw input columns as received, pii columns already removed.
    pub inputs: Arc<Batch>,
    /// The output columns (`p_<class>`, `predicted`, id columns).
    pub outputs: Batch,
}

/// The log's counters, read with [`PredictionLog::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LogStats {
    /// Rows accepted into the queue.
    pub rows_appended: u64,
    /// Rows in the queue now, waiting for the writer.
    pub rows_queued: u64,
    /// Rows written to a segment file (flushed).
    pub rows_written: u64,
    /// Rows dropped because the queue was full.
    pub rows_dropped: u64,
    /// Rows taken by the writer but not written: a failed write, or an entry whose columns
    /// differ in length or whose model name is not a folder name.
    pub rows_lost: u64,
    /// Segment files opened.
    pub segments_opened: u64,
    /// Segment files finished and renamed to `.arrows`.
    pub segments_finished: u64,
    /// Writes, finishes or opens that failed.
    pub write_errors: u64,
}

/// The prediction log: a queue and the one writer thread behind it. Close it with
/// [`PredictionLog::close`]; dropping it also drains the queue and finishes the segments.
pub struct PredictionLog {
    sender: Option<mpsc::Sender<Entry>>,
    writer: Option<JoinHandle<Result<(), LogError>>>,
    shared: Arc<Shared>,
    recovered: Vec<Recovered>,
}

/// Keeps a started log's writer from taking entries until it is released or dropped, or the
/// log is closed (see [`PredictionLog::start_held`]).
pub struct WriterHold {
    shared: Arc<Shared>,
}

/// State shared by the callers of `append` and the writer thread.
pub(crate) struct Shared {
    settings: LogSettings,
    queued_rows: AtomicUsize,
    counters: Counters,
    drop_warning: Throttle,
    /// Whether the writer is held back from the queue ([`WriterHold`]).
    held: Mutex<bool>,
    released: Condvar,
}

#[derive(Default)]
struct Counters {
    rows_appended: AtomicU64,
    rows_written: AtomicU64,
    rows_dropped: AtomicU64,
    rows_lost: AtomicU64,
    segments_opened: AtomicU64,
    segments_finished: AtomicU64,
    write_errors: AtomicU64,
}

/// At most one event per period, across threads.
struct Throttle {
    last_ms: AtomicI64,
}

/// Warnings of the same kind are logged at most this often.
const WARN_EVERY_MS: i64 = 10_000;

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Primary => "primary",
            Route::Canary => "canary",
            Route::Shadow => "shadow",
            Route::Fallback => "fallback",
        }
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Entry {
    /// The entry's row count: the longest of its input and output columns (the writer rejects
    /// an entry whose columns differ in length).
    pub fn n_rows(&self) -> usize {
        self.inputs.columns.iter().chain(&self.outputs.columns).map(|(_, values)| values.len()).max().unwrap_or(0)
    }
}

impl PredictionLog {
    /// Checks the settings, creates the folder, takes its lock, recovers the segments a crashed
    /// process left open, and starts the writer thread.
    pub fn start(settings: LogSettings) -> Result<Self, LogError> {
        Self::spawn(settings, false)
    }

    /// [`PredictionLog::start`], with the writer held back from the queue until the returned
    /// [`WriterHold`] is released or dropped: entries appended meanwhile wait in the queue (or
    /// are dropped when it is full), which makes the queue bound observable in tests.
    #[doc(hidden)]
    pub fn start_held(settings: LogSettings) -> Result<(Self, WriterHold), LogError> {
        let log = Self::spawn(settings, true)?;
        let hold = WriterHold { shared: Arc::clone(&log.shared) };
        Ok((log, hold))
    }

    /// Queues the entry's rows for the writer; never blocks. When the queue has no room for
    /// all of them the rows are dropped and counted (with a warning at most every 10 s).
    pub fn append(&self, entry: Entry) {
        let n_rows = entry.n_rows();
        if n_rows == 0 {
            return;
        }
        let counters = &self.shared.counters;
        let reserved = self.shared.queued_rows.fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
            queued.checked_add(n_rows).filter(|total| *total <= self.shared.settings.queue_rows)
        });
        let sent = match (&self.sender, reserved) {
            (Some(sender), Ok(_)) => match sender.send(entry) {
                Ok(()) => true,
                Err(_) => {
                    self.shared.queued_rows.fetch_sub(n_rows, Ordering::AcqRel);
                    false
                }
            },
            _ => false,
        };
        if sent {
            counters.rows_appended.fetch_add(n_rows as u64, Ordering::Relaxed);
            return;
        }
        let dropped = counters.rows_dropped.fetch_add(n_rows as u64, Ordering::Relaxed) + n_rows as u64;
        if self.shared.drop_warning.ready() {
            tracing::warn!(
                dir = %self.shared.settings.dir.display(),
                rows_dropped = dropped,
                queue_rows = self.shared.settings.queue_rows,
                "prediction log queue full: rows dropped; raise serving.log.queue_rows or check the disk"
            );
        }
    }

    /// The counters now.
    pub fn stats(&self) -> LogStats {
        self.shared.stats()
    }

    /// The segments a crashed process had left open, as recovered by [`PredictionLog::start`].
    pub fn recovered(&self) -> &[Recovered] {
        &self.recovered
    }

    /// The log's folder.
    pub fn dir(&self) -> &Path {
        &self.shared.settings.dir
    }

    /// Drains the queue, flushes every buffer and finishes every open segment. It waits for
    /// the writer (from async code, call it on a blocking thread); the error is the first
    /// segment that could not be finished, the other failures are counted in the stats.
    pub fn close(mut self) -> Result<LogStats, LogError> {
        self.shut_down()?;
        Ok(self.stats())
    }

    fn spawn(settings: LogSettings, held: bool) -> Result<Self, LogError> {
        settings.validate()?;
        std::fs::create_dir_all(&settings.dir)
            .map_err(|source| LogError::CreateDir { dir: settings.dir.clone(), source })?;
        segment::probe_writable(&settings.dir)
            .map_err(|source| LogError::NotWritable { dir: settings.dir.clone(), source })?;
        let lock = match segment::lock_folder(&settings.dir) {
            Ok(Some(lock)) => lock,
            Ok(None) => return Err(LogError::Locked { dir: settings.dir.clone() }),
            Err(source) => return Err(LogError::NotWritable { dir: settings.dir.clone(), source }),
        };
        let recovered = recover::recover_dir(&settings.dir)?;
        let shared = Arc::new(Shared {
            settings,
            queued_rows: AtomicUsize::new(0),
            counters: Counters::default(),
            drop_warning: Throttle::new(),
            held: Mutex::new(held),
            released: Condvar::new(),
        });
        let (sender, receiver) = mpsc::channel();
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("kiln-predlog".to_owned())
            .spawn(move || {
                writer_shared.wait_until_released();
                let result = writer::run(&writer_shared, &receiver);
                drop(lock);
                result
            })
            .map_err(|source| LogError::SpawnWriter { source })?;
        Ok(Self { sender: Some(sender), writer: Some(writer), shared, recovered })
    }

    fn shut_down(&mut self) -> Result<(), LogError> {
        drop(self.sender.take());
        self.shared.release();
        match self.writer.take() {
            Some(writer) => writer.join().map_err(|_| LogError::WriterPanicked)?,
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for PredictionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PredictionLog")
            .field("dir", &self.shared.settings.dir)
            .field("stats", &self.stats())
            .field("recovered", &self.recovered.len())
            .finish()
    }
}

impl Drop for PredictionLog {
    fn drop(&mut self) {
        if let Err(error) = self.shut_down() {
            tracing::warn!(error = %error, "the prediction log did not close cleanly");
        }
    }
}

impl std::fmt::Debug for WriterHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterHold").field("dir", &self.shared.settings.dir).finish()
    }
}

impl WriterHold {
    /// Lets the writer take entries from the queue.
    pub fn release(self) {
        self.shared.release();
    }
}

impl Drop for WriterHold {
    fn drop(&mut self) {
        self.shared.release();
    }
}

impl Shared {
    fn release(&self) {
        *self.held.lock().unwrap_or_else(PoisonError::into_inner) = false;
        self.released.notify_all();
    }

    fn wait_until_released(&self) {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        drop(self.released.wait_while(held, |held| *held).unwrap_or_else(PoisonError::into_inner));
    }

    fn stats(&self) -> LogStats {
        let c = &self.counters;
        LogStats {
            rows_appended: c.rows_appended.load(Ordering::Relaxed),
            rows_queued: self.queued_rows.load(Ordering::Relaxed) as u64,
            rows_written: c.rows_written.load(Ordering::Relaxed),
            rows_dropped: c.rows_dropped.load(Ordering::Relaxed),
            rows_lost: c.rows_lost.load(Ordering::Relaxed),
            segments_opened: c.segments_opened.load(Ordering::Relaxed),
            segments_finished: c.segments_finished.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
        }
    }
}

impl Throttle {
    fn new() -> Self {
        Self { last_ms: AtomicI64::new(i64::MIN) }
    }

    /// Whether an event may happen now; at most one per [`WARN_EVERY_MS`].
    fn ready(&self) -> bool {
        let now = kiln_track::now_ms();
        let last = self.last_ms.load(Ordering::Relaxed);
        now.saturating_sub(last) >= WARN_EVERY_MS
            && self.last_ms.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }
}

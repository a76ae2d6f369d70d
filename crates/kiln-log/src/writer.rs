//! The writer thread: takes entries from the queue, buffers their rows per model version,
//! flushes by row count and interval, and rotates segments by rows, age and schema. It is the
//! only code that touches segment files while the log runs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;

use super::layout::Buffer;
use super::segment::Segment;
use super::{Entry, LogError, SegmentError, Shared, Throttle};

/// Runs until every sender is gone and the queue is drained, then flushes every buffer and
/// finishes every segment; returns the first failure to finish one.
pub(super) fn run(shared: &Shared, receiver: &Receiver<Entry>) -> Result<(), LogError> {
    let mut writer = Writer::new(shared);
    loop {
        let received = match writer.next_deadline() {
            None => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(deadline) => receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())),
        };
        match received {
            Ok(entry) => {
                shared.queued_rows.fetch_sub(entry.n_rows(), Ordering::AcqRel);
                writer.take(&entry);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        writer.tick(Instant::now());
    }
    writer.close()
}

struct Writer<'a> {
    shared: &'a Shared,
    versions: HashMap<(String, i64), VersionLog>,
    flush_interval: Duration,
    segment_age: Duration,
    error_warning: Throttle,
}

/// The buffer and open segment of one model version.
struct VersionLog {
    folder: PathBuf,
    buffer: Option<Buffer>,
    segment: Option<Segment>,
}

impl<'a> Writer<'a> {
    fn new(shared: &'a Shared) -> Self {
        Self {
            shared,
            versions: HashMap::new(),
            flush_interval: Duration::from_millis(shared.settings.flush_interval_ms),
            segment_age: Duration::from_secs(shared.settings.segment_seconds),
            error_warning: Throttle::new(),
        }
    }

    /// The earliest time a buffer is due to be flushed or a segment to be finished.
    fn next_deadline(&self) -> Option<Instant> {
        self.versions
            .values()
            .flat_map(|log| {
                let flush =
                    log.buffer.as_ref().and_then(Buffer::since).and_then(|since| due(since, self.flush_interval));
                let finish = log.segment.as_ref().and_then(|segment| due(segment.opened(), self.segment_age));
                [flush, finish]
            })
            .flatten()
            .min()
    }

    /// Buffers the entry's rows, flushing first when its columns differ from the buffered
    /// ones and after when the buffer reaches `flush_rows`.
    fn take(&mut self, entry: &Entry) {
        if !is_folder_name(&entry.model) {
            let reason = format!("the model name {:?} cannot name a folder of the log", entry.model);
            self.lose(entry.n_rows(), &reason);
            return;
        }
        let key = (entry.model.clone(), entry.version);
        let mut log = self.versions.remove(&key).unwrap_or_else(|| VersionLog {
            folder: self.shared.settings.dir.join(&entry.model).join(format!("v{}", entry.version)),
            buffer: None,
            segment: None,
        });
        if log.buffer.as_ref().is_some_and(|buffer| !buffer.fits(entry)) {
            self.flush(&mut log);
            log.buffer = None;
        }
        let buffer = log.buffer.get_or_insert_with(|| Buffer::for_entry(entry));
        match buffer.push(entry, Instant::now()) {
            Ok(()) if buffer.rows() >= self.shared.settings.flush_rows => self.flush(&mut log),
            Ok(()) => {}
            Err(reject) => {
                let reason = format!("request {}: {}", entry.request_id, reject.describe());
                self.lose(entry.n_rows(), &reason);
            }
        }
        self.versions.insert(key, log);
    }

    /// Flushes the buffers that are due and finishes the segments that are old enough.
    fn tick(&mut self, now: Instant) {
        let mut versions = std::mem::take(&mut self.versions);
        for log in versions.values_mut() {
            let flush_at =
                log.buffer.as_ref().and_then(Buffer::since).and_then(|since| due(since, self.flush_interval));
            if flush_at.is_some_and(|at| now >= at) {
                self.flush(log);
            }
            let finish_at = log.segment.as_ref().and_then(|segment| due(segment.opened(), self.segment_age));
            if finish_at.is_some_and(|at| now >= at) {
                self.finish(log);
            }
        }
        // A version with nothing buffered and no open segment (one no longer served, say)
        // keeps no state.
        versions.retain(|_, log| log.segment.is_some() || log.buffer.as_ref().is_some_and(|b| b.rows() > 0));
        self.versions = versions;
    }

    fn close(mut self) -> Result<(), LogError> {
        let mut first_error = None;
        let mut versions = std::mem::take(&mut self.versions);
        for log in versions.values_mut() {
            self.flush(log);
            if let Some(error) = self.finish(log) {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Writes the buffered rows as one record batch.
    fn flush(&mut self, log: &mut VersionLog) {
        let Some(buffer) = log.buffer.as_mut().filter(|buffer| buffer.rows() > 0) else { return };
        let n_rows = buffer.rows();
        match buffer.take_batch() {
            Ok(batch) => self.write(log, &batch),
            Err(error) => self.fail(log, n_rows, &SegmentError::Arrow(error)),
        }
    }

    /// Appends `batch` to the version's segment, opening one when none is open and finishing
    /// it first when its schema differs or it is old, and again whenever it fills up.
    fn write(&mut self, log: &mut VersionLog, batch: &RecordBatch) {
        let shared = self.shared;
        let settings = &shared.settings;
        let mut offset = 0;
        while offset < batch.num_rows() {
            let stale = log.segment.as_ref().is_some_and(|segment| {
                segment.schema() != &batch.schema()
                    || segment.rows() >= settings.segment_rows
                    || segment.opened().elapsed() >= self.segment_age
            });
            if stale {
                self.finish(log);
            }
            let segment = match log.segment.take() {
                Some(segment) => segment,
                None => match Segment::create(&log.folder, batch.schema(), kiln_track::now_ms()) {
                    Ok(segment) => {
                        self.count(|c| &c.segments_opened, 1);
                        segment
                    }
                    Err(error) => return self.fail(log, batch.num_rows() - offset, &error),
                },
            };
            let segment = log.segment.insert(segment);
            let n_rows = (batch.num_rows() - offset).min(settings.segment_rows - segment.rows());
            if let Err(error) = segment.write(&batch.slice(offset, n_rows)) {
                return self.fail(log, batch.num_rows() - offset, &error);
            }
            self.count(|c| &c.rows_written, n_rows as u64);
            offset += n_rows;
            if log.segment.as_ref().is_some_and(|segment| segment.rows() >= settings.segment_rows) {
                self.finish(log);
            }
        }
    }

    /// Finishes the version's open segment, if any; returns the failure.
    fn finish(&mut self, log: &mut VersionLog) -> Option<LogError> {
        let segment = log.segment.take()?;
        match segment.finish() {
            Ok(_) => {
                self.count(|c| &c.segments_finished, 1);
                None
            }
            Err((path, source)) => {
                self.count(|c| &c.write_errors, 1);
                self.warn(&format!("cannot finish {}: {source}", path.display()));
                Some(LogError::Finish { path, source })
            }
        }
    }

    /// A write or open failed: the rows are lost and the segment, if open, is finished with
    /// the whole messages it holds.
    fn fail(&mut self, log: &mut VersionLog, n_rows: usize, error: &SegmentError) {
        self.count(|c| &c.write_errors, 1);
        let at = log.segment.as_ref().map_or_else(|| log.folder.clone(), |segment| segment.open_path().to_path_buf());
        self.lose(n_rows, &format!("cannot write {}: {error}", at.display()));
        self.finish(log);
    }

    fn lose(&self, n_rows: usize, reason: &str) {
        self.count(|c| &c.rows_lost, n_rows as u64);
        self.warn(&format!("prediction log rows lost: {reason}"));
    }

    fn warn(&self, message: &str) {
        if self.error_warning.ready() {
            let lost = self.shared.counters.rows_lost.load(Ordering::Relaxed);
            tracing::warn!(rows_lost = lost, dir = %self.shared.settings.dir.display(), "{message}");
        }
    }

    fn count(&self, counter: impl Fn(&super::Counters) -> &std::sync::atomic::AtomicU64, n: u64) {
        counter(&self.shared.counters).fetch_add(n, Ordering::Relaxed);
    }
}

/// `after` past `start`; `None` (never) past the clock's range.
fn due(start: Instant, after: Duration) -> Option<Instant> {
    start.checked_add(after)
}

/// Whether a model name can name a folder: the registry's names (letters, digits, `-`, `_`,
/// `.`), neither `.` nor `..`.
fn is_folder_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

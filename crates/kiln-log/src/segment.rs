//! One segment file: created with its schema message already in it, appended one whole record
//! batch message at a time, and finished (end-of-stream marker, fsync, rename from
//! `.arrows.open` to `.arrows`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow_array::RecordBatch;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::SchemaRef;

use super::SegmentError;

/// The suffix of a finished segment.
pub(super) const FINISHED: &str = ".arrows";
/// The suffix of a segment being written.
pub(super) const OPEN: &str = ".arrows.open";
/// The end-of-stream marker of the Arrow IPC stream format: a continuation and a zero length.
pub(super) const END_OF_STREAM: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];

/// The lock file of a log folder.
const LOCK: &str = ".kiln-predlog.lock";

/// Segments opened in the same second of a folder are numbered up to this.
const MAX_SEQ: u32 = 10_000;

/// A segment being written.
pub(super) struct Segment {
    open_path: PathBuf,
    finished_path: PathBuf,
    file: File,
    /// Encodes each message into memory, so that the file gets it in one `write_all`.
    encoder: StreamWriter<Vec<u8>>,
    schema: SchemaRef,
    rows: usize,
    /// Bytes of whole messages in the file.
    len: u64,
    opened: Instant,
}

impl Segment {
    /// Creates `<folder>/<stamp>-<seq>.arrows.open` holding the schema message, where the
    /// stamp is the UTC time `now_ms` (`20261206T081500Z`) and seq the first free number.
    pub(super) fn create(folder: &Path, schema: SchemaRef, now_ms: i64) -> Result<Self, SegmentError> {
        std::fs::create_dir_all(folder)?;
        let mut encoder = StreamWriter::try_new(Vec::new(), &schema)?;
        let header = std::mem::take(encoder.get_mut());
        let (open_path, finished_path) = free_name(folder, &utc_stamp(now_ms))?;
        kiln_core::atomic::write_bytes(&open_path, &header)?;
        let file = OpenOptions::new().append(true).open(&open_path)?;
        Ok(Self {
            open_path,
            finished_path,
            file,
            encoder,
            schema,
            rows: 0,
            len: header.len() as u64,
            opened: Instant::now(),
        })
    }

    pub(super) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub(super) fn rows(&self) -> usize {
        self.rows
    }

    pub(super) fn opened(&self) -> Instant {
        self.opened
    }

    pub(super) fn open_path(&self) -> &Path {
        &self.open_path
    }

    /// Appends `batch` as one message and flushes it to the file. On failure the file is cut
    /// back to its last whole message.
    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<(), SegmentError> {
        let encoded = self.encoder.write(batch);
        let bytes = std::mem::take(self.encoder.get_mut());
        encoded?;
        self.append(&bytes)?;
        self.rows += batch.num_rows();
        Ok(())
    }

    /// Writes the end-of-stream marker, syncs the file and renames it to `.arrows`; returns
    /// the finished path.
    pub(super) fn finish(mut self) -> Result<PathBuf, (PathBuf, SegmentError)> {
        let open_path = self.open_path.clone();
        self.finish_in_place().map_err(|error| (open_path, error))
    }

    fn finish_in_place(&mut self) -> Result<PathBuf, SegmentError> {
        let encoded = self.encoder.finish();
        let bytes = std::mem::take(self.encoder.get_mut());
        encoded?;
        self.append(&bytes)?;
        self.file.sync_all()?;
        std::fs::rename(&self.open_path, &self.finished_path)?;
        sync_folder(&self.finished_path)?;
        Ok(self.finished_path.clone())
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), SegmentError> {
        let written = self.file.write_all(bytes).and_then(|()| self.file.flush());
        if let Err(error) = written {
            // Best effort: a failed cut leaves a torn tail, which the next start cuts instead.
            let _ = self.file.set_len(self.len);
            return Err(error.into());
        }
        self.len += bytes.len() as u64;
        Ok(())
    }
}

/// `20261206T081500Z` for 2026-12-06 08:15:00 UTC (milliseconds dropped).
pub(super) fn utc_stamp(unix_ms: i64) -> String {
    let rfc3339 = kiln_track::format_rfc3339(unix_ms);
    let seconds = rfc3339.split('.').next().unwrap_or(&rfc3339);
    let mut stamp: String = seconds.chars().filter(|c| *c != '-' && *c != ':').collect();
    stamp.push('Z');
    stamp
}

/// The first `<stamp>-<seq>` of `folder` with neither a finished nor an open segment.
fn free_name(folder: &Path, stamp: &str) -> std::io::Result<(PathBuf, PathBuf)> {
    for seq in 0..MAX_SEQ {
        let base = format!("{stamp}-{seq:04}");
        let open = folder.join(format!("{base}{OPEN}"));
        let finished = folder.join(format!("{base}{FINISHED}"));
        if !open.try_exists()? && !finished.try_exists()? {
            return Ok((open, finished));
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!("{MAX_SEQ} segments already start at {stamp} in {}", folder.display()),
    ))
}

/// Syncs the folder holding `path`, so that a rename in it survives a power loss.
pub(super) fn sync_folder(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    if let Some(folder) = path.parent() {
        File::open(folder)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Takes the folder's exclusive lock (`.kiln-predlog.lock`); `None` when another log holds it.
/// The lock lasts as long as the returned file is open. On a file system without locks the
/// folder is used unlocked, with a warning.
pub(super) fn lock_folder(dir: &Path) -> std::io::Result<Option<File>> {
    let lock = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(LOCK))?;
    match lock.try_lock() {
        Ok(()) => Ok(Some(lock)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(error)) if error.kind() == std::io::ErrorKind::Unsupported => {
            tracing::warn!(
                dir = %dir.display(),
                "the prediction log folder cannot be locked here: make sure one server alone writes it"
            );
            Ok(Some(lock))
        }
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    }
}

/// Fails unless a file can be created (and removed) in `dir`.
pub(super) fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(".kiln-predlog-probe");
    kiln_core::atomic::write_bytes(&probe, b"")?;
    std::fs::remove_file(&probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_compact_utc_seconds() {
        // 2026-12-06T08:15:00.123Z: 20,793 days after 1970-01-01, then 8 h 15 min.
        let ms = (20_793 * 86_400 + 8 * 3600 + 15 * 60) * 1000 + 123;
        assert_eq!(utc_stamp(ms), "20261206T081500Z");
        assert_eq!(utc_stamp(0), "19700101T000000Z");
    }
}

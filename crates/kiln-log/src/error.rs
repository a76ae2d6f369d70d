//! The prediction log's errors: starting it (settings, folder, lock, recovery, thread) and
//! finishing its segments.

use std::path::PathBuf;

/// What went wrong starting or closing the log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(
        "serving.log.{key} = {value} is not allowed: it must be at least {min}\nhint: set it to {min} or more in serve.toml"
    )]
    Setting { key: &'static str, value: u64, min: u64 },
    #[error(
        "cannot create the prediction log folder {}: {source}\nhint: point serving.log.dir at a folder the server may write", dir.display()
    )]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot write in the prediction log folder {}: {source}\nhint: give the server write access to it or point serving.log.dir elsewhere", dir.display()
    )]
    NotWritable {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the prediction log folder {} is already written by another running log\nhint: give each server its own serving.log.dir", dir.display()
    )]
    Locked { dir: PathBuf },
    #[error(
        "cannot recover the unfinished prediction log segment {}: {source}\nhint: let the server read and write it, or move it out of serving.log.dir", path.display()
    )]
    Recover {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the prediction log writer thread: {source}")]
    SpawnWriter {
        #[source]
        source: std::io::Error,
    },
    #[error("cannot finish the prediction log segment {}: {source}", path.display())]
    Finish {
        path: PathBuf,
        #[source]
        source: SegmentError,
    },
    #[error("the prediction log writer thread panicked; unfinished segments are recovered on the next start")]
    WriterPanicked,
}

/// A failure writing a segment file.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("arrow ipc: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

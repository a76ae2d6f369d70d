//! The crate's error type: one variant per thing that can fail while exporting, each naming the
//! tracking server's URL (and the kiln run, model or file it was about) and saying what to check.

use std::path::PathBuf;

/// Result with this crate's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while exporting kiln's runs to MLflow.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The tracking server's address is not a usable `http://host:port` URL.
    #[error(
        "{url} is not an MLflow tracking server URL: {reason}\nhint: pass the address `mlflow server` listens on, e.g. http://127.0.0.1:5000"
    )]
    BadUrl { url: String, reason: &'static str },
    /// Nothing answered at the address (refused, unknown host, timed out).
    #[error(
        "cannot reach the MLflow tracking server at {url} ({endpoint})\nhint: check that `mlflow server` is running and listens on that host and port"
    )]
    Unreachable {
        url: String,
        endpoint: String,
        #[source]
        source: ureq::Error,
    },
    /// Something answered, but not as an MLflow tracking server does.
    #[error(
        "{url} did not answer {endpoint} as an MLflow tracking server does (HTTP {status}, {what})\nhint: check that the URL is the tracking server's own address (no path after the port) and that it runs MLflow 2 or 3"
    )]
    NotMlflow { url: String, endpoint: String, status: u16, what: String },
    /// The tracking server answered a request with an MLflow error.
    #[error("the MLflow tracking server at {url} refused to {action}: HTTP {status} {code}: {message}\nhint: {hint}")]
    Refused { url: String, action: String, status: u16, code: String, message: String, hint: &'static str },
    /// The project's experiment exists in MLflow but was deleted, so it takes no runs.
    #[error(
        "the experiment {name:?} on the MLflow tracking server at {url} is deleted and takes no runs\nhint: restore it (`mlflow experiments restore --experiment-id {experiment_id}`) or remove it for good (`mlflow gc`), then export again"
    )]
    DeletedExperiment { url: String, name: String, experiment_id: String },
    /// A file to upload exists but could not be read.
    #[error("reading {path} to upload it to {url}")]
    ReadArtifact {
        url: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A run named for export is not in the kiln store, or the store could not be read.
    #[error("reading kiln's tracking store")]
    Store(#[from] kiln_track::Error),
}

//! Errors: [`Error`] for what stops the server starting or a model loading, [`ApiError`] for
//! a request's answer (a 4xx for the client's mistakes, with a JSON body that names the column,
//! row and fix; a 5xx only for the server's own failures).

use std::path::PathBuf;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kiln_core::rows::RowReport;
use serde::Serialize;

/// Why the server could not start, or a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the serving config {path}: {source}")]
    ReadConfig { path: PathBuf, source: std::io::Error },
    #[error("the serving config {path} is not valid: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{0}")]
    Settings(String),
    #[error("`{text}` is not a model reference; write NAME@ALIAS (adult@champion), NAME@vN or NAME@N (adult@v3)")]
    ModelRef { text: String },
    #[error("there is no model store at {path}; run `kiln run` in the project folder first, or pass --store")]
    NoStore { path: PathBuf },
    #[error("the model store {path} cannot be opened: {source}; run `kiln run` first or pass --store")]
    Store { path: PathBuf, source: Box<kiln_track::Error> },
    #[error("the registry has no `{reference}`: {source}; see `kiln models list`")]
    Registry { reference: String, source: Box<kiln_track::Error> },
    #[error("cannot read the active rollout of `{name}` from the model store: {source}")]
    Rollout { name: String, source: Box<kiln_track::Error> },
    #[error("cannot read the bundle {path} of {reference}: {source}")]
    ReadBundle { reference: String, path: PathBuf, source: std::io::Error },
    #[error(
        "the bundle {path} of {reference} has SHA-256 {found}, but the registry recorded {expected}; \
         the file was changed after it was registered: export and register it again"
    )]
    Checksum { reference: String, path: PathBuf, expected: String, found: String },
    #[error("the bundle {path} of {reference} cannot be served: {source}")]
    Bundle { reference: String, path: PathBuf, source: Box<kiln_core::Error> },
    #[error("the fallback of `{model}` cannot be served: {message}")]
    Fallback { model: String, message: String },
    #[error("cannot listen on {bind}: {source}; pick another address with --bind")]
    Bind { bind: String, source: std::io::Error },
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
    #[error("the prediction log cannot start: {0}")]
    Log(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A request's error answer: its status and a JSON body
/// `{"error": {"kind", "message", "fix", "problems"?}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Boxed: answers are built on the error path only, and results stay small.
    pub body: Box<ErrorBody>,
    /// Seconds a client should wait before trying again (503).
    pub retry_after: Option<u64>,
}

/// The JSON body of an error answer.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// A stable, machine-readable kind: `bad_json`, `invalid_rows`, `unknown_model`, ...
    pub kind: &'static str,
    pub message: String,
    /// What the client should do about it.
    pub fix: String,
    /// For rows that cannot be scored: every problem with its column, count and rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<RowReport>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        let body = Box::new(ErrorBody { kind, message: message.into(), fix: fix.into(), rows: None });
        Self { status, body, retry_after: None }
    }

    /// 400: the request's JSON does not have the protocol's shape.
    pub fn bad_request(message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message, fix)
    }

    /// 422: rows that cannot be scored, with the check's report.
    pub fn invalid_rows(report: RowReport) -> Self {
        let mut error = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_rows",
            report.to_string(),
            "send every feature column of the model's schema (GET /v2/models/{name}), each of its declared \
             type, numbers finite, and no column the schema does not have",
        );
        error.body.rows = Some(report);
        error
    }

    /// 404: no such model or version.
    pub fn unknown_model(message: impl Into<String>, served: &[String]) -> Self {
        let fix = format!("call one of the served models: {}", served.join(", "));
        Self::new(StatusCode::NOT_FOUND, "unknown_model", message, fix)
    }

    /// 503 with `Retry-After`: the server is at its limits.
    pub fn overloaded(message: impl Into<String>) -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            message,
            "retry after the number of seconds in Retry-After, or send fewer requests at once",
        );
        error.retry_after = Some(1);
        error
    }

    /// 500: the server's own failure, not the client's.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            message,
            "this is the server's fault: retry, and report it with the request id if it persists",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Wrapper {
            error: ErrorBody,
        }
        let mut response = (self.status, Json(Wrapper { error: *self.body })).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

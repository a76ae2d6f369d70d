//! kiln-core's error type.

/// Errors from kiln-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("column `{column}` is missing from the input")]
    MissingColumn { column: String },
    #[error("column `{column}` must be {expected}")]
    ColumnKind { column: String, expected: &'static str },
    #[error("column `{column}` has {found} rows, expected {expected}")]
    LengthMismatch { column: String, expected: usize, found: usize },
    #[error("cannot read the {what} JSON")]
    Deserialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// kiln-core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

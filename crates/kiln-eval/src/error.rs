//! kiln-eval's errors.

/// Everything that can go wrong while evaluating.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting in `[evaluation]` or `[acceptance]`, or a slice, does not fit the data.
    #[error("{0}")]
    Config(String),
    /// Inputs of different lengths or shapes.
    #[error("{0}")]
    Shape(String),
    /// A report could not be written.
    #[error("writing {path}: {source}")]
    Write { path: std::path::PathBuf, source: std::io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

//! kiln-monitor's errors: inputs that do not fit the reference or each other, each naming the
//! column or key and saying how to fix it.

/// Everything that can go wrong while checking data for drift.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two columns that must have the same length do not.
    #[error("column `{column}` has {found} values where {expected} were expected\nhint: pass columns of the same rows")]
    LengthMismatch { column: String, expected: usize, found: usize },
}

/// kiln-monitor's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

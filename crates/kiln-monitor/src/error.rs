//! kiln-monitor's errors: inputs that do not fit the reference or each other, each naming the
//! column or key and saying how to fix it.

/// Everything that can go wrong while checking data for drift.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two columns that must have the same length do not.
    #[error("column `{column}` has {found} values where {expected} were expected\nhint: pass columns of the same rows")]
    LengthMismatch { column: String, expected: usize, found: usize },

    /// A window or reference has no rows to work on.
    #[error("`{column}` has no rows\nhint: pass a window with at least one scored row")]
    EmptyColumn { column: String },

    /// A score is NaN or infinite, so it has no place in the ranking.
    #[error(
        "`{column}` has the non-finite value {value} at row {row}\nhint: drop or impute the rows whose model score is missing before estimating performance"
    )]
    NonFiniteScore { column: String, row: usize, value: f64 },

    /// Calibration needs both classes among the reference labels.
    #[error(
        "all {n_rows} reference labels are {class}, so scores cannot be calibrated against them\nhint: calibrate on the test split of a model trained on both classes"
    )]
    SingleClassReference { class: &'static str, n_rows: usize },

    /// A window too large for exact pair counts.
    #[error(
        "`{column}` has {n_rows} rows, more than the 4294967295 one window can hold\nhint: split the data into smaller windows (by time or row count)"
    )]
    WindowTooLarge { column: String, n_rows: usize },

    /// A setting of performance estimation is out of its range.
    #[error("`{key}` is {value}, expected {expected}\nhint: fix `{key}` in the [monitoring] section of the config")]
    InvalidSetting { key: String, value: String, expected: String },

    /// A stored calibrator does not describe a non-decreasing map of scores to probabilities.
    #[error(
        "the stored score calibration is invalid: {reason}\nhint: train the model again with `kiln train` so that the bundle stores a freshly fitted calibration"
    )]
    InvalidCalibration { reason: String },
}

/// kiln-monitor's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

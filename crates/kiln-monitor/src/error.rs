//! kiln-monitor's errors: inputs that do not fit the reference or each other, each naming the
//! column or key and saying how to fix it.

/// Everything that can go wrong while checking data for drift.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two columns that must have the same length do not.
    #[error("column `{column}` has {found} values where {expected} were expected\nhint: pass columns of the same rows")]
    LengthMismatch { column: String, expected: usize, found: usize },
    /// A `[monitoring]` key that does not fit.
    #[error("{key}: {problem}")]
    Config { key: String, problem: String },
    /// A feature the current rows lack, or a configured name that is not a feature.
    #[error("unknown feature `{column}`\nhint: {hint}")]
    UnknownFeature { column: String, hint: &'static str },
    /// A feature with no value at all in a window.
    #[error(
        "feature `{column}` has no value in the window's {rows} rows (every value is missing)\nhint: check the data's missing-value markers and the column's name, or leave the feature out with `[monitoring.features.{column}] skip = true`"
    )]
    AllMissing { column: String, rows: u64 },
    /// A feature that is numeric on one side and categorical on the other.
    #[error(
        "feature `{column}` is numeric on one side and categorical on the other\nhint: give the current rows the column's type from the reference"
    )]
    KindMismatch { column: String },
    /// A bundle without monitoring sketches.
    #[error(
        "the bundle holds no monitoring references (it was written by an older kiln)\nhint: export the model again with `kiln run`"
    )]
    NoSketches,
    /// A bundle's calibration map that does not read back.
    #[error("the bundle's calibration map is not valid: {problem}\nhint: export the model again with `kiln run`")]
    Calibration { problem: String },
    /// No rows to check.
    #[error("there are no current rows to check\nhint: give a data file with rows, or widen `--since`")]
    EmptyWindow,
    /// A sample with no values to test.
    #[error(
        "column `{column}` has no {side} values to test\nhint: drop missing values before testing, and test a column only when both sides have values"
    )]
    EmptySample { column: String, side: &'static str },
    /// A NaN or infinite value where finite values are required.
    #[error(
        "column `{column}` has a non-finite {side} value at position {index}\nhint: drop missing and infinite values before testing (they are not a category for the drift tests)"
    )]
    NonFinite { column: String, side: &'static str, index: usize },
    /// Values that must be sorted ascending are not.
    #[error(
        "column `{column}`: the {side} values are not sorted ascending at position {index}\nhint: sort the finite values before testing"
    )]
    Unsorted { column: String, side: &'static str, index: usize },
    /// A reference sketch that cannot describe a sample.
    #[error(
        "column `{column}`: the {side} sketch {problem}\nhint: rebuild the reference sketch from the training data"
    )]
    InvalidSketch { column: String, side: &'static str, problem: &'static str },
    /// A drift test name kiln does not know.
    #[error("unknown drift test `{name}`\nhint: choose one of {choices}")]
    UnknownStatTest { name: String, choices: String },
    /// A drift test that cannot run on this column.
    #[error("drift test `{test}` cannot test {kind} column `{column}`\nhint: {hint}")]
    TestNotForColumn { column: String, test: &'static str, kind: crate::stats::FeatureKind, hint: &'static str },
    /// A threshold that is negative or not a number.
    #[error(
        "column `{column}`: threshold {threshold} for drift test `{test}` is not a finite number >= 0\nhint: give a p-value level such as 0.05 or a distance such as 0.1"
    )]
    InvalidThreshold { column: String, test: &'static str, threshold: f64 },
    /// A dataset verdict over no columns.
    #[error("no columns were tested, so there is no share of drifted columns\nhint: test at least one column")]
    NoColumns,

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

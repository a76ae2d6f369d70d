//! kiln-monitor's errors: inputs that do not fit the reference or each other, each naming the
//! column or key and saying how to fix it.

/// Everything that can go wrong while checking data for drift.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two columns that must have the same length do not.
    #[error("column `{column}` has {found} values where {expected} were expected\nhint: pass columns of the same rows")]
    LengthMismatch { column: String, expected: usize, found: usize },
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
    /// A live drift setting that cannot work.
    #[error("monitoring.{key}: {message}")]
    LiveSetting { key: &'static str, message: String },
    /// The bundle was written before references held quantile sketches.
    #[error(
        "the bundle's reference holds no quantile sketches: live drift needs a bundle exported by this kiln\nhint: train and export the model again"
    )]
    NoSketches,
    /// A setting names a feature the bundle does not know.
    #[error("monitoring.{key}: the model has no feature `{feature}` (it has {})\nhint: name one of the model's features", .known.join(", "))]
    UnknownFeature { key: &'static str, feature: String, known: Vec<String> },
}

/// kiln-monitor's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

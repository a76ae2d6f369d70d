//! kiln-eval's errors: a checked `[evaluation]` or `[acceptance]` key that does not fit, and
//! evaluation inputs that do not fit each other.

use crate::compare::CompareError;
use crate::fairness::FairnessError;

/// Everything that can go wrong while planning or running an evaluation. Config problems name
/// the key (`[evaluation] threshold`, `[[acceptance.metrics]] #2`) and say how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A metric name that kiln does not know.
    #[error("{key}: unknown metric `{name}`\nhint: use one of {choices}")]
    UnknownMetric { key: String, name: String, choices: String },
    /// A metric that does not apply to the project's task.
    #[error("{key}: metric `{name}` does not apply to a {task} task\nhint: use one of {choices}")]
    MetricNotForTask { key: String, name: String, task: &'static str, choices: String },
    /// A number outside its range.
    #[error("{key} = {value} is out of range\nhint: {expected}")]
    OutOfRange { key: String, value: f64, expected: &'static str },
    /// A slicing or fairness gate names a column that is not available for it.
    #[error("{key}: unknown column `{column}`\nhint: {hint}")]
    UnknownColumn { key: String, column: String, hint: &'static str },
    /// A `[[evaluation.slices]]` table whose keys do not fit together.
    #[error("{key}: {problem}\nhint: {hint}")]
    BadSlicing { key: String, problem: &'static str, hint: &'static str },
    /// `bands` on a column that is not numeric.
    #[error(
        "{key}: `bands` needs a numeric column, and `{column}` is not numeric\nhint: slice `{column}` by its values (leave out `bands`), or band a numeric column"
    )]
    BandsNotNumeric { key: String, column: String },
    /// A `value` slicing whose value no evaluated row has.
    #[error(
        "{key}: no evaluated row has {column} = `{value}`\nhint: check the spelling of `value` against the column's values"
    )]
    AbsentValue { key: String, column: String, value: String },
    /// A gate with neither a floor nor a ceiling.
    #[error("{key}: no bound for `{metric}`\nhint: set `min` (a floor) or `max` (a ceiling)")]
    NoBound { key: String, metric: String },
    /// A word that is not one of the allowed choices.
    #[error("{key} = \"{found}\" is not allowed\nhint: use {choices}")]
    UnknownChoice { key: String, found: String, choices: &'static str },
    /// A gate on a slicing that does not exist.
    #[error("{key}: slices names `{name}`, which is not a slicing\nhint: the slicings are: {slicings}")]
    UnknownSlicing { key: String, name: String, slicings: String },
    /// A fairness gate without a protected column to check.
    #[error("{key} needs at least one column in [columns] protected\nhint: list the columns to check in `protected`")]
    NoProtectedColumn { key: String },
    /// No rows to evaluate.
    #[error("no rows to evaluate in {data}\nhint: evaluate a file with labelled rows")]
    NoRows { data: String },
    /// An input column whose length differs from the number of rows.
    #[error("{what} has {found} values for {rows} rows")]
    Length { what: String, found: usize, rows: usize },
    /// A negative, infinite or NaN sample weight.
    #[error("row {row}: weight {weight} is not a finite non-negative number")]
    BadWeight { row: usize, weight: f64 },
    /// A model score that is NaN or infinite.
    #[error("model `{model}`: row {row} has a non-finite score {score}")]
    NonFiniteScore { model: String, row: usize, score: f64 },
    /// A class index not below the number of classes.
    #[error("row {row}: class index {class} is not below {n_classes}")]
    ClassIndex { row: usize, class: u32, n_classes: usize },
    /// Fairness metrics of one model on one protected column.
    #[error("fairness of model `{model}` on `{column}`")]
    Fairness {
        model: String,
        column: String,
        #[source]
        source: FairnessError,
    },
    /// The comparison of a model with the best baseline.
    #[error("comparing `{model}` with `{baseline}`")]
    Compare {
        model: String,
        baseline: String,
        #[source]
        source: CompareError,
    },
}

impl Error {
    /// The config key a config problem names (`[evaluation] threshold`, `[[evaluation.slices]] #1`);
    /// `None` for problems of the evaluated data.
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::UnknownMetric { key, .. }
            | Error::MetricNotForTask { key, .. }
            | Error::OutOfRange { key, .. }
            | Error::UnknownColumn { key, .. }
            | Error::BadSlicing { key, .. }
            | Error::BandsNotNumeric { key, .. }
            | Error::AbsentValue { key, .. }
            | Error::NoBound { key, .. }
            | Error::UnknownChoice { key, .. }
            | Error::UnknownSlicing { key, .. }
            | Error::NoProtectedColumn { key } => Some(key),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

//! Drift statistics between a reference and a current sample, each equal to its reference
//! implementation (scipy, and Evidently where Evidently defines the statistic): KS,
//! Wasserstein, PSI, Jensen-Shannon, chi-squared, Hellinger and the Z-test, Evidently's default
//! choice among them, per-column thresholds, and the share of drifted columns.
//!
//! Numeric samples come as sorted finite values or as a reference sketch ([`Sample`]);
//! categories as counts aligned over the union of keys ([`AlignedCounts`]). Every pass is a
//! merge over sorted inputs (KS and Wasserstein split it over rayon's threads); nothing
//! allocates in proportion to the sample except the value counts of a numeric column tested
//! by its values (chi-squared or Z), which hold one count per distinct value.
//!
//! Entry point: [`test_column`] runs one test (or Evidently's default choice) on one column
//! with its threshold; [`dataset_drift`] turns the columns' verdicts into the dataset's.

pub mod binning;
pub mod categorical;
pub mod counts;
pub mod divergence;
pub mod kolmogorov;
pub mod ks;
mod merge;
pub mod sample;
pub mod special;
pub mod stattest;
pub mod sum;
pub mod wasserstein;

use serde::Serialize;

pub use counts::AlignedCounts;
pub use sample::{Sample, Sketch};
pub use stattest::{FeatureKind, ScoreKind, StatTest};

use crate::error::{Error, Result};

/// One column's two sides.
#[derive(Debug, Clone, Copy)]
pub enum Inputs<'a> {
    /// A numeric column.
    Numeric {
        /// The reference sample.
        reference: Sample<'a>,
        /// The current sample.
        current: Sample<'a>,
    },
    /// A categorical column.
    Categorical(&'a AlignedCounts),
}

impl Inputs<'_> {
    /// The column's kind.
    pub fn kind(&self) -> FeatureKind {
        match self {
            Inputs::Numeric { .. } => FeatureKind::Numeric,
            Inputs::Categorical(_) => FeatureKind::Categorical,
        }
    }

    /// Number of reference values.
    pub fn reference_rows(&self) -> u64 {
        match self {
            Inputs::Numeric { reference, .. } => reference.count(),
            Inputs::Categorical(counts) => counts.reference_total(),
        }
    }

    /// Number of distinct values of both sides together, counted no further than `cap`; a
    /// sketch stands for a continuous column (`cap`): store a low-cardinality numeric column
    /// as counts instead.
    pub fn n_distinct_up_to(&self, cap: usize) -> usize {
        match self {
            Inputs::Numeric { reference: Sample::Sorted(r), current: Sample::Sorted(c) } => {
                counts::distinct_union_sorted_up_to(r, c, cap)
            }
            Inputs::Numeric { .. } => cap,
            Inputs::Categorical(counts) => counts.n_keys().min(cap),
        }
    }

    /// Evidently's default test for this column (which only asks whether there are more than
    /// 5 distinct values, so the count stops at 6).
    pub fn default_test(&self) -> StatTest {
        StatTest::default_for(self.kind(), self.reference_rows(), self.n_distinct_up_to(6))
    }

    fn check(&self, column: &str) -> Result<()> {
        match self {
            Inputs::Numeric { reference, current } => {
                reference.check(column, "reference")?;
                current.check(column, "current")
            }
            Inputs::Categorical(counts) => counts.check(column),
        }
    }
}

/// A test's outcome on one column.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StatResult {
    /// The test run.
    pub test: StatTest,
    /// The test statistic: KS's D, chi-squared, z, or the distance itself.
    pub statistic: f64,
    /// The p-value of the p-value tests.
    pub p_value: Option<f64>,
    /// What the threshold is compared with: the p-value or the distance (Evidently's
    /// drift score).
    pub score: f64,
    /// The threshold used.
    pub threshold: f64,
    /// Whether the column drifted by the test's rule.
    pub drifted: bool,
}

/// How to test one column: a test (else Evidently's default choice) and a threshold (else the
/// test's default).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ColumnOptions {
    /// The test to run.
    pub test: Option<StatTest>,
    /// The threshold to use.
    pub threshold: Option<f64>,
}

/// Tests one column as `options` say; `column` names it in errors.
pub fn test_column(inputs: &Inputs<'_>, column: &str, options: ColumnOptions) -> Result<StatResult> {
    inputs.check(column)?;
    let test = options.test.unwrap_or_else(|| inputs.default_test());
    let threshold = options.threshold.unwrap_or_else(|| test.default_threshold());
    if !(threshold.is_finite() && threshold >= 0.0) {
        return Err(Error::InvalidThreshold { column: column.to_string(), test: test.name(), threshold });
    }
    let (statistic, p_value) = compute(test, inputs, column)?;
    let score = p_value.unwrap_or(statistic);
    Ok(StatResult { test, statistic, p_value, score, threshold, drifted: test.drifted(score, threshold) })
}

/// The statistic and p-value (for the p-value tests) of `test` on checked inputs.
fn compute(test: StatTest, inputs: &Inputs<'_>, column: &str) -> Result<(f64, Option<f64>)> {
    let not_for = |hint: &'static str| Error::TestNotForColumn {
        column: column.to_string(),
        test: test.name(),
        kind: inputs.kind(),
        hint,
    };
    let value = match (test, inputs) {
        (StatTest::Ks, Inputs::Numeric { reference, current }) => {
            let result = ks::ks_2samp(reference, current);
            return Ok((result.statistic, Some(result.p_value)));
        }
        (StatTest::Wasserstein, Inputs::Numeric { reference, current }) => {
            wasserstein::wasserstein_normed(reference, current)
        }
        (StatTest::Psi, Inputs::Numeric { reference, current }) => divergence::psi_numeric(reference, current),
        (StatTest::Psi, Inputs::Categorical(counts)) => divergence::psi_counts(counts),
        (StatTest::JensenShannon, Inputs::Numeric { reference, current }) => {
            divergence::jensenshannon_numeric(reference, current)
        }
        (StatTest::JensenShannon, Inputs::Categorical(counts)) => divergence::jensenshannon_counts(counts),
        (StatTest::Hellinger, Inputs::Numeric { reference, current }) => {
            divergence::hellinger_numeric(reference, current)
        }
        (StatTest::Hellinger, Inputs::Categorical(counts)) => divergence::hellinger_counts(counts),
        (StatTest::ChiSquare | StatTest::Z, Inputs::Numeric { reference, current }) => {
            let (Sample::Sorted(r), Sample::Sorted(c)) = (reference, current) else {
                return Err(not_for("a sketch has no value counts: store the column's counts and test those"));
            };
            let counts = AlignedCounts::from_sorted(r, c);
            return Ok(p_value_test(test, &counts));
        }
        (StatTest::ChiSquare | StatTest::Z, Inputs::Categorical(counts)) => return Ok(p_value_test(test, counts)),
        (StatTest::Ks | StatTest::Wasserstein, Inputs::Categorical(_)) => {
            return Err(not_for("use psi, jensenshannon, hellinger, chisquare or z for categories"));
        }
    };
    Ok((value, None))
}

fn p_value_test(test: StatTest, counts: &AlignedCounts) -> (f64, Option<f64>) {
    let tested = if test == StatTest::Z { categorical::z_test(counts) } else { categorical::chisquare(counts) };
    (tested.statistic, Some(tested.p_value))
}

/// Evidently's default share of drifted columns at which the whole dataset drifts.
pub const DEFAULT_DRIFT_SHARE: f64 = 0.5;

/// The dataset-level verdict over several columns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DatasetDrift {
    /// Columns tested.
    pub n_columns: usize,
    /// Columns that drifted.
    pub n_drifted: usize,
    /// Their share.
    pub share: f64,
    /// Whether the share reaches `drift_share` (Evidently's rule: share >= drift_share).
    pub drifted: bool,
}

/// The share of drifted columns and Evidently's dataset drift rule.
pub fn dataset_drift<'r>(results: impl IntoIterator<Item = &'r StatResult>, drift_share: f64) -> Result<DatasetDrift> {
    let (mut n_columns, mut n_drifted) = (0usize, 0usize);
    for result in results {
        n_columns += 1;
        n_drifted += usize::from(result.drifted);
    }
    if n_columns == 0 {
        return Err(Error::NoColumns);
    }
    let share = n_drifted as f64 / n_columns as f64;
    Ok(DatasetDrift { n_columns, n_drifted, share, drifted: share >= drift_share })
}

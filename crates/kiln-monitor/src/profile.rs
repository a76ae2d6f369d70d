//! What the drift tests need of one column on one side: its finite values sorted (numeric) or
//! its counts per category (categorical), and how many values were missing. A reference comes
//! either from data (exact, [`Profile`] like the current side) or from a bundle's sketches
//! ([`Reference::from_bundle`]); current categories are folded into the bundle's vocabulary
//! the way the model's preprocessor folds them, so both sides count the same keys.

use std::collections::BTreeMap;

use kiln_core::bundle::{FeatureReference, ScoreReference};
use kiln_core::preprocess::{ColumnRef, MISSING_CATEGORY, OTHER_CATEGORY};

use crate::grouped::{self, Cuts};
use crate::stats::{AlignedCounts, Inputs, Sample, Sketch};

/// One column's values on one side.
#[derive(Debug, Clone, PartialEq)]
pub enum Profile {
    Numeric { sorted: Vec<f64>, missing: u64 },
    Categorical { counts: BTreeMap<String, u64>, missing: u64 },
}

impl Profile {
    /// The profile of `column`'s rows `rows` (all rows when `None`). Non-finite numbers count
    /// as missing. (Computed by [`crate::grouped`], which profiles a window and its groups.)
    pub fn of(column: ColumnRef<'_>, rows: Option<&[u32]>) -> Self {
        with_rows(column.len(), rows, |cuts| grouped::profiles(column, cuts).0)
    }

    /// The profile of scores (one per row; non-finite ones count as missing).
    pub fn of_scores(scores: &[f64], rows: Option<&[u32]>) -> Self {
        with_rows(scores.len(), rows, |cuts| grouped::score_profiles(scores, cuts).0)
    }

    /// Rows, missing ones included.
    pub fn rows(&self) -> u64 {
        match self {
            Profile::Numeric { sorted, missing } => sorted.len() as u64 + missing,
            Profile::Categorical { counts, missing } => counts.values().sum::<u64>() + missing,
        }
    }

    /// Rows whose value was missing.
    pub fn missing(&self) -> u64 {
        match self {
            Profile::Numeric { missing, .. } | Profile::Categorical { missing, .. } => *missing,
        }
    }
}

/// `f` of the cuts of `rows` (all `n` rows when `None`) into no group.
fn with_rows<T>(n: usize, rows: Option<&[u32]>, f: impl FnOnce(&Cuts<'_>) -> T) -> T {
    let all: Vec<u32>;
    let rows = match rows {
        Some(rows) => rows,
        None => {
            all = (0..n as u32).collect();
            &all
        }
    };
    f(&Cuts::new(rows, n, &[]))
}

/// One column's reference: exact (from data) or a bundle's sketch.
#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    /// The reference rows themselves.
    Data(Profile),
    /// A numeric sketch: quantiles, count of present values, mean, std, rows, missing rows.
    Sketch { quantiles: Vec<f64>, count: u64, mean: f64, std: f64, missing: u64 },
    /// Counts per vocabulary entry (missing values left out), for current values folded into
    /// that vocabulary.
    Vocabulary { counts: BTreeMap<String, u64>, missing: u64 },
}

impl Reference {
    /// A bundle's reference of one feature; `None` for a bundle written without sketches.
    pub fn from_bundle(feature: &FeatureReference) -> Option<Self> {
        match feature {
            FeatureReference::Numeric { quantiles, count, mean, std, missing_fraction, .. } => {
                if quantiles.len() < 2 || *count == 0 {
                    return None;
                }
                let rows = (*count as f64 / (1.0 - missing_fraction).max(f64::MIN_POSITIVE)).round() as u64;
                Some(Reference::Sketch {
                    quantiles: quantiles.clone(),
                    count: *count,
                    mean: *mean,
                    std: *std,
                    missing: rows.saturating_sub(*count),
                })
            }
            FeatureReference::Categorical { categories, proportions, count, missing_fraction, .. } => {
                if *count == 0 {
                    return None;
                }
                let missing = (missing_fraction * *count as f64).round() as u64;
                let mut counts = BTreeMap::new();
                for (category, share) in categories.iter().zip(proportions) {
                    let mut n = (share * *count as f64).round() as u64;
                    // missing values were counted under `__missing__` or `__other__`
                    if category == MISSING_CATEGORY {
                        continue;
                    }
                    if category == OTHER_CATEGORY && !categories.iter().any(|c| c == MISSING_CATEGORY) {
                        n = n.saturating_sub(missing);
                    }
                    counts.insert(category.clone(), n);
                }
                Some(Reference::Vocabulary { counts, missing })
            }
        }
    }

    /// A bundle's reference of the model's scores.
    pub fn from_scores(scores: &ScoreReference) -> Option<Self> {
        let count = scores.rows;
        (scores.quantiles.len() >= 2 && count > 0).then(|| Reference::Sketch {
            quantiles: scores.quantiles.clone(),
            count,
            mean: scores.mean,
            std: scores.std,
            missing: 0,
        })
    }

    /// Reference rows, missing ones included.
    pub fn rows(&self) -> u64 {
        match self {
            Reference::Data(p) => p.rows(),
            Reference::Sketch { count, missing, .. } => count + missing,
            Reference::Vocabulary { counts, missing } => counts.values().sum::<u64>() + missing,
        }
    }

    /// Reference rows whose value was missing.
    pub fn missing(&self) -> u64 {
        match self {
            Reference::Data(p) => p.missing(),
            Reference::Sketch { missing, .. } | Reference::Vocabulary { missing, .. } => *missing,
        }
    }
}

/// Both sides of one column, in the form the tests take.
pub enum Paired<'a> {
    Numeric { reference: Sample<'a>, current: Sample<'a> },
    Categorical(AlignedCounts),
}

impl Paired<'_> {
    /// The tests' view of the pair.
    pub fn inputs(&self) -> Inputs<'_> {
        match self {
            Paired::Numeric { reference, current } => Inputs::Numeric { reference: *reference, current: *current },
            Paired::Categorical(counts) => Inputs::Categorical(counts),
        }
    }
}

/// Pair a reference with a current profile; `None` when their kinds differ.
pub fn pair<'a>(reference: &'a Reference, current: &'a Profile) -> Option<Paired<'a>> {
    match (reference, current) {
        (Reference::Data(Profile::Numeric { sorted: r, .. }), Profile::Numeric { sorted: c, .. }) => {
            Some(Paired::Numeric { reference: Sample::Sorted(r), current: Sample::Sorted(c) })
        }
        (Reference::Sketch { quantiles, count, mean, std, .. }, Profile::Numeric { sorted: c, .. }) => {
            Some(Paired::Numeric {
                reference: Sample::Sketch(Sketch { quantiles, count: *count, mean: *mean, std: *std }),
                current: Sample::Sorted(c),
            })
        }
        (Reference::Data(Profile::Categorical { counts: r, .. }), Profile::Categorical { counts: c, .. }) => {
            Some(Paired::Categorical(AlignedCounts::from_maps(r, c)))
        }
        (Reference::Vocabulary { counts: r, .. }, Profile::Categorical { counts: c, .. }) => {
            let mut folded: BTreeMap<&str, u64> = BTreeMap::new();
            for (key, n) in c {
                let key = if r.contains_key(key) { key.as_str() } else { OTHER_CATEGORY };
                *folded.entry(key).or_default() += n;
            }
            let r: BTreeMap<&str, u64> = r.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            Some(Paired::Categorical(AlignedCounts::from_maps(&r, &folded)))
        }
        _ => None,
    }
}

//! Reproducible train / validation / test assignment.
//!
//! Every method is a pure function of the rows, the config and the seed: the same inputs give
//! the same assignment on any machine. `key_hash` goes further: a row's side depends only on
//! its key, so rows keep their side when new rows arrive.

use std::collections::BTreeMap;

use kiln_core::hash::content_hash;
use kiln_core::rng::Rng;
use polars::prelude::{BooleanChunked, DataFrame, DataType, NewChunkedArray};
use serde::{Deserialize, Serialize};

use crate::config::{SplitConfig, SplitMethod};
use crate::error::{Error, Result};
use crate::load::Table;
use crate::rowhash::hash_str;

/// Which part of the data a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Train = 0,
    Validation = 1,
    Test = 2,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Train, Part::Validation, Part::Test];

    pub fn as_str(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Validation => "validation",
            Part::Test => "test",
        }
    }
}

/// The assignment of the training file's rows (and, for `fixed`, the test file's row count).
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub method: SplitMethod,
    pub seed: u64,
    /// One part per row of the training file.
    pub parts: Vec<Part>,
    /// Rows of the separate test file (method `fixed`), all in `Part::Test`.
    pub n_test_file_rows: usize,
}

impl Split {
    pub fn count(&self, part: Part) -> usize {
        let in_file = self.parts.iter().filter(|p| **p == part).count();
        if part == Part::Test { in_file + self.n_test_file_rows } else { in_file }
    }

    /// Content hash of the assignment (which row went where).
    pub fn hash(&self) -> String {
        let bytes: Vec<u8> = self.parts.iter().map(|p| *p as u8).collect();
        content_hash(&[b"kiln.split.v1", &bytes, &(self.n_test_file_rows as u64).to_le_bytes()])
    }

    /// The rows of `df` (the training file) that belong to `part`.
    pub fn select(&self, df: &DataFrame, part: Part) -> Result<DataFrame> {
        let mask: BooleanChunked =
            BooleanChunked::from_iter_values("mask".into(), self.parts.iter().map(|p| *p == part));
        df.filter(&mask).map_err(|source| Error::Polars { doing: "selecting split rows", source })
    }
}

/// Assign the rows of the training table. `n_test_file_rows` is the row count of the separate
/// test file (method `fixed`; 0 otherwise).
pub fn assign(config: &SplitConfig, seed: u64, train: &Table, n_test_file_rows: usize) -> Result<Split> {
    let n = train.n_rows();
    let strata = strata(train)?;
    let parts = match config.method {
        SplitMethod::Random => {
            let mut parts = vec![Part::Train; n];
            let all: Vec<usize> = (0..n).collect();
            carve(&mut parts, all, config.test_fraction, Part::Test, &mut Rng::derive(seed, 1));
            carve_validation(&mut parts, None, config.validation_fraction, seed);
            parts
        }
        SplitMethod::Stratified => {
            let mut parts = vec![Part::Train; n];
            let mut rng = Rng::derive(seed, 1);
            for rows in groups(&strata, None, &parts) {
                carve(&mut parts, rows, config.test_fraction, Part::Test, &mut rng);
            }
            carve_validation(&mut parts, Some(&strata), config.validation_fraction, seed);
            parts
        }
        SplitMethod::Fixed => {
            let mut parts = vec![Part::Train; n];
            carve_validation(&mut parts, Some(&strata), config.validation_fraction, seed);
            parts
        }
        SplitMethod::KeyHash => {
            let key = config.key.as_deref().ok_or_else(|| Error::InvalidValue {
                path: train.path.clone(),
                key: "split.key".into(),
                problem: "is not set".into(),
                hint: "name an id column".into(),
            })?;
            let keys = train
                .df
                .column(key)
                .map_err(|source| Error::Polars { doing: "reading the split key", source })?
                .as_materialized_series()
                .cast(&DataType::String)
                .map_err(|source| Error::Polars { doing: "reading the split key", source })?;
            let keys = keys.str().map_err(|source| Error::Polars { doing: "reading the split key", source })?;
            let val_cut = config.test_fraction + (1.0 - config.test_fraction) * config.validation_fraction;
            keys.iter()
                .map(|k| {
                    let u = key_uniform(k.unwrap_or(""), seed);
                    if u < config.test_fraction {
                        Part::Test
                    } else if u < val_cut {
                        Part::Validation
                    } else {
                        Part::Train
                    }
                })
                .collect()
        }
    };
    let n_test_file_rows = if config.method == SplitMethod::Fixed { n_test_file_rows } else { 0 };
    Ok(Split { method: config.method, seed, parts, n_test_file_rows })
}

/// A uniform number in [0, 1) that depends only on the key and the seed.
pub fn key_uniform(key: &str, seed: u64) -> f64 {
    let mut state = hash_str(key) ^ seed.wrapping_mul(0xA24B_AED4_963E_E407);
    let h = kiln_core::rng::splitmix64(&mut state);
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Stratum of each row: the class label, or the decile of a regression target.
fn strata(train: &Table) -> Result<Vec<u32>> {
    let target = train
        .df
        .column(&train.schema.target)
        .map_err(|source| Error::Polars { doing: "reading the target", source })?
        .as_materialized_series();
    if train.schema.task.is_classification() {
        let text =
            target.cast(&DataType::String).map_err(|source| Error::Polars { doing: "reading the target", source })?;
        let text = text.str().map_err(|source| Error::Polars { doing: "reading the target", source })?;
        let classes = &train.schema.classes;
        Ok(text
            .iter()
            .map(|v| v.and_then(|v| classes.iter().position(|c| c == v)).map_or(u32::MAX, |i| i as u32))
            .collect())
    } else {
        let values =
            target.cast(&DataType::Float64).map_err(|source| Error::Polars { doing: "reading the target", source })?;
        let values: Vec<Option<f64>> =
            values.f64().map_err(|source| Error::Polars { doing: "reading the target", source })?.iter().collect();
        let mut sorted: Vec<f64> = values.iter().flatten().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_unstable_by(f64::total_cmp);
        let cuts: Vec<f64> = (1..10).filter_map(|d| sorted.get(sorted.len() * d / 10).copied()).collect();
        Ok(values
            .iter()
            .map(|v| match v {
                Some(v) if v.is_finite() => cuts.iter().filter(|c| v >= *c).count() as u32,
                _ => u32::MAX,
            })
            .collect())
    }
}

/// Row indices per stratum, restricted to rows currently in `only` (or all rows).
fn groups(strata: &[u32], only: Option<Part>, parts: &[Part]) -> Vec<Vec<usize>> {
    let mut by: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (idx, s) in strata.iter().enumerate() {
        if only.is_none_or(|p| parts[idx] == p) {
            by.entry(*s).or_default().push(idx);
        }
    }
    by.into_values().collect()
}

/// Move round(len * fraction) of `rows`, chosen by a seeded shuffle, into `to`.
fn carve(parts: &mut [Part], mut rows: Vec<usize>, fraction: f64, to: Part, rng: &mut Rng) {
    if fraction <= 0.0 || rows.is_empty() {
        return;
    }
    rng.shuffle(&mut rows);
    let take = ((rows.len() as f64) * fraction).round() as usize;
    for idx in rows.into_iter().take(take) {
        parts[idx] = to;
    }
}

fn carve_validation(parts: &mut [Part], strata: Option<&[u32]>, fraction: f64, seed: u64) {
    let mut rng = Rng::derive(seed, 2);
    match strata {
        Some(strata) => {
            for rows in groups(strata, Some(Part::Train), parts) {
                carve(parts, rows, fraction, Part::Validation, &mut rng);
            }
        }
        None => {
            let rows: Vec<usize> = (0..parts.len()).filter(|i| parts[*i] == Part::Train).collect();
            carve(parts, rows, fraction, Part::Validation, &mut rng);
        }
    }
}

//! Reproducible train / validation / test assignment.
//!
//! Every method is a pure function of the rows, the config and the seed: the same inputs give
//! the same assignment on any machine. `key_hash` goes further: a row's side depends only on
//! its key, so rows keep their side when new rows arrive.

use std::collections::BTreeMap;

use kiln_core::hash::content_hash;
use kiln_core::rng::Rng;
use kiln_core::schema::Schema;
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
        self.select_batch(df, 0, part)
    }

    /// The rows of `df`, rows `offset..` of the training data (a batch of it), that belong to
    /// `part`.
    pub fn select_batch(&self, df: &DataFrame, offset: usize, part: Part) -> Result<DataFrame> {
        let sides = &self.parts[offset..offset + df.height()];
        let mask: BooleanChunked = BooleanChunked::from_iter_values("mask".into(), sides.iter().map(|p| *p == part));
        df.filter(&mask).map_err(|source| Error::Polars { doing: "selecting split rows", source })
    }
}

/// Assign the rows of the training table. `n_test_file_rows` is the row count of the separate
/// test file (method `fixed`; 0 otherwise).
pub fn assign(config: &SplitConfig, seed: u64, train: &Table, n_test_file_rows: usize) -> Result<Split> {
    let mut rows = SplitRows::new(config, seed, &train.path, &train.schema)?;
    rows.add_rows(&train.df, config)?;
    rows.assign(config, n_test_file_rows)
}

/// What the split needs of the training rows, folded batch by batch in row order: the row
/// count, the target for strata (methods that stratify), each row's side (`key_hash`).
#[derive(Debug)]
pub struct SplitRows {
    seed: u64,
    n_rows: usize,
    target: Option<(String, TargetValues)>,
    key: Option<String>,
    keyed: Vec<Part>,
    classes: Vec<String>,
}

#[derive(Debug)]
enum TargetValues {
    /// Class index per row (`u32::MAX`: no known class).
    Classes(Vec<u32>),
    /// The regression target per row (NaN: missing).
    Values(Vec<f64>),
}

impl SplitRows {
    /// `path` names the data in errors; `schema` is its schema.
    pub fn new(config: &SplitConfig, seed: u64, path: &std::path::Path, schema: &Schema) -> Result<Self> {
        let stratify = matches!(config.method, SplitMethod::Stratified | SplitMethod::Fixed);
        let target = stratify.then(|| {
            let values = if schema.task.is_classification() {
                TargetValues::Classes(Vec::new())
            } else {
                TargetValues::Values(Vec::new())
            };
            (schema.target.clone(), values)
        });
        let key = match config.method {
            SplitMethod::KeyHash => Some(config.key.clone().ok_or_else(|| Error::InvalidValue {
                path: path.to_path_buf(),
                key: "split.key".into(),
                problem: "is not set".into(),
                hint: "name an id column".into(),
            })?),
            _ => None,
        };
        Ok(Self { seed, n_rows: 0, target, key, keyed: Vec::new(), classes: schema.classes.clone() })
    }

    /// Fold the next rows.
    pub fn add_rows(&mut self, df: &DataFrame, config: &SplitConfig) -> Result<()> {
        self.n_rows += df.height();
        if let Some((name, values)) = &mut self.target {
            let err = |source| Error::Polars { doing: "reading the target", source };
            let target = df.column(name).map_err(err)?.as_materialized_series();
            match values {
                TargetValues::Classes(out) => {
                    let text = target.cast(&DataType::String).map_err(err)?;
                    let classes = &self.classes;
                    out.extend(
                        text.str().map_err(err)?.iter().map(|v| {
                            v.and_then(|v| classes.iter().position(|c| c == v)).map_or(u32::MAX, |i| i as u32)
                        }),
                    );
                }
                TargetValues::Values(out) => {
                    let values = target.cast(&DataType::Float64).map_err(err)?;
                    out.extend(values.f64().map_err(err)?.iter().map(|v| v.unwrap_or(f64::NAN)));
                }
            }
        }
        if let Some(key) = &self.key {
            let err = |source| Error::Polars { doing: "reading the split key", source };
            let keys = df.column(key).map_err(err)?.as_materialized_series().cast(&DataType::String).map_err(err)?;
            let val_cut = config.test_fraction + (1.0 - config.test_fraction) * config.validation_fraction;
            let seed = self.seed;
            self.keyed.extend(keys.str().map_err(err)?.iter().map(|k| {
                let u = key_uniform(k.unwrap_or(""), seed);
                if u < config.test_fraction {
                    Part::Test
                } else if u < val_cut {
                    Part::Validation
                } else {
                    Part::Train
                }
            }));
        }
        Ok(())
    }

    /// Assign every row folded so far.
    pub fn assign(self, config: &SplitConfig, n_test_file_rows: usize) -> Result<Split> {
        let (n, seed) = (self.n_rows, self.seed);
        let strata = match self.target {
            Some((_, TargetValues::Classes(classes))) => classes,
            Some((_, TargetValues::Values(values))) => deciles(&values),
            None => Vec::new(),
        };
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
            SplitMethod::KeyHash => self.keyed,
        };
        let n_test_file_rows = if config.method == SplitMethod::Fixed { n_test_file_rows } else { 0 };
        Ok(Split { method: config.method, seed, parts, n_test_file_rows })
    }
}

/// A uniform number in [0, 1) that depends only on the key and the seed.
pub fn key_uniform(key: &str, seed: u64) -> f64 {
    let mut state = hash_str(key) ^ seed.wrapping_mul(0xA24B_AED4_963E_E407);
    let h = kiln_core::rng::splitmix64(&mut state);
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Stratum of each row of a regression target: its decile (`u32::MAX`: missing or not finite).
fn deciles(values: &[f64]) -> Vec<u32> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_unstable_by(f64::total_cmp);
    let cuts: Vec<f64> = (1..10).filter_map(|d| sorted.get(sorted.len() * d / 10).copied()).collect();
    values
        .iter()
        .map(|v| if v.is_finite() { cuts.iter().filter(|c| v >= *c).count() as u32 } else { u32::MAX })
        .collect()
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

//! The fitted preprocessor: turns raw feature columns into the numbers a model reads.
//!
//! It is fitted on the training split only (by kiln-data, which feeds it plain columns) and is
//! serialized into every bundle; training, evaluation and serving all call the same
//! [`Preprocessor::transform`], so a model never sees features encoded two different ways.
//! Must not depend on polars: inputs are plain slices.
//!
//! Numeric columns: impute (mean, median or zero), standardize, and add a missing indicator
//! when the training data had missing values. Categorical columns: a vocabulary of the
//! categories seen at least `min_frequency` times in training (at most `max_categories`, most
//! frequent first); rarer categories, categories never seen in training and missing values not
//! seen in training all fall into one `__other__` bucket. Missing values seen in training are
//! their own category, `__missing__`. Encoded either one-hot (into the dense matrix) or as
//! indices (for embedding layers).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::bundle::mean_std;
use crate::error::{Error, Result};

/// The category a missing value becomes when the training data had missing values.
pub const MISSING_CATEGORY: &str = "__missing__";
/// The bucket for rare, unseen and unexpected-missing categories (index 0).
pub const OTHER_CATEGORY: &str = "__other__";

/// How to fill a missing numeric value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Impute {
    #[default]
    Mean,
    Median,
    Zero,
}

/// How to scale a numeric value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// (x - mean) / std.
    #[default]
    Standard,
    /// Leave as is (after imputation).
    None,
}

/// When to add a `name__missing` indicator column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MissingIndicator {
    /// When the training data had at least one missing value in the column.
    #[default]
    Auto,
    Always,
    Never,
}

/// How categorical columns reach the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// One column per category in the dense matrix.
    #[default]
    OneHot,
    /// One integer code per column, for embeddings.
    Index,
}

/// The preprocessing spec: the `[preprocess]` section of a config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PreprocessConfig {
    pub impute: Impute,
    pub scale: Scale,
    pub missing_indicator: MissingIndicator,
    pub encoding: Encoding,
    /// Categories seen fewer times than this in training are folded into `__other__`.
    pub min_frequency: usize,
    /// Keep at most this many categories per column (most frequent first).
    pub max_categories: Option<usize>,
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        Self {
            impute: Impute::Mean,
            scale: Scale::Standard,
            missing_indicator: MissingIndicator::Auto,
            encoding: Encoding::OneHot,
            min_frequency: 10,
            max_categories: None,
        }
    }
}

/// A borrowed input column.
#[derive(Debug, Clone, Copy)]
pub enum ColumnRef<'a> {
    Numeric(&'a [Option<f64>]),
    Categorical(&'a [Option<&'a str>]),
}

impl ColumnRef<'_> {
    pub fn len(&self) -> usize {
        match self {
            ColumnRef::Numeric(v) => v.len(),
            ColumnRef::Categorical(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Fitted state of one numeric column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericState {
    pub name: String,
    pub fill: f64,
    pub center: f64,
    pub scale: f64,
    pub indicator: bool,
}

/// Fitted state of one categorical column: `vocabulary[0]` is always `__other__`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoricalState {
    pub name: String,
    /// The categories in code order; fixed once fitted (`transform` caches their codes).
    pub vocabulary: Vec<String>,
    /// Training counts per vocabulary entry (the `__other__` count includes folded categories).
    pub counts: Vec<u64>,
    /// Whether missing values were seen in training (then `__missing__` is in the vocabulary).
    pub missing_seen: bool,
    /// The code of each category, built once on the first `transform` (not part of the state).
    #[serde(skip)]
    pub(crate) lookup: LookupCache,
}

/// A category-to-code map built on first use: a single-row `transform` over a column of
/// thousands of categories must not rebuild it per call. Equal whatever it holds.
#[derive(Clone, Default)]
pub(crate) struct LookupCache(OnceLock<HashMap<String, u32>>);

impl PartialEq for LookupCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for LookupCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LookupCache")
    }
}

impl CategoricalState {
    fn lookup(&self) -> &HashMap<String, u32> {
        self.lookup
            .0
            .get_or_init(|| self.vocabulary.iter().enumerate().skip(1).map(|(i, v)| (v.clone(), i as u32)).collect())
    }
}

/// The fitted preprocessor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    pub config: PreprocessConfig,
    pub numeric: Vec<NumericState>,
    pub categorical: Vec<CategoricalState>,
    pub n_rows_fitted: usize,
}

/// The result of a transform.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub n_rows: usize,
    /// Row-major dense features: numeric (+ indicators), then one-hot blocks.
    pub dense: Vec<f32>,
    pub n_dense: usize,
    /// Row-major category codes (index encoding only; empty for one-hot).
    pub codes: Vec<u32>,
    pub n_codes: usize,
}

impl Encoded {
    /// Features per row: the dense block, then the codes.
    pub fn width(&self) -> usize {
        self.n_dense + self.n_codes
    }

    /// Feature `col` of row `row` as a number: a dense value, or a code (exact in f32 below 2^24),
    /// as gradient-boosted trees read the index encoding.
    pub fn feature(&self, row: usize, col: usize) -> f32 {
        if col < self.n_dense {
            self.dense[row * self.n_dense + col]
        } else {
            self.codes[row * self.n_codes + col - self.n_dense] as f32
        }
    }

    /// Every feature of row `row`, in column order (see [`Encoded::feature`]).
    pub fn feature_row(&self, row: usize) -> impl Iterator<Item = f32> + '_ {
        (0..self.width()).map(move |col| self.feature(row, col))
    }
}

impl Preprocessor {
    /// Fit on the training split. `columns` pairs each feature name with its data; all must
    /// have the same length.
    pub fn fit(config: &PreprocessConfig, columns: &[(&str, ColumnRef<'_>)]) -> Result<Self> {
        let n_rows = check_lengths(columns)?;
        let mut numeric = Vec::new();
        let mut categorical = Vec::new();
        for (name, column) in columns {
            match column {
                ColumnRef::Numeric(values) => numeric.push(fit_numeric(config, name, values)),
                ColumnRef::Categorical(values) => categorical.push(fit_categorical(config, name, values)),
            }
        }
        Ok(Self { config: config.clone(), numeric, categorical, n_rows_fitted: n_rows })
    }

    /// Names of the dense output columns, in order.
    pub fn dense_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.n_dense());
        for n in &self.numeric {
            names.push(n.name.clone());
        }
        for n in self.numeric.iter().filter(|n| n.indicator) {
            names.push(format!("{}__missing", n.name));
        }
        if self.config.encoding == Encoding::OneHot {
            for c in &self.categorical {
                names.extend(c.vocabulary.iter().map(|v| format!("{}={v}", c.name)));
            }
        }
        names
    }

    pub fn n_dense(&self) -> usize {
        let indicators = self.numeric.iter().filter(|n| n.indicator).count();
        let one_hot = match self.config.encoding {
            Encoding::OneHot => self.categorical.iter().map(|c| c.vocabulary.len()).sum(),
            Encoding::Index => 0,
        };
        self.numeric.len() + indicators + one_hot
    }

    pub fn n_codes(&self) -> usize {
        match self.config.encoding {
            Encoding::OneHot => 0,
            Encoding::Index => self.categorical.len(),
        }
    }

    /// Vocabulary sizes of the categorical columns (for embedding tables).
    pub fn cardinalities(&self) -> Vec<usize> {
        self.categorical.iter().map(|c| c.vocabulary.len()).collect()
    }

    /// Names of the input columns the preprocessor expects.
    pub fn input_names(&self) -> impl Iterator<Item = &str> {
        self.numeric.iter().map(|n| n.name.as_str()).chain(self.categorical.iter().map(|c| c.name.as_str()))
    }

    /// Encode rows. Every fitted column must be present (any order, extra columns ignored);
    /// unseen categories and missing values are encoded, never rejected.
    pub fn transform(&self, columns: &[(&str, ColumnRef<'_>)]) -> Result<Encoded> {
        let n_rows = check_lengths(columns)?;
        let find = |name: &str| columns.iter().find(|(n, _)| *n == name).map(|(_, c)| *c);
        let n_dense = self.n_dense();
        let n_codes = self.n_codes();
        let mut dense = vec![0f32; n_rows * n_dense];
        let mut codes = vec![0u32; n_rows * n_codes];

        let n_indicators = self.numeric.iter().filter(|n| n.indicator).count();
        let mut indicator_col = self.numeric.len();
        for (col, state) in self.numeric.iter().enumerate() {
            let values = match find(&state.name) {
                Some(ColumnRef::Numeric(v)) => v,
                Some(ColumnRef::Categorical(_)) => {
                    return Err(Error::ColumnKind { column: state.name.clone(), expected: "numeric" });
                }
                None => return Err(Error::MissingColumn { column: state.name.clone() }),
            };
            for (row, value) in values.iter().enumerate() {
                let x = match value {
                    Some(x) if x.is_finite() => *x,
                    _ => state.fill,
                };
                dense[row * n_dense + col] = ((x - state.center) / state.scale) as f32;
                if state.indicator {
                    let missing = !matches!(value, Some(x) if x.is_finite());
                    dense[row * n_dense + indicator_col] = f32::from(u8::from(missing));
                }
            }
            if state.indicator {
                indicator_col += 1;
            }
        }

        let mut offset = self.numeric.len() + n_indicators;
        for (col, state) in self.categorical.iter().enumerate() {
            let values = match find(&state.name) {
                Some(ColumnRef::Categorical(v)) => v,
                Some(ColumnRef::Numeric(_)) => {
                    return Err(Error::ColumnKind { column: state.name.clone(), expected: "categorical" });
                }
                None => return Err(Error::MissingColumn { column: state.name.clone() }),
            };
            let lookup = state.lookup();
            let missing_code = if state.missing_seen { lookup.get(MISSING_CATEGORY).copied().unwrap_or(0) } else { 0 };
            for (row, value) in values.iter().enumerate() {
                let code = match value {
                    Some(v) => lookup.get(*v).copied().unwrap_or(0),
                    None => missing_code,
                };
                match self.config.encoding {
                    Encoding::OneHot => dense[row * n_dense + offset + code as usize] = 1.0,
                    Encoding::Index => codes[row * n_codes + col] = code,
                }
            }
            if self.config.encoding == Encoding::OneHot {
                offset += state.vocabulary.len();
            }
        }
        Ok(Encoded { n_rows, dense, n_dense, codes, n_codes })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a preprocessor always serializes to JSON")
    }

    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|source| Error::Deserialize { what: "preprocessor", source })
    }
}

/// The common length of `columns` (0 when there are none); an error names the first column of
/// another length.
pub(crate) fn check_lengths(columns: &[(&str, ColumnRef<'_>)]) -> Result<usize> {
    let n_rows = columns.first().map_or(0, |(_, c)| c.len());
    for (name, column) in columns {
        if column.len() != n_rows {
            return Err(Error::LengthMismatch { column: (*name).to_string(), expected: n_rows, found: column.len() });
        }
    }
    Ok(n_rows)
}

fn fit_numeric(config: &PreprocessConfig, name: &str, values: &[Option<f64>]) -> NumericState {
    let mut present: Vec<f64> = values.iter().flatten().copied().filter(|x| x.is_finite()).collect();
    let n_missing = values.len() - present.len();
    let (mean, std) = mean_std(&present);
    let fill = match config.impute {
        Impute::Mean => mean,
        Impute::Median => median(&mut present),
        Impute::Zero => 0.0,
    };
    let (center, scale) = match config.scale {
        Scale::Standard => (mean, if std > 0.0 { std } else { 1.0 }),
        Scale::None => (0.0, 1.0),
    };
    let indicator = match config.missing_indicator {
        MissingIndicator::Auto => n_missing > 0,
        MissingIndicator::Always => true,
        MissingIndicator::Never => false,
    };
    NumericState { name: name.to_string(), fill, center, scale, indicator }
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) { (values[mid - 1] + values[mid]) / 2.0 } else { values[mid] }
}

fn fit_categorical(config: &PreprocessConfig, name: &str, values: &[Option<&str>]) -> CategoricalState {
    let mut counts: HashMap<&str, u64> = HashMap::new();
    let mut n_missing = 0u64;
    for value in values {
        match value {
            Some(v) => *counts.entry(v).or_insert(0) += 1,
            None => n_missing += 1,
        }
    }
    let mut ranked: Vec<(&str, u64)> = counts.into_iter().collect();
    if n_missing > 0 {
        ranked.push((MISSING_CATEGORY, n_missing));
    }
    // Most frequent first; ties broken by name so the order never depends on hashing.
    ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let limit = config.max_categories.unwrap_or(usize::MAX);
    let mut vocabulary = vec![OTHER_CATEGORY.to_string()];
    let mut kept_counts = vec![0u64];
    for (i, (value, count)) in ranked.into_iter().enumerate() {
        if count as usize >= config.min_frequency.max(1) && i < limit && value != OTHER_CATEGORY {
            vocabulary.push(value.to_string());
            kept_counts.push(count);
        } else {
            kept_counts[0] += count;
        }
    }
    let missing_seen = vocabulary.iter().any(|v| v == MISSING_CATEGORY);
    CategoricalState {
        name: name.to_string(),
        vocabulary,
        counts: kept_counts,
        missing_seen,
        lookup: LookupCache::default(),
    }
}

#[cfg(test)]
mod tests;

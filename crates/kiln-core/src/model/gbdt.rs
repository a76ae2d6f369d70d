//! Gradient-boosted trees through the pure-Rust `perpetual` library: the booster, its saved
//! form (a JSON envelope around perpetual's own JSON, the U8 tensor `gbdt.model` of a bundle)
//! and prediction over plain columns.
//!
//! The trees read the preprocessor's encoding with index codes: the dense block (numeric
//! features, then missing indicators), then one column of codes per categorical feature, in
//! perpetual's column-major layout. kiln-train fits the booster; this module predicts with it.

use perpetual::booster::config::BoosterIO;
use perpetual::{Matrix, MultiOutputBooster, PerpetualBooster};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Error, Result};
use crate::preprocess::{ColumnRef, Encoded, Encoding, Preprocessor};
use crate::schema::Task;

/// The library behind gradient-boosted trees, as bundles name it.
pub const GBDT_LIBRARY: &str = "perpetual";
/// The format tag of the saved model's JSON envelope.
pub const GBDT_FORMAT: &str = "kiln.gbdt.v1";

/// A fitted booster.
#[derive(Clone)]
pub enum Booster {
    /// Binary (log loss: P(positive)) or regression (squared loss).
    Single(Box<PerpetualBooster>),
    /// Multiclass: one output per class, class probabilities.
    Multi(Box<MultiOutputBooster>),
}

impl std::fmt::Debug for Booster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Booster").field("kind", &self.kind()).field("n_trees", &self.n_trees()).finish()
    }
}

impl Booster {
    /// `single` or `multi`, as the saved envelope names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Booster::Single(_) => "single",
            Booster::Multi(_) => "multi",
        }
    }

    /// Trees in the ensemble (all outputs together).
    pub fn n_trees(&self) -> usize {
        match self {
            Booster::Single(b) => b.get_prediction_trees().len(),
            Booster::Multi(m) => m.get_boosters().iter().map(|b| b.get_prediction_trees().len()).sum(),
        }
    }

    /// Values per row: the number of classes for a multiclass booster, else 1.
    pub fn n_outputs(&self) -> usize {
        match self {
            Booster::Single(_) => 1,
            Booster::Multi(m) => m.n_boosters,
        }
    }

    /// The booster in perpetual's JSON format.
    pub fn to_json(&self) -> Result<String> {
        match self {
            Booster::Single(b) => b.json_dump(),
            Booster::Multi(m) => m.json_dump(),
        }
        .map_err(|source| Error::Gbdt { doing: "writing the booster", source })
    }

    /// A booster of `kind` (`single` or `multi`) from perpetual's JSON.
    pub fn from_json(kind: &str, json: &str) -> Result<Self> {
        let read = |source| Error::Gbdt { doing: "reading the booster", source };
        match kind {
            "single" => Ok(Booster::Single(Box::new(PerpetualBooster::from_json(json).map_err(read)?))),
            "multi" => Ok(Booster::Multi(Box::new(MultiOutputBooster::from_json(json).map_err(read)?))),
            other => Err(Error::InvalidModel {
                architecture: "gbdt",
                problem: format!("has the booster kind `{other}`, expected single or multi"),
            }),
        }
    }

    /// Scores of the rows `encoded` (index encoding), `n_rows * n_outputs`: P(positive)
    /// (binary), class probabilities (multiclass) or values (regression).
    pub fn predict_encoded(&self, task: Task, encoded: &Encoded) -> Vec<f64> {
        let (data, n_rows, n_cols) = column_major(encoded);
        let matrix = Matrix::new(&data, n_rows, n_cols);
        match (self, task) {
            (Booster::Multi(m), _) => m.predict_proba(&matrix, true),
            (Booster::Single(b), Task::Regression) => b.predict(&matrix, true),
            (Booster::Single(b), _) => b.predict_proba(&matrix, true, false),
        }
    }
}

/// A saved gradient-boosted model: the preprocessor (index encoding) and the booster.
#[derive(Debug, Clone)]
pub struct Trees {
    pub preprocessor: Preprocessor,
    pub booster: Booster,
}

/// The part of kiln-train's saved envelope that prediction needs (its schema, config and
/// seed are for the record).
#[derive(Deserialize)]
struct Envelope {
    format: String,
    preprocessor: Preprocessor,
    booster_kind: String,
    booster: Box<RawValue>,
}

impl Trees {
    /// Read the bytes of a saved model (`gbdt.model`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let envelope: Envelope = serde_json::from_slice(bytes)
            .map_err(|source| Error::Deserialize { what: "gradient-boosted trees", source })?;
        if envelope.format != GBDT_FORMAT {
            return Err(Error::InvalidModel {
                architecture: "gbdt",
                problem: format!("has the format `{}`, expected `{GBDT_FORMAT}`", envelope.format),
            });
        }
        let booster = Booster::from_json(&envelope.booster_kind, envelope.booster.get())?;
        let mut preprocessor = envelope.preprocessor;
        preprocessor.config.encoding = Encoding::Index;
        Ok(Self { preprocessor, booster })
    }

    /// Scores for the rows of `columns` (every feature the preprocessor was fitted on).
    pub fn predict(&self, task: Task, columns: &[(&str, ColumnRef<'_>)]) -> Result<Vec<f64>> {
        let encoded = self.preprocessor.transform(columns)?;
        Ok(self.booster.predict_encoded(task, &encoded))
    }
}

/// The encoded rows in perpetual's column-major layout (the dense block, then the codes),
/// with the numbers of rows and columns: what the boosters are fitted on and predict from.
pub fn column_major(encoded: &Encoded) -> (Vec<f64>, usize, usize) {
    let n_rows = encoded.n_rows;
    let n_cols = encoded.n_dense + encoded.n_codes;
    let mut data = vec![0.0; n_rows * n_cols];
    for (col, out) in data.chunks_exact_mut(n_rows.max(1)).enumerate().take(n_cols) {
        if col < encoded.n_dense {
            for (row, value) in out.iter_mut().enumerate() {
                *value = f64::from(encoded.dense[row * encoded.n_dense + col]);
            }
        } else {
            let code = col - encoded.n_dense;
            for (row, value) in out.iter_mut().enumerate() {
                *value = f64::from(encoded.codes[row * encoded.n_codes + code]);
            }
        }
    }
    (data, n_rows, n_cols)
}

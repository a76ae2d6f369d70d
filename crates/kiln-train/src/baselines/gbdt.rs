//! The gradient-boosted trees baseline, through the pure-Rust `perpetual` library.
//!
//! Features come from kiln's fitted `Preprocessor` (fitted on the training split), switched
//! to index encoding: numeric columns imputed and standardized (plus missing indicators), and
//! each categorical column as one integer code (the vocabulary ranked by training frequency,
//! `__other__` = 0), which the trees split as an ordered feature. On Adult this scores
//! higher and trains faster than one-hot columns or perpetual's own categorical splits: with
//! the default budget 2.0, ROC AUC 0.927 on adult.test (LightGBM's reference: 0.927) after
//! about 4 s of training on 2 cores.
//!
//! Binary tasks fit one log-loss booster and predict P(positive); multiclass tasks fit
//! perpetual's multi-output booster (one output per class) and predict class probabilities;
//! regression fits squared loss. The model saves as a small JSON envelope (format, schema,
//! config, preprocessor) around the booster in perpetual's own JSON format.

use std::time::Instant;

use kiln_core::preprocess::{Encoding, Preprocessor};
use kiln_core::schema::{Schema, Task};
use perpetual::booster::config::BoosterIO;
use perpetual::objective::Objective;
use perpetual::{Matrix, MultiOutputBooster, PerpetualBooster};
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::config::{GbdtConfig, GbdtPlan};
use crate::error::{Error, Result};
use crate::predictions::Predictions;
use crate::target::{Target, read_target};

const FORMAT: &str = "kiln.gbdt.v1";

/// A fitted gradient-boosted trees model.
#[derive(Clone)]
pub struct GbdtModel {
    /// The schema it was trained on (features, task, classes).
    pub schema: Schema,
    pub config: GbdtConfig,
    /// The seed the library used.
    pub seed: u64,
    /// The preprocessor that encodes its features (index encoding).
    pub preprocessor: Preprocessor,
    booster: Booster,
}

#[derive(Clone)]
enum Booster {
    /// Binary (log loss) or regression (squared loss).
    Single(Box<PerpetualBooster>),
    /// Multiclass: one output per class.
    Multi(Box<MultiOutputBooster>),
}

#[derive(Serialize, Deserialize)]
struct Saved {
    format: String,
    schema: Schema,
    config: GbdtConfig,
    seed: u64,
    preprocessor: Preprocessor,
    /// `single` or `multi`.
    booster_kind: String,
    /// The booster in perpetual's JSON format, verbatim.
    booster: Box<RawValue>,
}

/// Column-major features as perpetual reads them.
struct Features {
    data: Vec<f64>,
    n_rows: usize,
    n_cols: usize,
}

impl Features {
    fn matrix(&self) -> Matrix<'_, f64> {
        Matrix::new(&self.data, self.n_rows, self.n_cols)
    }
}

impl std::fmt::Debug for GbdtModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GbdtModel")
            .field("task", &self.schema.task)
            .field("config", &self.config)
            .field("seed", &self.seed)
            .field("n_trees", &self.n_trees())
            .finish_non_exhaustive()
    }
}

impl GbdtModel {
    /// Fit on the training rows. `preprocessor` is the one fitted on the same rows
    /// (`kiln_data::fit::fit_preprocessor`); `default_seed` (the project seed) is used when the
    /// config sets no seed.
    pub fn fit(
        plan: &GbdtPlan,
        default_seed: u64,
        preprocessor: &Preprocessor,
        train: &DataFrame,
        schema: &Schema,
    ) -> Result<Self> {
        let mut preprocessor = preprocessor.clone();
        preprocessor.config.encoding = Encoding::Index;
        let target = read_target(train, schema)?;
        if target.is_empty() {
            return Err(Error::NoTrainingRows);
        }
        let features = encode(&preprocessor, train, schema)?;
        let seed = plan.seed_or(default_seed);
        let (budget, max_bin) = (plan.budget(), plan.max_bin());
        let started = Instant::now();
        let booster = match (schema.task, &target) {
            (Task::Multiclass, Target::Classes { index, n_classes }) => {
                let mut y = vec![0.0; index.len() * n_classes];
                for (row, class) in index.iter().enumerate() {
                    y[*class as usize * index.len() + row] = 1.0;
                }
                let mut booster = MultiOutputBooster::default()
                    .set_n_boosters(*n_classes)
                    .set_objective(Objective::LogLoss)
                    .set_budget(budget)
                    .set_max_bin(max_bin)
                    .set_seed(seed);
                booster
                    .fit(&features.matrix(), &Matrix::new(&y, index.len(), *n_classes), None, None)
                    .map_err(|source| Error::Gbdt { doing: "fitting the multiclass booster", source })?;
                Booster::Multi(Box::new(booster))
            }
            (_, target) => {
                let (objective, y) = match target {
                    Target::Classes { index, .. } => {
                        (Objective::LogLoss, index.iter().map(|c| f64::from(*c)).collect())
                    }
                    Target::Values(values) => (Objective::SquaredLoss, values.clone()),
                };
                let mut booster = PerpetualBooster::default()
                    .set_objective(objective)
                    .set_budget(budget)
                    .set_max_bin(max_bin)
                    .set_seed(seed);
                // Plain log loss, so that scores are probabilities of the data's base rate.
                booster.cfg.auto_class_weights = false;
                booster
                    .fit(&features.matrix(), &y, None, None)
                    .map_err(|source| Error::Gbdt { doing: "fitting the booster", source })?;
                Booster::Single(Box::new(booster))
            }
        };
        let model = Self { schema: schema.clone(), config: plan.config().clone(), seed, preprocessor, booster };
        tracing::info!(
            rows = features.n_rows,
            features = features.n_cols,
            trees = model.n_trees(),
            seconds = started.elapsed().as_secs_f64(),
            "fitted gradient-boosted trees"
        );
        Ok(model)
    }

    /// Trees in the ensemble (all outputs together).
    pub fn n_trees(&self) -> usize {
        match &self.booster {
            Booster::Single(b) => b.get_prediction_trees().len(),
            Booster::Multi(m) => m.get_boosters().iter().map(|b| b.get_prediction_trees().len()).sum(),
        }
    }

    /// Scores for the rows of `df`, which needs the model's feature columns.
    pub fn predict(&self, df: &DataFrame) -> Result<Predictions> {
        let features = encode(&self.preprocessor, df, &self.schema)?;
        let matrix = features.matrix();
        let task = self.schema.task;
        Ok(match (&self.booster, task) {
            (Booster::Multi(m), _) => {
                let n_outputs = m.n_boosters;
                Predictions { task, n_rows: features.n_rows, n_outputs, values: m.predict_proba(&matrix, true) }
            }
            (Booster::Single(b), Task::Regression) => Predictions::single(task, b.predict(&matrix, true)),
            (Booster::Single(b), _) => Predictions::single(task, b.predict_proba(&matrix, true, false)),
        })
    }

    /// The model as bytes: a JSON envelope around perpetual's own JSON.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let (booster_kind, json) = match &self.booster {
            Booster::Single(b) => ("single", b.json_dump()),
            Booster::Multi(m) => ("multi", m.json_dump()),
        };
        let json = json.map_err(|source| Error::Gbdt { doing: "writing the booster", source })?;
        let booster = RawValue::from_string(json)
            .map_err(|source| Error::Serialize { what: "gradient-boosted trees", source })?;
        let saved = Saved {
            format: FORMAT.into(),
            schema: self.schema.clone(),
            config: self.config.clone(),
            seed: self.seed,
            preprocessor: self.preprocessor.clone(),
            booster_kind: booster_kind.into(),
            booster,
        };
        serde_json::to_vec(&saved).map_err(|source| Error::Serialize { what: "gradient-boosted trees", source })
    }

    /// Read bytes written by [`GbdtModel::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let what = "gradient-boosted trees";
        let saved: Saved = serde_json::from_slice(bytes).map_err(|source| Error::Deserialize { what, source })?;
        if saved.format != FORMAT {
            return Err(Error::Format { what, found: saved.format, expected: FORMAT });
        }
        let json = saved.booster.get();
        let booster = match saved.booster_kind.as_str() {
            "multi" => Booster::Multi(Box::new(
                MultiOutputBooster::from_json(json)
                    .map_err(|source| Error::Gbdt { doing: "reading the booster", source })?,
            )),
            "single" => Booster::Single(Box::new(
                PerpetualBooster::from_json(json)
                    .map_err(|source| Error::Gbdt { doing: "reading the booster", source })?,
            )),
            other => {
                return Err(Error::Format {
                    what,
                    found: format!("booster kind {other}"),
                    expected: "single or multi",
                });
            }
        };
        Ok(Self {
            schema: saved.schema,
            config: saved.config,
            seed: saved.seed,
            preprocessor: saved.preprocessor,
            booster,
        })
    }
}

/// Encode the feature columns of `df` into perpetual's column-major layout: the dense block
/// (numeric, indicators), then one column of codes per categorical feature.
fn encode(preprocessor: &Preprocessor, df: &DataFrame, schema: &Schema) -> Result<Features> {
    let encoded = kiln_data::fit::encode(preprocessor, df, schema).map_err(Error::Encode)?;
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
    Ok(Features { data, n_rows, n_cols })
}

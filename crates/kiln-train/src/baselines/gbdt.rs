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
//! config, preprocessor) around the booster in perpetual's own JSON format. Prediction, and
//! the booster itself, are kiln-core's (`kiln_core::model::gbdt`), which serving runs too.

use std::time::Instant;

use kiln_core::model::gbdt::{Booster, GBDT_FORMAT, column_major};
use kiln_core::preprocess::{Encoding, Preprocessor};
use kiln_core::schema::{Schema, Task};
use perpetual::objective::Objective;
use perpetual::{Matrix, MultiOutputBooster, PerpetualBooster};
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::config::{GbdtConfig, GbdtPlan};
use crate::error::{Error, Result};
use crate::predictions::Predictions;
use crate::target::{Target, read_target};

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
        self.booster.n_trees()
    }

    /// Scores for the rows of `df`, which needs the model's feature columns; encoded and
    /// scored by kiln-core.
    pub fn predict(&self, df: &DataFrame) -> Result<Predictions> {
        let columns = kiln_data::fit::feature_columns(df, &self.schema).map_err(Error::Encode)?;
        let encoded =
            kiln_data::fit::with_refs(&columns, |refs| self.preprocessor.transform(refs)).map_err(Error::Score)?;
        let task = self.schema.task;
        let values = self.booster.predict_encoded(task, &encoded);
        Ok(Predictions { task, n_rows: encoded.n_rows, n_outputs: self.booster.n_outputs(), values })
    }

    /// The model as bytes: a JSON envelope around perpetual's own JSON.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let booster_kind = self.booster.kind();
        let json = self.booster.to_json().map_err(Error::Bundle)?;
        let booster = RawValue::from_string(json)
            .map_err(|source| Error::Serialize { what: "gradient-boosted trees", source })?;
        let saved = Saved {
            format: GBDT_FORMAT.into(),
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
        if saved.format != GBDT_FORMAT {
            return Err(Error::Format { what, found: saved.format, expected: GBDT_FORMAT });
        }
        let booster = Booster::from_json(&saved.booster_kind, saved.booster.get()).map_err(Error::Bundle)?;
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
    let (data, n_rows, n_cols) = column_major(&encoded);
    Ok(Features { data, n_rows, n_cols })
}

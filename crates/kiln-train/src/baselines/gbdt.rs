//! The gradient-boosted trees baseline: trained by LightGBM through its C API (the `lightgbm` module),
//! stored and scored in kiln's own tree format (`kiln_core::model::gbdt`), which serving runs
//! without any training library.
//!
//! Features come from kiln's fitted `Preprocessor` (fitted on the training split), switched to
//! index encoding: numeric columns imputed and standardized (plus missing indicators), and each
//! categorical column as one integer code (the vocabulary ranked by training frequency,
//! `__other__` = 0). LightGBM sees exactly these rows, so its model and kiln's are one: the
//! converted trees predict bit for bit what LightGBM predicts. The defaults are LightGBM's
//! (`config::GbdtConfig`).
//!
//! Binary tasks fit log loss and predict P(positive); multiclass tasks fit the softmax loss
//! (one tree per class per round) and predict class probabilities; regression fits squared
//! loss. The model saves as a small JSON document (format, config, seed, preprocessor, forest).

mod lightgbm;
mod text;

use std::time::Instant;

use kiln_core::model::{Forest, TREES_FORMAT, Trees};
use kiln_core::preprocess::{Encoded, Preprocessor};
use kiln_core::schema::{Schema, Task};
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use crate::config::{GbdtConfig, GbdtPlan, ModelConfig};
use crate::error::{Error, Result};
use crate::predictions::Predictions;
use crate::target::{Target, read_target};

/// The training library, as bundles name it.
pub const GBDT_LIBRARY: &str = "lightgbm 4.7.0";

/// A fitted gradient-boosted trees model.
#[derive(Debug, Clone)]
pub struct GbdtModel {
    /// The schema it was trained on (features, task, classes).
    pub schema: Schema,
    pub config: GbdtConfig,
    /// The seed the library used.
    pub seed: u64,
    /// Boosting rounds kept (fewer than configured after early stopping).
    pub rounds: usize,
    trees: Trees,
    /// LightGBM's own text of the model, right after fitting (not saved).
    library_model: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    format: String,
    schema: Schema,
    config: GbdtConfig,
    seed: u64,
    rounds: usize,
    preprocessor: Preprocessor,
    forest: Forest,
}

/// Column-major f64 features and f32 labels, as LightGBM reads them.
struct Rows {
    features: Vec<f64>,
    labels: Vec<f32>,
    n_rows: usize,
    n_cols: usize,
}

impl Rows {
    fn data(&self) -> lightgbm::Data<'_> {
        lightgbm::Data { features: &self.features, n_rows: self.n_rows, n_cols: self.n_cols, labels: &self.labels }
    }
}

/// The encoded rows of `df` column-major (the dense block, then the codes) with their labels.
fn rows(preprocessor: &Preprocessor, df: &DataFrame, schema: &Schema) -> Result<(Rows, usize)> {
    let encoded = kiln_data::fit::encode(preprocessor, df, schema).map_err(Error::Encode)?;
    let (labels, n_classes) = match read_target(df, schema)? {
        Target::Classes { index, n_classes } => (index.iter().map(|c| *c as f32).collect(), n_classes),
        Target::Values(values) => (values.iter().map(|v| *v as f32).collect(), 1),
    };
    let (n_rows, n_cols) = (encoded.n_rows, encoded.width());
    Ok((Rows { features: column_major(&encoded), labels, n_rows, n_cols }, n_classes))
}

/// The encoded rows in column-major order: the dense block, then the codes.
fn column_major(encoded: &Encoded) -> Vec<f64> {
    (0..encoded.width())
        .flat_map(|col| (0..encoded.n_rows).map(move |row| f64::from(encoded.feature(row, col))))
        .collect()
}

impl GbdtModel {
    /// Fit on the training rows; with `valid` rows and `early_stopping_rounds` configured,
    /// stop early on their loss. `preprocessor` is the one fitted on the training rows
    /// (`kiln_data::fit::fit_preprocessor`); `default_seed` (the project seed) is used when the
    /// config sets no seed.
    pub fn fit(
        plan: &GbdtPlan,
        default_seed: u64,
        preprocessor: &Preprocessor,
        train: &DataFrame,
        valid: Option<&DataFrame>,
        schema: &Schema,
    ) -> Result<Self> {
        let mut preprocessor = preprocessor.clone();
        preprocessor.config.encoding = kiln_core::preprocess::Encoding::Index;
        let (train_rows, n_classes) = rows(&preprocessor, train, schema)?;
        if train_rows.n_rows == 0 {
            return Err(Error::NoTrainingRows);
        }
        // The validation rows are encoded only when they stop the boosting early.
        let early_stop = match (valid, plan.config().early_stopping_rounds) {
            (Some(valid), Some(patience)) if valid.height() > 0 => {
                Some((rows(&preprocessor, valid, schema)?.0, patience))
            }
            _ => None,
        };
        let seed = plan.seed_or(default_seed);
        let n_outputs = if schema.task == Task::Multiclass { n_classes } else { 1 };
        let codes = preprocessor.n_dense()..train_rows.n_cols;
        let params = plan.lightgbm_params(schema.task, n_classes, seed, codes);
        let started = Instant::now();
        let config = plan.config();
        let valid = early_stop.as_ref().map(|(rows, patience)| (rows.data(), *patience));
        let fitted = lightgbm::fit(
            &params,
            &train_rows.data(),
            config.num_iterations,
            valid.as_ref().map(|(data, patience)| (data, *patience)),
        )?;
        let forest = text::forest(&fitted.model, train_rows.n_cols, n_outputs)?;
        let trees = Trees::new(preprocessor, forest).map_err(Error::Bundle)?;
        let model = Self {
            schema: schema.clone(),
            config: config.clone(),
            seed,
            rounds: fitted.rounds,
            trees,
            library_model: Some(fitted.model),
        };
        tracing::info!(
            rows = train_rows.n_rows,
            features = train_rows.n_cols,
            rounds = model.rounds,
            trees = model.n_trees(),
            seconds = started.elapsed().as_secs_f64(),
            "fitted gradient-boosted trees"
        );
        Ok(model)
    }

    /// The model of a bundle: its trees (through kiln-core's reader, which checks them), and
    /// the config and seed its manifest recorded (LightGBM's defaults where it recorded none).
    pub fn from_bundle(bundle: &kiln_core::bundle::Bundle) -> Result<Self> {
        let manifest = &bundle.manifest;
        let model = kiln_core::model::Model::from_bundle(bundle).map_err(Error::Bundle)?;
        let trees = model.trees().cloned().ok_or(Error::UnsupportedArchitecture { architecture: "gbdt" })?;
        // The model's `[[models]]` table, alone or (in finished-model files) under `model`.
        let hyper = &manifest.hyperparameters;
        let config = [hyper, &hyper["model"]]
            .into_iter()
            .find_map(|v| match serde_json::from_value::<ModelConfig>(v.clone()) {
                Ok(ModelConfig::Gbdt(config)) => Some(config),
                _ => None,
            })
            .unwrap_or_default();
        let seed = config.seed.unwrap_or_default();
        let rounds = trees.forest.n_trees() / trees.n_outputs();
        Ok(Self { schema: manifest.schema.clone(), config, seed, rounds, trees, library_model: None })
    }

    /// LightGBM's own text of the model, when it was fitted in this process (to check kiln's
    /// trees against the library, and to hand the model to LightGBM's tools).
    pub fn library_model(&self) -> Option<&str> {
        self.library_model.as_deref()
    }

    /// Trees in the ensemble (all outputs together).
    pub fn n_trees(&self) -> usize {
        self.trees.forest.n_trees()
    }

    /// The preprocessor that encodes its features (index encoding).
    pub fn preprocessor(&self) -> &Preprocessor {
        &self.trees.preprocessor
    }

    /// The trees in kiln's format.
    pub fn forest(&self) -> &Forest {
        &self.trees.forest
    }

    /// The model as kiln-core scores it (preprocessor and trees).
    pub fn trees(&self) -> &Trees {
        &self.trees
    }

    /// Scores for the rows of `df`, which needs the model's feature columns; encoded and
    /// scored by kiln-core.
    pub fn predict(&self, df: &DataFrame) -> Result<Predictions> {
        let encoded = kiln_data::fit::encode(&self.trees.preprocessor, df, &self.schema).map_err(Error::Encode)?;
        let task = self.schema.task;
        let values = self.trees.predict_encoded(task, &encoded).map_err(Error::Score)?;
        Ok(Predictions { task, n_rows: encoded.n_rows, n_outputs: self.trees.n_outputs(), values })
    }

    /// The model as bytes: a JSON document holding the forest and what produced it.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let saved = Saved {
            format: TREES_FORMAT.into(),
            schema: self.schema.clone(),
            config: self.config.clone(),
            seed: self.seed,
            rounds: self.rounds,
            preprocessor: self.trees.preprocessor.clone(),
            forest: self.trees.forest.clone(),
        };
        serde_json::to_vec(&saved).map_err(|source| Error::Serialize { what: "gradient-boosted trees", source })
    }

    /// Read bytes written by [`GbdtModel::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let what = "gradient-boosted trees";
        let saved: Saved = serde_json::from_slice(bytes).map_err(|source| Error::Deserialize { what, source })?;
        if saved.format != TREES_FORMAT {
            return Err(Error::Format { what, found: saved.format, expected: TREES_FORMAT });
        }
        let trees = Trees::new(saved.preprocessor, saved.forest).map_err(Error::Bundle)?;
        Ok(Self {
            schema: saved.schema,
            config: saved.config,
            seed: saved.seed,
            rounds: saved.rounds,
            trees,
            library_model: None,
        })
    }
}

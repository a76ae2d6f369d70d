//! A trained model of any kind: predict with it, and turn it into (or back from) the
//! architecture and tensors of a bundle.
//!
//! The one place that knows how every model kind is stored in a `kiln_core::bundle::Bundle`.

use std::collections::BTreeMap;

use kiln_core::bundle::{Architecture, Bundle, TensorData};
use kiln_core::model::TREES_FORMAT;
use kiln_core::preprocess::Preprocessor;
use kiln_core::schema::Schema;
use polars::prelude::DataFrame;

use crate::baselines::gbdt::GbdtModel;
use crate::baselines::prior::PriorModel;
use crate::baselines::rules::RulesModel;
use crate::error::{Error, Result};
use crate::nn::{NeuralArch, NeuralModel};
use crate::predictions::Predictions;

/// The library behind gradient-boosted trees, as named in bundles.
pub use crate::baselines::gbdt::GBDT_LIBRARY;

/// A fitted model.
#[derive(Debug, Clone)]
pub enum TrainedModel {
    Prior(PriorModel),
    Rules(RulesModel),
    Gbdt(Box<GbdtModel>),
    /// A linear model, MLP or ResNet over the preprocessor's dense features (categorical columns
    /// one-hot, or index codes for a ResNet's embeddings).
    Neural(Box<Neural>),
}

/// A neural model with what it needs to encode raw rows (the preprocessor set to the
/// encoding the network takes).
#[derive(Debug, Clone)]
pub struct Neural {
    pub model: NeuralModel,
    pub preprocessor: Preprocessor,
    pub schema: Schema,
}

impl TrainedModel {
    pub fn kind(&self) -> &'static str {
        match self {
            TrainedModel::Prior(_) => "prior",
            TrainedModel::Rules(_) => "rules",
            TrainedModel::Gbdt(_) => "gbdt",
            TrainedModel::Neural(n) => match n.model.arch {
                NeuralArch::Linear => "linear",
                NeuralArch::Mlp { .. } => "mlp",
                NeuralArch::ResNet { .. } => "resnet",
            },
        }
    }

    /// Scores for every row of `df`, computed by kiln-core's inference code (`kiln_core::model`:
    /// rules, boosters and the networks' forward pass), which serving runs too.
    pub fn predict(&self, df: &DataFrame) -> Result<Predictions> {
        match self {
            TrainedModel::Prior(m) => Ok(m.predict(df)),
            TrainedModel::Rules(m) => m.predict(df),
            TrainedModel::Gbdt(m) => m.predict(df),
            TrainedModel::Neural(n) => {
                let encoded = kiln_data::fit::encode(&n.preprocessor, df, &n.schema).map_err(Error::Encode)?;
                n.model.predict(&encoded)
            }
        }
    }

    /// The bundle architecture and tensors of this model (`n_outputs`: 1 for binary and
    /// regression, the number of classes for multiclass).
    pub fn to_bundle_parts(&self, n_outputs: usize) -> Result<(Architecture, BTreeMap<String, TensorData>)> {
        Ok(match self {
            TrainedModel::Prior(m) => (Architecture::Prior { values: m.row.clone() }, BTreeMap::new()),
            TrainedModel::Rules(m) => {
                let rules = serde_json::from_slice(&m.to_bytes()?)
                    .map_err(|source| Error::Deserialize { what: "rules model", source })?;
                (Architecture::Rules { rules }, BTreeMap::new())
            }
            TrainedModel::Gbdt(m) => (
                Architecture::Gbdt { library: GBDT_LIBRARY.to_string(), n_outputs, format: TREES_FORMAT.to_string() },
                m.forest().to_tensors(),
            ),
            TrainedModel::Neural(n) => (n.model.architecture(), n.model.to_tensors()),
        })
    }

    /// Rebuild the model stored in a bundle.
    pub fn from_bundle(bundle: &Bundle) -> Result<Self> {
        let manifest = &bundle.manifest;
        match &manifest.architecture {
            Architecture::Prior { values } => Ok(TrainedModel::Prior(PriorModel {
                task: manifest.task,
                classes: manifest.schema.classes.clone(),
                n_rows_fitted: manifest.preprocessor.n_rows_fitted,
                row: values.clone(),
            })),
            Architecture::Rules { rules } => {
                let bytes =
                    serde_json::to_vec(rules).map_err(|source| Error::Serialize { what: "rules model", source })?;
                Ok(TrainedModel::Rules(RulesModel::from_bytes(&bytes)?))
            }
            Architecture::Gbdt { .. } => Ok(TrainedModel::Gbdt(Box::new(GbdtModel::from_bundle(bundle)?))),
            architecture @ (Architecture::Linear { .. } | Architecture::Mlp { .. } | Architecture::ResNet { .. }) => {
                // The manifest holds the run's preprocessor; the network fixes its encoding.
                let model = NeuralModel::from_tensors(manifest.task, architecture, &bundle.tensors)?;
                let preprocessor = kiln_core::model::network_preprocessor(&model.network()?, &manifest.preprocessor)
                    .map_err(Error::Bundle)?;
                Ok(TrainedModel::Neural(Box::new(Neural { model, preprocessor, schema: manifest.schema.clone() })))
            }
            other => Err(Error::UnsupportedArchitecture { architecture: other.kind() }),
        }
    }
}

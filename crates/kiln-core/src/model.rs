//! Inference: a bundle's model rebuilt and run over plain columns, with kiln-core alone.
//!
//! [`Model::from_bundle`] rebuilds any architecture kiln trains (prior, rules, gradient-boosted
//! trees, linear, MLP with layer or batch norm, ResNet with optional categorical embeddings);
//! [`Model::predict`] encodes raw rows with the bundle's preprocessor (in the encoding the
//! model reads) and runs the model. Training (kiln-train) predicts through the same code, so
//! that there is one inference path: [`rules`] evaluates rules, [`gbdt`] walks the trees,
//! [`network`] holds the networks and `forward` their forward pass.
//!
//! [`Model::predict_batch`] scores a [`Batch`] of owned columns (as kiln-data's readers and a
//! server hand them over, checked first with [`crate::rows::check`]), and
//! [`Model::predict_columns`] turns the scores into output columns ([`output`]: the bundle's
//! decision threshold, class labels, id columns).
//!
//! Scores are `n_rows × n_outputs`, row-major: P(positive) for binary tasks, class
//! probabilities (in the schema's class order) for multiclass, values for regression.
//! A bad bundle (a missing, ill-shaped or truncated tensor, an unknown setting) is an error
//! that names what is wrong, never a panic.

mod forward;
pub mod gbdt;
pub mod network;
pub mod output;
pub mod rules;

pub use forward::BATCH;
pub use gbdt::{Forest, TREES_FORMAT, Trees};
pub use network::{Activation, DenseLayer, EmbeddingTable, Layout, Network, NormKind, NormLayer};
pub use output::Outputs;
pub use rules::{RuleSet, SavedRules};

use crate::bundle::{Architecture, Bundle};
use crate::columns::Batch;
use crate::error::{Error, Result};
use crate::preprocess::{ColumnRef, Encoding, Preprocessor, check_lengths};
use crate::schema::Task;

/// A model rebuilt from a bundle, ready to score rows.
#[derive(Debug, Clone)]
pub struct Model {
    task: Task,
    predictor: Predictor,
    outputs: Outputs,
}

#[derive(Debug, Clone)]
enum Predictor {
    /// The same row for every input row.
    Prior(Vec<f64>),
    Rules(RuleSet),
    Gbdt(Box<Trees>),
    /// The network and the preprocessor set to the network's encoding.
    Neural(Box<(Network, Preprocessor)>),
}

impl Model {
    /// Rebuild the model of `bundle`. Fails, naming the tensor or setting, when the bundle's
    /// tensors do not fit its architecture, the architecture cannot be run, or the model's
    /// outputs per row do not fit the schema's task and classes ([`Outputs::from_manifest`]).
    pub fn from_bundle(bundle: &Bundle) -> Result<Self> {
        let manifest = &bundle.manifest;
        let predictor = match &manifest.architecture {
            Architecture::Prior { values } => {
                if values.is_empty() {
                    return Err(Error::InvalidModel { architecture: "prior", problem: "has no values".into() });
                }
                Predictor::Prior(values.clone())
            }
            Architecture::Rules { rules } => Predictor::Rules(SavedRules::from_json(rules.clone())?.rules),
            Architecture::Gbdt { format, n_outputs, .. } => {
                if format != TREES_FORMAT {
                    return Err(Error::InvalidModel {
                        architecture: "gbdt",
                        problem: format!(
                            "holds trees in a training library's own format, which this kiln no longer reads \
                             (it reads `{TREES_FORMAT}`); train and export the model again"
                        ),
                    });
                }
                Predictor::Gbdt(Box::new(Trees::from_tensors(
                    manifest.preprocessor.clone(),
                    *n_outputs,
                    &bundle.tensors,
                )?))
            }
            architecture @ (Architecture::Linear { .. } | Architecture::Mlp { .. } | Architecture::ResNet { .. }) => {
                let network = Network::from_tensors(architecture, &bundle.tensors)?;
                let preprocessor = network_preprocessor(&network, &manifest.preprocessor)?;
                Predictor::Neural(Box::new((network, preprocessor)))
            }
            other => {
                return Err(Error::InvalidModel {
                    architecture: other.kind(),
                    problem: "has no predictor in this version of kiln".into(),
                });
            }
        };
        let n_outputs = predictor.n_outputs();
        let outputs = Outputs::from_manifest(manifest, n_outputs)?;
        Ok(Self { task: manifest.task, predictor, outputs })
    }

    /// The task the model scores.
    pub fn task(&self) -> Task {
        self.task
    }

    /// `prior`, `rules`, `gbdt`, `linear`, `mlp` or `resnet`.
    pub fn kind(&self) -> &'static str {
        match &self.predictor {
            Predictor::Prior(_) => "prior",
            Predictor::Rules(_) => "rules",
            Predictor::Gbdt(_) => "gbdt",
            Predictor::Neural(n) => n.0.kind(),
        }
    }

    /// Values per row: the number of classes for multiclass, else 1.
    pub fn n_outputs(&self) -> usize {
        self.predictor.n_outputs()
    }

    /// How the model's scores become output columns (decision threshold, class labels, ids).
    pub fn outputs(&self) -> &Outputs {
        &self.outputs
    }

    /// The trees, when the model is gradient-boosted trees.
    pub fn trees(&self) -> Option<&Trees> {
        match &self.predictor {
            Predictor::Gbdt(trees) => Some(trees),
            _ => None,
        }
    }

    /// The columns [`Model::predict`] reads, and whether each is numeric: the preprocessor's
    /// features (numeric first), the columns the rules test, none for a prior.
    pub fn input_columns(&self) -> Vec<(&str, bool)> {
        match &self.predictor {
            Predictor::Prior(_) => Vec::new(),
            Predictor::Rules(rules) => {
                let mut columns: Vec<(&str, bool)> = Vec::new();
                for condition in rules.rules.iter().flat_map(|r| &r.when) {
                    if !columns.iter().any(|(name, _)| *name == condition.column) {
                        columns.push((&condition.column, condition.test.numeric()));
                    }
                }
                columns
            }
            Predictor::Gbdt(trees) => preprocessor_columns(&trees.preprocessor),
            Predictor::Neural(n) => preprocessor_columns(&n.1),
        }
    }

    /// Scores for the rows of `columns`: `n_rows × n_outputs` values, row-major. Every column
    /// of [`Model::input_columns`] must be present, of its kind (others are ignored), and all
    /// columns of the same length, which is the number of rows. Unseen categories and missing
    /// values are scored as the preprocessor encodes them, never rejected.
    pub fn predict(&self, columns: &[(&str, ColumnRef<'_>)]) -> Result<Vec<f64>> {
        let n_rows = check_lengths(columns)?;
        self.predict_rows(columns, n_rows)
    }

    /// [`Model::predict`] for `n_rows` rows, which a model that reads no column (a prior, rules
    /// without conditions) cannot tell from its columns.
    fn predict_rows(&self, columns: &[(&str, ColumnRef<'_>)], n_rows: usize) -> Result<Vec<f64>> {
        match &self.predictor {
            Predictor::Prior(values) => Ok(values.iter().copied().cycle().take(n_rows * values.len()).collect()),
            Predictor::Rules(rules) => rules.scores(columns, n_rows),
            Predictor::Gbdt(trees) => trees.predict(self.task, columns),
            Predictor::Neural(n) => {
                let (network, preprocessor) = &**n;
                let encoded = preprocessor.transform(columns)?;
                let outputs = network.outputs(&encoded)?;
                Ok(scores(self.task, &outputs, network.n_outputs()))
            }
        }
    }
}

impl Model {
    /// Scores for the rows of `batch` ([`Model::predict`] over the columns the model reads).
    pub fn predict_batch(&self, batch: &Batch) -> Result<Vec<f64>> {
        batch.with_refs(&self.input_columns(), |columns| {
            let n_rows = if columns.is_empty() { batch.n_rows() } else { check_lengths(columns)? };
            self.predict_rows(columns, n_rows)
        })
    }

    /// The output columns for the rows of `batch`: ids passed through, probabilities and
    /// labels, or values ([`Outputs::assemble`]).
    pub fn predict_columns(&self, batch: &Batch) -> Result<Batch> {
        let scores = self.predict_batch(batch)?;
        self.outputs.assemble(batch, &scores)
    }
}

impl Predictor {
    fn n_outputs(&self) -> usize {
        match self {
            Predictor::Prior(values) => values.len(),
            Predictor::Rules(_) => 1,
            Predictor::Gbdt(trees) => trees.n_outputs(),
            Predictor::Neural(n) => n.0.n_outputs(),
        }
    }
}

fn preprocessor_columns(p: &Preprocessor) -> Vec<(&str, bool)> {
    p.numeric
        .iter()
        .map(|n| (n.name.as_str(), true))
        .chain(p.categorical.iter().map(|c| (c.name.as_str(), false)))
        .collect()
}

/// The bundle's preprocessor set to the encoding `network` reads (index codes for
/// embeddings, else one-hot), checked against the network's input width and vocabularies.
pub fn network_preprocessor(network: &Network, preprocessor: &Preprocessor) -> Result<Preprocessor> {
    let mut preprocessor = preprocessor.clone();
    let cardinalities = network.cardinalities();
    preprocessor.config.encoding = if cardinalities.is_empty() { Encoding::OneHot } else { Encoding::Index };
    let invalid = |problem: String| Error::InvalidModel { architecture: network.kind(), problem };
    if preprocessor.n_dense() != network.n_inputs() {
        return Err(invalid(format!(
            "reads {} dense inputs, but the bundle's preprocessor gives {}",
            network.n_inputs(),
            preprocessor.n_dense()
        )));
    }
    if !cardinalities.is_empty() && preprocessor.cardinalities() != cardinalities {
        return Err(invalid(format!(
            "embeds vocabularies of sizes {cardinalities:?}, but the bundle's preprocessor has {:?}",
            preprocessor.cardinalities()
        )));
    }
    Ok(preprocessor)
}

/// Raw network outputs to scores: the sigmoid (binary), the softmax of each row
/// (multiclass), or the values (regression).
pub fn scores(task: Task, outputs: &[f32], n_outputs: usize) -> Vec<f64> {
    match task {
        Task::Binary => outputs.iter().map(|z| sigmoid(f64::from(*z))).collect(),
        Task::Regression => outputs.iter().map(|v| f64::from(*v)).collect(),
        Task::Multiclass => outputs
            .chunks_exact(n_outputs.max(1))
            .flat_map(|row| {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exp: Vec<f64> = row.iter().map(|v| f64::from(v - max).exp()).collect();
                let sum: f64 = exp.iter().sum();
                exp.into_iter().map(move |e| e / sum)
            })
            .collect(),
    }
}

/// The logistic function, without overflow for large |z|.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests;

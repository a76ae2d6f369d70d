//! The bundle manifest: everything about a model except its weights, stored as JSON under the
//! `kiln.manifest` metadata key of the bundle's safetensors header.
//!
//! Also owns [`Architecture`], and with it the naming convention of each model's tensors
//! ([`Architecture::required_tensors`]). Must not read the clock, the environment or git:
//! the caller passes `created_at`, `git_commit` and `device` in.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::reference::ReferenceDistributions;
use super::tensor::TensorSpec;
use crate::model::gbdt::TREE_TENSORS;
use crate::preprocess::Preprocessor;
use crate::schema::{Schema, Task};

/// The tensor holding each numeric feature's centre (the mean under standard scaling).
pub const PREPROCESS_CENTER: &str = "preprocess.numeric.center";
/// The tensor holding each numeric feature's scale (the standard deviation, or 1).
pub const PREPROCESS_SCALE: &str = "preprocess.numeric.scale";
/// The tensor holding each numeric feature's fill value for missing entries.
pub const PREPROCESS_FILL: &str = "preprocess.numeric.fill";
/// The manifest of a bundle.
///
/// Non-finite numbers (a metric that was undefined on the test split) are stored as JSON
/// `null` and read back as NaN. Unknown fields are ignored on read, so that a later kiln may
/// add optional fields without a new format version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`super::FORMAT_VERSION`] for bundles this kiln writes.
    pub format_version: String,
    pub task: Task,
    /// The dataset schema; the categorical vocabularies live in `preprocessor`.
    pub schema: Schema,
    /// The fitted preprocessor, exactly (its numeric state is also stored as tensors, in f32,
    /// for readers outside kiln).
    pub preprocessor: Preprocessor,
    pub architecture: Architecture,
    /// The model's hyperparameters as configured, for the record.
    pub hyperparameters: serde_json::Value,
    /// Hashes of the data the model was trained on.
    pub data: DataHashes,
    /// Metrics on the test split, by name.
    #[serde(deserialize_with = "map_null_as_nan")]
    pub metrics: BTreeMap<String, f64>,
    /// Feature distributions of the training data, for drift checks.
    pub reference: ReferenceDistributions,
    /// The commit of the code that trained the model, when known.
    pub git_commit: Option<String>,
    /// Whether the work tree had uncommitted changes.
    pub git_dirty: bool,
    /// The kiln version that wrote the bundle.
    pub kiln_version: String,
    /// When the bundle was made, as RFC 3339 text.
    pub created_at: String,
    /// The device the model was trained on (`cpu`, `cuda:0`).
    pub device: String,
    /// A binary model's decision threshold: a row is predicted positive when its probability
    /// is at least this (the config's `[evaluation] threshold` at export, the threshold the
    /// model was evaluated with). `None` for other tasks, and in bundles exported before
    /// kiln recorded it: such a bundle still scores rows, but predicting labels from it
    /// fails with "export again", since the threshold it was evaluated with is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_threshold: Option<f64>,
}

/// Content hashes of the training data, its schema and its split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataHashes {
    pub data_hash: String,
    pub schema_hash: String,
    pub split_hash: String,
}

/// What the model is, with enough detail to rebuild it around the bundle's tensors.
///
/// Tagged by `kind` in JSON (`{"kind": "linear", "n_inputs": 3, "n_outputs": 1}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Architecture {
    /// The same output for every row: class priors, or the mean for regression. No tensors.
    Prior {
        #[serde(deserialize_with = "vec_null_as_nan")]
        values: Vec<f64>,
    },
    /// Hand-written or learned rules, in the rules model's own JSON. No tensors.
    Rules { rules: serde_json::Value },
    /// `outputs = inputs · linear.weightᵀ + linear.bias` over the dense features.
    Linear { n_inputs: usize, n_outputs: usize },
    /// A multilayer perceptron over the dense features.
    Mlp {
        n_inputs: usize,
        /// Widths of the hidden layers, input side first.
        hidden: Vec<usize>,
        n_outputs: usize,
        activation: String,
        /// The normalization after each hidden layer, if any (`layer_norm`, `batch_norm`).
        norm: Option<String>,
        /// Whether hidden layers of equal width add their input back.
        residual: bool,
    },
    /// The tabular ResNet: an input projection, `n_blocks` residual blocks
    /// (norm, linear, activation, linear) and a head.
    #[serde(rename = "resnet")]
    ResNet {
        /// Dense inputs (numeric features and their missing indicators).
        n_inputs: usize,
        /// Vocabulary size of each categorical feature, each embedded in `d_embedding`.
        cardinalities: Vec<usize>,
        d_embedding: usize,
        /// Width of the residual stream.
        d_model: usize,
        /// Inner width of each block.
        d_hidden: usize,
        n_blocks: usize,
        n_outputs: usize,
        activation: String,
        norm: String,
    },
    /// The FT-Transformer: one token per feature plus a CLS token, `n_blocks` transformer
    /// blocks and a head on the CLS token.
    FtTransformer {
        /// Numeric inputs, each turned into a token by its own weight and bias.
        n_numeric: usize,
        /// Vocabulary size of each categorical feature.
        cardinalities: Vec<usize>,
        /// Token width.
        d_model: usize,
        n_blocks: usize,
        n_heads: usize,
        /// Hidden width of each block's feed-forward layer.
        d_ffn: usize,
        n_outputs: usize,
        activation: String,
    },
    /// Gradient-boosted trees in kiln's format (`format`: `kiln.trees.v1`, the tensors of
    /// `kiln_core::model::gbdt`), fitted by `library` (name and version).
    Gbdt {
        library: String,
        n_outputs: usize,
        /// Absent in bundles of kiln versions that stored a library's own format.
        #[serde(default)]
        format: String,
    },
}

impl Architecture {
    /// The `kind` tag: `prior`, `rules`, `linear`, `mlp`, `resnet`, `ft_transformer`, `gbdt`.
    pub fn kind(&self) -> &'static str {
        match self {
            Architecture::Prior { .. } => "prior",
            Architecture::Rules { .. } => "rules",
            Architecture::Linear { .. } => "linear",
            Architecture::Mlp { .. } => "mlp",
            Architecture::ResNet { .. } => "resnet",
            Architecture::FtTransformer { .. } => "ft_transformer",
            Architecture::Gbdt { .. } => "gbdt",
        }
    }

    /// The tensors every model of this architecture holds, with their shapes.
    ///
    /// Weights are `[out, in]` (as in PyTorch), biases `[out]`. Tensors whose shape depends on
    /// a choice inside the model (normalization parameters and statistics, the feed-forward
    /// layers of the FT-Transformer, whose width depends on a gated activation) are not listed:
    /// a bundle may hold more tensors than these, and the model's loader checks the rest.
    pub fn required_tensors(&self) -> Vec<TensorSpec> {
        let mut specs = Vec::new();
        match self {
            Architecture::Prior { .. } | Architecture::Rules { .. } => {}
            Architecture::Linear { n_inputs, n_outputs } => {
                push_linear(&mut specs, "linear", *n_outputs, *n_inputs);
            }
            Architecture::Mlp { n_inputs, hidden, n_outputs, .. } => {
                let widths: Vec<usize> = std::iter::once(*n_inputs).chain(hidden.iter().copied()).collect();
                let outs = hidden.iter().copied().chain(std::iter::once(*n_outputs));
                for (layer, (n_in, n_out)) in widths.iter().zip(outs).enumerate() {
                    push_linear(&mut specs, &format!("mlp.layers.{layer}"), n_out, *n_in);
                }
            }
            Architecture::ResNet {
                n_inputs,
                cardinalities,
                d_embedding,
                d_model,
                d_hidden,
                n_blocks,
                n_outputs,
                ..
            } => {
                for (feature, cardinality) in cardinalities.iter().enumerate() {
                    specs.push(TensorSpec::f32(format!("resnet.embeddings.{feature}"), &[*cardinality, *d_embedding]));
                }
                let n_in = n_inputs + cardinalities.len() * d_embedding;
                push_linear(&mut specs, "resnet.input", *d_model, n_in);
                for block in 0..*n_blocks {
                    push_linear(&mut specs, &format!("resnet.blocks.{block}.linear1"), *d_hidden, *d_model);
                    push_linear(&mut specs, &format!("resnet.blocks.{block}.linear2"), *d_model, *d_hidden);
                }
                push_linear(&mut specs, "resnet.head", *n_outputs, *d_model);
            }
            Architecture::FtTransformer { n_numeric, cardinalities, d_model, n_blocks, n_outputs, .. } => {
                specs.push(TensorSpec::f32("ft_transformer.numeric.weight", &[*n_numeric, *d_model]));
                specs.push(TensorSpec::f32("ft_transformer.numeric.bias", &[*n_numeric, *d_model]));
                for (feature, cardinality) in cardinalities.iter().enumerate() {
                    specs.push(TensorSpec::f32(
                        format!("ft_transformer.categorical.{feature}"),
                        &[*cardinality, *d_model],
                    ));
                }
                specs.push(TensorSpec::f32("ft_transformer.cls", &[*d_model]));
                for block in 0..*n_blocks {
                    for projection in ["q", "k", "v", "out"] {
                        let name = format!("ft_transformer.blocks.{block}.attention.{projection}");
                        push_linear(&mut specs, &name, *d_model, *d_model);
                    }
                }
                push_linear(&mut specs, "ft_transformer.head", *n_outputs, *d_model);
            }
            Architecture::Gbdt { .. } => {
                for (name, dtype) in TREE_TENSORS {
                    specs.push(TensorSpec { name: name.to_string(), dtype, shape: vec![None] });
                }
            }
        }
        specs
    }
}

impl Manifest {
    /// Every tensor the manifest requires: the preprocessor's numeric state, then the model's.
    pub fn required_tensors(&self) -> Vec<TensorSpec> {
        let n_numeric = self.preprocessor.numeric.len();
        let mut specs: Vec<TensorSpec> = [PREPROCESS_CENTER, PREPROCESS_SCALE, PREPROCESS_FILL]
            .iter()
            .map(|name| TensorSpec::f32(*name, &[n_numeric]))
            .collect();
        specs.extend(self.architecture.required_tensors());
        specs
    }
}

fn push_linear(specs: &mut Vec<TensorSpec>, prefix: &str, n_out: usize, n_in: usize) {
    specs.push(TensorSpec::f32(format!("{prefix}.weight"), &[n_out, n_in]));
    specs.push(TensorSpec::f32(format!("{prefix}.bias"), &[n_out]));
}

/// serde_json writes a non-finite f64 as `null`; read such a `null` back as NaN.
fn map_null_as_nan<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, f64>, D::Error> {
    let map = BTreeMap::<String, Option<f64>>::deserialize(deserializer)?;
    Ok(map.into_iter().map(|(k, v)| (k, v.unwrap_or(f64::NAN))).collect())
}

fn vec_null_as_nan<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f64>, D::Error> {
    let values = Vec::<Option<f64>>::deserialize(deserializer)?;
    Ok(values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::TensorDtype;

    fn names(specs: &[TensorSpec]) -> Vec<&str> {
        specs.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn architecture_json_is_tagged_by_kind() {
        let linear = Architecture::Linear { n_inputs: 3, n_outputs: 1 };
        assert_eq!(serde_json::to_string(&linear).expect("json"), r#"{"kind":"linear","n_inputs":3,"n_outputs":1}"#);
        let resnet = serde_json::json!({
            "kind": "resnet", "n_inputs": 2, "cardinalities": [], "d_embedding": 0, "d_model": 4,
            "d_hidden": 8, "n_blocks": 1, "n_outputs": 1, "activation": "relu", "norm": "batch_norm"
        });
        let parsed: Architecture = serde_json::from_value(resnet).expect("resnet");
        assert_eq!(parsed.kind(), "resnet");
        let ft = Architecture::FtTransformer {
            n_numeric: 1,
            cardinalities: vec![],
            d_model: 8,
            n_blocks: 0,
            n_heads: 2,
            d_ffn: 16,
            n_outputs: 1,
            activation: "reglu".into(),
        };
        assert!(serde_json::to_string(&ft).expect("json").starts_with(r#"{"kind":"ft_transformer""#));
    }

    #[test]
    fn prior_values_survive_nan() {
        let prior = Architecture::Prior { values: vec![0.25, f64::NAN] };
        let text = serde_json::to_string(&prior).expect("json");
        assert_eq!(text, r#"{"kind":"prior","values":[0.25,null]}"#);
        let Architecture::Prior { values } = serde_json::from_str(&text).expect("parse") else { panic!("not a prior") };
        assert_eq!(values[0], 0.25);
        assert!(values[1].is_nan());
    }

    #[test]
    fn mlp_layers_chain_widths() {
        let mlp = Architecture::Mlp {
            n_inputs: 5,
            hidden: vec![8, 4],
            n_outputs: 3,
            activation: "relu".into(),
            norm: None,
            residual: false,
        };
        let specs = mlp.required_tensors();
        assert_eq!(
            names(&specs),
            [
                "mlp.layers.0.weight",
                "mlp.layers.0.bias",
                "mlp.layers.1.weight",
                "mlp.layers.1.bias",
                "mlp.layers.2.weight",
                "mlp.layers.2.bias"
            ]
        );
        let shapes: Vec<Vec<Option<usize>>> = specs.iter().map(|s| s.shape.clone()).collect();
        let some = |dims: &[usize]| dims.iter().copied().map(Some).collect::<Vec<_>>();
        assert_eq!(shapes, [some(&[8, 5]), some(&[8]), some(&[4, 8]), some(&[4]), some(&[3, 4]), some(&[3])]);
    }

    #[test]
    fn resnet_input_width_counts_embeddings() {
        let resnet = Architecture::ResNet {
            n_inputs: 3,
            cardinalities: vec![4, 6],
            d_embedding: 2,
            d_model: 16,
            d_hidden: 32,
            n_blocks: 2,
            n_outputs: 1,
            activation: "relu".into(),
            norm: "batch_norm".into(),
        };
        let specs = resnet.required_tensors();
        let input = specs.iter().find(|s| s.name == "resnet.input.weight").expect("input projection");
        assert_eq!(input.shape, vec![Some(16), Some(3 + 2 * 2)]);
        assert_eq!(specs.len(), 2 + 2 + 2 * 4 + 2);
    }

    #[test]
    fn prior_rules_and_gbdt_tensors() {
        assert!(Architecture::Prior { values: vec![0.5] }.required_tensors().is_empty());
        assert!(Architecture::Rules { rules: serde_json::Value::Null }.required_tensors().is_empty());
        let gbdt = Architecture::Gbdt { library: "lightgbm".into(), n_outputs: 1, format: "kiln.trees.v1".into() }
            .required_tensors();
        let names: Vec<&str> = gbdt.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, TREE_TENSORS.map(|(name, _)| name));
        assert!(gbdt.iter().all(|s| s.shape == vec![None]));
        assert_eq!(gbdt[2].dtype, TensorDtype::F64, "thresholds keep LightGBM's f64");
    }
}

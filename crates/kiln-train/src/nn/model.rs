//! The fitted neural model: its architecture, its weights and buffers as plain row-major `f32`
//! tensors named as `kiln_core::bundle::Architecture::required_tensors` names them, conversion
//! to and from bundle tensors, and prediction through kiln-core's inference forward pass
//! (`kiln_core::model::Network`, the one serving runs).
//!
//! [`NeuralModel::named_tensors`] is the one list of every tensor (parameters, then buffers);
//! training, checkpoints and bundles all walk it.

use std::collections::BTreeMap;

use kiln_core::bundle::{Architecture, TensorData};
use kiln_core::model::{BATCH, EmbeddingTable, Layout, Network, NormKind, NormLayer};
use kiln_core::preprocess::{Encoded, Encoding};
use kiln_core::schema::Task;

use super::batchnorm::RunningStats;
use super::embedding::Embedding;
use super::net::Workspace;
use crate::config::{Activation, Norm};
use crate::error::{Error, Result};
use crate::predictions::Predictions;

/// Which network: logistic / softmax / linear regression, or a multilayer perceptron.
#[derive(Debug, Clone, PartialEq)]
pub enum NeuralArch {
    Linear,
    /// Hidden layers: dense → norm → activation → dropout (+ the layer's input when `residual`
    /// and the widths match), then a dense head.
    Mlp {
        hidden: Vec<usize>,
        activation: Activation,
        norm: Norm,
        residual: bool,
    },
    /// The tabular ResNet of Gorishniy et al. (2021): a linear layer to `d_block`, `n_blocks`
    /// residual blocks `x + Dropout(Linear(Dropout(ReLU(Linear(LayerNorm(x))))))` with
    /// `d_hidden` inner units, then `Linear(ReLU(LayerNorm(x)))`.
    ///
    /// With `cardinalities` (one per categorical column, `d_embedding` > 0) the categorical
    /// columns come in as index codes, each looked up in its own `[cardinality, d_embedding]`
    /// table, and the input layer reads the dense features followed by the embeddings; without,
    /// the categorical columns come in one-hot among the dense features.
    ResNet {
        d_block: usize,
        d_hidden: usize,
        n_blocks: usize,
        d_embedding: usize,
        cardinalities: Vec<usize>,
    },
}

impl NeuralArch {
    /// The vocabulary size of each embedded categorical column (empty without embeddings).
    pub fn cardinalities(&self) -> &[usize] {
        match self {
            NeuralArch::ResNet { cardinalities, .. } => cardinalities,
            _ => &[],
        }
    }

    /// How the preprocessor must encode the categorical columns for this network: index codes
    /// for embeddings, else one-hot.
    pub fn encoding(&self) -> Encoding {
        if self.cardinalities().is_empty() { Encoding::OneHot } else { Encoding::Index }
    }
}

/// What a tensor of a [`NeuralModel`] is to training.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorKind {
    /// A dense weight: trained, with weight decay.
    Weight,
    /// A bias, a normalization's scale or shift, or an embedding table: trained, without
    /// weight decay.
    Parameter,
    /// A buffer the training loop updates outside the optimizer (batch normalization's
    /// running statistics).
    Buffer,
}

/// One dense layer: `weight` is `[n_out, n_in]` (as in PyTorch), `bias` `[n_out]`; the
/// inference layer of kiln-core, shared so that training and serving hold one layer type.
pub use kiln_core::model::DenseLayer as Dense;

/// A layer normalization's scale and shift.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerNormParams {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// A fitted neural model. Outputs are logits (classification) or values (regression).
#[derive(Debug, Clone, PartialEq)]
pub struct NeuralModel {
    pub task: Task,
    pub arch: NeuralArch,
    pub n_inputs: usize,
    pub n_outputs: usize,
    /// Hidden layers then the head (one layer for `Linear`). ResNet: the input layer, then
    /// each block's two layers, then the head.
    pub dense: Vec<Dense>,
    /// One per hidden layer when the norm is `layer` or `batch` (its scale and shift), else
    /// empty. ResNet: each block's norm, then the head's.
    pub norms: Vec<LayerNormParams>,
    /// One per hidden layer when the norm is `batch`, else empty.
    pub running: Vec<RunningStats>,
    /// ResNet: one table per categorical column when embedded, else empty.
    pub embeddings: Vec<Embedding>,
}

impl NeuralModel {
    /// A model of zeros (the caller initializes it).
    pub(crate) fn zeros(task: Task, arch: NeuralArch, n_inputs: usize, n_outputs: usize) -> Result<Self> {
        if let NeuralArch::ResNet { d_block, d_hidden, n_blocks, .. } = arch {
            return Self::resnet_zeros(task, arch, n_inputs, n_outputs, (d_block, d_hidden, n_blocks));
        }
        let hidden: &[usize] = match &arch {
            NeuralArch::Linear | NeuralArch::ResNet { .. } => &[],
            NeuralArch::Mlp { hidden, .. } => hidden,
        };
        if hidden.contains(&0) || n_inputs == 0 || n_outputs == 0 {
            return Err(Error::UnsupportedNeural { what: "a layer of width 0" });
        }
        let widths: Vec<usize> = std::iter::once(n_inputs).chain(hidden.iter().copied()).collect();
        let outs = hidden.iter().copied().chain(std::iter::once(n_outputs));
        let dense = widths
            .iter()
            .zip(outs)
            .map(|(n_in, n_out)| Dense { n_in: *n_in, n_out, weight: vec![0.0; n_in * n_out], bias: vec![0.0; n_out] })
            .collect();
        let norm = match &arch {
            NeuralArch::Mlp { norm, .. } => *norm,
            _ => Norm::None,
        };
        let norms = if norm == Norm::None {
            Vec::new()
        } else {
            hidden.iter().map(|w| LayerNormParams { weight: vec![1.0; *w], bias: vec![0.0; *w] }).collect()
        };
        let running =
            if norm == Norm::Batch { hidden.iter().map(|w| RunningStats::new(*w)).collect() } else { Vec::new() };
        Ok(Self { task, arch, n_inputs, n_outputs, dense, norms, running, embeddings: Vec::new() })
    }

    fn resnet_zeros(
        task: Task,
        arch: NeuralArch,
        n_inputs: usize,
        n_outputs: usize,
        (d_block, d_hidden, n_blocks): (usize, usize, usize),
    ) -> Result<Self> {
        let cardinalities = arch.cardinalities();
        let d_embedding = match &arch {
            NeuralArch::ResNet { d_embedding, .. } if !cardinalities.is_empty() => *d_embedding,
            _ => 0,
        };
        if !cardinalities.is_empty() && (d_embedding == 0 || cardinalities.contains(&0)) {
            return Err(Error::UnsupportedNeural { what: "an embedding of width 0 or an empty vocabulary" });
        }
        let width = n_inputs + cardinalities.len() * d_embedding;
        if d_block == 0 || d_hidden == 0 || width == 0 || n_outputs == 0 {
            return Err(Error::UnsupportedNeural { what: "a layer of width 0" });
        }
        let embeddings = cardinalities.iter().map(|c| Embedding::zeros(*c, d_embedding)).collect();
        let dense =
            |n_in: usize, n_out: usize| Dense { n_in, n_out, weight: vec![0.0; n_in * n_out], bias: vec![0.0; n_out] };
        let mut layers = vec![dense(width, d_block)];
        for _ in 0..n_blocks {
            layers.push(dense(d_block, d_hidden));
            layers.push(dense(d_hidden, d_block));
        }
        layers.push(dense(d_block, n_outputs));
        let norms =
            (0..=n_blocks).map(|_| LayerNormParams { weight: vec![1.0; d_block], bias: vec![0.0; d_block] }).collect();
        Ok(Self { task, arch, n_inputs, n_outputs, dense: layers, norms, running: Vec::new(), embeddings })
    }

    /// Every tensor with its bundle name and shape, in a fixed order: the trained parameters
    /// (dense layers, norms, embeddings), then the buffers (running statistics); the kinds are
    /// [`Self::tensor_kinds`], in the same order.
    pub fn named_tensors(&self) -> Vec<(String, Vec<usize>, &[f32])> {
        self.tensor_list().into_iter().map(|(name, shape, values, _)| (name, shape, values)).collect()
    }

    /// What each tensor of [`Self::named_tensors`] is, in the same order.
    pub fn tensor_kinds(&self) -> Vec<TensorKind> {
        self.tensor_list().into_iter().map(|(_, _, _, kind)| kind).collect()
    }

    /// The list behind [`Self::named_tensors`] and [`Self::tensor_kinds`]: name, shape, values
    /// and kind of every tensor. [`Self::all_tensors_mut`] walks the same fields in the same
    /// order (checked by the unit tests).
    fn tensor_list(&self) -> Vec<(String, Vec<usize>, &[f32], TensorKind)> {
        let n_dense = self.dense.len();
        let prefix = |layer: usize| match self.arch {
            NeuralArch::Linear => "linear".to_string(),
            NeuralArch::Mlp { .. } => format!("mlp.layers.{layer}"),
            NeuralArch::ResNet { .. } if layer == 0 => "resnet.input".to_string(),
            NeuralArch::ResNet { .. } if layer + 1 == n_dense => "resnet.head".to_string(),
            NeuralArch::ResNet { .. } => format!("resnet.blocks.{}.linear{}", (layer - 1) / 2, 2 - layer % 2),
        };
        let n_norms = self.norms.len();
        let norm_prefix = |layer: usize| match self.arch {
            NeuralArch::ResNet { .. } if layer + 1 == n_norms => "resnet.head_norm".to_string(),
            NeuralArch::ResNet { .. } => format!("resnet.blocks.{layer}.norm"),
            _ => format!("mlp.norms.{layer}"),
        };
        let (weight, parameter, buffer) = (TensorKind::Weight, TensorKind::Parameter, TensorKind::Buffer);
        let mut tensors = Vec::new();
        for (layer, dense) in self.dense.iter().enumerate() {
            let shape = vec![dense.n_out, dense.n_in];
            tensors.push((format!("{}.weight", prefix(layer)), shape, &dense.weight[..], weight));
            tensors.push((format!("{}.bias", prefix(layer)), vec![dense.n_out], &dense.bias[..], parameter));
        }
        for (layer, norm) in self.norms.iter().enumerate() {
            let shape = vec![norm.weight.len()];
            tensors.push((format!("{}.weight", norm_prefix(layer)), shape.clone(), &norm.weight[..], parameter));
            tensors.push((format!("{}.bias", norm_prefix(layer)), shape, &norm.bias[..], parameter));
        }
        for (feature, table) in self.embeddings.iter().enumerate() {
            let shape = vec![table.cardinality, table.dim];
            tensors.push((format!("resnet.embeddings.{feature}"), shape, &table.weight[..], parameter));
        }
        for (layer, stats) in self.running.iter().enumerate() {
            let shape = vec![stats.mean.len()];
            tensors.push((format!("{}.running_mean", norm_prefix(layer)), shape.clone(), &stats.mean[..], buffer));
            tensors.push((format!("{}.running_var", norm_prefix(layer)), shape, &stats.var[..], buffer));
        }
        tensors
    }

    /// Every tensor, mutable, in the order of [`Self::named_tensors`], with its kind.
    pub fn all_tensors_mut(&mut self) -> Vec<(&mut [f32], TensorKind)> {
        let mut tensors: Vec<(&mut [f32], TensorKind)> = Vec::new();
        for dense in &mut self.dense {
            tensors.push((&mut dense.weight[..], TensorKind::Weight));
            tensors.push((&mut dense.bias[..], TensorKind::Parameter));
        }
        for norm in &mut self.norms {
            tensors.push((&mut norm.weight[..], TensorKind::Parameter));
            tensors.push((&mut norm.bias[..], TensorKind::Parameter));
        }
        for table in &mut self.embeddings {
            tensors.push((&mut table.weight[..], TensorKind::Parameter));
        }
        for stats in &mut self.running {
            tensors.push((&mut stats.mean[..], TensorKind::Buffer));
            tensors.push((&mut stats.var[..], TensorKind::Buffer));
        }
        tensors
    }

    /// Every trained tensor (buffers left out), mutable, in the order of
    /// [`Self::named_tensors`] (of which they are the first), with whether weight decay applies
    /// to it (dense weights only).
    pub(crate) fn tensors_mut(&mut self) -> Vec<(&mut [f32], bool)> {
        self.all_tensors_mut()
            .into_iter()
            .filter(|(_, kind)| *kind != TensorKind::Buffer)
            .map(|(tensor, kind)| (tensor, kind == TensorKind::Weight))
            .collect()
    }

    /// The bundle architecture.
    pub fn architecture(&self) -> Architecture {
        match &self.arch {
            NeuralArch::Linear => Architecture::Linear { n_inputs: self.n_inputs, n_outputs: self.n_outputs },
            NeuralArch::Mlp { hidden, activation, norm, residual } => Architecture::Mlp {
                n_inputs: self.n_inputs,
                hidden: hidden.clone(),
                n_outputs: self.n_outputs,
                activation: activation_name(*activation).to_string(),
                norm: match norm {
                    Norm::None => None,
                    Norm::Layer => Some("layer_norm".to_string()),
                    Norm::Batch => Some("batch_norm".to_string()),
                },
                residual: *residual,
            },
            NeuralArch::ResNet { d_block, d_hidden, n_blocks, d_embedding, cardinalities } => Architecture::ResNet {
                n_inputs: self.n_inputs,
                cardinalities: cardinalities.clone(),
                d_embedding: if cardinalities.is_empty() { 0 } else { *d_embedding },
                d_model: *d_block,
                d_hidden: *d_hidden,
                n_blocks: *n_blocks,
                n_outputs: self.n_outputs,
                activation: "relu".to_string(),
                norm: "layer_norm".to_string(),
            },
        }
    }

    /// The weights as bundle tensors.
    pub fn to_tensors(&self) -> BTreeMap<String, TensorData> {
        self.named_tensors()
            .into_iter()
            .map(|(name, shape, values)| (name, TensorData::from_f32(shape, values)))
            .collect()
    }

    /// A model from its bundle architecture and tensors; every tensor must be present with the
    /// expected shape.
    pub fn from_tensors(
        task: Task,
        architecture: &Architecture,
        tensors: &BTreeMap<String, TensorData>,
    ) -> Result<Self> {
        let (arch, n_inputs, n_outputs) = match architecture {
            Architecture::Linear { n_inputs, n_outputs } => (NeuralArch::Linear, *n_inputs, *n_outputs),
            Architecture::Mlp { n_inputs, hidden, n_outputs, activation, norm, residual } => {
                let activation = parse_activation(activation)?;
                let norm = match norm.as_deref() {
                    None => Norm::None,
                    Some("layer_norm") => Norm::Layer,
                    Some("batch_norm") => Norm::Batch,
                    Some(_) => {
                        return Err(Error::UnsupportedNeural {
                            what: "a normalization other than layer_norm or batch_norm",
                        });
                    }
                };
                (
                    NeuralArch::Mlp { hidden: hidden.clone(), activation, norm, residual: *residual },
                    *n_inputs,
                    *n_outputs,
                )
            }
            Architecture::ResNet {
                n_inputs,
                cardinalities,
                d_embedding,
                d_model,
                d_hidden,
                n_blocks,
                n_outputs,
                activation,
                norm,
                ..
            } => {
                if activation != "relu" {
                    return Err(Error::UnsupportedNeural { what: "a ResNet activation other than relu" });
                }
                if norm != "layer_norm" {
                    return Err(Error::UnsupportedNeural { what: "a ResNet normalization other than layer_norm" });
                }
                (
                    NeuralArch::ResNet {
                        d_block: *d_model,
                        d_hidden: *d_hidden,
                        n_blocks: *n_blocks,
                        d_embedding: *d_embedding,
                        cardinalities: cardinalities.clone(),
                    },
                    *n_inputs,
                    *n_outputs,
                )
            }
            _ => return Err(Error::UnsupportedNeural { what: "an architecture other than linear, mlp or resnet" }),
        };
        let mut model = Self::zeros(task, arch, n_inputs, n_outputs)?;
        let specs: Vec<(String, Vec<usize>)> =
            model.named_tensors().into_iter().map(|(name, shape, _)| (name, shape)).collect();
        for ((name, shape), (slot, _)) in specs.into_iter().zip(model.all_tensors_mut()) {
            let tensor = tensors.get(&name).ok_or_else(|| Error::MissingTensor { name: name.clone() })?;
            if tensor.shape != shape {
                return Err(Error::TensorShape { name, expected: shape, found: tensor.shape.clone() });
            }
            let values =
                tensor.to_f32().map_err(|source| Error::TensorRead { name: name.clone(), source: Box::new(source) })?;
            slot.copy_from_slice(&values);
        }
        Ok(model)
    }

    /// The network as kiln-core runs it for inference (the weights copied).
    pub fn network(&self) -> Result<Network> {
        let layout = match &self.arch {
            NeuralArch::Linear => Layout::Linear,
            NeuralArch::Mlp { activation, norm, residual, .. } => Layout::Mlp {
                activation: core_activation(*activation),
                norm: match norm {
                    Norm::None => NormKind::None,
                    Norm::Layer => NormKind::Layer,
                    Norm::Batch => NormKind::Batch,
                },
                residual: *residual,
            },
            NeuralArch::ResNet { n_blocks, .. } => Layout::ResNet { n_blocks: *n_blocks },
        };
        let dense = self.dense.clone();
        let norms = self
            .norms
            .iter()
            .enumerate()
            .map(|(i, n)| NormLayer {
                weight: n.weight.clone(),
                bias: n.bias.clone(),
                running: self.running.get(i).map(|r| (r.mean.clone(), r.var.clone())),
            })
            .collect();
        let embeddings = self
            .embeddings
            .iter()
            .map(|t| EmbeddingTable { cardinality: t.cardinality, dim: t.dim, weight: t.weight.clone() })
            .collect();
        Network::new(layout, self.n_inputs, self.n_outputs, dense, norms, embeddings).map_err(Error::Score)
    }

    /// The raw outputs (logits or values), `n_rows * n_outputs`, row-major, computed by
    /// kiln-core's inference forward pass (the one serving runs).
    pub fn outputs(&self, data: &Encoded) -> Result<Vec<f32>> {
        check_inputs(self.n_inputs, &self.arch, data)?;
        self.network()?.outputs(data).map_err(Error::Score)
    }

    /// The raw outputs of training's own forward pass in evaluation mode (batch norm on its
    /// running estimates, no dropout), in blocks of kiln-core's `BATCH` rows: the reference
    /// that [`NeuralModel::outputs`] is checked against.
    pub fn training_pass_outputs(&self, data: &Encoded) -> Result<Vec<f32>> {
        check_inputs(self.n_inputs, &self.arch, data)?;
        let mut workspace = Workspace::new(self, BATCH.min(data.n_rows.max(1)), false);
        let mut outputs = vec![0.0; data.n_rows * self.n_outputs];
        for (start, chunk) in (0..data.n_rows).step_by(BATCH).zip(outputs.chunks_mut(BATCH * self.n_outputs)) {
            let rows = (data.n_rows - start).min(BATCH);
            workspace.load_range(data, start, rows);
            workspace.forward(self, rows, None, 1);
            chunk.copy_from_slice(&workspace.outputs()[..rows * self.n_outputs]);
        }
        Ok(outputs)
    }

    /// Predictions in the task's shape: P(positive), class probabilities, or values.
    pub fn predict(&self, data: &Encoded) -> Result<Predictions> {
        let outputs = self.outputs(data)?;
        Ok(to_predictions(self.task, &outputs, self.n_outputs))
    }
}

/// Outputs to predictions: the sigmoid (binary), the softmax (multiclass) or as is.
pub(crate) fn to_predictions(task: Task, outputs: &[f32], n_outputs: usize) -> Predictions {
    let n_rows = outputs.len() / n_outputs.max(1);
    Predictions { task, n_rows, n_outputs, values: kiln_core::model::scores(task, outputs, n_outputs) }
}

/// Check that the encoded data has the input width of a model of `arch`, and as many
/// categorical codes as it embeds, each within its vocabulary.
pub(crate) fn check_inputs(n_inputs: usize, arch: &NeuralArch, data: &Encoded) -> Result<()> {
    if data.n_dense != n_inputs || data.dense.len() != data.n_rows * data.n_dense {
        return Err(Error::InputWidth { expected: n_inputs, found: data.n_dense });
    }
    let cardinalities = arch.cardinalities();
    if data.n_codes != cardinalities.len() || data.codes.len() != data.n_rows * data.n_codes {
        return Err(Error::InputCodes { expected: cardinalities.len(), found: data.n_codes });
    }
    if cardinalities.is_empty() {
        return Ok(());
    }
    for row in data.codes.chunks_exact(cardinalities.len()) {
        for (feature, (code, cardinality)) in row.iter().zip(cardinalities).enumerate() {
            if *code as usize >= *cardinality {
                return Err(Error::CodeOutOfRange { feature, code: *code, cardinality: *cardinality });
            }
        }
    }
    Ok(())
}

fn activation_name(activation: Activation) -> &'static str {
    match activation {
        Activation::Relu => "relu",
        Activation::Gelu => "gelu_tanh",
        Activation::Silu => "silu",
        Activation::Tanh => "tanh",
    }
}

fn core_activation(activation: Activation) -> kiln_core::model::Activation {
    match activation {
        Activation::Relu => kiln_core::model::Activation::Relu,
        Activation::Gelu => kiln_core::model::Activation::GeluTanh,
        Activation::Silu => kiln_core::model::Activation::Silu,
        Activation::Tanh => kiln_core::model::Activation::Tanh,
    }
}

fn parse_activation(name: &str) -> Result<Activation> {
    Ok(match name {
        "relu" => Activation::Relu,
        "gelu_tanh" => Activation::Gelu,
        "silu" => Activation::Silu,
        "tanh" => Activation::Tanh,
        _ => return Err(Error::UnsupportedNeural { what: "an unknown activation" }),
    })
}

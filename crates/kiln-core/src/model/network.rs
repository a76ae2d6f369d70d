//! The neural networks kiln trains (linear, MLP with layer or batch norm, the tabular ResNet
//! with optional categorical embeddings) as inference needs them: their layers, checked once
//! when built, and their rebuilding from a bundle's architecture and tensors.
//!
//! Tensor names are the bundle format's (`kiln_core::bundle::Architecture::required_tensors`
//! plus the normalization and embedding tensors): `linear.*`; `mlp.layers.{i}.*`,
//! `mlp.norms.{i}.weight` / `.bias` (batch norm also `.running_mean` / `.running_var`);
//! `resnet.input.*`, `resnet.blocks.{i}.linear1.*` / `.linear2.*` / `.norm.*`,
//! `resnet.head_norm.*`, `resnet.head.*`, `resnet.embeddings.{j}`. The forward pass lives in
//! `forward`; this module never computes.

use std::collections::BTreeMap;

use crate::bundle::{Architecture, TensorData, TensorDtype, show_shape};
use crate::error::{Error, Result};

/// An activation function, named as bundles name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Relu,
    /// GELU, tanh approximation (`gelu_tanh`).
    GeluTanh,
    Silu,
    Tanh,
}

impl Activation {
    /// The bundle's name: `relu`, `gelu_tanh`, `silu`, `tanh`.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::GeluTanh => "gelu_tanh",
            Activation::Silu => "silu",
            Activation::Tanh => "tanh",
        }
    }

    /// The activation called `name` in a bundle.
    pub fn from_name(name: &str) -> Option<Self> {
        [Activation::Relu, Activation::GeluTanh, Activation::Silu, Activation::Tanh]
            .into_iter()
            .find(|a| a.name() == name)
    }
}

/// The normalization after each hidden layer of an MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    None,
    /// Layer normalization (epsilon 1e-5).
    Layer,
    /// Batch normalization with its running estimates (PyTorch's `BatchNorm1d` in evaluation).
    Batch,
}

/// How the layers of a [`Network`] connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One dense layer.
    Linear,
    /// Hidden layers `dense → norm → activation` (+ the layer's input when `residual` and the
    /// widths match), then a dense head.
    Mlp { activation: Activation, norm: NormKind, residual: bool },
    /// The tabular ResNet (Gorishniy et al., 2021): an input layer, `n_blocks` blocks
    /// `x + Linear(ReLU(Linear(LayerNorm(x))))`, then `Linear(ReLU(LayerNorm(x)))`. Its dense
    /// layers are the input layer, each block's two layers and the head; its norms each
    /// block's, then the head's.
    ResNet { n_blocks: usize },
}

/// One dense layer: `weight` is `[n_out, n_in]` (as in PyTorch), `bias` `[n_out]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseLayer {
    pub n_in: usize,
    pub n_out: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// A normalization's scale and shift, and a batch norm's running mean and variance.
#[derive(Debug, Clone, PartialEq)]
pub struct NormLayer {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    /// Batch norm only: `(running_mean, running_var)`.
    pub running: Option<(Vec<f32>, Vec<f32>)>,
}

/// One categorical column's embedding table, row-major `[cardinality, dim]`.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingTable {
    pub cardinality: usize,
    pub dim: usize,
    pub weight: Vec<f32>,
}

/// A network ready for inference. Built by [`Network::new`] (or [`Network::from_tensors`]),
/// which checks that every layer fits the next, so that the forward pass cannot fail on a
/// well-shaped input.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub(crate) layout: Layout,
    pub(crate) n_inputs: usize,
    pub(crate) n_outputs: usize,
    pub(crate) dense: Vec<DenseLayer>,
    pub(crate) norms: Vec<NormLayer>,
    pub(crate) embeddings: Vec<EmbeddingTable>,
}

impl Network {
    /// A network of `layout` over `n_inputs` dense features (followed, for an embedding
    /// ResNet, by one embedding per table) giving `n_outputs` values; fails, naming the
    /// layer, when a layer does not fit its neighbours.
    pub fn new(
        layout: Layout,
        n_inputs: usize,
        n_outputs: usize,
        dense: Vec<DenseLayer>,
        norms: Vec<NormLayer>,
        embeddings: Vec<EmbeddingTable>,
    ) -> Result<Self> {
        let network = Self { layout, n_inputs, n_outputs, dense, norms, embeddings };
        network.check().map_err(|problem| Error::InvalidModel { architecture: network.kind(), problem })?;
        Ok(network)
    }

    /// `linear`, `mlp` or `resnet`.
    pub fn kind(&self) -> &'static str {
        match self.layout {
            Layout::Linear => "linear",
            Layout::Mlp { .. } => "mlp",
            Layout::ResNet { .. } => "resnet",
        }
    }

    /// Dense input features per row.
    pub fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    /// Output values per row (logits, or values for regression).
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// The vocabulary size of each embedded categorical column (empty without embeddings).
    pub fn cardinalities(&self) -> Vec<usize> {
        self.embeddings.iter().map(|t| t.cardinality).collect()
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.n_inputs + self.embeddings.len() == 0 || self.n_outputs == 0 {
            return Err("has no inputs or no outputs".into());
        }
        for (i, layer) in self.dense.iter().enumerate() {
            if layer.n_in == 0 || layer.n_out == 0 {
                return Err(format!("has a layer of width 0 (dense layer {i})"));
            }
            if layer.weight.len() != layer.n_in * layer.n_out || layer.bias.len() != layer.n_out {
                return Err(format!(
                    "has a dense layer {i} whose weight or bias does not fit [{}, {}]",
                    layer.n_out, layer.n_in
                ));
            }
        }
        for (j, table) in self.embeddings.iter().enumerate() {
            if table.cardinality == 0 || table.dim == 0 || table.weight.len() != table.cardinality * table.dim {
                return Err(format!("has an empty or ill-shaped embedding table {j}"));
            }
        }
        let width = self.n_inputs + self.embeddings.iter().map(|t| t.dim).sum::<usize>();
        let (first, last) = match (self.dense.first(), self.dense.last()) {
            (Some(first), Some(last)) => (first, last),
            _ => return Err("has no dense layer".into()),
        };
        if first.n_in != width {
            return Err(format!("reads {width} inputs but its first layer takes {}", first.n_in));
        }
        if last.n_out != self.n_outputs {
            return Err(format!("gives {} outputs but its head has {}", self.n_outputs, last.n_out));
        }
        let chained = |layers: &[DenseLayer]| layers.windows(2).all(|w| w[0].n_out == w[1].n_in);
        match self.layout {
            Layout::Linear if self.dense.len() != 1 || !self.norms.is_empty() || !self.embeddings.is_empty() => {
                Err("must be one dense layer".into())
            }
            Layout::Linear => Ok(()),
            Layout::Mlp { norm, .. } => {
                if !self.embeddings.is_empty() {
                    return Err("cannot embed categorical columns".into());
                }
                if !chained(&self.dense) {
                    return Err("has consecutive layers of different widths".into());
                }
                let hidden = &self.dense[..self.dense.len() - 1];
                let expected = if norm == NormKind::None { 0 } else { hidden.len() };
                if self.norms.len() != expected {
                    return Err(format!("has {} norms for {expected} normalized layers", self.norms.len()));
                }
                for (i, (norm_layer, layer)) in self.norms.iter().zip(hidden).enumerate() {
                    check_norm(norm_layer, layer.n_out, norm == NormKind::Batch)
                        .map_err(|p| format!("norm {i} {p}"))?;
                }
                Ok(())
            }
            Layout::ResNet { n_blocks } => {
                if self.dense.len() != 2 * n_blocks + 2 || self.norms.len() != n_blocks + 1 {
                    return Err(format!(
                        "of {n_blocks} blocks has {} dense layers and {} norms",
                        self.dense.len(),
                        self.norms.len()
                    ));
                }
                let d = first.n_out;
                for block in 0..n_blocks {
                    let (linear1, linear2) = (&self.dense[1 + 2 * block], &self.dense[2 + 2 * block]);
                    if linear1.n_in != d || linear2.n_in != linear1.n_out || linear2.n_out != d {
                        return Err(format!("block {block} does not map width {d} back to {d}"));
                    }
                }
                if last.n_in != d {
                    return Err(format!("has a head reading {} values from a stream of width {d}", last.n_in));
                }
                for (i, norm_layer) in self.norms.iter().enumerate() {
                    check_norm(norm_layer, d, false).map_err(|p| format!("norm {i} {p}"))?;
                }
                Ok(())
            }
        }
    }

    /// Rebuild the network of a bundle's `architecture` (`linear`, `mlp` or `resnet`) from its
    /// `tensors`; an error names the tensor that is absent, ill-typed, ill-shaped or truncated.
    pub fn from_tensors(architecture: &Architecture, tensors: &BTreeMap<String, TensorData>) -> Result<Self> {
        let kind = architecture.kind();
        let invalid = |problem: String| Error::InvalidModel { architecture: kind, problem };
        let dense = |prefix: &str, n_out: usize, n_in: usize| -> Result<DenseLayer> {
            Ok(DenseLayer {
                n_in,
                n_out,
                weight: read_f32(tensors, &format!("{prefix}.weight"), &[n_out, n_in])?,
                bias: read_f32(tensors, &format!("{prefix}.bias"), &[n_out])?,
            })
        };
        let norm = |prefix: &str, width: usize, batch: bool| -> Result<NormLayer> {
            let running = if batch {
                Some((
                    read_f32(tensors, &format!("{prefix}.running_mean"), &[width])?,
                    read_f32(tensors, &format!("{prefix}.running_var"), &[width])?,
                ))
            } else {
                None
            };
            Ok(NormLayer {
                weight: read_f32(tensors, &format!("{prefix}.weight"), &[width])?,
                bias: read_f32(tensors, &format!("{prefix}.bias"), &[width])?,
                running,
            })
        };
        match architecture {
            Architecture::Linear { n_inputs, n_outputs } => {
                let layer = dense("linear", *n_outputs, *n_inputs)?;
                Self::new(Layout::Linear, *n_inputs, *n_outputs, vec![layer], Vec::new(), Vec::new())
            }
            Architecture::Mlp { n_inputs, hidden, n_outputs, activation, norm: norm_name, residual } => {
                let activation = Activation::from_name(activation)
                    .ok_or_else(|| invalid(format!("has an unknown activation `{activation}`")))?;
                let norm_kind = match norm_name.as_deref() {
                    None => NormKind::None,
                    Some("layer_norm") => NormKind::Layer,
                    Some("batch_norm") => NormKind::Batch,
                    Some(other) => return Err(invalid(format!("has an unknown normalization `{other}`"))),
                };
                if hidden.contains(&0) {
                    return Err(invalid("has a hidden layer of width 0".into()));
                }
                let widths: Vec<usize> = std::iter::once(*n_inputs).chain(hidden.iter().copied()).collect();
                let outs = hidden.iter().copied().chain(std::iter::once(*n_outputs));
                let layers = widths
                    .iter()
                    .zip(outs)
                    .enumerate()
                    .map(|(i, (n_in, n_out))| dense(&format!("mlp.layers.{i}"), n_out, *n_in))
                    .collect::<Result<Vec<_>>>()?;
                let norms = if norm_kind == NormKind::None {
                    Vec::new()
                } else {
                    let batch = norm_kind == NormKind::Batch;
                    hidden
                        .iter()
                        .enumerate()
                        .map(|(i, width)| norm(&format!("mlp.norms.{i}"), *width, batch))
                        .collect::<Result<Vec<_>>>()?
                };
                let layout = Layout::Mlp { activation, norm: norm_kind, residual: *residual };
                Self::new(layout, *n_inputs, *n_outputs, layers, norms, Vec::new())
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
                norm: norm_name,
            } => {
                if activation != "relu" {
                    return Err(invalid(format!("has the activation `{activation}`; a ResNet uses relu")));
                }
                if norm_name != "layer_norm" {
                    return Err(invalid(format!("has the normalization `{norm_name}`; a ResNet uses layer_norm")));
                }
                if !cardinalities.is_empty() && (*d_embedding == 0 || cardinalities.contains(&0)) {
                    return Err(invalid("has an embedding of width 0 or an empty vocabulary".into()));
                }
                let embeddings = cardinalities
                    .iter()
                    .enumerate()
                    .map(|(j, c)| {
                        let weight = read_f32(tensors, &format!("resnet.embeddings.{j}"), &[*c, *d_embedding])?;
                        Ok(EmbeddingTable { cardinality: *c, dim: *d_embedding, weight })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let width = n_inputs + cardinalities.len() * d_embedding;
                let mut layers = vec![dense("resnet.input", *d_model, width)?];
                let mut norms = Vec::with_capacity(n_blocks + 1);
                for block in 0..*n_blocks {
                    layers.push(dense(&format!("resnet.blocks.{block}.linear1"), *d_hidden, *d_model)?);
                    layers.push(dense(&format!("resnet.blocks.{block}.linear2"), *d_model, *d_hidden)?);
                    norms.push(norm(&format!("resnet.blocks.{block}.norm"), *d_model, false)?);
                }
                layers.push(dense("resnet.head", *n_outputs, *d_model)?);
                norms.push(norm("resnet.head_norm", *d_model, false)?);
                Self::new(Layout::ResNet { n_blocks: *n_blocks }, *n_inputs, *n_outputs, layers, norms, embeddings)
            }
            other => Err(Error::InvalidModel {
                architecture: other.kind(),
                problem: "is not a network kiln can run (linear, mlp or resnet)".into(),
            }),
        }
    }
}

/// A norm's tensors have `width` values; a batch norm (`batch`) has running estimates.
fn check_norm(norm: &NormLayer, width: usize, batch: bool) -> std::result::Result<(), String> {
    if norm.weight.len() != width || norm.bias.len() != width {
        return Err(format!("does not have {width} scales and shifts"));
    }
    match (&norm.running, batch) {
        (Some((mean, var)), true) if mean.len() == width && var.len() == width => Ok(()),
        (_, true) => Err(format!("lacks running estimates of width {width}")),
        (_, false) => Ok(()),
    }
}

/// The values of the F32 tensor `name`, which must have exactly `shape`.
pub(crate) fn read_f32(tensors: &BTreeMap<String, TensorData>, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
    let problem = |problem: String| Error::ModelTensor { tensor: name.to_string(), problem };
    let tensor = tensors.get(name).ok_or_else(|| problem("is missing from the bundle".into()))?;
    if tensor.dtype != TensorDtype::F32 {
        return Err(problem(format!("holds {} values, expected F32", tensor.dtype)));
    }
    if tensor.shape != shape {
        return Err(problem(format!("has shape {}, expected {}", show_shape(&tensor.shape), show_shape(shape))));
    }
    if !tensor.is_consistent() {
        let expected = shape.iter().product::<usize>() * 4;
        return Err(problem(format!(
            "holds {} bytes, but shape {} needs {expected}",
            tensor.bytes.len(),
            show_shape(shape)
        )));
    }
    tensor.to_f32().map_err(|e| problem(e.to_string()))
}

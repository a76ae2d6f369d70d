//! The forward pass of a [`NeuralModel`]'s architecture on candle tensors (candle's autograd
//! gives the backward pass), the model's weights as candle variables, and dropout masks drawn
//! from kiln's generator.

use candle_core::{D, DType, Device, Tensor, Var};
use kiln_core::preprocess::Encoded;
use kiln_core::rng::Rng;

use super::candle_err;
use crate::backend::Precision;
use crate::config::{Activation, Norm};
use crate::error::{Error, Result};
use crate::nn::model::{NeuralArch, NeuralModel};

/// Layer-norm epsilon, as the native kernels use it.
const LAYER_NORM_EPS: f64 = 1e-5;

/// The model's tensors as candle variables, in the order of [`NeuralModel::named_tensors`]:
/// each dense layer's weight `[n_out, n_in]` and bias `[n_out]`, then each norm's weight and
/// bias.
pub(super) struct Params {
    pub(super) vars: Vec<Var>,
    /// Whether weight decay applies (dense weights only).
    pub(super) decay: Vec<bool>,
    n_dense: usize,
}

impl Params {
    /// Upload a model's weights to `device`.
    pub(super) fn upload(model: &NeuralModel, device: &Device) -> Result<Self> {
        let tensors = model.named_tensors();
        let mut vars = Vec::with_capacity(tensors.len());
        for (_, shape, values) in &tensors {
            let tensor =
                Tensor::from_slice(values, shape.as_slice(), device).map_err(candle_err("uploading weights"))?;
            vars.push(Var::from_tensor(&tensor).map_err(candle_err("uploading weights"))?);
        }
        let n_dense = model.dense.len();
        let decay = (0..tensors.len()).map(|i| i < 2 * n_dense && i % 2 == 0).collect();
        Ok(Self { vars, decay, n_dense })
    }

    /// The current values as plain tensors (no gradient tracking), for evaluation.
    pub(super) fn detached(&self) -> Vec<Tensor> {
        self.vars.iter().map(|v| v.as_tensor().detach()).collect()
    }

    /// The current values tracked by autograd, for training.
    pub(super) fn tracked(&self) -> Vec<Tensor> {
        self.vars.iter().map(|v| v.as_tensor().clone()).collect()
    }

    /// Copy the weights back into a model of the same shape.
    pub(super) fn download_into(&self, model: &mut NeuralModel) -> Result<()> {
        for ((slot, _), var) in model.tensors_mut().into_iter().zip(&self.vars) {
            let values: Vec<f32> = var
                .as_tensor()
                .flatten_all()
                .and_then(|t| t.to_vec1())
                .map_err(candle_err("copying weights back from the device"))?;
            slot.copy_from_slice(&values);
        }
        Ok(())
    }

    pub(super) fn n_dense(&self) -> usize {
        self.n_dense
    }
}

/// Dropout masks from kiln's generator, drawn in the native trainer's order (one uniform per
/// value, row-major, layer by layer) and uploaded as bytes.
pub(super) struct Dropout {
    rate: f32,
    rng: Rng,
    buffer: Vec<u8>,
}

impl Dropout {
    pub(super) fn new(rate: f32, rng: Rng) -> Self {
        Self { rate, rng, buffer: Vec::new() }
    }

    /// The generator's state (for a checkpoint).
    pub(super) fn rng_state(&self) -> [u64; 4] {
        self.rng.state()
    }

    /// Multiply `values` `[rows, width]` by a fresh mask (0 or 1 / (1 − rate) per value).
    fn apply(&mut self, values: &Tensor) -> candle_core::Result<Tensor> {
        let (rows, width) = values.dims2()?;
        self.buffer.clear();
        let rate = self.rate;
        let rng = &mut self.rng;
        self.buffer.extend((0..rows * width).map(|_| u8::from((rng.uniform() as f32) >= rate)));
        let keep = 1.0 / (1.0 - f64::from(rate));
        let mask = Tensor::from_slice(&self.buffer, (rows, width), values.device())?.to_dtype(DType::F32)?;
        values.mul(&mask.affine(keep, 0.0)?)
    }
}

/// The network of one architecture over parameter tensors in [`Params`] order.
pub(super) struct Net {
    arch: NeuralArch,
    activation: Activation,
    layer_norm: bool,
    precision: Precision,
}

impl Net {
    pub(super) fn new(arch: &NeuralArch, precision: Precision) -> Result<Self> {
        let (activation, layer_norm) = match arch {
            NeuralArch::Linear => (Activation::Relu, false),
            NeuralArch::ResNet { .. } => (Activation::Relu, true),
            NeuralArch::Mlp { activation, norm, .. } => match norm {
                Norm::None => (*activation, false),
                Norm::Layer => (*activation, true),
                _ => {
                    return Err(Error::UnsupportedNeural {
                        what: "this normalization on the candle backend (use `layer` or `none`, or --device cpu)",
                    });
                }
            },
        };
        Ok(Self { arch: arch.clone(), activation, layer_norm, precision })
    }

    /// The outputs `[rows, n_outputs]` of `input` `[rows, n_inputs]` and, for a ResNet with
    /// embeddings, the rows' category `codes` (`[n_codes, rows]`, see [`codes_by_feature`]);
    /// dropout only when given.
    pub(super) fn forward(
        &self,
        params: &[Tensor],
        n_dense: usize,
        (input, codes): (&Tensor, Option<&Tensor>),
        mut dropout: Option<&mut Dropout>,
    ) -> candle_core::Result<Tensor> {
        let dense = |layer: usize| (&params[2 * layer], &params[2 * layer + 1]);
        let norm = |index: usize| (&params[2 * n_dense + 2 * index], &params[2 * n_dense + 2 * index + 1]);
        match &self.arch {
            NeuralArch::ResNet { n_blocks, cardinalities, .. } => {
                // The dense features, then each categorical column's embedding (the native
                // `embedding::gather` layout); the tables follow the norms' tensors.
                let embedded;
                let input = if cardinalities.is_empty() {
                    input
                } else {
                    let codes = codes.ok_or_else(|| candle_core::Error::msg("the ResNet's embeddings need codes"))?;
                    let first = 2 * n_dense + 2 * (n_blocks + 1);
                    let mut parts = vec![input.clone()];
                    for feature in 0..cardinalities.len() {
                        parts.push(params[first + feature].index_select(&codes.get(feature)?, 0)?);
                    }
                    embedded = Tensor::cat(&parts, 1)?;
                    &embedded
                };
                let (w, b) = dense(0);
                let mut x = self.linear(input, w, b)?;
                for block in 0..*n_blocks {
                    let (nw, nb) = norm(block);
                    let normed = layer_norm(&x, nw, nb)?;
                    let (w1, b1) = dense(1 + 2 * block);
                    let mut a = self.linear(&normed, w1, b1)?.relu()?;
                    if let Some(d) = dropout.as_deref_mut() {
                        a = d.apply(&a)?;
                    }
                    let (w2, b2) = dense(2 + 2 * block);
                    let mut y = self.linear(&a, w2, b2)?;
                    if let Some(d) = dropout.as_deref_mut() {
                        y = d.apply(&y)?;
                    }
                    x = (x + y)?;
                }
                let (nw, nb) = norm(*n_blocks);
                let a = layer_norm(&x, nw, nb)?.relu()?;
                let (w, b) = dense(n_dense - 1);
                self.linear(&a, w, b)
            }
            NeuralArch::Linear | NeuralArch::Mlp { .. } => {
                let residual = matches!(self.arch, NeuralArch::Mlp { residual: true, .. });
                let mut x = input.clone();
                for layer in 0..n_dense - 1 {
                    let (w, b) = dense(layer);
                    let z = self.linear(&x, w, b)?;
                    let pre = if self.layer_norm {
                        let (nw, nb) = norm(layer);
                        layer_norm(&z, nw, nb)?
                    } else {
                        z
                    };
                    let mut h = activate(self.activation, &pre)?;
                    if let Some(d) = dropout.as_deref_mut() {
                        h = d.apply(&h)?;
                    }
                    let (n_out, n_in) = w.dims2()?;
                    if residual && n_in == n_out {
                        h = (h + &x)?;
                    }
                    x = h;
                }
                let (w, b) = dense(n_dense - 1);
                self.linear(&x, w, b)
            }
        }
    }

    /// `x · wᵀ + b`; in bf16, the product's operands are cast to bf16 and its result back to
    /// f32 (so the gradients reach the f32 weights as f32).
    fn linear(&self, x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
        let product = match self.precision {
            Precision::F32 => x.matmul(&w.t()?)?,
            Precision::Bf16 => x.to_dtype(DType::BF16)?.matmul(&w.to_dtype(DType::BF16)?.t()?)?.to_dtype(DType::F32)?,
        };
        product.broadcast_add(b)
    }
}

/// Layer normalization over the last dimension (biased variance, ε = 1e-5), then scale and shift.
fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centered = x.broadcast_sub(&mean)?;
    let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
    let x_hat = centered.broadcast_div(&var.affine(1.0, LAYER_NORM_EPS)?.sqrt()?)?;
    x_hat.broadcast_mul(weight)?.broadcast_add(bias)
}

/// The activation functions of the native kernels (GELU in its tanh approximation).
fn activate(activation: Activation, x: &Tensor) -> candle_core::Result<Tensor> {
    match activation {
        Activation::Relu => x.relu(),
        Activation::Gelu => x.gelu(),
        Activation::Silu => x.silu(),
        Activation::Tanh => x.tanh(),
    }
}

/// `data`'s category codes by feature, `[n_codes, n_rows]` row-major (each feature's codes
/// contiguous, so a batch's column is one slice), a code outside its table's vocabulary
/// replaced by 0 (the `__other__` row), as the native lookup reads it. Empty without codes.
pub(super) fn codes_by_feature(data: &Encoded, cardinalities: &[usize]) -> Vec<u32> {
    let (n_rows, n_codes) = (data.n_rows, data.n_codes.min(cardinalities.len()));
    let mut out = vec![0u32; n_codes * n_rows];
    for (feature, &cardinality) in cardinalities.iter().enumerate().take(n_codes) {
        for row in 0..n_rows {
            let code = data.codes[row * data.n_codes + feature];
            out[feature * n_rows + row] = if (code as usize) < cardinality { code } else { 0 };
        }
    }
    out
}

/// The device tensor of [`codes_by_feature`], or `None` for a network without embeddings.
pub(super) fn upload_codes(data: &Encoded, arch: &NeuralArch, device: &Device) -> candle_core::Result<Option<Tensor>> {
    let cardinalities = arch.cardinalities();
    if cardinalities.is_empty() {
        return Ok(None);
    }
    let codes = codes_by_feature(data, cardinalities);
    Tensor::from_vec(codes, (cardinalities.len(), data.n_rows), device).map(Some)
}

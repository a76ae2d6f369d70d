//! The inference forward pass of a [`Network`] over encoded rows: blocks of [`BATCH`] rows,
//! in parallel, each through dense layers (matrix products by `faer`), activations, layer or
//! batch normalization (running estimates), residual connections and embedding lookups.
//!
//! The arithmetic follows kiln-train's training forward pass in evaluation mode operation by
//! operation (same products, bias added in the same place, same order of sums), so that the
//! two give the same numbers; each row's outputs depend on that row only, whatever the thread
//! count and whatever rows it is scored with (every product has the same shape: `product`).

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::{IndexedParallelIterator, ParallelIterator, ParallelSliceMut};

use super::network::{Activation, DenseLayer, Layout, Network, NormKind, NormLayer};
use crate::error::{Error, Result};
use crate::preprocess::Encoded;

/// Rows per forward block.
pub const BATCH: usize = 1024;

/// Layer- and batch-norm epsilon (PyTorch's default).
const NORM_EPS: f32 = 1e-5;
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_CUBIC: f32 = 0.044_715;

impl Network {
    /// The raw outputs (logits, or values for regression) of every row of `data`,
    /// `n_rows * n_outputs`, row-major. `data` must be encoded by the model's preprocessor in
    /// the network's encoding: `n_inputs` dense columns, and one index code per embedding
    /// table, within its vocabulary.
    pub fn outputs(&self, data: &Encoded) -> Result<Vec<f32>> {
        self.check_input(data)?;
        let n_out = self.n_outputs;
        let mut outputs = vec![0.0f32; data.n_rows * n_out];
        let run = |scratch: &mut Scratch, (block, out): (usize, &mut [f32])| {
            let start = block * BATCH;
            let rows = out.len() / n_out;
            let dense = &data.dense[start * data.n_dense..(start + rows) * data.n_dense];
            let codes = &data.codes[start * data.n_codes..(start + rows) * data.n_codes];
            self.forward_block(dense, codes, rows, out, scratch);
        };
        if data.n_rows == 0 {
            return Ok(outputs);
        }
        if data.n_rows <= BATCH {
            // One block (a single row, a small request): on the calling thread, with buffers
            // for its rows only.
            run(&mut Scratch::new(self, data.n_rows), (0, outputs.as_mut_slice()));
        } else {
            // Each task reuses its buffers across the blocks it runs.
            outputs.par_chunks_mut(BATCH * n_out).enumerate().for_each_init(|| Scratch::new(self, BATCH), run);
        }
        Ok(outputs)
    }

    fn check_input(&self, data: &Encoded) -> Result<()> {
        let problem = |problem: String| Error::ModelInput { problem };
        if data.n_dense != self.n_inputs || data.dense.len() != data.n_rows * data.n_dense {
            return Err(problem(format!("{} dense columns, but the network takes {}", data.n_dense, self.n_inputs)));
        }
        let n_codes = self.embeddings.len();
        if data.n_codes != n_codes || data.codes.len() != data.n_rows * data.n_codes {
            return Err(problem(format!("{} code columns, but the network embeds {n_codes}", data.n_codes)));
        }
        if n_codes > 0 {
            for row in data.codes.chunks_exact(n_codes) {
                for (feature, (code, table)) in row.iter().zip(&self.embeddings).enumerate() {
                    if *code as usize >= table.cardinality {
                        return Err(problem(format!(
                            "categorical column {feature} has code {code}, outside its vocabulary of {}",
                            table.cardinality
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// `rows` rows of dense features and codes into `out` (`rows * n_outputs`).
    fn forward_block(&self, dense: &[f32], codes: &[u32], rows: usize, out: &mut [f32], scratch: &mut Scratch) {
        match self.layout {
            Layout::Linear => dense_forward(dense, rows, &self.dense[0], out),
            Layout::Mlp { activation, norm, residual } => {
                self.mlp_block(dense, rows, (activation, norm, residual), out, scratch);
            }
            Layout::ResNet { n_blocks } => self.resnet_block(dense, codes, rows, n_blocks, out, scratch),
        }
    }

    fn mlp_block(
        &self,
        input: &[f32],
        rows: usize,
        (activation, norm, residual): (Activation, NormKind, bool),
        out: &mut [f32],
        scratch: &mut Scratch,
    ) {
        let n_hidden = self.dense.len() - 1;
        // Layer i reads `current` (the input for layer 0) and writes `next`; then they swap.
        let (current, next) = (&mut scratch.a, &mut scratch.b);
        for (layer, dense) in self.dense[..n_hidden].iter().enumerate() {
            let x: &[f32] = if layer == 0 { input } else { &current[..rows * dense.n_in] };
            let h = &mut next[..rows * dense.n_out];
            if norm == NormKind::None {
                // As training: the product, then the bias and the activation in one pass.
                product(x, rows, dense, h, Accum::Replace);
                bias_activate(activation, h, &dense.bias);
            } else {
                dense_forward(x, rows, dense, h);
                let norm_layer = &self.norms[layer];
                match norm {
                    NormKind::Batch => batch_norm(h, norm_layer),
                    _ => layer_norm(h, dense.n_out, norm_layer),
                }
                activate_all(activation, h);
            }
            if residual && dense.n_in == dense.n_out {
                for (v, x) in h.iter_mut().zip(x) {
                    *v += x;
                }
            }
            std::mem::swap(current, next);
        }
        let head = &self.dense[n_hidden];
        let x: &[f32] = if n_hidden == 0 { input } else { &current[..rows * head.n_in] };
        dense_forward(x, rows, head, out);
    }

    fn resnet_block(
        &self,
        dense: &[f32],
        codes: &[u32],
        rows: usize,
        n_blocks: usize,
        out: &mut [f32],
        scratch: &mut Scratch,
    ) {
        let Scratch { a: stream, b: branch, c: hidden, gathered } = scratch;
        let first = &self.dense[0];
        let input: &[f32] = if self.embeddings.is_empty() {
            dense
        } else {
            self.gather(dense, codes, &mut gathered[..rows * first.n_in]);
            &gathered[..rows * first.n_in]
        };
        let nd = rows * first.n_out;
        dense_forward(input, rows, first, &mut stream[..nd]);
        for block in 0..n_blocks {
            let (linear1, linear2) = (&self.dense[1 + 2 * block], &self.dense[2 + 2 * block]);
            let nh = rows * linear1.n_out;
            branch[..nd].copy_from_slice(&stream[..nd]);
            layer_norm(&mut branch[..nd], first.n_out, &self.norms[block]);
            product(&branch[..nd], rows, linear1, &mut hidden[..nh], Accum::Replace);
            bias_activate(Activation::Relu, &mut hidden[..nh], &linear1.bias);
            dense_forward(&hidden[..nh], rows, linear2, &mut branch[..nd]);
            for (y, x) in branch[..nd].iter_mut().zip(&stream[..nd]) {
                *y += x;
            }
            std::mem::swap(stream, branch);
        }
        layer_norm(&mut stream[..nd], first.n_out, &self.norms[n_blocks]);
        activate_all(Activation::Relu, &mut stream[..nd]);
        dense_forward(&stream[..nd], rows, &self.dense[self.dense.len() - 1], out);
    }

    /// Each row's dense features followed by the embedding of each of its codes.
    fn gather(&self, dense: &[f32], codes: &[u32], out: &mut [f32]) {
        let width = self.dense[0].n_in;
        let n_codes = self.embeddings.len();
        for (row, target) in out.chunks_exact_mut(width).enumerate() {
            target[..self.n_inputs].copy_from_slice(&dense[row * self.n_inputs..(row + 1) * self.n_inputs]);
            let mut offset = self.n_inputs;
            for (table, code) in self.embeddings.iter().zip(&codes[row * n_codes..(row + 1) * n_codes]) {
                let code = if (*code as usize) < table.cardinality { *code as usize } else { 0 };
                target[offset..offset + table.dim]
                    .copy_from_slice(&table.weight[code * table.dim..(code + 1) * table.dim]);
                offset += table.dim;
            }
        }
    }
}

/// One task's buffers for blocks of up to `capacity` rows (at most [`BATCH`]), each as wide
/// as the widest layer.
struct Scratch {
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
    /// The ResNet's input with its embeddings (empty without embeddings).
    gathered: Vec<f32>,
}

impl Scratch {
    fn new(network: &Network, capacity: usize) -> Self {
        let width = network.dense.iter().map(|d| d.n_in.max(d.n_out)).max().unwrap_or(0);
        let gathered = if network.embeddings.is_empty() { 0 } else { network.dense[0].n_in };
        Self {
            a: vec![0.0; capacity * width],
            b: vec![0.0; capacity * width],
            c: vec![0.0; capacity * width],
            gathered: vec![0.0; capacity * gathered],
        }
    }
}

/// `z += bias` (per column), then `z = activation(z)`, row by row.
fn bias_activate(activation: Activation, z: &mut [f32], bias: &[f32]) {
    for row in z.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
    activate_all(activation, z);
}

/// `out[rows, n_out] = x[rows, n_in] · weightᵀ + bias`: the bias first, the product added.
fn dense_forward(x: &[f32], rows: usize, layer: &DenseLayer, out: &mut [f32]) {
    let out = &mut out[..rows * layer.n_out];
    for row in out.chunks_exact_mut(layer.n_out) {
        row.copy_from_slice(&layer.bias);
    }
    product(x, rows, layer, out, Accum::Add);
}

/// Rows per matrix product. Every product multiplies exactly this many rows (the last ones
/// padded), so that `faer` picks the same kernel and blocking of the sums for every call: a
/// row's outputs then depend on that row alone, not on how many rows it is scored with or
/// where it sits among them (a batch file, one request, requests batched by a server). A
/// multiple of every SIMD width's row tile, so that no row falls in a partial tile.
const PRODUCT_ROWS: usize = 32;

/// `out (accum)= x · weightᵀ`, on the calling thread, [`PRODUCT_ROWS`] rows at a time.
fn product(x: &[f32], rows: usize, layer: &DenseLayer, out: &mut [f32], accum: Accum) {
    let (n_in, n_out) = (layer.n_in, layer.n_out);
    let rhs = MatRef::from_row_major_slice(&layer.weight, n_out, n_in).transpose();
    let full = rows / PRODUCT_ROWS * PRODUCT_ROWS;
    for start in (0..full).step_by(PRODUCT_ROWS) {
        let dst = &mut out[start * n_out..(start + PRODUCT_ROWS) * n_out];
        let dst = MatMut::from_row_major_slice_mut(dst, PRODUCT_ROWS, n_out);
        let lhs = MatRef::from_row_major_slice(&x[start * n_in..(start + PRODUCT_ROWS) * n_in], PRODUCT_ROWS, n_in);
        matmul(dst, accum, lhs, rhs, 1.0f32, Par::Seq);
    }
    let tail = rows - full;
    if tail == 0 {
        return;
    }
    let mut lhs = vec![0.0f32; PRODUCT_ROWS * n_in];
    lhs[..tail * n_in].copy_from_slice(&x[full * n_in..rows * n_in]);
    let mut dst = vec![0.0f32; PRODUCT_ROWS * n_out];
    dst[..tail * n_out].copy_from_slice(&out[full * n_out..rows * n_out]);
    let lhs_ref = MatRef::from_row_major_slice(&lhs, PRODUCT_ROWS, n_in);
    matmul(MatMut::from_row_major_slice_mut(&mut dst, PRODUCT_ROWS, n_out), accum, lhs_ref, rhs, 1.0f32, Par::Seq);
    out[full * n_out..rows * n_out].copy_from_slice(&dst[..tail * n_out]);
}

/// The activation of one value; GELU is the tanh approximation.
#[inline]
pub(crate) fn activate(activation: Activation, v: f32) -> f32 {
    match activation {
        Activation::Relu => v.max(0.0),
        Activation::GeluTanh => 0.5 * v * (1.0 + (SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v)).tanh()),
        Activation::Silu => v / (1.0 + (-v).exp()),
        Activation::Tanh => v.tanh(),
    }
}

fn activate_all(activation: Activation, values: &mut [f32]) {
    fn each(values: &mut [f32], f: impl Fn(f32) -> f32) {
        values.iter_mut().for_each(|v| *v = f(*v));
    }
    match activation {
        Activation::Relu => each(values, |v| v.max(0.0)),
        other => each(values, |v| activate(other, v)),
    }
}

/// Layer normalization of each row (population variance), in place.
fn layer_norm(x: &mut [f32], width: usize, norm: &NormLayer) {
    for row in x.chunks_exact_mut(width) {
        let mean = row.iter().sum::<f32>() / width as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / width as f32;
        let r = 1.0 / (var + NORM_EPS).sqrt();
        for (v, (g, b)) in row.iter_mut().zip(norm.weight.iter().zip(&norm.bias)) {
            let hat = (*v - mean) * r;
            *v = hat * g + b;
        }
    }
}

/// Batch normalization with the running estimates, in place.
fn batch_norm(x: &mut [f32], norm: &NormLayer) {
    let Some((mean, var)) = &norm.running else { return };
    let width = norm.weight.len();
    for row in x.chunks_exact_mut(width) {
        for ((((v, m), s), g), b) in row.iter_mut().zip(mean).zip(var).zip(&norm.weight).zip(&norm.bias) {
            *v = (*v - m) / (s + NORM_EPS).sqrt() * g + b;
        }
    }
}

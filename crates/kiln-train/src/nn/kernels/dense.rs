//! Dense layers over a batch cut into blocks of rows of a fixed size, each block one
//! single-threaded `faer` product, the blocks shared out over the threads.
//!
//! The cut depends on the number of rows alone, never on the thread count, so the results
//! are bit-identical for any thread count: every output value comes from the same products
//! summed in the same order. Working block by block also keeps each block's operands in the
//! core's cache between a product and the element-wise passes fused with it (bias,
//! activation, the activation's derivative, the bias gradient).
//!
//! The weight gradient sums over the rows: each of at most [`GRAD_LANES`] lanes (contiguous
//! runs of blocks) sums its rows into its own partial gradient, and the partials are then
//! added in lane order.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::{IndexedParallelIterator, IntoParallelRefMutIterator, ParallelIterator, ParallelSliceMut};

use super::{Linear, Rows, activate, activate_derivative, activation_backward_serial};
use crate::config::Activation;

/// The most rows per block of a forward product.
const FORWARD_BLOCK_ROWS: usize = 512;

/// The fewest rows per block of a forward product (small batches are cut into up to
/// [`GRAD_LANES`] blocks of at least this many rows, so that they too are shared out).
const MIN_FORWARD_BLOCK_ROWS: usize = 64;

/// Rows per block of a backward product (the weight gradient's products run best with a
/// shallow sum).
const BACKWARD_BLOCK_ROWS: usize = 256;

/// The most partial weight gradients one backward pass sums.
const GRAD_LANES: usize = 4;

/// The fewest rows a lane sums (small batches use fewer lanes).
const MIN_LANE_ROWS: usize = 128;

/// Passes of fewer multiply-adds than this run on one thread.
const PARALLEL_MIN_WORK: usize = 1 << 20;

/// Reductions of fewer partial values than this run on one thread.
const PARALLEL_MIN_SUMS: usize = 1 << 16;

/// The length of the scratch buffer [`dense_backward_blocked`] needs for a layer of `n_in`
/// inputs and `n_out` outputs.
pub(crate) fn lane_scratch_len(n_in: usize, n_out: usize) -> usize {
    (GRAD_LANES - 1) * (n_in * n_out + n_out)
}

/// How many tasks share a pass over `units` independent units of `work` multiply-adds in all.
fn tasks(threads: usize, units: usize, work: usize) -> usize {
    if threads > 1 && work >= PARALLEL_MIN_WORK { threads.min(units).max(1) } else { 1 }
}

/// `z[rows, n_out] = x[rows, n_in] · weightᵀ + bias` (`weight` is `[n_out, n_in]`), and, when
/// `activation` is given, `out = activation(z)` in the same pass over each block, or without
/// `out`, `z = activation(z)` in place.
pub(crate) fn dense_forward_blocked(
    x: Rows<'_>,
    layer: Linear<'_>,
    z: &mut [f32],
    activation: Option<Activation>,
    out: Option<&mut [f32]>,
    threads: usize,
) {
    let (Rows { values: x, rows, width: n_in }, Linear { weight, bias, n_out }) = (x, layer);
    if rows == 0 || n_out == 0 {
        return;
    }
    let (x, z) = (&x[..rows * n_in], &mut z[..rows * n_out]);
    let rows_per_block = rows.div_ceil(GRAD_LANES).clamp(MIN_FORWARD_BLOCK_ROWS, FORWARD_BLOCK_ROWS);
    let blocks = rows.div_ceil(rows_per_block);
    let chunk = blocks.div_ceil(tasks(threads, blocks, rows * n_in * n_out)) * rows_per_block * n_out;
    // One task: a run of whole blocks, starting at output offset `offset`.
    let run = |offset: usize, z: &mut [f32], mut out: Option<&mut [f32]>| {
        for (block, z) in z.chunks_mut(rows_per_block * n_out).enumerate() {
            let (first, block_rows) = (offset / n_out + block * rows_per_block, z.len() / n_out);
            matmul(
                MatMut::from_row_major_slice_mut(z, block_rows, n_out),
                Accum::Replace,
                MatRef::from_row_major_slice(&x[first * n_in..(first + block_rows) * n_in], block_rows, n_in),
                MatRef::from_row_major_slice(weight, n_out, n_in).transpose(),
                1.0f32,
                Par::Seq,
            );
            match (activation, out.as_deref_mut()) {
                (Some(activation), Some(out)) => {
                    let start = block * rows_per_block * n_out;
                    bias_activation(activation, z, bias, &mut out[start..start + z.len()]);
                }
                (Some(activation), None) => bias_activation_in_place(activation, z, bias),
                (None, _) => {
                    for row in z.chunks_exact_mut(n_out) {
                        for (v, b) in row.iter_mut().zip(bias) {
                            *v += b;
                        }
                    }
                }
            }
        }
    };
    if let Some(out) = out {
        let out = &mut out[..rows * n_out];
        z.par_chunks_mut(chunk)
            .zip(out.par_chunks_mut(chunk))
            .enumerate()
            .for_each(|(task, (z, out))| run(task * chunk, z, Some(out)));
    } else {
        z.par_chunks_mut(chunk).enumerate().for_each(|(task, z)| run(task * chunk, z, None));
    }
}

/// The step back through an activation: a gradient `g` at the activation's output becomes
/// `g · mask · activation'(pre)` at its input (no mask: 1). `mask` and `pre` span the batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Derivative<'a> {
    pub activation: Activation,
    pub mask: Option<&'a [f32]>,
    pub pre: &'a [f32],
}

impl Derivative<'_> {
    /// `out = grad · mask · activation'(pre)` over the values `span` of the batch.
    fn apply(&self, span: std::ops::Range<usize>, grad: &[f32], out: &mut [f32]) {
        let mask = self.mask.map(|m| &m[span.clone()]);
        activation_backward_serial(self.activation, grad, mask, &self.pre[span], out);
    }

    /// `grad ·= mask · activation'(pre)` in place over the values `span` of the batch (the
    /// same products as [`Self::apply`]).
    fn apply_in_place(&self, span: std::ops::Range<usize>, grad: &mut [f32]) {
        fn each(grad: &mut [f32], mask: Option<&[f32]>, pre: &[f32], d: impl Fn(f32) -> f32) {
            match mask {
                Some(mask) => {
                    for ((g, m), v) in grad.iter_mut().zip(mask).zip(pre) {
                        *g = *g * m * d(*v);
                    }
                }
                None => {
                    for (g, v) in grad.iter_mut().zip(pre) {
                        *g *= d(*v);
                    }
                }
            }
        }
        let (mask, pre) = (self.mask.map(|m| &m[span.clone()]), &self.pre[span]);
        match self.activation {
            Activation::Relu => each(grad, mask, pre, |v| if v > 0.0 { 1.0 } else { 0.0 }),
            Activation::Gelu => each(grad, mask, pre, |v| activate_derivative(Activation::Gelu, v)),
            Activation::Silu => each(grad, mask, pre, |v| activate_derivative(Activation::Silu, v)),
            Activation::Tanh => each(grad, mask, pre, |v| activate_derivative(Activation::Tanh, v)),
        }
    }
}

/// `z += bias` per row of `z` (rows of `bias.len()` values), then `out = activation(z)`, in one
/// pass, the match hoisted out of the loop.
fn bias_activation(activation: Activation, z: &mut [f32], bias: &[f32], out: &mut [f32]) {
    fn each(z: &mut [f32], bias: &[f32], out: &mut [f32], f: impl Fn(f32) -> f32) {
        for (z, out) in z.chunks_exact_mut(bias.len()).zip(out.chunks_exact_mut(bias.len())) {
            for ((v, o), b) in z.iter_mut().zip(out).zip(bias) {
                *v += b;
                *o = f(*v);
            }
        }
    }
    match activation {
        Activation::Relu => each(z, bias, out, |v| v.max(0.0)),
        Activation::Gelu => each(z, bias, out, |v| activate(Activation::Gelu, v)),
        Activation::Silu => each(z, bias, out, |v| activate(Activation::Silu, v)),
        Activation::Tanh => each(z, bias, out, |v| activate(Activation::Tanh, v)),
    }
}

/// [`bias_activation`] with `z` as its own output.
fn bias_activation_in_place(activation: Activation, z: &mut [f32], bias: &[f32]) {
    fn each(z: &mut [f32], bias: &[f32], f: impl Fn(f32) -> f32) {
        for z in z.chunks_exact_mut(bias.len()) {
            for (v, b) in z.iter_mut().zip(bias) {
                *v = f(*v + b);
            }
        }
    }
    match activation {
        Activation::Relu => each(z, bias, |v| v.max(0.0)),
        Activation::Gelu => each(z, bias, |v| activate(Activation::Gelu, v)),
        Activation::Silu => each(z, bias, |v| activate(Activation::Silu, v)),
        Activation::Tanh => each(z, bias, |v| activate(Activation::Tanh, v)),
    }
}

/// A dense layer's parameter gradients (both overwritten) and, when asked, the gradient with
/// respect to its input (overwritten), taken on back through `x_derivative` when given (the
/// activation of the layer below, which then needs no pass of its own).
#[derive(Debug)]
pub(crate) struct DenseGrads<'a> {
    pub weight: &'a mut [f32],
    pub bias: &'a mut [f32],
    pub x: Option<&'a mut [f32]>,
    pub x_derivative: Option<Derivative<'a>>,
}

/// One lane's share of a backward pass.
struct Lane<'a> {
    /// The lane's first row.
    first: usize,
    grad: &'a mut [f32],
    grad_x: Option<&'a mut [f32]>,
    weight_sum: &'a mut [f32],
    bias_sum: &'a mut [f32],
}

/// The backward pass of [`dense_forward_blocked`] over `rows` rows of input `x[rows, n_in]`:
/// `grad[rows, n_out]` is the gradient at the layer's output (with `through`, it is first
/// overwritten with `grad_out` taken back through the activation), `grads.weight =
/// gradᵀ · x`, `grads.bias = Σ_rows grad` and `grads.x = grad · weight`. `scratch` holds
/// [`lane_scratch_len`] values.
pub(crate) fn dense_backward_blocked(
    x: Rows<'_>,
    (weight, n_out): (&[f32], usize),
    through: Option<(&[f32], Derivative<'_>)>,
    grad: &mut [f32],
    grads: DenseGrads<'_>,
    scratch: &mut [f32],
    threads: usize,
) {
    let Rows { values: x, rows, width: n_in } = x;
    let DenseGrads { weight: grad_weight, bias: grad_bias, x: grad_x, x_derivative } = grads;
    if rows == 0 || n_out == 0 {
        grad_weight.fill(0.0);
        grad_bias.fill(0.0);
        return;
    }
    let lane_rows = rows.div_ceil(GRAD_LANES).max(MIN_LANE_ROWS);
    let n_lanes = rows.div_ceil(lane_rows);
    let n_weights = n_in * n_out;
    // Carve each lane's rows and partial sums (lane 0 sums straight into the gradients).
    let (mut grad, mut grad_x) = (&mut grad[..rows * n_out], grad_x.map(|g| &mut g[..rows * n_in]));
    let scratch = &mut scratch[..(n_lanes - 1) * (n_weights + n_out)];
    let mut free = &mut *scratch;
    let (mut lane0_weight, mut lane0_bias) = (Some(&mut *grad_weight), Some(&mut *grad_bias));
    let mut lanes: [Option<Lane<'_>>; GRAD_LANES] = std::array::from_fn(|lane| {
        let first = lane * lane_rows;
        if first >= rows {
            return None;
        }
        let lane_len = lane_rows.min(rows - first);
        let (lane_grad, rest) = std::mem::take(&mut grad).split_at_mut(lane_len * n_out);
        grad = rest;
        let lane_grad_x = grad_x.take().map(|g| {
            let (lane_grad_x, rest) = g.split_at_mut(lane_len * n_in);
            grad_x = Some(rest);
            lane_grad_x
        });
        let (weight_sum, bias_sum) = match (lane0_weight.take(), lane0_bias.take()) {
            (Some(w), Some(b)) => (w, b),
            _ => {
                let (sums, rest) = std::mem::take(&mut free).split_at_mut(n_weights + n_out);
                free = rest;
                sums.split_at_mut(n_weights)
            }
        };
        Some(Lane { first, grad: lane_grad, grad_x: lane_grad_x, weight_sum, bias_sum })
    });
    let run = |lane: &mut Option<Lane<'_>>| {
        let Some(mut lane) = lane.take() else { return };
        for (block, grad) in lane.grad.chunks_mut(BACKWARD_BLOCK_ROWS * n_out).enumerate() {
            let (first, block_rows) = (lane.first + block * BACKWARD_BLOCK_ROWS, grad.len() / n_out);
            if let Some((grad_out, derivative)) = through {
                let span = first * n_out..(first + block_rows) * n_out;
                derivative.apply(span.clone(), &grad_out[span], grad);
            }
            let accum = if block == 0 { Accum::Replace } else { Accum::Add };
            let x = MatRef::from_row_major_slice(&x[first * n_in..(first + block_rows) * n_in], block_rows, n_in);
            let grad_mat = MatRef::from_row_major_slice(grad, block_rows, n_out);
            let weight_sum = MatMut::from_row_major_slice_mut(&mut *lane.weight_sum, n_out, n_in);
            matmul(weight_sum, accum, grad_mat.transpose(), x, 1.0f32, Par::Seq);
            if block == 0 {
                lane.bias_sum.fill(0.0);
            }
            for row in grad.chunks_exact(n_out) {
                for (b, g) in lane.bias_sum.iter_mut().zip(row) {
                    *b += g;
                }
            }
            if let Some(grad_x) = lane.grad_x.as_deref_mut() {
                let start = block * BACKWARD_BLOCK_ROWS * n_in;
                let grad_x = &mut grad_x[start..start + block_rows * n_in];
                let weight = MatRef::from_row_major_slice(weight, n_out, n_in);
                let grad_x_mat = MatMut::from_row_major_slice_mut(grad_x, block_rows, n_in);
                matmul(grad_x_mat, Accum::Replace, grad_mat, weight, 1.0f32, Par::Seq);
                if let Some(derivative) = &x_derivative {
                    derivative.apply_in_place(first * n_in..(first + block_rows) * n_in, grad_x);
                }
            }
        }
    };
    let n_tasks = tasks(threads, n_lanes, rows * n_in * n_out);
    lanes[..n_lanes].par_iter_mut().with_min_len(n_lanes.div_ceil(n_tasks)).for_each(run);
    // The partial sums of lanes 1.., added to lane 0's in lane order.
    let partials = scratch.chunks_exact(n_weights + n_out);
    for partial in partials.clone() {
        for (b, p) in grad_bias.iter_mut().zip(&partial[n_weights..]) {
            *b += p;
        }
    }
    if n_lanes > 1 {
        let parts = if threads > 1 && n_weights * (n_lanes - 1) >= PARALLEL_MIN_SUMS { threads } else { 1 };
        let chunk = n_weights.div_ceil(parts);
        grad_weight.par_chunks_mut(chunk).enumerate().for_each(|(part, sums)| {
            let offset = part * chunk;
            for partial in partials.clone() {
                for (w, p) in sums.iter_mut().zip(&partial[offset..]) {
                    *w += p;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1).
    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7_919 + seed * 104_729) % 2_000) as f32 / 1_000.0 - 1.0).collect()
    }

    #[test]
    fn blocked_passes_match_the_definition_for_any_thread_count() {
        // Several lanes, a partial block in each lane and a partial forward block.
        let (rows, n_in, n_out) = (1_100, 24, 40);
        let (x, weight, bias) = (values(rows * n_in, 1), values(n_out * n_in, 2), values(n_out, 3));
        let (grad_out, pre, mask) = (values(rows * n_out, 4), values(rows * n_out, 5), values(rows * n_out, 6));
        let below = values(rows * n_in, 7);
        let run = |threads: usize| {
            let (mut z, mut out) = (vec![0.0; rows * n_out], vec![0.0; rows * n_out]);
            let activation = Some(Activation::Tanh);
            dense_forward_blocked(
                Rows::new(&x, rows, n_in),
                Linear::new(&weight, &bias, n_out),
                &mut z,
                activation,
                Some(&mut out),
                threads,
            );
            let (mut grad, mut grad_weight, mut grad_bias) =
                (vec![0.0; rows * n_out], vec![0.0; n_out * n_in], vec![0.0; n_out]);
            let mut grad_x = vec![0.0; rows * n_in];
            let mut scratch = vec![0.0; lane_scratch_len(n_in, n_out)];
            let through = Derivative { activation: Activation::Relu, mask: Some(&mask), pre: &pre };
            let x_derivative = Derivative { activation: Activation::Silu, mask: None, pre: &below };
            let grads = DenseGrads {
                weight: &mut grad_weight,
                bias: &mut grad_bias,
                x: Some(&mut grad_x),
                x_derivative: Some(x_derivative),
            };
            dense_backward_blocked(
                Rows::new(&x, rows, n_in),
                (&weight, n_out),
                Some((&grad_out, through)),
                &mut grad,
                grads,
                &mut scratch,
                threads,
            );
            [z, out, grad, grad_weight, grad_bias, grad_x]
        };
        let serial = run(1);
        for threads in [2, 3, 8] {
            let parallel = run(threads);
            for (a, b) in serial.iter().zip(&parallel) {
                assert!(a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits()), "{threads} threads");
            }
        }
        let [z, out, grad, grad_weight, grad_bias, grad_x] = &serial;
        let close = |a: f32, e: f64, what: &str| {
            assert!((f64::from(a) - e).abs() < 1e-3 * (1.0 + e.abs()), "{what}: {a} vs {e}")
        };
        let f = |v: f32| f64::from(v);
        for r in 0..rows {
            for o in 0..n_out {
                let e = f(bias[o]) + (0..n_in).map(|i| f(x[r * n_in + i]) * f(weight[o * n_in + i])).sum::<f64>();
                close(z[r * n_out + o], e, "z");
                close(out[r * n_out + o], e.tanh(), "tanh");
                let g =
                    if pre[r * n_out + o] > 0.0 { f(grad_out[r * n_out + o]) * f(mask[r * n_out + o]) } else { 0.0 };
                close(grad[r * n_out + o], g, "grad");
            }
            for i in 0..n_in {
                let v = f(below[r * n_in + i]);
                let s = 1.0 / (1.0 + (-v).exp());
                let e = (0..n_out).map(|o| f(grad[r * n_out + o]) * f(weight[o * n_in + i])).sum::<f64>();
                close(grad_x[r * n_in + i], e * s * (1.0 + v * (1.0 - s)), "grad_x");
            }
        }
        for o in 0..n_out {
            close(grad_bias[o], (0..rows).map(|r| f(grad[r * n_out + o])).sum(), "grad_bias");
            for i in 0..n_in {
                let e = (0..rows).map(|r| f(grad[r * n_out + o]) * f(x[r * n_in + i])).sum::<f64>();
                close(grad_weight[o * n_in + i], e, "grad_weight");
            }
        }
    }
}

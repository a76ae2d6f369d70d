//! The numeric kernels of kiln's CPU training path, over contiguous row-major `f32` buffers:
//! dense layers (matrix products through `faer`'s safe gemm API, bias fused into the product),
//! activations, layer normalization and dropout, each with its backward pass.
//!
//! Must not allocate: every buffer is the caller's, sized once per model.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::{IndexedParallelIterator, ParallelIterator, ParallelSlice, ParallelSliceMut};

use crate::config::Activation;

mod dense;

pub(crate) use dense::{DenseGrads, Derivative, dense_backward_blocked, dense_forward_blocked, lane_scratch_len};

/// Products smaller than this many multiply-adds run on one thread.
const PARALLEL_MIN_WORK: usize = 1 << 20;

/// Layer-norm epsilon (PyTorch's default).
pub(crate) const LAYER_NORM_EPS: f32 = 1e-5;

/// The parallelism of one product of `work` multiply-adds. faer splits the output across
/// threads and never the inner (summed) dimension, so the result does not depend on it; the
/// thread count is still fixed by the caller's configuration.
fn parallelism(threads: usize, work: usize) -> Par {
    if threads > 1 && work >= PARALLEL_MIN_WORK { Par::rayon(threads) } else { Par::Seq }
}

/// `rows` rows of `width` values, row-major: a batch as the kernels read it (only the first
/// `rows * width` of `values` are read).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rows<'a> {
    pub(crate) values: &'a [f32],
    pub(crate) rows: usize,
    pub(crate) width: usize,
}

impl<'a> Rows<'a> {
    pub(crate) fn new(values: &'a [f32], rows: usize, width: usize) -> Self {
        Self { values, rows, width }
    }
}

/// A dense layer's parameters as the kernels read them: `weight` `[n_out, n_in]`, `bias`
/// `[n_out]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Linear<'a> {
    pub(crate) weight: &'a [f32],
    pub(crate) bias: &'a [f32],
    pub(crate) n_out: usize,
}

impl<'a> Linear<'a> {
    pub(crate) fn new(weight: &'a [f32], bias: &'a [f32], n_out: usize) -> Self {
        Self { weight, bias, n_out }
    }
}

/// `out[rows, n_out] = x[rows, n_in] · weightᵀ + bias` (`weight` is `[n_out, n_in]`).
pub(crate) fn dense_forward(x: Rows<'_>, layer: Linear<'_>, out: &mut [f32], threads: usize) {
    let Linear { weight, bias, n_out } = layer;
    let rows = x.rows;
    let out = &mut out[..rows * n_out];
    for row in out.chunks_exact_mut(n_out) {
        row.copy_from_slice(bias);
    }
    dense_product(x, (weight, n_out), out, Accum::Add, threads);
}

/// `out[rows, n_out] = x[rows, n_in] · weightᵀ`, without the bias (which
/// [`bias_activation_forward`] adds in its pass).
pub(crate) fn dense_forward_without_bias(
    x: &[f32],
    rows: usize,
    n_in: usize,
    weight: &[f32],
    n_out: usize,
    out: &mut [f32],
    threads: usize,
) {
    dense_product(Rows::new(x, rows, n_in), (weight, n_out), &mut out[..rows * n_out], Accum::Replace, threads);
}

fn dense_product(x: Rows<'_>, (weight, n_out): (&[f32], usize), out: &mut [f32], accum: Accum, threads: usize) {
    let Rows { values: x, rows, width: n_in } = x;
    let dst = MatMut::from_row_major_slice_mut(out, rows, n_out);
    let lhs = MatRef::from_row_major_slice(&x[..rows * n_in], rows, n_in);
    let rhs = MatRef::from_row_major_slice(weight, n_out, n_in).transpose();
    matmul(dst, accum, lhs, rhs, 1.0f32, parallelism(threads, rows * n_in * n_out));
}

/// One pass over `z[rows, width]`: `z += bias` (per column), then `out = activation(z)`;
/// split by rows over `threads`.
pub(crate) fn bias_activation_forward(
    activation: Activation,
    z: &mut [f32],
    bias: &[f32],
    out: &mut [f32],
    threads: usize,
) {
    let width = bias.len();
    let pass = |z: &mut [f32], out: &mut [f32]| {
        for z_row in z.chunks_exact_mut(width) {
            for (v, b) in z_row.iter_mut().zip(bias) {
                *v += b;
            }
        }
        activation_forward_serial(activation, z, out);
    };
    match elementwise_chunk(threads, out.len()) {
        Some(chunk) => {
            let chunk = chunk.div_ceil(width) * width;
            z.par_chunks_mut(chunk).zip(out.par_chunks_mut(chunk)).for_each(|(z, out)| pass(z, out));
        }
        None => pass(z, out),
    }
}

/// The backward pass of [`dense_forward`]: `grad_weight = gradᵀ · x`, `grad_bias = Σ_rows grad`
/// (both overwritten), and, when asked, `grad_x = grad · weight` (overwritten).
pub(crate) fn dense_backward(
    x: Rows<'_>,
    (weight, n_out): (&[f32], usize),
    grad: &[f32],
    (grad_weight, grad_bias): (&mut [f32], &mut [f32]),
    grad_x: Option<&mut [f32]>,
    threads: usize,
) {
    let Rows { values: x, rows, width: n_in } = x;
    let grad = &grad[..rows * n_out];
    let work = rows * n_in * n_out;
    let dst = MatMut::from_row_major_slice_mut(grad_weight, n_out, n_in);
    let lhs = MatRef::from_row_major_slice(grad, rows, n_out).transpose();
    let rhs = MatRef::from_row_major_slice(&x[..rows * n_in], rows, n_in);
    matmul(dst, Accum::Replace, lhs, rhs, 1.0f32, parallelism(threads, work));
    // Column ranges per thread, each summed over the rows in order: the same result for any split.
    let sum_columns = |start: usize, sums: &mut [f32]| {
        sums.fill(0.0);
        for row in grad.chunks_exact(n_out) {
            for (b, g) in sums.iter_mut().zip(&row[start..]) {
                *b += g;
            }
        }
    };
    match elementwise_chunk(threads, grad.len()) {
        Some(_) => {
            let columns = n_out.div_ceil(threads);
            grad_bias.par_chunks_mut(columns).enumerate().for_each(|(part, sums)| sum_columns(part * columns, sums));
        }
        None => sum_columns(0, grad_bias),
    }
    if let Some(grad_x) = grad_x {
        let dst = MatMut::from_row_major_slice_mut(&mut grad_x[..rows * n_in], rows, n_in);
        let lhs = MatRef::from_row_major_slice(grad, rows, n_out);
        let rhs = MatRef::from_row_major_slice(weight, n_out, n_in);
        matmul(dst, Accum::Replace, lhs, rhs, 1.0f32, parallelism(threads, work));
    }
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_CUBIC: f32 = 0.044_715;

/// The activation of one value. GELU is the tanh approximation.
#[inline]
pub(crate) fn activate(activation: Activation, v: f32) -> f32 {
    match activation {
        Activation::Relu => v.max(0.0),
        Activation::Gelu => 0.5 * v * (1.0 + (SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v)).tanh()),
        Activation::Silu => v / (1.0 + (-v).exp()),
        Activation::Tanh => v.tanh(),
    }
}

/// The derivative of [`activate`] at `v`.
#[inline]
pub(crate) fn activate_derivative(activation: Activation, v: f32) -> f32 {
    match activation {
        Activation::Relu => {
            if v > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Gelu => {
            let t = (SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v)).tanh();
            0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * v * v)
        }
        Activation::Silu => {
            let s = 1.0 / (1.0 + (-v).exp());
            s * (1.0 + v * (1.0 - s))
        }
        Activation::Tanh => {
            let t = v.tanh();
            1.0 - t * t
        }
    }
}

/// Element-wise passes shorter than this run on one thread.
const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;

/// The chunk length that splits `len` elements over `threads`, or `None` to stay serial.
fn elementwise_chunk(threads: usize, len: usize) -> Option<usize> {
    (threads > 1 && len >= PARALLEL_MIN_ELEMENTS).then(|| len.div_ceil(threads))
}

/// [`activation_forward_serial`] split over `threads` (element-wise, so the result does not
/// depend on the split).
pub(crate) fn activation_forward(activation: Activation, pre: &[f32], out: &mut [f32], threads: usize) {
    match elementwise_chunk(threads, out.len()) {
        Some(chunk) => out
            .par_chunks_mut(chunk)
            .zip(pre.par_chunks(chunk))
            .for_each(|(out, pre)| activation_forward_serial(activation, pre, out)),
        None => activation_forward_serial(activation, pre, out),
    }
}

/// [`activation_backward_serial`] split over `threads`.
pub(crate) fn activation_backward(
    activation: Activation,
    grad: &[f32],
    mask: Option<&[f32]>,
    pre: &[f32],
    out: &mut [f32],
    threads: usize,
) {
    match (elementwise_chunk(threads, out.len()), mask) {
        (Some(chunk), Some(mask)) => out
            .par_chunks_mut(chunk)
            .zip(grad.par_chunks(chunk))
            .zip(mask.par_chunks(chunk).zip(pre.par_chunks(chunk)))
            .for_each(|((out, grad), (mask, pre))| activation_backward_serial(activation, grad, Some(mask), pre, out)),
        (Some(chunk), None) => out
            .par_chunks_mut(chunk)
            .zip(grad.par_chunks(chunk))
            .zip(pre.par_chunks(chunk))
            .for_each(|((out, grad), pre)| activation_backward_serial(activation, grad, None, pre, out)),
        (None, mask) => activation_backward_serial(activation, grad, mask, pre, out),
    }
}

/// `out = activation(pre)`, with the match hoisted out of the loop so that each loop vectorizes.
fn activation_forward_serial(activation: Activation, pre: &[f32], out: &mut [f32]) {
    fn each(pre: &[f32], out: &mut [f32], f: impl Fn(f32) -> f32) {
        for (o, v) in out.iter_mut().zip(pre) {
            *o = f(*v);
        }
    }
    match activation {
        Activation::Relu => each(pre, out, |v| v.max(0.0)),
        Activation::Gelu => each(pre, out, |v| activate(Activation::Gelu, v)),
        Activation::Silu => each(pre, out, |v| activate(Activation::Silu, v)),
        Activation::Tanh => each(pre, out, |v| activate(Activation::Tanh, v)),
    }
}

/// `out = grad · mask · activation'(pre)` (no mask: 1), the match hoisted out of the loop.
fn activation_backward_serial(
    activation: Activation,
    grad: &[f32],
    mask: Option<&[f32]>,
    pre: &[f32],
    out: &mut [f32],
) {
    fn each(grad: &[f32], mask: Option<&[f32]>, pre: &[f32], out: &mut [f32], d: impl Fn(f32) -> f32) {
        match mask {
            Some(mask) => {
                for (((o, g), m), v) in out.iter_mut().zip(grad).zip(mask).zip(pre) {
                    *o = g * m * d(*v);
                }
            }
            None => {
                for ((o, g), v) in out.iter_mut().zip(grad).zip(pre) {
                    *o = g * d(*v);
                }
            }
        }
    }
    match activation {
        Activation::Relu => each(grad, mask, pre, out, |v| if v > 0.0 { 1.0 } else { 0.0 }),
        Activation::Gelu => each(grad, mask, pre, out, |v| activate_derivative(Activation::Gelu, v)),
        Activation::Silu => each(grad, mask, pre, out, |v| activate_derivative(Activation::Silu, v)),
        Activation::Tanh => each(grad, mask, pre, out, |v| activate_derivative(Activation::Tanh, v)),
    }
}

/// Rows that the layer-norm kernels handle side by side: each row's sums still run over its
/// columns in order, but the rows' independent additions overlap instead of waiting on each
/// other.
const NORM_LANES: usize = 8;

/// [`NORM_LANES`] of the backward pass, whose rows each keep two sums.
const NORM_BACKWARD_LANES: usize = 4;

/// Layer normalization of each row of `x[rows, width]` into `out`, keeping the normalized
/// values `x_hat` and each row's reciprocal standard deviation `rstd` for the backward pass.
pub(crate) fn layer_norm_forward(
    x: Rows<'_>,
    (gamma, beta): (&[f32], &[f32]),
    out: &mut [f32],
    (x_hat, rstd): (&mut [f32], &mut [f32]),
) {
    let Rows { values: x, rows, width } = x;
    let span = rows * width;
    let groups = x[..span]
        .chunks(NORM_LANES * width)
        .zip(out[..span].chunks_mut(NORM_LANES * width))
        .zip(x_hat[..span].chunks_mut(NORM_LANES * width))
        .zip(rstd[..rows].chunks_mut(NORM_LANES));
    for (((x, out), x_hat), rstd) in groups {
        if rstd.len() == NORM_LANES {
            layer_norm_rows::<NORM_LANES>(x, width, gamma, beta, out, x_hat, rstd);
        } else {
            for (((x, out), x_hat), rstd) in x
                .chunks_exact(width)
                .zip(out.chunks_exact_mut(width))
                .zip(x_hat.chunks_exact_mut(width))
                .zip(rstd.chunks_exact_mut(1))
            {
                layer_norm_rows::<1>(x, width, gamma, beta, out, x_hat, rstd);
            }
        }
    }
}

/// [`layer_norm_forward`] of `R` rows: each row's mean and variance summed over its columns in
/// order (as `Iterator::sum`, from −0), the `R` rows interleaved.
fn layer_norm_rows<const R: usize>(
    x: &[f32],
    width: usize,
    gamma: &[f32],
    beta: &[f32],
    out: &mut [f32],
    x_hat: &mut [f32],
    rstd: &mut [f32],
) {
    let xs: [&[f32]; R] = std::array::from_fn(|r| &x[r * width..(r + 1) * width]);
    let n = width as f32;
    let mut sums = [-0.0f32; R];
    for column in 0..width {
        for (sum, xs) in sums.iter_mut().zip(&xs) {
            *sum += xs[column];
        }
    }
    let means = sums.map(|sum| sum / n);
    let mut squares = [-0.0f32; R];
    for column in 0..width {
        for ((square, xs), mean) in squares.iter_mut().zip(&xs).zip(&means) {
            let d = xs[column] - mean;
            *square += d * d;
        }
    }
    let rows = out.chunks_exact_mut(width).zip(x_hat.chunks_exact_mut(width));
    for (r, (outs, hats)) in rows.enumerate() {
        let (mean, var) = (means[r], squares[r] / n);
        let rs = 1.0 / (var + LAYER_NORM_EPS).sqrt();
        rstd[r] = rs;
        for (((h, o), v), (g, b)) in hats.iter_mut().zip(outs.iter_mut()).zip(xs[r]).zip(gamma.iter().zip(beta)) {
            *h = (v - mean) * rs;
            *o = *h * g + b;
        }
    }
}

/// The backward pass of [`layer_norm_forward`]: `grad_x` overwritten, `grad_gamma` and
/// `grad_beta` overwritten.
pub(crate) fn layer_norm_backward(
    grad: Rows<'_>,
    gamma: &[f32],
    (x_hat, rstd): (&[f32], &[f32]),
    grad_x: &mut [f32],
    (grad_gamma, grad_beta): (&mut [f32], &mut [f32]),
) {
    let Rows { values: grad, rows, width } = grad;
    grad_gamma.fill(0.0);
    grad_beta.fill(0.0);
    let span = rows * width;
    let groups = grad[..span]
        .chunks(NORM_BACKWARD_LANES * width)
        .zip(x_hat[..span].chunks(NORM_BACKWARD_LANES * width))
        .zip(grad_x[..span].chunks_mut(NORM_BACKWARD_LANES * width))
        .zip(rstd[..rows].chunks(NORM_BACKWARD_LANES));
    let mut sums = (grad_gamma, grad_beta);
    for (((grad, x_hat), grad_x), rstd) in groups {
        if rstd.len() == NORM_BACKWARD_LANES {
            layer_norm_backward_rows::<NORM_BACKWARD_LANES>(grad, width, gamma, x_hat, rstd, grad_x, &mut sums);
        } else {
            for (((grad, x_hat), grad_x), rstd) in grad
                .chunks_exact(width)
                .zip(x_hat.chunks_exact(width))
                .zip(grad_x.chunks_exact_mut(width))
                .zip(rstd.chunks_exact(1))
            {
                layer_norm_backward_rows::<1>(grad, width, gamma, x_hat, rstd, grad_x, &mut sums);
            }
        }
    }
}

/// [`layer_norm_backward`] of `R` rows: `grad_gamma`, `grad_beta` accumulated row after row,
/// and each row's two sums over its columns in order, the `R` rows interleaved.
fn layer_norm_backward_rows<const R: usize>(
    grad: &[f32],
    width: usize,
    gamma: &[f32],
    x_hat: &[f32],
    rstd: &[f32],
    grad_x: &mut [f32],
    (grad_gamma, grad_beta): &mut (&mut [f32], &mut [f32]),
) {
    let gs: [&[f32]; R] = std::array::from_fn(|r| &grad[r * width..(r + 1) * width]);
    let hats: [&[f32]; R] = std::array::from_fn(|r| &x_hat[r * width..(r + 1) * width]);
    let n = width as f32;
    // Each column's gradients take the rows in order (one vectorized pass per row).
    for (gs, hats) in gs.iter().zip(&hats) {
        for ((gg, gb), (g, h)) in grad_gamma.iter_mut().zip(grad_beta.iter_mut()).zip(gs.iter().zip(*hats)) {
            *gg += g * h;
            *gb += g;
        }
    }
    let (mut sum, mut sum_hat) = ([0.0f32; R], [0.0f32; R]);
    for (column, gamma) in gamma[..width].iter().enumerate() {
        for r in 0..R {
            let (g, h) = (gs[r][column], hats[r][column]);
            let d = g * gamma;
            sum[r] += d;
            sum_hat[r] += d * h;
        }
    }
    for (r, out) in grad_x.chunks_exact_mut(width).enumerate() {
        let (mean, mean_hat) = (sum[r] / n, sum_hat[r] / n);
        for (((out, g), h), gamma) in out.iter_mut().zip(gs[r]).zip(hats[r]).zip(gamma) {
            *out = rstd[r] * (g * gamma - mean - h * mean_hat);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `x · wᵀ + b` by the definition, in f64.
    fn reference_dense(x: &[f32], rows: usize, n_in: usize, w: &[f32], b: &[f32], n_out: usize) -> Vec<f64> {
        let mut out = vec![0.0; rows * n_out];
        for r in 0..rows {
            for o in 0..n_out {
                out[r * n_out + o] = f64::from(b[o])
                    + (0..n_in).map(|i| f64::from(x[r * n_in + i]) * f64::from(w[o * n_in + i])).sum::<f64>();
            }
        }
        out
    }

    #[test]
    fn dense_forward_matches_the_definition() {
        let (rows, n_in, n_out) = (3, 4, 2);
        let x: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 2.0).collect();
        let w: Vec<f32> = (0..8).map(|i| (i as f32 - 3.0) * 0.25).collect();
        let b = [0.5, -1.0];
        let mut out = vec![0.0; 6];
        dense_forward(Rows::new(&x, rows, n_in), Linear::new(&w, &b, n_out), &mut out, 1);
        for (a, e) in out.iter().zip(reference_dense(&x, rows, n_in, &w, &b, n_out)) {
            assert!((f64::from(*a) - e).abs() < 1e-5, "{a} vs {e}");
        }
    }

    #[test]
    fn activation_derivatives_match_finite_differences() {
        for activation in [Activation::Relu, Activation::Gelu, Activation::Silu, Activation::Tanh] {
            for v in [-2.5f32, -0.7, 0.3, 1.9] {
                let h = 1e-3f32;
                let numeric = (activate(activation, v + h) - activate(activation, v - h)) / (2.0 * h);
                let analytic = activate_derivative(activation, v);
                assert!((numeric - analytic).abs() < 1e-3, "{activation:?} at {v}: {numeric} vs {analytic}");
            }
        }
    }

    /// Layer norm forward and backward one row at a time, each sum over the row's columns in
    /// order: the interleaved kernels must give these bits exactly.
    #[test]
    fn layer_norm_matches_the_row_by_row_definition_bit_for_bit() {
        let (rows, width) = (13, 37);
        let value = |i: usize, scale: f32| ((i * 7919 % 1013) as f32 * 0.01 - 5.0) * scale;
        let x: Vec<f32> = (0..rows * width).map(|i| value(i, 1.0)).collect();
        let grad: Vec<f32> = (0..rows * width).map(|i| value(i + 17, 0.3)).collect();
        let gamma: Vec<f32> = (0..width).map(|i| 1.0 + value(i, 0.01)).collect();
        let beta: Vec<f32> = (0..width).map(|i| value(i + 3, 0.02)).collect();
        let (mut out, mut x_hat, mut rstd) = (vec![0.0; rows * width], vec![0.0; rows * width], vec![0.0; rows]);
        layer_norm_forward(Rows::new(&x, rows, width), (&gamma, &beta), &mut out, (&mut x_hat, &mut rstd));
        let (mut grad_x, mut grad_gamma, mut grad_beta) = (vec![0.0; rows * width], vec![0.0; width], vec![0.0; width]);
        layer_norm_backward(
            Rows::new(&grad, rows, width),
            &gamma,
            (&x_hat, &rstd),
            &mut grad_x,
            (&mut grad_gamma, &mut grad_beta),
        );
        let n = width as f32;
        let (mut want_gamma, mut want_beta) = (vec![0.0f32; width], vec![0.0f32; width]);
        for row in 0..rows {
            let span = row * width..(row + 1) * width;
            let xs = &x[span.clone()];
            let mean = xs.iter().sum::<f32>() / n;
            let var = xs.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
            let r = 1.0 / (var + LAYER_NORM_EPS).sqrt();
            assert_eq!(rstd[row].to_bits(), r.to_bits(), "rstd of row {row}");
            let (mut sum, mut sum_hat) = (0.0f32, 0.0f32);
            for c in 0..width {
                let (i, h) = (row * width + c, (xs[c] - mean) * r);
                assert_eq!(x_hat[i].to_bits(), h.to_bits(), "x_hat at {row}, {c}");
                assert_eq!(out[i].to_bits(), (h * gamma[c] + beta[c]).to_bits(), "out at {row}, {c}");
                let g = grad[i];
                want_gamma[c] += g * h;
                want_beta[c] += g;
                sum += g * gamma[c];
                sum_hat += g * gamma[c] * h;
            }
            for c in 0..width {
                let (i, g) = (row * width + c, grad[row * width + c]);
                let want = r * (g * gamma[c] - sum / n - x_hat[i] * (sum_hat / n));
                assert_eq!(grad_x[i].to_bits(), want.to_bits(), "grad_x at {row}, {c}");
            }
        }
        assert_eq!(
            grad_gamma.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            want_gamma.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(
            grad_beta.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            want_beta.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
}

//! Batch normalization of the MLP's hidden layers, with PyTorch's `BatchNorm1d` semantics:
//! in training each column is normalized by the batch's mean and biased variance, and the
//! running estimates move towards the batch's mean and unbiased variance with momentum 0.1;
//! in evaluation the running estimates normalize. Epsilon 1e-5.
//!
//! Over contiguous row-major `f32` buffers, one column per feature; the sums run over rows in
//! order, so the results do not depend on the thread count.

use super::kernels::Rows;

/// Batch-norm epsilon (PyTorch's default).
pub(crate) const BATCH_NORM_EPS: f32 = 1e-5;
/// Weight of the batch statistic in each running-estimate update (PyTorch's default).
pub(crate) const BATCH_NORM_MOMENTUM: f32 = 0.1;

/// The running mean and variance of one batch-normalized layer (stored in bundles as
/// `mlp.norms.{i}.running_mean` / `.running_var`).
#[derive(Debug, Clone, PartialEq)]
pub struct RunningStats {
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
}

impl RunningStats {
    /// The initial estimates: mean 0, variance 1.
    pub(crate) fn new(width: usize) -> Self {
        Self { mean: vec![0.0; width], var: vec![1.0; width] }
    }

    /// Move the estimates towards one training batch of `rows` rows: its mean and its biased
    /// variance `batch_var`, made unbiased (`· rows / (rows − 1)`). A batch of one row carries
    /// no variance and leaves the estimates as they are.
    pub(crate) fn update(&mut self, batch_mean: &[f32], batch_var: &[f32], rows: usize) {
        if rows < 2 {
            return;
        }
        let m = BATCH_NORM_MOMENTUM;
        let unbias = rows as f32 / (rows - 1) as f32;
        for (r, b) in self.mean.iter_mut().zip(batch_mean) {
            *r = (1.0 - m) * *r + m * b;
        }
        for (r, b) in self.var.iter_mut().zip(batch_var) {
            *r = (1.0 - m) * *r + m * b * unbias;
        }
    }
}

/// The training-mode forward pass over `x[rows, width]`: each column's batch `mean` and biased
/// `var`, `rstd = 1 / √(var + eps)`, `x_hat = (x − mean) · rstd` and `out = x_hat · gamma + beta`.
/// `mean`, `var` and `rstd` are `width` long.
pub(crate) fn batch_norm_forward_train(
    x: Rows<'_>,
    (gamma, beta): (&[f32], &[f32]),
    out: &mut [f32],
    (x_hat, mean, var, rstd): (&mut [f32], &mut [f32], &mut [f32], &mut [f32]),
) {
    let Rows { values: x, rows, width } = x;
    let n = rows.max(1) as f32;
    let x = &x[..rows * width];
    mean.fill(0.0);
    for row in x.chunks_exact(width) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    var.fill(0.0);
    for row in x.chunks_exact(width) {
        for ((s, v), m) in var.iter_mut().zip(row).zip(mean.iter()) {
            let d = v - m;
            *s += d * d;
        }
    }
    var.iter_mut().for_each(|s| *s /= n);
    for (r, v) in rstd.iter_mut().zip(var.iter()) {
        *r = 1.0 / (v + BATCH_NORM_EPS).sqrt();
    }
    for ((xs, hats), outs) in
        x.chunks_exact(width).zip(x_hat.chunks_exact_mut(width)).zip(out[..rows * width].chunks_exact_mut(width))
    {
        for (((((h, o), v), m), r), (g, b)) in
            hats.iter_mut().zip(outs).zip(xs).zip(mean.iter()).zip(rstd.iter()).zip(gamma.iter().zip(beta))
        {
            *h = (v - m) * r;
            *o = *h * g + b;
        }
    }
}

/// The evaluation-mode forward pass: `out = (x − running_mean) / √(running_var + eps) · gamma + beta`.
pub(crate) fn batch_norm_forward_eval(
    x: &[f32],
    rows: usize,
    gamma: &[f32],
    beta: &[f32],
    running: &RunningStats,
    out: &mut [f32],
) {
    let width = gamma.len();
    for (xs, outs) in x[..rows * width].chunks_exact(width).zip(out[..rows * width].chunks_exact_mut(width)) {
        for ((((o, v), (m, s)), g), b) in
            outs.iter_mut().zip(xs).zip(running.mean.iter().zip(&running.var)).zip(gamma).zip(beta)
        {
            *o = (v - m) / (s + BATCH_NORM_EPS).sqrt() * g + b;
        }
    }
}

/// The backward pass of [`batch_norm_forward_train`] (the batch statistics depend on every
/// row): `grad_gamma = Σ_rows grad · x_hat`, `grad_beta = Σ_rows grad` and
/// `grad_x = gamma · rstd · (grad − mean(grad) − x_hat · mean(grad · x_hat))`, all overwritten.
pub(crate) fn batch_norm_backward(
    grad: Rows<'_>,
    gamma: &[f32],
    (x_hat, rstd): (&[f32], &[f32]),
    grad_x: &mut [f32],
    (grad_gamma, grad_beta): (&mut [f32], &mut [f32]),
) {
    let Rows { values: grad, rows, width } = grad;
    let n = rows.max(1) as f32;
    let (grad, x_hat) = (&grad[..rows * width], &x_hat[..rows * width]);
    grad_gamma.fill(0.0);
    grad_beta.fill(0.0);
    for (gs, hats) in grad.chunks_exact(width).zip(x_hat.chunks_exact(width)) {
        for (((gg, gb), g), h) in grad_gamma.iter_mut().zip(grad_beta.iter_mut()).zip(gs).zip(hats) {
            *gg += g * h;
            *gb += g;
        }
    }
    for ((outs, gs), hats) in
        grad_x[..rows * width].chunks_exact_mut(width).zip(grad.chunks_exact(width)).zip(x_hat.chunks_exact(width))
    {
        for (((((o, g), h), gamma), r), (gg, gb)) in
            outs.iter_mut().zip(gs).zip(hats).zip(gamma).zip(rstd).zip(grad_gamma.iter().zip(grad_beta.iter()))
        {
            *o = gamma * r * (g - gb / n - h * gg / n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_statistics_and_running_estimates_by_hand() {
        // One column over 4 rows: 1, 2, 3, 6. Mean 3, biased variance (4 + 1 + 0 + 9) / 4 = 3.5,
        // unbiased 14 / 3.
        let x = [1.0f32, 2.0, 3.0, 6.0];
        let (mut out, mut hat) = ([0.0f32; 4], [0.0f32; 4]);
        let (mut mean, mut var, mut rstd) = ([0.0f32], [0.0f32], [0.0f32]);
        batch_norm_forward_train(
            Rows::new(&x, 4, 1),
            (&[2.0], &[0.5]),
            &mut out,
            (&mut hat, &mut mean, &mut var, &mut rstd),
        );
        assert_eq!((mean[0], var[0]), (3.0, 3.5));
        let r = 1.0 / (3.5f64 + 1e-5).sqrt();
        for (o, v) in out.iter().zip(x) {
            assert!((f64::from(*o) - ((f64::from(v) - 3.0) * r * 2.0 + 0.5)).abs() < 1e-6);
        }
        // PyTorch: running_mean = 0.9 · 0 + 0.1 · 3 = 0.3; running_var = 0.9 · 1 + 0.1 · 14/3.
        let mut running = RunningStats::new(1);
        running.update(&mean, &var, 4);
        assert!((running.mean[0] - 0.3).abs() < 1e-7);
        assert!((f64::from(running.var[0]) - (0.9 + 0.1 * 14.0 / 3.0)).abs() < 1e-6);
        // Evaluation normalizes with the running estimates.
        let mut eval = [0.0f32];
        batch_norm_forward_eval(&[1.3], 1, &[2.0], &[0.5], &running, &mut eval);
        let expected = (1.3 - 0.3) / (f64::from(running.var[0]) + 1e-5).sqrt() * 2.0 + 0.5;
        assert!((f64::from(eval[0]) - expected).abs() < 1e-6);
        // A batch of one row leaves the estimates unchanged.
        let before = running.clone();
        running.update(&[10.0], &[0.0], 1);
        assert_eq!(running, before);
    }
}

//! The forward and backward passes of a [`NeuralModel`] over one batch, in a [`Workspace`]
//! whose buffers are allocated once for the largest batch and reused by every step.

use kiln_core::preprocess::Encoded;
use kiln_core::rng::Rng;

use super::batchnorm::{batch_norm_backward, batch_norm_forward_eval, batch_norm_forward_train};
use super::kernels::{
    DenseGrads, Derivative, Linear, Rows, activation_backward, activation_forward, dense_backward_blocked,
    dense_forward_blocked, lane_scratch_len, layer_norm_backward, layer_norm_forward,
};
use super::model::{NeuralArch, NeuralModel};
use super::resnet::{ResnetBuffers, apply_dropout};
use crate::config::{Activation, Norm};

/// The buffers of one hidden layer, each `capacity * width` (`rstd`: `capacity` for a layer
/// norm, `width` for a batch norm).
#[derive(Debug, Clone)]
struct HiddenBuffers {
    /// Dense output.
    z: Vec<f32>,
    /// Norm output and normalized values (empty without a norm).
    normed: Vec<f32>,
    x_hat: Vec<f32>,
    rstd: Vec<f32>,
    /// Batch norm in training: the batch's mean and biased variance per column (`width`).
    batch_mean: Vec<f32>,
    batch_var: Vec<f32>,
    /// Dropout scale per value (0 or 1 / (1 − p)); empty when not training with dropout.
    mask: Vec<f32>,
    /// The layer's output (after the residual).
    h: Vec<f32>,
    /// Gradient with respect to `h`, then scratch.
    grad_h: Vec<f32>,
    /// Gradient with respect to the activation's input.
    grad_a: Vec<f32>,
    /// Gradient with respect to `z`.
    grad_z: Vec<f32>,
}

/// Whether a hidden layer applies its ReLU in place in `h`, keeping no `z`: with no norm and
/// no residual, `h > 0` exactly where `z > 0` (dropout scales the values it keeps by a positive
/// factor and zeroes the gradient of the others), so the backward pass takes the derivative
/// at `h`.
fn relu_in_place(activation: Activation, norm: Norm, residual: bool) -> bool {
    activation == Activation::Relu && norm == Norm::None && !residual
}

/// Whether the backward pass is fused: without norms and residuals, each dense pass takes the
/// gradient at its input on back through the activation below, block by block, so that a
/// hidden layer's `grad_h` holds the gradient at its dense output (and `grad_z` is unused).
fn fused_backward(norm: Norm, residual: &[bool]) -> bool {
    norm == Norm::None && !residual.iter().any(|r| *r)
}

/// Per-model buffers for batches of up to `capacity` rows.
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    input: Vec<f32>,
    /// Categorical codes, `capacity * n_codes` (embedded models only).
    codes: Vec<u32>,
    n_codes: usize,
    hidden: Vec<HiddenBuffers>,
    outputs: Vec<f32>,
    grad_outputs: Vec<f32>,
    /// The partial weight gradients of a dense layer's backward pass (training only).
    lane_scratch: Vec<f32>,
    /// Whether each hidden layer adds its input back.
    residual: Vec<bool>,
    activation: Activation,
    norm: Norm,
    /// Whether norms use batch statistics (training) or running estimates (evaluation).
    training: bool,
    /// Rows of the last forward pass.
    rows: usize,
    /// The ResNet's buffers (its passes replace the layer stack's).
    resnet: Option<ResnetBuffers>,
}

impl Workspace {
    pub(crate) fn new(model: &NeuralModel, capacity: usize, training: bool) -> Self {
        let (activation, residual, norm) = match &model.arch {
            NeuralArch::Linear | NeuralArch::ResNet { .. } => (Activation::Relu, false, Norm::None),
            NeuralArch::Mlp { activation, residual, norm, .. } => (*activation, *residual, *norm),
        };
        let resnet = match &model.arch {
            NeuralArch::ResNet { d_block, d_hidden, n_blocks, .. } => {
                let embedded = if model.embeddings.is_empty() { 0 } else { model.dense[0].n_in };
                Some(ResnetBuffers::new(*d_block, *d_hidden, *n_blocks, embedded, capacity, training))
            }
            _ => None,
        };
        let n_hidden = if resnet.is_some() { 0 } else { model.dense.len() - 1 };
        let grad = |n: usize| if training { vec![0.0; n] } else { Vec::new() };
        let normed = norm != Norm::None;
        let residual: Vec<bool> = model.dense[..n_hidden].iter().map(|d| residual && d.n_in == d.n_out).collect();
        // Buffers a layer never touches stay empty: `z` under a ReLU in place, `grad_z` when the
        // backward pass is fused (see [`fused_backward`]).
        let fused = fused_backward(norm, &residual);
        let hidden = model.dense[..n_hidden]
            .iter()
            .zip(&residual)
            .map(|(dense, residual)| {
                let n = capacity * dense.n_out;
                let if_norm = |n: usize| if normed { vec![0.0; n] } else { Vec::new() };
                let batch_stats = |n: usize| if norm == Norm::Batch && training { vec![0.0; n] } else { Vec::new() };
                HiddenBuffers {
                    z: if relu_in_place(activation, norm, *residual) { Vec::new() } else { vec![0.0; n] },
                    normed: if_norm(n),
                    x_hat: if_norm(n),
                    rstd: if_norm(if norm == Norm::Batch { dense.n_out } else { capacity }),
                    batch_mean: batch_stats(dense.n_out),
                    batch_var: batch_stats(dense.n_out),
                    mask: grad(n),
                    h: vec![0.0; n],
                    grad_h: grad(n),
                    grad_a: if normed { grad(n) } else { Vec::new() },
                    grad_z: if fused { Vec::new() } else { grad(n) },
                }
            })
            .collect();
        let n_codes = model.embeddings.len();
        let lane_scratch = match (&resnet, training) {
            (None, true) => model.dense.iter().map(|d| lane_scratch_len(d.n_in, d.n_out)).max().unwrap_or(0),
            _ => 0,
        };
        Self {
            input: vec![0.0; capacity * model.n_inputs],
            codes: vec![0; capacity * n_codes],
            n_codes,
            hidden,
            outputs: vec![0.0; capacity * model.n_outputs],
            grad_outputs: grad(capacity * model.n_outputs),
            lane_scratch: vec![0.0; lane_scratch],
            residual,
            activation,
            norm,
            training,
            rows: 0,
            resnet,
        }
    }

    /// Copy `rows` contiguous rows of dense features and codes (`codes` empty unless the model
    /// embeds categorical columns) in.
    #[cfg(test)]
    pub(crate) fn load(&mut self, dense: &[f32], codes: &[u32], rows: usize) {
        let width = dense.len() / rows.max(1);
        self.input[..rows * width].copy_from_slice(dense);
        self.codes[..rows * self.n_codes].copy_from_slice(&codes[..rows * self.n_codes]);
    }

    /// Copy rows `start..start + rows` of `data` in.
    pub(crate) fn load_range(&mut self, data: &Encoded, start: usize, rows: usize) {
        let (n_dense, n_codes) = (data.n_dense, self.n_codes);
        self.input[..rows * n_dense].copy_from_slice(&data.dense[start * n_dense..(start + rows) * n_dense]);
        self.codes[..rows * n_codes].copy_from_slice(&data.codes[start * n_codes..(start + rows) * n_codes]);
    }

    /// Gather the rows `indices` of `data` (a shuffled batch) in.
    pub(crate) fn gather_rows(&mut self, data: &Encoded, indices: &[usize]) {
        let (n_dense, n_codes) = (data.n_dense, self.n_codes);
        if n_dense > 0 {
            for (slot, row) in self.input.chunks_exact_mut(n_dense).zip(indices) {
                slot.copy_from_slice(&data.dense[row * n_dense..(row + 1) * n_dense]);
            }
        }
        if n_codes > 0 {
            for (slot, row) in self.codes.chunks_exact_mut(n_codes).zip(indices) {
                slot.copy_from_slice(&data.codes[row * n_codes..(row + 1) * n_codes]);
            }
        }
    }

    /// After a training forward pass: move the model's batch-norm running estimates towards
    /// the batch's statistics (no-op without batch norm).
    pub(crate) fn update_running_stats(&self, model: &mut NeuralModel) {
        if !(self.training && self.norm == Norm::Batch) {
            return;
        }
        for (stats, buffers) in model.running.iter_mut().zip(&self.hidden) {
            stats.update(&buffers.batch_mean, &buffers.batch_var, self.rows);
        }
    }

    pub(crate) fn outputs(&self) -> &[f32] {
        &self.outputs
    }

    /// The outputs and the buffer for the loss gradient with respect to them.
    pub(crate) fn outputs_and_grad(&mut self) -> (&[f32], &mut [f32]) {
        (&self.outputs, &mut self.grad_outputs)
    }

    /// The forward pass over the first `rows` input rows. `dropout` (a rate and the generator
    /// drawing the masks) is given only in training.
    pub(crate) fn forward(
        &mut self,
        model: &NeuralModel,
        rows: usize,
        dropout: Option<(f32, &mut Rng)>,
        threads: usize,
    ) {
        let mut dropout = dropout.filter(|(rate, _)| *rate > 0.0);
        self.rows = rows;
        if let Some(resnet) = self.resnet.as_mut() {
            resnet.forward(model, (&self.input, &self.codes), &mut self.outputs, rows, dropout, threads);
            return;
        }
        let n_hidden = self.hidden.len();
        for layer in 0..n_hidden {
            let dense = &model.dense[layer];
            let (before, rest) = self.hidden.split_at_mut(layer);
            let buffers = &mut rest[0];
            let input: &[f32] = if layer == 0 { &self.input } else { &before[layer - 1].h };
            let n = rows * dense.n_out;
            // Without a norm, the activation follows the product in the same pass (a ReLU in
            // place in `h`: see [`relu_in_place`]).
            let activation = (self.norm == Norm::None).then_some(self.activation);
            if relu_in_place(self.activation, self.norm, self.residual[layer]) {
                let h = &mut buffers.h;
                dense_forward_blocked(
                    Rows::new(input, rows, dense.n_in),
                    Linear::new(&dense.weight, &dense.bias, dense.n_out),
                    h,
                    activation,
                    None,
                    threads,
                );
            } else {
                dense_forward_blocked(
                    Rows::new(input, rows, dense.n_in),
                    Linear::new(&dense.weight, &dense.bias, dense.n_out),
                    &mut buffers.z,
                    activation,
                    Some(&mut buffers.h),
                    threads,
                );
            }
            if self.norm != Norm::None {
                let norm = &model.norms[layer];
                match (self.norm, self.training) {
                    (Norm::Batch, true) => batch_norm_forward_train(
                        Rows::new(&buffers.z, rows, dense.n_out),
                        (&norm.weight, &norm.bias),
                        &mut buffers.normed,
                        (&mut buffers.x_hat, &mut buffers.batch_mean, &mut buffers.batch_var, &mut buffers.rstd),
                    ),
                    (Norm::Batch, false) => batch_norm_forward_eval(
                        &buffers.z,
                        rows,
                        &norm.weight,
                        &norm.bias,
                        &model.running[layer],
                        &mut buffers.normed,
                    ),
                    _ => layer_norm_forward(
                        Rows::new(&buffers.z, rows, dense.n_out),
                        (&norm.weight, &norm.bias),
                        &mut buffers.normed,
                        (&mut buffers.x_hat, &mut buffers.rstd),
                    ),
                }
                activation_forward(self.activation, &buffers.normed[..n], &mut buffers.h[..n], threads);
            }
            if let Some((rate, rng)) = dropout.as_mut() {
                apply_dropout(*rate, rng, &mut buffers.mask[..n], &mut buffers.h[..n]);
            }
            if self.residual[layer] {
                for (h, x) in buffers.h[..n].iter_mut().zip(&input[..n]) {
                    *h += x;
                }
            }
        }
        let head = &model.dense[n_hidden];
        let input: &[f32] = if n_hidden == 0 { &self.input } else { &self.hidden[n_hidden - 1].h };
        dense_forward_blocked(
            Rows::new(input, rows, head.n_in),
            Linear::new(&head.weight, &head.bias, head.n_out),
            &mut self.outputs,
            None,
            None,
            threads,
        );
    }

    /// The backward pass after [`Self::forward`] (in training, with the same dropout) and the
    /// loss gradient in `grad_outputs`; writes every parameter gradient into `grads`, a model
    /// of the same shape.
    pub(crate) fn backward(
        &mut self,
        model: &NeuralModel,
        grads: &mut NeuralModel,
        rows: usize,
        dropout: bool,
        threads: usize,
    ) {
        if let Some(resnet) = self.resnet.as_mut() {
            resnet.backward(model, grads, (&self.input, &self.codes), &self.grad_outputs, rows, (dropout, threads));
            return;
        }
        let n_hidden = self.hidden.len();
        let fused = fused_backward(self.norm, &self.residual);
        let activation = self.activation;
        let (norm, residual) = (self.norm, &self.residual);
        let in_place = |layer: usize| relu_in_place(activation, norm, residual[layer]);
        fn derivative<'a>(activation: Activation, dropout: bool, mask: &'a [f32], pre: &'a [f32]) -> Derivative<'a> {
            Derivative { activation, mask: dropout.then_some(mask), pre }
        }
        {
            let head = &model.dense[n_hidden];
            let grad_head = &mut grads.dense[n_hidden];
            let (input, grad_x, x_derivative): (&[f32], _, _) = if n_hidden == 0 {
                (&self.input, None, None)
            } else {
                let last = &mut self.hidden[n_hidden - 1];
                let x_derivative = fused.then(|| {
                    derivative(
                        activation,
                        dropout,
                        &last.mask[..],
                        if in_place(n_hidden - 1) { &last.h[..] } else { &last.z[..] },
                    )
                });
                (&last.h, Some(&mut last.grad_h[..]), x_derivative)
            };
            dense_backward_blocked(
                Rows::new(input, rows, head.n_in),
                (&head.weight, head.n_out),
                None,
                &mut self.grad_outputs,
                DenseGrads { weight: &mut grad_head.weight, bias: &mut grad_head.bias, x: grad_x, x_derivative },
                &mut self.lane_scratch,
                threads,
            );
        }
        for layer in (0..n_hidden).rev() {
            let dense = &model.dense[layer];
            let n = rows * dense.n_out;
            let (before, rest) = self.hidden.split_at_mut(layer);
            let buffers = &mut rest[0];
            // The gradient at the dense output: already in grad_h (fused), or back through
            // dropout and the activation (and then the norm, through grad_a) into grad_z.
            let (grad, through) = if fused {
                (&mut buffers.grad_h, None)
            } else if self.norm == Norm::None {
                (
                    &mut buffers.grad_z,
                    Some((
                        &buffers.grad_h[..],
                        derivative(
                            activation,
                            dropout,
                            &buffers.mask[..],
                            if in_place(layer) { &buffers.h[..] } else { &buffers.z[..] },
                        ),
                    )),
                )
            } else {
                let mask = if dropout { Some(&buffers.mask[..n]) } else { None };
                activation_backward(
                    self.activation,
                    &buffers.grad_h[..n],
                    mask,
                    &buffers.normed[..n],
                    &mut buffers.grad_a[..n],
                    threads,
                );
                let norm = &model.norms[layer];
                let grad_norm = &mut grads.norms[layer];
                let backward = if self.norm == Norm::Batch { batch_norm_backward } else { layer_norm_backward };
                backward(
                    Rows::new(&buffers.grad_a, rows, dense.n_out),
                    &norm.weight,
                    (&buffers.x_hat, &buffers.rstd),
                    &mut buffers.grad_z,
                    (&mut grad_norm.weight, &mut grad_norm.bias),
                );
                (&mut buffers.grad_z, None)
            };
            let grad_dense = &mut grads.dense[layer];
            let (input, grad_x, x_derivative): (&[f32], _, _) = if layer == 0 {
                (&self.input, None, None)
            } else {
                let previous = &mut before[layer - 1];
                let x_derivative = fused.then(|| {
                    derivative(
                        activation,
                        dropout,
                        &previous.mask[..],
                        if in_place(layer - 1) { &previous.h[..] } else { &previous.z[..] },
                    )
                });
                (&previous.h, Some(&mut previous.grad_h[..]), x_derivative)
            };
            let has_grad_x = grad_x.is_some();
            dense_backward_blocked(
                Rows::new(input, rows, dense.n_in),
                (&dense.weight, dense.n_out),
                through,
                grad,
                DenseGrads { weight: &mut grad_dense.weight, bias: &mut grad_dense.bias, x: grad_x, x_derivative },
                &mut self.lane_scratch,
                threads,
            );
            if self.residual[layer] && has_grad_x {
                let previous = &mut before[layer - 1];
                for (p, g) in previous.grad_h[..n].iter_mut().zip(&buffers.grad_h[..n]) {
                    *p += g;
                }
            }
        }
    }
}

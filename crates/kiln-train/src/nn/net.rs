//! The forward and backward passes of a [`NeuralModel`] over one batch, in a [`Workspace`]
//! whose buffers are allocated once for the largest batch and reused by every step.

use kiln_core::rng::Rng;

use super::kernels::{
    activation_backward, activation_forward, bias_activation_forward, dense_backward, dense_forward,
    dense_forward_without_bias, layer_norm_backward, layer_norm_forward,
};
use super::model::{NeuralArch, NeuralModel};
use super::resnet::{ResnetBuffers, apply_dropout};
use crate::config::Activation;

/// The buffers of one hidden layer, each `capacity * width` (`rstd`: `capacity`).
#[derive(Debug, Clone)]
struct HiddenBuffers {
    /// Dense output.
    z: Vec<f32>,
    /// Layer-norm output and normalized values (empty without a norm).
    normed: Vec<f32>,
    x_hat: Vec<f32>,
    rstd: Vec<f32>,
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

/// Per-model buffers for batches of up to `capacity` rows.
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    input: Vec<f32>,
    hidden: Vec<HiddenBuffers>,
    outputs: Vec<f32>,
    grad_outputs: Vec<f32>,
    /// Whether each hidden layer adds its input back.
    residual: Vec<bool>,
    activation: Activation,
    layer_norm: bool,
    /// The ResNet's buffers (its passes replace the layer stack's).
    resnet: Option<ResnetBuffers>,
}

impl Workspace {
    pub(crate) fn new(model: &NeuralModel, capacity: usize, training: bool) -> Self {
        let (activation, residual) = match &model.arch {
            NeuralArch::Linear | NeuralArch::ResNet { .. } => (Activation::Relu, false),
            NeuralArch::Mlp { activation, residual, .. } => (*activation, *residual),
        };
        let resnet = match &model.arch {
            NeuralArch::ResNet { d_block, d_hidden, n_blocks } => {
                Some(ResnetBuffers::new(*d_block, *d_hidden, *n_blocks, capacity, training))
            }
            _ => None,
        };
        let layer_norm = resnet.is_none() && !model.norms.is_empty();
        let n_hidden = if resnet.is_some() { 0 } else { model.dense.len() - 1 };
        let grad = |n: usize| if training { vec![0.0; n] } else { Vec::new() };
        let hidden = model.dense[..n_hidden]
            .iter()
            .map(|dense| {
                let n = capacity * dense.n_out;
                HiddenBuffers {
                    z: vec![0.0; n],
                    normed: if layer_norm { vec![0.0; n] } else { Vec::new() },
                    x_hat: if layer_norm { vec![0.0; n] } else { Vec::new() },
                    rstd: if layer_norm { vec![0.0; capacity] } else { Vec::new() },
                    mask: grad(n),
                    h: vec![0.0; n],
                    grad_h: grad(n),
                    grad_a: if layer_norm { grad(n) } else { Vec::new() },
                    grad_z: grad(n),
                }
            })
            .collect();
        let residual = model.dense[..n_hidden].iter().map(|d| residual && d.n_in == d.n_out).collect();
        Self {
            input: vec![0.0; capacity * model.n_inputs],
            hidden,
            outputs: vec![0.0; capacity * model.n_outputs],
            grad_outputs: grad(capacity * model.n_outputs),
            residual,
            activation,
            layer_norm,
            resnet,
        }
    }

    /// Copy `rows` contiguous input rows in.
    pub(crate) fn load_rows(&mut self, rows_data: &[f32], rows: usize) {
        let width = rows_data.len() / rows.max(1);
        self.input[..rows * width].copy_from_slice(rows_data);
    }

    /// The input buffer, for gathering a shuffled batch in place.
    pub(crate) fn input_mut(&mut self) -> &mut [f32] {
        &mut self.input
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
        if let Some(resnet) = self.resnet.as_mut() {
            resnet.forward(model, &self.input, &mut self.outputs, rows, dropout, threads);
            return;
        }
        let n_hidden = self.hidden.len();
        for layer in 0..n_hidden {
            let dense = &model.dense[layer];
            let (before, rest) = self.hidden.split_at_mut(layer);
            let buffers = &mut rest[0];
            let input: &[f32] = if layer == 0 { &self.input } else { &before[layer - 1].h };
            let n = rows * dense.n_out;
            if self.layer_norm {
                dense_forward(
                    input,
                    rows,
                    dense.n_in,
                    &dense.weight,
                    &dense.bias,
                    dense.n_out,
                    &mut buffers.z,
                    threads,
                );
            } else {
                dense_forward_without_bias(
                    input,
                    rows,
                    dense.n_in,
                    &dense.weight,
                    dense.n_out,
                    &mut buffers.z,
                    threads,
                );
                bias_activation_forward(
                    self.activation,
                    &mut buffers.z[..n],
                    &dense.bias,
                    &mut buffers.h[..n],
                    threads,
                );
            }
            if self.layer_norm {
                let norm = &model.norms[layer];
                layer_norm_forward(
                    &buffers.z,
                    rows,
                    dense.n_out,
                    &norm.weight,
                    &norm.bias,
                    &mut buffers.normed,
                    &mut buffers.x_hat,
                    &mut buffers.rstd,
                );
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
        dense_forward(input, rows, head.n_in, &head.weight, &head.bias, head.n_out, &mut self.outputs, threads);
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
            resnet.backward(model, grads, &self.input, &self.grad_outputs, rows, dropout, threads);
            return;
        }
        let n_hidden = self.hidden.len();
        {
            let head = &model.dense[n_hidden];
            let grad_head = &mut grads.dense[n_hidden];
            let (input, grad_x): (&[f32], Option<&mut [f32]>) = if n_hidden == 0 {
                (&self.input, None)
            } else {
                let last = &mut self.hidden[n_hidden - 1];
                (&last.h, Some(&mut last.grad_h))
            };
            dense_backward(
                input,
                rows,
                head.n_in,
                &head.weight,
                head.n_out,
                &self.grad_outputs,
                &mut grad_head.weight,
                &mut grad_head.bias,
                grad_x,
                threads,
            );
        }
        for layer in (0..n_hidden).rev() {
            let dense = &model.dense[layer];
            let n = rows * dense.n_out;
            let (before, rest) = self.hidden.split_at_mut(layer);
            let buffers = &mut rest[0];
            // Through dropout and the activation, into grad_a (with a norm) or grad_z.
            let pre: &[f32] = if self.layer_norm { &buffers.normed[..n] } else { &buffers.z[..n] };
            let target: &mut [f32] = if self.layer_norm { &mut buffers.grad_a[..n] } else { &mut buffers.grad_z[..n] };
            let mask = if dropout { Some(&buffers.mask[..n]) } else { None };
            activation_backward(self.activation, &buffers.grad_h[..n], mask, pre, target, threads);
            if self.layer_norm {
                let norm = &model.norms[layer];
                let grad_norm = &mut grads.norms[layer];
                layer_norm_backward(
                    &buffers.grad_a,
                    rows,
                    dense.n_out,
                    &norm.weight,
                    &buffers.x_hat,
                    &buffers.rstd,
                    &mut buffers.grad_z,
                    &mut grad_norm.weight,
                    &mut grad_norm.bias,
                );
            }
            let grad_dense = &mut grads.dense[layer];
            let (input, grad_x): (&[f32], Option<&mut [f32]>) = if layer == 0 {
                (&self.input, None)
            } else {
                let previous = &mut before[layer - 1];
                (&previous.h, Some(&mut previous.grad_h))
            };
            let has_grad_x = grad_x.is_some();
            dense_backward(
                input,
                rows,
                dense.n_in,
                &dense.weight,
                dense.n_out,
                &buffers.grad_z,
                &mut grad_dense.weight,
                &mut grad_dense.bias,
                grad_x,
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

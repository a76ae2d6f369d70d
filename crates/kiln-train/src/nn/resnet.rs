//! The forward and backward passes of the tabular ResNet (Gorishniy et al., 2021) over one
//! batch: an input projection to `d_block`, residual blocks
//! `x + Dropout(Linear(Dropout(ReLU(Linear(LayerNorm(x))))))`, and the head
//! `Linear(ReLU(LayerNorm(x)))`.
//!
//! The model's tensors are laid out as: `dense` = input, then `linear1` and `linear2` of each
//! block, then the head; `norms` = each block's norm, then the head's norm; `embeddings` = one
//! table per categorical column, whose lookups follow the dense features into the input layer.

use kiln_core::rng::Rng;

use super::embedding::{gather, scatter_add};
use super::kernels::{
    Linear, Rows, activation_backward, activation_forward, bias_activation_forward, dense_backward, dense_forward,
    dense_forward_without_bias, layer_norm_backward, layer_norm_forward,
};
use super::model::NeuralModel;
use crate::config::Activation;

/// The buffers of one residual block, each `capacity * width`.
#[derive(Debug, Clone)]
struct BlockBuffers {
    /// Layer-norm output, normalized values and reciprocal standard deviations (`capacity`).
    normed: Vec<f32>,
    x_hat: Vec<f32>,
    rstd: Vec<f32>,
    /// The first linear's output with its bias (before the ReLU), then the ReLU's output
    /// (after dropout), both `d_hidden` wide.
    z: Vec<f32>,
    a: Vec<f32>,
    /// Dropout scales after the ReLU (`d_hidden`) and after the second linear (`d_block`).
    mask_hidden: Vec<f32>,
    mask_out: Vec<f32>,
}

/// Per-model ResNet buffers for batches of up to `capacity` rows.
#[derive(Debug, Clone)]
pub(crate) struct ResnetBuffers {
    d_block: usize,
    d_hidden: usize,
    /// With embeddings: the input layer's input (dense features, then the embeddings) and its
    /// gradient (training only), `capacity * width`; else empty.
    embedded: Vec<f32>,
    grad_embedded: Vec<f32>,
    /// The residual stream before each block and after the last, `n_blocks + 1` of them.
    stream: Vec<Vec<f32>>,
    blocks: Vec<BlockBuffers>,
    /// The head's layer norm and ReLU.
    head_normed: Vec<f32>,
    head_x_hat: Vec<f32>,
    head_rstd: Vec<f32>,
    head_a: Vec<f32>,
    /// Gradient scratch (empty unless training).
    grad_stream: Vec<f32>,
    grad_scratch: Vec<f32>,
    grad_branch: Vec<f32>,
    grad_hidden_a: Vec<f32>,
    grad_hidden_z: Vec<f32>,
}

impl ResnetBuffers {
    /// Buffers for batches of `capacity` rows; `embedded` is the input layer's width when the
    /// model embeds categorical columns, else 0.
    pub(crate) fn new(
        d_block: usize,
        d_hidden: usize,
        n_blocks: usize,
        embedded: usize,
        capacity: usize,
        training: bool,
    ) -> Self {
        let (nd, nh) = (capacity * d_block, capacity * d_hidden);
        let grad = |n: usize| if training { vec![0.0; n] } else { Vec::new() };
        let blocks = (0..n_blocks)
            .map(|_| BlockBuffers {
                normed: vec![0.0; nd],
                x_hat: vec![0.0; nd],
                rstd: vec![0.0; capacity],
                z: vec![0.0; nh],
                a: vec![0.0; nh],
                mask_hidden: grad(nh),
                mask_out: grad(nd),
            })
            .collect();
        Self {
            d_block,
            d_hidden,
            embedded: vec![0.0; capacity * embedded],
            grad_embedded: grad(capacity * embedded),
            stream: (0..=n_blocks).map(|_| vec![0.0; nd]).collect(),
            blocks,
            head_normed: vec![0.0; nd],
            head_x_hat: vec![0.0; nd],
            head_rstd: vec![0.0; capacity],
            head_a: vec![0.0; nd],
            grad_stream: grad(nd),
            grad_scratch: grad(nd),
            grad_branch: grad(nd),
            grad_hidden_a: grad(nh),
            grad_hidden_z: grad(nh),
        }
    }

    /// The forward pass of `rows` rows of `input` (and their categorical `codes` when the
    /// model embeds them) into `outputs`; dropout only when given.
    pub(crate) fn forward(
        &mut self,
        model: &NeuralModel,
        (input, codes): (&[f32], &[u32]),
        outputs: &mut [f32],
        rows: usize,
        mut dropout: Option<(f32, &mut Rng)>,
        threads: usize,
    ) {
        let (d, nd, nh) = (self.d_block, rows * self.d_block, rows * self.d_hidden);
        let n_blocks = self.blocks.len();
        let first = &model.dense[0];
        let input = if model.embeddings.is_empty() {
            input
        } else {
            gather(input, model.n_inputs, codes, &model.embeddings, rows, &mut self.embedded);
            &self.embedded
        };
        dense_forward(
            Rows::new(input, rows, first.n_in),
            Linear::new(&first.weight, &first.bias, d),
            &mut self.stream[0],
            threads,
        );
        for (block, buffers) in self.blocks.iter_mut().enumerate() {
            let (linear1, linear2) = (&model.dense[1 + 2 * block], &model.dense[2 + 2 * block]);
            let norm = &model.norms[block];
            let (before, after) = self.stream.split_at_mut(block + 1);
            let (x, next) = (&before[block], &mut after[0]);
            layer_norm_forward(
                Rows::new(x, rows, d),
                (&norm.weight, &norm.bias),
                &mut buffers.normed,
                (&mut buffers.x_hat, &mut buffers.rstd),
            );
            dense_forward_without_bias(
                &buffers.normed,
                rows,
                d,
                &linear1.weight,
                self.d_hidden,
                &mut buffers.z,
                threads,
            );
            bias_activation_forward(
                Activation::Relu,
                &mut buffers.z[..nh],
                &linear1.bias,
                &mut buffers.a[..nh],
                threads,
            );
            if let Some((rate, rng)) = dropout.as_mut() {
                apply_dropout(*rate, rng, &mut buffers.mask_hidden[..nh], &mut buffers.a[..nh]);
            }
            dense_forward(
                Rows::new(&buffers.a, rows, self.d_hidden),
                Linear::new(&linear2.weight, &linear2.bias, d),
                next,
                threads,
            );
            if let Some((rate, rng)) = dropout.as_mut() {
                apply_dropout(*rate, rng, &mut buffers.mask_out[..nd], &mut next[..nd]);
            }
            for (y, x) in next[..nd].iter_mut().zip(&x[..nd]) {
                *y += x;
            }
        }
        let head_norm = &model.norms[n_blocks];
        layer_norm_forward(
            Rows::new(&self.stream[n_blocks], rows, d),
            (&head_norm.weight, &head_norm.bias),
            &mut self.head_normed,
            (&mut self.head_x_hat, &mut self.head_rstd),
        );
        activation_forward(Activation::Relu, &self.head_normed[..nd], &mut self.head_a[..nd], threads);
        let head = &model.dense[model.dense.len() - 1];
        dense_forward(
            Rows::new(&self.head_a, rows, d),
            Linear::new(&head.weight, &head.bias, head.n_out),
            outputs,
            threads,
        );
    }

    /// The backward pass after [`Self::forward`] (with the same dropout) from the loss
    /// gradient `grad_outputs`; writes every parameter gradient into `grads`.
    pub(crate) fn backward(
        &mut self,
        model: &NeuralModel,
        grads: &mut NeuralModel,
        (input, codes): (&[f32], &[u32]),
        grad_outputs: &[f32],
        rows: usize,
        (dropout, threads): (bool, usize),
    ) {
        let (d, h, nd, nh) = (self.d_block, self.d_hidden, rows * self.d_block, rows * self.d_hidden);
        let n_blocks = self.blocks.len();
        let last = model.dense.len() - 1;
        let head = &model.dense[last];
        let grad_head = &mut grads.dense[last];
        dense_backward(
            Rows::new(&self.head_a, rows, d),
            (&head.weight, head.n_out),
            grad_outputs,
            (&mut grad_head.weight, &mut grad_head.bias),
            Some(&mut self.grad_scratch),
            threads,
        );
        activation_backward(
            Activation::Relu,
            &self.grad_scratch[..nd],
            None,
            &self.head_normed[..nd],
            &mut self.grad_branch[..nd],
            threads,
        );
        let (head_norm, grad_head_norm) = (&model.norms[n_blocks], &mut grads.norms[n_blocks]);
        layer_norm_backward(
            Rows::new(&self.grad_branch, rows, d),
            &head_norm.weight,
            (&self.head_x_hat, &self.head_rstd),
            &mut self.grad_stream,
            (&mut grad_head_norm.weight, &mut grad_head_norm.bias),
        );
        for (block, buffers) in self.blocks.iter().enumerate().rev() {
            let (i1, i2) = (1 + 2 * block, 2 + 2 * block);
            let (linear1, linear2) = (&model.dense[i1], &model.dense[i2]);
            // Through the second dropout into the second linear.
            if dropout {
                for ((g, s), m) in self.grad_branch[..nd].iter_mut().zip(&self.grad_stream[..nd]).zip(&buffers.mask_out)
                {
                    *g = s * m;
                }
            } else {
                self.grad_branch[..nd].copy_from_slice(&self.grad_stream[..nd]);
            }
            let grad2 = &mut grads.dense[i2];
            dense_backward(
                Rows::new(&buffers.a, rows, h),
                (&linear2.weight, d),
                &self.grad_branch,
                (&mut grad2.weight, &mut grad2.bias),
                Some(&mut self.grad_hidden_a),
                threads,
            );
            let mask = if dropout { Some(&buffers.mask_hidden[..nh]) } else { None };
            activation_backward(
                Activation::Relu,
                &self.grad_hidden_a[..nh],
                mask,
                &buffers.z[..nh],
                &mut self.grad_hidden_z[..nh],
                threads,
            );
            let grad1 = &mut grads.dense[i1];
            dense_backward(
                Rows::new(&buffers.normed, rows, d),
                (&linear1.weight, h),
                &self.grad_hidden_z,
                (&mut grad1.weight, &mut grad1.bias),
                Some(&mut self.grad_branch),
                threads,
            );
            let (norm, grad_norm) = (&model.norms[block], &mut grads.norms[block]);
            layer_norm_backward(
                Rows::new(&self.grad_branch, rows, d),
                &norm.weight,
                (&buffers.x_hat, &buffers.rstd),
                &mut self.grad_scratch,
                (&mut grad_norm.weight, &mut grad_norm.bias),
            );
            for (s, g) in self.grad_stream[..nd].iter_mut().zip(&self.grad_scratch[..nd]) {
                *s += g;
            }
        }
        let first = &model.dense[0];
        let grad_first = &mut grads.dense[0];
        let embedded = !model.embeddings.is_empty();
        dense_backward(
            Rows::new(if embedded { &self.embedded } else { input }, rows, first.n_in),
            (&first.weight, d),
            &self.grad_stream,
            (&mut grad_first.weight, &mut grad_first.bias),
            if embedded { Some(&mut self.grad_embedded) } else { None },
            threads,
        );
        if embedded {
            scatter_add(&self.grad_embedded, model.n_inputs, codes, &model.embeddings, rows, &mut grads.embeddings);
        }
    }
}

/// Draw a dropout mask (0 or 1 / (1 − rate) per value) into `mask` and scale `values` by it.
/// A value is dropped when its draw's [`Rng::uniform`], rounded to `f32`, is below `rate`:
/// compared here as the draw's 53 bits against [`drop_threshold`], which is the same test.
pub(crate) fn apply_dropout(rate: f32, rng: &mut Rng, mask: &mut [f32], values: &mut [f32]) {
    let keep = 1.0 / (1.0 - rate);
    let threshold = drop_threshold(rate);
    for m in mask.iter_mut() {
        *m = if rng.next_u64() >> 11 < threshold { 0.0 } else { keep };
    }
    for (v, m) in values.iter_mut().zip(mask.iter()) {
        *v *= *m;
    }
}

/// The number of 53-bit draws `u` (of `2^53`) whose uniform value `u · 2^-53`, rounded to
/// `f32`, is below `rate`. That value never decreases as `u` grows, so those draws are exactly
/// `u < threshold`.
fn drop_threshold(rate: f32) -> u64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    if rate.is_nan() {
        return 0;
    }
    let (mut low, mut high) = (0u64, 1u64 << 53);
    while low < high {
        let middle = low + (high - low) / 2;
        if (middle as f64 * SCALE) as f32 >= rate {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    low
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drop_threshold_splits_the_draws_at_the_rate() {
        let value = |u: u64| (u as f64 * (1.0 / (1u64 << 53) as f64)) as f32;
        for rate in [0.0f32, 1e-9, 0.1, 0.15, 0.5, 0.999_999, 1.0] {
            let threshold = drop_threshold(rate);
            if threshold > 0 {
                assert!(value(threshold - 1) < rate, "rate {rate}: draw {} is kept", threshold - 1);
            }
            if threshold < 1u64 << 53 {
                assert!(value(threshold) >= rate, "rate {rate}: draw {threshold} is dropped");
            }
        }
    }

    #[test]
    fn dropout_draws_the_mask_of_the_uniform_stream() {
        for rate in [0.1f32, 0.15, 0.5] {
            let (mut rng, mut reference) = (Rng::new(7), Rng::new(7));
            let n = 10_000;
            let mut values: Vec<f32> = (0..n).map(|i| i as f32 * 0.25 - 7.0).collect();
            let expected_values: Vec<f32> = values.clone();
            let mut mask = vec![0.0; n];
            apply_dropout(rate, &mut rng, &mut mask, &mut values);
            let keep = 1.0 / (1.0 - rate);
            for ((m, v), x) in mask.iter().zip(&values).zip(&expected_values) {
                let expected = if (reference.uniform() as f32) < rate { 0.0 } else { keep };
                assert_eq!(m.to_bits(), expected.to_bits());
                assert_eq!(v.to_bits(), (x * expected).to_bits());
            }
            assert_eq!(rng.state(), reference.state(), "the stream advances once per value");
        }
    }
}

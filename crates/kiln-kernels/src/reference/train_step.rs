//! The non-matrix half of a training step, as `train_step.cu` computes it: the batch loss and
//! its gradient with respect to the outputs, and the global-norm clipping factor. The
//! arithmetic of kiln-train's `nn::loss::loss_and_gradient` and `nn::optim::clip_global_norm`,
//! re-implemented here so that this crate does not depend on the trainer (its tests check the
//! two agree). The AdamW half is [`super::adamw::step`].

/// The loss of [`loss_grad`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossKind {
    /// Binary cross-entropy on logits (one output, targets 0 or 1).
    Binary,
    /// Softmax cross-entropy (targets are class indices).
    Multiclass,
    /// Squared error (one output).
    Regression,
}

impl LossKind {
    /// The `task` code of `loss_grad` in `train_step.cu`.
    pub fn code(self) -> i32 {
        match self {
            LossKind::Binary => 0,
            LossKind::Multiclass => 1,
            LossKind::Regression => 2,
        }
    }
}

/// The weighted mean loss `Σ wᵢ lᵢ / Σ wᵢ` of `outputs[rows × n_outputs]` and its gradient with
/// respect to the outputs (written to `grad`). Every weight 0: loss and gradient 0.
///
/// # Panics
/// When the lengths disagree or a multiclass target is not a class index below `n_outputs`.
pub fn loss_grad(
    kind: LossKind,
    outputs: &[f32],
    n_outputs: usize,
    targets: &[f32],
    weights: &[f32],
    grad: &mut [f32],
) -> f64 {
    let rows = targets.len();
    assert!(
        weights.len() == rows && outputs.len() == rows * n_outputs && grad.len() == outputs.len(),
        "loss buffers differ in length"
    );
    let total: f64 = weights.iter().map(|w| f64::from(*w)).sum();
    let scale = if total > 0.0 { 1.0 / total } else { 0.0 };
    let mut loss = 0.0;
    for row in 0..rows {
        let (y, w) = (f64::from(targets[row]), f64::from(weights[row]));
        let out = &outputs[row * n_outputs..(row + 1) * n_outputs];
        let g = &mut grad[row * n_outputs..(row + 1) * n_outputs];
        match kind {
            LossKind::Binary => {
                let z = f64::from(out[0]);
                loss += w * (z.max(0.0) - z * y + (-z.abs()).exp().ln_1p());
                g[0] = ((sigmoid(z) - y) * w * scale) as f32;
            }
            LossKind::Multiclass => {
                let max = out.iter().copied().fold(-f32::MAX, f32::max);
                let sum: f64 = out.iter().map(|v| f64::from(v - max).exp()).sum();
                let class = y as usize;
                assert!(class < n_outputs, "class {class} of row {row} is not below {n_outputs}");
                loss += w * (f64::from(max) + sum.ln() - f64::from(out[class]));
                for (k, (gk, v)) in g.iter_mut().zip(out).enumerate() {
                    let p = f64::from(v - max).exp() / sum;
                    *gk = ((p - if k == class { 1.0 } else { 0.0 }) * w * scale) as f32;
                }
            }
            LossKind::Regression => {
                let d = f64::from(out[0]) - y;
                loss += w * d * d;
                g[0] = (2.0 * d * w * scale) as f32;
            }
        }
    }
    loss * scale
}

/// The factor that clips gradients of global L2 norm `‖g‖` to `max_norm`: `max_norm / ‖g‖` when
/// `‖g‖ > max_norm`, else 1.
pub fn clip_factor(grads: &[&[f32]], max_norm: f64) -> f32 {
    let norm = grads.iter().flat_map(|g| g.iter()).map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>().sqrt();
    if norm > max_norm && norm > 0.0 { (max_norm / norm) as f32 } else { 1.0 }
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

//! AdamW over a flat parameter buffer: the arithmetic of kiln-train's `nn::optim::AdamW::update`
//! (PyTorch's AdamW: decoupled weight decay, bias correction), re-implemented here so that this
//! crate does not depend on the trainer.
//!
//! The step-dependent scalars are computed in `f64` on the host ([`Scalars::new`]) and the
//! per-element update in `f32`, in the same operation order as kiln-train:
//!
//! ```text
//! m = β₁·m + (1 − β₁)·g
//! v = β₂·v + (1 − β₂)·g·g
//! p = p·shrink − step_size·m / (√v / √(1 − β₂ᵗ) + ε)
//! ```
//!
//! with `step_size = lr / (1 − β₁ᵗ)` and `shrink = 1 − lr·λ` for decayed elements (1 for the
//! others). `train_step.cu`'s `clip_adamw` uses round-to-nearest intrinsics without fused multiply-adds, so the
//! device result is bit-identical to [`step`].

/// AdamW's hyperparameters (PyTorch's defaults: betas 0.9, 0.999, eps 1e-8).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hyper {
    /// Learning rate of this step.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator guard.
    pub eps: f64,
    /// Decoupled weight decay λ.
    pub weight_decay: f64,
}

impl Hyper {
    /// PyTorch's defaults with the given learning rate and weight decay.
    pub fn new(lr: f64, weight_decay: f64) -> Self {
        Self { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay }
    }
}

/// The `f32` scalars of one step (what the kernel receives).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scalars {
    /// β₁ as `f32`.
    pub beta1: f32,
    /// β₂ as `f32`.
    pub beta2: f32,
    /// ε as `f32`.
    pub eps: f32,
    /// `lr / (1 − β₁ᵗ)`.
    pub step_size: f32,
    /// `√(1 − β₂ᵗ)`.
    pub sqrt_correction2: f32,
    /// `1 − lr·λ` (applied where the decay mask is set).
    pub shrink: f32,
}

impl Scalars {
    /// The scalars of step `step` (1-based; 0 counts as 1, as in kiln-train).
    pub fn new(h: &Hyper, step: u64) -> Self {
        let t = step.max(1) as i32;
        let correction1 = 1.0 - h.beta1.powi(t);
        let correction2 = 1.0 - h.beta2.powi(t);
        Self {
            beta1: h.beta1 as f32,
            beta2: h.beta2 as f32,
            eps: h.eps as f32,
            step_size: (h.lr / correction1) as f32,
            sqrt_correction2: correction2.sqrt() as f32,
            shrink: (1.0 - h.lr * h.weight_decay) as f32,
        }
    }
}

/// One AdamW step over flat buffers of equal length. `decay[i] != 0` marks the elements that
/// weight decay applies to (weights, not biases); `None` decays every element.
///
/// # Panics
/// When the buffers' lengths differ.
pub fn step(params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32], decay: Option<&[u8]>, s: &Scalars) {
    assert!(
        grads.len() == params.len()
            && m.len() == params.len()
            && v.len() == params.len()
            && decay.is_none_or(|d| d.len() == params.len()),
        "AdamW buffers differ in length"
    );
    for i in 0..params.len() {
        let g = grads[i];
        let shrink = if decay.is_none_or(|d| d[i] != 0) { s.shrink } else { 1.0 };
        m[i] = s.beta1 * m[i] + (1.0 - s.beta1) * g;
        v[i] = s.beta2 * v[i] + (1.0 - s.beta2) * g * g;
        params[i] = params[i] * shrink - s.step_size * m[i] / (v[i].sqrt() / s.sqrt_correction2 + s.eps);
    }
}

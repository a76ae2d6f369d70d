//! The optimizer side of training: AdamW (decoupled weight decay, bias correction), the
//! learning-rate schedule (linear warm-up, then cosine decay) and gradient clipping by global
//! norm.

/// AdamW's state: one first and second moment per parameter tensor, allocated once.
#[derive(Debug, Clone)]
pub struct AdamW {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Steps taken so far.
    pub step: u64,
    first: Vec<Vec<f32>>,
    second: Vec<Vec<f32>>,
}

impl AdamW {
    /// State for tensors of the given sizes (PyTorch's defaults: betas 0.9, 0.999, eps 1e-8).
    pub fn new(sizes: &[usize], weight_decay: f64) -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            step: 0,
            first: sizes.iter().map(|n| vec![0.0; *n]).collect(),
            second: sizes.iter().map(|n| vec![0.0; *n]).collect(),
        }
    }

    /// The first and second moments, one vector per parameter tensor (for checkpoints).
    pub fn moments(&self) -> (&[Vec<f32>], &[Vec<f32>]) {
        (&self.first, &self.second)
    }

    /// Replace the step count and the moments with saved ones; each saved vector must have
    /// the size of the tensor it belongs to. Returns the index of the first tensor whose size
    /// differs, if any (the state is then left unchanged).
    pub fn restore(&mut self, step: u64, first: Vec<Vec<f32>>, second: Vec<Vec<f32>>) -> Result<(), usize> {
        let sizes_match = |saved: &[Vec<f32>]| {
            (0..self.first.len().max(saved.len()))
                .find(|i| self.first.get(*i).map(Vec::len) != saved.get(*i).map(Vec::len))
        };
        if let Some(slot) = sizes_match(&first).or_else(|| sizes_match(&second)) {
            return Err(slot);
        }
        (self.step, self.first, self.second) = (step, first, second);
        Ok(())
    }

    /// Start a step: advances the step count used for bias correction.
    pub fn begin_step(&mut self) {
        self.step += 1;
    }

    /// Update tensor `slot` with its gradient at learning rate `lr`; `decay` says whether
    /// weight decay applies (weights, not biases or normalization parameters).
    pub fn update(&mut self, slot: usize, param: &mut [f32], grad: &[f32], lr: f64, decay: bool) {
        let t = self.step.max(1) as i32;
        let correction1 = 1.0 - self.beta1.powi(t);
        let correction2 = 1.0 - self.beta2.powi(t);
        let step_size = (lr / correction1) as f32;
        let sqrt_correction2 = correction2.sqrt() as f32;
        let (beta1, beta2, eps) = (self.beta1 as f32, self.beta2 as f32, self.eps as f32);
        let shrink = if decay { (1.0 - lr * self.weight_decay) as f32 } else { 1.0 };
        let (first, second) = (&mut self.first[slot], &mut self.second[slot]);
        for (((p, g), m), v) in param.iter_mut().zip(grad).zip(first.iter_mut()).zip(second.iter_mut()) {
            *m = beta1 * *m + (1.0 - beta1) * g;
            *v = beta2 * *v + (1.0 - beta2) * g * g;
            *p = *p * shrink - step_size * *m / (v.sqrt() / sqrt_correction2 + eps);
        }
    }
}

/// The learning rate at 0-based `step` of `total_steps`: linear warm-up from `base / warmup`
/// to `base` over the first `warmup_steps` steps, then cosine decay from `base` towards 0.
pub fn learning_rate(base: f64, step: usize, warmup_steps: usize, total_steps: usize) -> f64 {
    if step < warmup_steps {
        return base * (step + 1) as f64 / warmup_steps as f64;
    }
    let decay_steps = total_steps.saturating_sub(warmup_steps).max(1);
    let progress = ((step - warmup_steps) as f64 / decay_steps as f64).min(1.0);
    base * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// Scale the gradients so that their global L2 norm is at most `max_norm`; returns the norm
/// before clipping.
pub fn clip_global_norm(grads: &mut [&mut [f32]], max_norm: f64) -> f64 {
    let norm = grads.iter().flat_map(|g| g.iter()).map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>().sqrt();
    if norm > max_norm && norm > 0.0 {
        let scale = (max_norm / norm) as f32;
        for g in grads.iter_mut() {
            g.iter_mut().for_each(|v| *v *= scale);
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_adamw_step_by_hand() {
        // Step 1: m = 0.1 g, v = 0.001 g²; m̂ = g, v̂ = g²; update = lr · g / (|g| + eps).
        // p = 1.0, g = 0.5, lr = 0.1, wd = 0.01: p = 1.0 · (1 − 0.001) − 0.1 · 0.5 / (0.5 + 1e-8)
        //   = 0.999 − 0.09999999800000004 = 0.899000002.
        let mut adam = AdamW::new(&[2], 0.01);
        let mut param = [1.0f32, -2.0];
        adam.begin_step();
        adam.update(0, &mut param, &[0.5, 0.0], 0.1, true);
        assert!((f64::from(param[0]) - 0.899_000_002).abs() < 1e-6, "{}", param[0]);
        // A zero gradient moves the weight by decay alone: −2 · 0.999.
        assert!((f64::from(param[1]) + 1.998).abs() < 1e-6, "{}", param[1]);
        // Without decay (a bias), only the Adam step: 1 − 0.1.
        let mut bias = [1.0f32];
        let mut adam = AdamW::new(&[1], 0.01);
        adam.begin_step();
        adam.update(0, &mut bias, &[-3.0], 0.1, false);
        assert!((f64::from(bias[0]) - 1.1).abs() < 1e-6, "{}", bias[0]);
    }

    #[test]
    fn schedule_by_hand() {
        // Warm-up over 4 steps: 0.25, 0.5, 0.75, 1.0 of the base rate.
        let lr = |step| learning_rate(0.1, step, 4, 12);
        for (step, expected) in [(0, 0.025), (1, 0.05), (3, 0.1)] {
            assert!((lr(step) - expected).abs() < 1e-12, "{step}");
        }
        // Then cosine over 8 steps: halfway (step 8) is half the rate, 6 steps in 0.5(1 + cos(3π/4)).
        assert!((lr(4) - 0.1).abs() < 1e-12);
        assert!((lr(8) - 0.05).abs() < 1e-12);
        assert!((lr(10) - 0.1 * 0.5 * (1.0 - std::f64::consts::FRAC_1_SQRT_2)).abs() < 1e-12);
        assert!(lr(12).abs() < 1e-12);
        // No warm-up: the first step uses the full rate.
        assert!((learning_rate(0.1, 0, 0, 10) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn clipping_scales_to_the_global_norm() {
        let (mut a, mut b) = ([3.0f32], [4.0f32, 0.0]);
        let norm = clip_global_norm(&mut [&mut a[..], &mut b[..]], 1.0);
        assert!((norm - 5.0).abs() < 1e-12);
        assert!((a[0] - 0.6).abs() < 1e-6 && (b[0] - 0.8).abs() < 1e-6);
        let mut c = [0.1f32];
        clip_global_norm(&mut [&mut c[..]], 1.0);
        assert_eq!(c[0], 0.1, "below the limit: unchanged");
    }
}

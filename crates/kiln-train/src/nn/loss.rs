//! Training losses of the neural models and their gradients with respect to the outputs:
//! binary cross-entropy on logits, softmax cross-entropy, and squared error, each numerically
//! stable and weighted per row (class weights).

use kiln_core::schema::Task;

/// Binary cross-entropy of logit `z` against label `y` (0 or 1), without overflow:
/// `relu(z) − z·y + log1p(exp(−|z|))`.
pub fn bce_with_logits(z: f64, y: f64) -> f64 {
    z.max(0.0) - z * y + (-z.abs()).exp().ln_1p()
}

/// Softmax cross-entropy of `logits` against `class`: `logsumexp(logits) − logits[class]`.
pub fn softmax_cross_entropy(logits: &[f64], class: usize) -> f64 {
    log_sum_exp(logits) - logits[class]
}

/// `ln Σ exp(v)`, shifted by the maximum.
pub fn log_sum_exp(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + values.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// The logistic function, stable for large |z|.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// The weighted mean loss of a batch of `outputs[rows, n_outputs]` and its gradient
/// (overwriting `grad`): `Σ wᵢ lᵢ / Σ wᵢ`. `targets` holds a 0/1 label (binary), a class index
/// (multiclass) or a value (regression) per row; `weights` one weight per row.
pub(crate) fn loss_and_gradient(
    task: Task,
    outputs: &[f32],
    n_outputs: usize,
    targets: &[f32],
    weights: &[f32],
    grad: &mut [f32],
) -> f64 {
    let rows = targets.len();
    let total_weight: f64 = weights.iter().map(|w| f64::from(*w)).sum();
    let scale = if total_weight > 0.0 { 1.0 / total_weight } else { 0.0 };
    let mut loss = 0.0;
    for row in 0..rows {
        let (y, w) = (f64::from(targets[row]), f64::from(weights[row]));
        let out = &outputs[row * n_outputs..(row + 1) * n_outputs];
        let g = &mut grad[row * n_outputs..(row + 1) * n_outputs];
        match task {
            Task::Binary => {
                let z = f64::from(out[0]);
                loss += w * bce_with_logits(z, y);
                g[0] = ((sigmoid(z) - y) * w * scale) as f32;
            }
            Task::Multiclass => {
                let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let sum: f64 = out.iter().map(|v| f64::from(v - max).exp()).sum();
                let class = y as usize;
                loss += w * (f64::from(max) + sum.ln() - f64::from(out[class]));
                for (k, (gk, v)) in g.iter_mut().zip(out).enumerate() {
                    let p = f64::from(v - max).exp() / sum;
                    let indicator = if k == class { 1.0 } else { 0.0 };
                    *gk = ((p - indicator) * w * scale) as f32;
                }
            }
            Task::Regression => {
                let d = f64::from(out[0]) - y;
                loss += w * d * d;
                g[0] = (2.0 * d * w * scale) as f32;
            }
        }
    }
    loss * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_worked_losses() {
        // ln 2 at z = 0 for either label; z = 2, y = 1: ln(1 + e^-2) = 0.126928011...
        assert!((bce_with_logits(0.0, 1.0) - std::f64::consts::LN_2).abs() < 1e-12);
        assert!((bce_with_logits(2.0, 1.0) - 0.126_928_011_042_973).abs() < 1e-12);
        // z = -3, y = 1: 3 + ln(1 + e^-3) = 3.048587351573742; no overflow at |z| = 1000.
        assert!((bce_with_logits(-3.0, 1.0) - 3.048_587_351_573_742).abs() < 1e-12);
        assert!((bce_with_logits(1000.0, 0.0) - 1000.0).abs() < 1e-9);
        assert!(bce_with_logits(1000.0, 1.0).abs() < 1e-12);
        // logits (1, 2, 3), class 0: ln(e + e² + e³) − 1 = 2.40760596444438.
        assert!((softmax_cross_entropy(&[1.0, 2.0, 3.0], 0) - 2.407_605_964_444_38).abs() < 1e-12);
        assert!((softmax_cross_entropy(&[1000.0, 0.0], 0)).abs() < 1e-12);
    }

    #[test]
    fn batch_loss_is_weighted_and_its_gradient_matches_finite_differences() {
        for (task, n_outputs, targets) in [
            (Task::Binary, 1, vec![1.0, 0.0, 1.0]),
            (Task::Multiclass, 3, vec![2.0, 0.0, 1.0]),
            (Task::Regression, 1, vec![0.5, -1.0, 2.0]),
        ] {
            let outputs: Vec<f32> = (0..3 * n_outputs).map(|i| (i as f32 * 0.37).sin() * 2.0).collect();
            let weights = [1.0, 2.0, 0.5];
            let mut grad = vec![0.0; outputs.len()];
            let loss = loss_and_gradient(task, &outputs, n_outputs, &targets, &weights, &mut grad);
            let mut scratch = vec![0.0; outputs.len()];
            for i in 0..outputs.len() {
                let h = 1e-2f32;
                let (mut up, mut down) = (outputs.clone(), outputs.clone());
                up[i] += h;
                down[i] -= h;
                let l_up = loss_and_gradient(task, &up, n_outputs, &targets, &weights, &mut scratch);
                let l_down = loss_and_gradient(task, &down, n_outputs, &targets, &weights, &mut scratch);
                let numeric = (l_up - l_down) / (2.0 * f64::from(h));
                assert!((numeric - f64::from(grad[i])).abs() < 1e-3, "{task:?} output {i}: {numeric} vs {}", grad[i]);
            }
            if task == Task::Binary {
                let by_hand = (bce_with_logits(f64::from(outputs[0]), 1.0)
                    + 2.0 * bce_with_logits(f64::from(outputs[1]), 0.0)
                    + 0.5 * bce_with_logits(f64::from(outputs[2]), 1.0))
                    / 3.5;
                assert!((loss - by_hand).abs() < 1e-9);
            }
        }
    }

    /// The CUDA trainer's fused kernels are checked against kiln-kernels' CPU reference; that
    /// reference must be this trainer's arithmetic, bit for bit.
    #[test]
    fn the_fused_kernels_reference_is_this_loss_and_this_optimizer() {
        use kiln_kernels::reference::{adamw, train_step};
        let mut rng = kiln_core::rng::Rng::new(21);
        for (task, kind, n_outputs) in [
            (Task::Binary, train_step::LossKind::Binary, 1),
            (Task::Multiclass, train_step::LossKind::Multiclass, 4),
            (Task::Regression, train_step::LossKind::Regression, 1),
        ] {
            let rows = 257;
            let outputs: Vec<f32> = (0..rows * n_outputs).map(|_| (rng.normal() * 5.0) as f32).collect();
            let targets: Vec<f32> = (0..rows)
                .map(|_| {
                    if task == Task::Regression {
                        rng.normal() as f32
                    } else {
                        rng.below(n_outputs.max(2) as u64) as f32
                    }
                })
                .collect();
            let weights: Vec<f32> = (0..rows).map(|i| if i % 5 == 0 { 0.0 } else { rng.uniform() as f32 }).collect();
            let (mut ours, mut theirs) = (vec![0.0; outputs.len()], vec![0.0; outputs.len()]);
            let a = loss_and_gradient(task, &outputs, n_outputs, &targets, &weights, &mut ours);
            let b = train_step::loss_grad(kind, &outputs, n_outputs, &targets, &weights, &mut theirs);
            assert_eq!(a.to_bits(), b.to_bits(), "{task:?} loss");
            assert_eq!(ours, theirs, "{task:?} gradient");
        }
        // Clipping and one AdamW step of two tensors.
        let (mut w, mut b) = (vec![0.5f32, -1.25, 2.0], vec![0.1f32]);
        let (gw, gb) = (vec![3.0f32, -4.0, 1.5], vec![-2.5f32]);
        let factor = train_step::clip_factor(&[&gw, &gb], 1.0);
        let (mut cw, mut cb) = (gw.clone(), gb.clone());
        crate::nn::optim::clip_global_norm(&mut [&mut cw[..], &mut cb[..]], 1.0);
        assert_eq!(cw, gw.iter().map(|g| g * factor).collect::<Vec<_>>());
        assert_eq!(cb, gb.iter().map(|g| g * factor).collect::<Vec<_>>());
        let mut opt = crate::nn::optim::AdamW::new(&[3, 1], 0.01);
        let (mut rw, mut rb) = (w.clone(), b.clone());
        opt.begin_step();
        opt.update(0, &mut w, &cw, 1e-3, true);
        opt.update(1, &mut b, &cb, 1e-3, false);
        let s = adamw::Scalars::new(&adamw::Hyper::new(1e-3, 0.01), 1);
        let (mut m, mut v) = (vec![0.0; 3], vec![0.0; 3]);
        adamw::step(&mut rw, &cw, &mut m, &mut v, None, &s);
        let (mut m, mut v) = (vec![0.0; 1], vec![0.0; 1]);
        adamw::step(&mut rb, &cb, &mut m, &mut v, Some(&[0]), &s);
        assert_eq!((w, b), (rw, rb));
    }
}

//! Tests of the CPU references worked out by hand (the evaluation references are checked
//! against `kiln_eval::scan` by kiln-eval's `tests/kernels.rs`).

use super::adamw::{self, Hyper, Scalars};

#[test]
fn one_adamw_step_by_hand() {
    // Step 1: m = 0.1 g, v = 0.001 g²; m̂ = g, v̂ = g²; update = lr · g / (|g| + eps).
    // p = 1.0, g = 0.5, lr = 0.1, wd = 0.01: 1.0 · (1 − 0.001) − 0.1 · 0.5 / (0.5 + 1e-8) = 0.899000002.
    // A zero gradient moves a decayed weight by decay alone (−2 · 0.999); a bias (no decay) with
    // g = −3 moves by the Adam step alone (1 + 0.1).
    let s = Scalars::new(&Hyper::new(0.1, 0.01), 1);
    let (mut p, mut m, mut v) = ([1.0f32, -2.0, 1.0], [0.0f32; 3], [0.0f32; 3]);
    adamw::step(&mut p, &[0.5, 0.0, -3.0], &mut m, &mut v, Some(&[1, 1, 0]), &s);
    assert!((f64::from(p[0]) - 0.899_000_002).abs() < 1e-6, "{}", p[0]);
    assert!((f64::from(p[1]) + 1.998).abs() < 1e-6, "{}", p[1]);
    assert!((f64::from(p[2]) - 1.1).abs() < 1e-6, "{}", p[2]);
    assert!((f64::from(m[0]) - 0.05).abs() < 1e-7 && (f64::from(v[0]) - 0.000_25).abs() < 1e-7 * 0.000_25 * 1e3);
    // step 2 with the same gradient: m = 0.095, v = 0.0004997500; bias-corrected m̂ = 0.5, v̂ = 0.25
    let s2 = Scalars::new(&Hyper::new(0.1, 0.0), 2);
    let mut q = [0.0f32];
    let (mut m2, mut v2) = ([0.05f32], [0.000_25f32]);
    adamw::step(&mut q, &[0.5], &mut m2, &mut v2, None, &s2);
    assert!((f64::from(q[0]) + 0.1).abs() < 1e-6, "{}", q[0]);
}

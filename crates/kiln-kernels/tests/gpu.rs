//! The training kernels on a GPU against their CPU references (the evaluation kernels are
//! checked by kiln-eval's `tests/gpu.rs`). Compiled with `--features cuda`; each test
//! opens GPU 0 and, when none opens, prints why and passes, unless `KILN_TEST_DEVICE=cuda` asks
//! for the GPU, in which case it fails.
//!
//!     KILN_TEST_DEVICE=cuda cargo test -p kiln-kernels --features cuda --test gpu
#![cfg(feature = "cuda")]
#![allow(clippy::print_stderr)] // the reason a test is skipped

use kiln_core::rng::Rng;
use kiln_kernels::cuda::Gpu;
use kiln_kernels::reference::adamw::{self, Hyper, Scalars};

/// GPU 0, or `None` (with the reason printed) when none opens and the GPU was not asked for.
fn gpu(test: &str) -> Option<Gpu> {
    let required = std::env::var("KILN_TEST_DEVICE").is_ok_and(|v| v.trim().eq_ignore_ascii_case("cuda"));
    match Gpu::new(0) {
        Ok(g) => Some(g),
        Err(e) if required => panic!("KILN_TEST_DEVICE=cuda but no GPU opens: {e}"),
        Err(e) => {
            eprintln!("{test}: skipped, no GPU opens ({e}); set KILN_TEST_DEVICE=cuda to require one");
            None
        }
    }
}

#[test]
fn fused_loss_gradients_match_the_cpu_reference() {
    use kiln_kernels::cuda::train::{LossBatch, TrainKernels};
    use kiln_kernels::reference::train_step::{LossKind, loss_grad};
    let Some(gpu) = gpu("fused_loss_gradients_match_the_cpu_reference") else { return };
    let stream = gpu.stream().clone();
    let kernels = TrainKernels::load(stream.context()).expect("load train_step");
    let mut rng = Rng::new(11);
    for (kind, n_outputs, rows) in [
        (LossKind::Binary, 1, 4096),
        (LossKind::Binary, 1, 37),
        (LossKind::Multiclass, 5, 3000),
        (LossKind::Regression, 1, 5000),
    ] {
        let outputs: Vec<f32> = (0..rows * n_outputs).map(|_| (rng.normal() * 4.0) as f32).collect();
        let targets: Vec<f32> = (0..rows)
            .map(|_| match kind {
                LossKind::Binary => rng.below(2) as f32,
                LossKind::Multiclass => rng.below(n_outputs as u64) as f32,
                LossKind::Regression => rng.normal() as f32,
            })
            .collect();
        let weights: Vec<f32> = (0..rows).map(|i| if i % 9 == 0 { 0.0 } else { 0.5 + rng.uniform() as f32 }).collect();
        let mut want = vec![0.0f32; rows * n_outputs];
        let mut want_loss = loss_grad(kind, &outputs, n_outputs, &targets, &weights, &mut want);
        let up = |v: &[f32]| stream.clone_htod(v).expect("upload");
        let (o, t, w) = (up(&outputs), up(&targets), up(&weights));
        let mut grad = stream.alloc_zeros::<f32>(rows * n_outputs).expect("allocate");
        let mut acc = stream.clone_htod(&[0.25f64]).expect("upload");
        let batch = LossBatch { outputs: &o.slice(..), targets: &t.slice(..), weights: &w.slice(..), n_outputs, kind };
        kernels.loss_grad(&stream, &batch, &mut grad, &mut acc).expect("loss_grad");
        // A second batch adds to the same accumulator.
        kernels.loss_grad(&stream, &batch, &mut grad, &mut acc).expect("loss_grad");
        want_loss = 0.25 + 2.0 * want_loss;
        let got = stream.clone_dtoh(&grad).expect("download");
        let got_loss = stream.clone_dtoh(&acc).expect("download")[0];
        assert!((got_loss - want_loss).abs() <= 1e-12 * want_loss.abs(), "{kind:?}: loss {got_loss} vs {want_loss}");
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            // Per-row math in double rounded once to f32; only Σw's addition order differs.
            assert!((a - b).abs() <= 2.0 * f32::EPSILON * b.abs() + 1e-30, "{kind:?} gradient {i}: {a} vs {b}");
        }
    }
}

#[test]
fn fused_clip_and_adamw_match_the_cpu_step() {
    use kiln_kernels::cuda::train::{Clip, NORM_BLOCKS, TrainKernels};
    use kiln_kernels::reference::train_step::clip_factor;
    let Some(gpu) = gpu("fused_clip_and_adamw_match_the_cpu_step") else { return };
    let stream = gpu.stream().clone();
    let kernels = TrainKernels::load(stream.context()).expect("load train_step");
    let mut rng = Rng::new(5);
    let sizes = [64 * 512, 512, 512 * 512, 512, 512, 1];
    for max_norm in [None, Some(1.0), Some(1e6)] {
        let mut params: Vec<Vec<f32>> = sizes.iter().map(|&n| (0..n).map(|_| rng.normal() as f32).collect()).collect();
        let mut moments: Vec<(Vec<f32>, Vec<f32>)> = sizes.iter().map(|&n| (vec![0.0; n], vec![0.0; n])).collect();
        let mut dev: Vec<_> = params
            .iter()
            .map(|p| {
                let zeros = || stream.alloc_zeros::<f32>(p.len()).expect("allocate");
                (stream.clone_htod(p).expect("upload"), zeros(), zeros())
            })
            .collect();
        let mut partials = stream.alloc_zeros::<f64>(NORM_BLOCKS * sizes.len()).expect("allocate");
        let hyper = Hyper::new(1e-3, 1e-2);
        for step in 1..=3u64 {
            let grads: Vec<Vec<f32>> =
                sizes.iter().map(|&n| (0..n).map(|_| (rng.normal() * 0.05) as f32).collect()).collect();
            let s = Scalars::new(&hyper, step);
            let factor = max_norm.map_or(1.0, |l| clip_factor(&grads.iter().map(Vec::as_slice).collect::<Vec<_>>(), l));
            for (i, g) in grads.iter().enumerate() {
                let g: Vec<f32> = g.iter().map(|v| if factor == 1.0 { *v } else { v * factor }).collect();
                let (m, v) = &mut moments[i];
                let decay = vec![u8::from(i % 2 == 0); g.len()];
                adamw::step(&mut params[i], &g, m, v, Some(&decay), &s);
            }
            let dgrads: Vec<_> = grads.iter().map(|g| stream.clone_htod(g).expect("upload")).collect();
            if max_norm.is_some() {
                for (i, g) in dgrads.iter().enumerate() {
                    let mut slots = partials.slice_mut(i * NORM_BLOCKS..(i + 1) * NORM_BLOCKS);
                    kernels.sq_norm_partial(&stream, &g.slice(..), &mut slots).expect("sq_norm_partial");
                }
            }
            let clip = Clip { partials: &partials, count: NORM_BLOCKS * sizes.len(), max_norm };
            for (i, ((p, m, v), g)) in dev.iter_mut().zip(&dgrads).enumerate() {
                let mut view = p.slice_mut(..);
                kernels.clip_adamw(&stream, &mut view, &g.slice(..), m, v, i % 2 == 0, &s, &clip).expect("clip_adamw");
            }
        }
        for (i, (p, _, _)) in dev.iter().enumerate() {
            let got = stream.clone_dtoh(p).expect("download");
            for (j, (a, b)) in got.iter().zip(&params[i]).enumerate() {
                // Bit-identical without clipping; with it, the norm's summation order may move
                // the factor by an ulp.
                let tol = if max_norm == Some(1.0) { 1e-6 * b.abs().max(1e-3) } else { 0.0 };
                assert!((a - b).abs() <= tol, "clip {max_norm:?}, tensor {i}, element {j}: GPU {a} vs CPU {b}");
            }
        }
    }
}

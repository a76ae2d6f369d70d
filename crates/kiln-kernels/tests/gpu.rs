//! The kernels on a GPU against their CPU references. Compiled with `--features cuda`; each test
//! opens GPU 0 and, when none opens, prints why and passes, unless `KILN_TEST_DEVICE=cuda` asks
//! for the GPU, in which case it fails.
//!
//!     KILN_TEST_DEVICE=cuda cargo test -p kiln-kernels --features cuda --test gpu
#![cfg(feature = "cuda")]
#![allow(clippy::print_stderr)] // the reason a test is skipped

use kiln_core::rng::Rng;
use kiln_eval::scan::{ScanInput, SegmentCodes, scan};
use kiln_kernels::cuda::Gpu;
use kiln_kernels::reference::adamw::{self, Hyper, Scalars};
use kiln_kernels::reference::bootstrap::{GroupSums, replicate_sums};
use kiln_kernels::reference::prep::{CHUNK, Prepared};

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

struct Data {
    labels: Vec<u8>,
    scores: Vec<f64>,
    weights: Vec<f64>,
    a: Vec<u32>,
    b: Vec<u32>,
}

/// Scores on a grid of `grid` steps (ties), segments of 3 and 40 groups (some empty).
fn data(n: usize, grid: f64, seed: u64) -> Data {
    let mut rng = Rng::new(seed);
    let mut d = Data { labels: vec![], scores: vec![], weights: vec![], a: vec![], b: vec![] };
    for _ in 0..n {
        let a = rng.below(3) as u32;
        let b = 2 * rng.below(20) as u32;
        let truth = 0.3 * f64::from(a) - 0.02 * f64::from(b) + rng.normal();
        let y = rng.uniform() < 1.0 / (1.0 + (-truth).exp());
        let p = 1.0 / (1.0 + (-(truth + 0.7 * rng.normal())).exp());
        d.labels.push(u8::from(y));
        d.scores.push((p * grid).round() / grid);
        d.weights.push(if rng.below(10) == 0 { 0.0 } else { 0.25 + rng.uniform() });
        d.a.push(a);
        d.b.push(b);
    }
    d
}

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300), "{what}: GPU {a} vs CPU {b}");
}

fn close_opt(a: Option<f64>, b: Option<f64>, what: &str) {
    match (a, b) {
        (Some(a), Some(b)) => close(a, b, what),
        (None, None) => {}
        _ => panic!("{what}: GPU {a:?} vs CPU {b:?}"),
    }
}

#[test]
fn sliced_eval_equals_kiln_eval_scan() {
    let Some(gpu) = gpu("sliced_eval_equals_kiln_eval_scan") else { return };
    for (n, grid, weighted) in
        [(50_000, 60.0, false), (50_000, 60.0, true), (3 * CHUNK + 5, 1e7, true), (1, 10.0, false)]
    {
        let d = data(n, grid, 11);
        let slicings = [SegmentCodes { codes: &d.a, groups: 3 }, SegmentCodes { codes: &d.b, groups: 40 }];
        let weights = weighted.then_some(&d.weights[..]);
        let input = ScanInput { labels: &d.labels, scores: &d.scores, weights, threshold: 0.5, slicings: &slicings };
        let cpu = scan(&input).expect("valid");
        let got = gpu.sliced_eval(&input).expect("GPU evaluation");
        for (s, (gs, cs)) in got.groups.iter().zip(&cpu.groups).enumerate() {
            for (g, (x, y)) in gs.iter().zip(cs).enumerate() {
                let what = format!("n {n} weighted {weighted} slicing {s} group {g}");
                assert_eq!(x.count, y.count, "{what} count");
                close(x.weight, y.weight, &format!("{what} weight"));
                close(x.confusion.true_positive, y.confusion.true_positive, &format!("{what} tp"));
                close(x.confusion.false_positive, y.confusion.false_positive, &format!("{what} fp"));
                close_opt(x.accuracy, y.accuracy, &format!("{what} accuracy"));
                close_opt(x.log_loss, y.log_loss, &format!("{what} log loss"));
                close_opt(x.brier, y.brier, &format!("{what} Brier"));
                close_opt(x.roc_auc, y.roc_auc, &format!("{what} AUC"));
            }
        }
    }
}

fn check_sums(got: &[GroupSums], cpu: &[GroupSums], exact_weights: bool, what: &str) {
    assert_eq!(got.len(), cpu.len(), "{what}: lengths");
    for (i, (x, y)) in got.iter().zip(cpu).enumerate() {
        let what = format!("{what}, entry {i}");
        if exact_weights {
            // integer weights: sums of Poisson draws are exact in any order, so equal sums mean
            // the device drew the CPU's weights
            assert_eq!((x.weight, x.pos, x.neg, x.correct), (y.weight, y.pos, y.neg, y.correct), "{what}");
        }
        close(x.area, y.area, &format!("{what} area"));
        close(x.weight, y.weight, &format!("{what} weight"));
        close(x.loss, y.loss, &format!("{what} loss"));
        for (m, (a, b)) in x.metrics().into_iter().zip(y.metrics()).enumerate() {
            close_opt(a, b, &format!("{what} metric {m}"));
        }
    }
}

#[test]
fn bootstrap_replicates_equal_the_cpu_reference() {
    let Some(gpu) = gpu("bootstrap_replicates_equal_the_cpu_reference") else { return };
    let d = data(2 * CHUNK + 999, 300.0, 12);
    for weighted in [false, true] {
        let slicings = [SegmentCodes { codes: &d.a, groups: 3 }, SegmentCodes { codes: &d.b, groups: 40 }];
        let weights = weighted.then_some(&d.weights[..]);
        let input = ScanInput { labels: &d.labels, scores: &d.scores, weights, threshold: 0.5, slicings: &slicings };
        let prep = Prepared::new(&input).expect("valid");
        let lists = gpu.upload_lists(&prep).expect("upload");
        let (replicates, seed) = (37, 0x0123_4567_89AB_CDEF);
        let got = gpu.bootstrap(&lists, replicates, seed).expect("GPU bootstrap");
        let cpu = replicate_sums(&prep, replicates, seed);
        check_sums(&got, &cpu, !weighted, &format!("weighted {weighted}"));
        let point = gpu.point_sums(&lists).expect("GPU point sums");
        check_sums(&point, &kiln_kernels::reference::bootstrap::point_sums(&prep), !weighted, "point");
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

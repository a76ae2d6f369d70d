//! The fast path on a GPU (`scan::gpu`, kiln-kernels' evaluation kernels) against the CPU.
//! Compiled with `--features cuda`; each test opens GPU 0 and, when none opens, prints why and
//! passes, unless `KILN_TEST_DEVICE=cuda` asks for the GPU, in which case it fails.
//!
//!     KILN_TEST_DEVICE=cuda cargo test -p kiln-eval --features cuda --test gpu
#![cfg(feature = "cuda")]
#![allow(clippy::print_stderr)] // the reason a test is skipped

use kiln_core::rng::Rng;
use kiln_eval::scan::gpu::{prepare, scan_gpu};
use kiln_eval::scan::{ScanInput, SegmentCodes, scan};
use kiln_kernels::cuda::Gpu;
use kiln_kernels::reference::bootstrap::{GroupSums, replicate_sums};
use kiln_kernels::reference::prep::CHUNK;

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
        let got = scan_gpu(&gpu, &input).expect("GPU evaluation");
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
        let prep = prepare(&input).expect("valid");
        let lists = gpu.upload_lists(&prep).expect("upload");
        let (replicates, seed) = (37, 0x0123_4567_89AB_CDEF);
        let got = gpu.bootstrap(&lists, replicates, seed).expect("GPU bootstrap");
        let cpu = replicate_sums(&prep, replicates, seed);
        check_sums(&got, &cpu, !weighted, &format!("weighted {weighted}"));
        let point = gpu.point_sums(&lists).expect("GPU point sums");
        check_sums(&point, &kiln_kernels::reference::bootstrap::point_sums(&prep), !weighted, "point");
    }
}

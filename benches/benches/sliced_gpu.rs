//! Sliced evaluation and its Poisson bootstrap on the GPU with kiln's own kernels
//! (`kiln_kernels::cuda`), against kiln's CPU fast path (`kiln_eval::scan`, `scan_bootstrap`) on
//! the same N rows (default 10 million; slicings a, b, c and the cross a × b of `sliced_eval`,
//! 76 groups) and R replicates (default 1,000) of accuracy, log loss and ROC AUC per group.
//!
//! The CPU bootstrap is timed on `KILN_BENCH_CPU_REPLICATES` replicates (default 10); when R
//! replicates would take longer than `KILN_BENCH_CPU_BUDGET_S` seconds (default 120) it is
//! extrapolated, `t(1) + (R − 1) · per replicate`, and says so. The GPU's intervals over those
//! replicates are checked against the CPU's, and its point metrics against `scan`.
//! Writes `sliced_gpu.json` into `KILN_GPU_OUT` (default the temp folder). Needs `--features cuda`.
//!
//!     cargo bench -p kiln-bench --features cuda --bench sliced_gpu
//!     KILN_BENCH_ROWS=1000000 KILN_BENCH_REPLICATES=200 cargo bench -p kiln-bench --features cuda --bench sliced_gpu

#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark reports on stdout

use std::path::PathBuf;
use std::time::Instant;

use kiln_bench::machine;
use kiln_bench::sliced::{GROUPS, generate};
use kiln_eval::ci::quantile;
use kiln_eval::scan::gpu::{GpuError, prepare, scan_prepared};
use kiln_eval::scan::{ScanInput, ScanResult, SegmentCodes, cross, scan, scan_bootstrap};
use kiln_kernels::cuda::Gpu;
use kiln_kernels::reference::bootstrap::GroupSums;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn seconds<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed().as_secs_f64(), out)
}

/// Largest |difference| of accuracy, ROC AUC and log loss between two results.
fn max_diff(a: &ScanResult, b: &ScanResult) -> f64 {
    let d = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => (x - y).abs(),
        (None, None) => 0.0,
        _ => f64::INFINITY,
    };
    a.groups
        .iter()
        .flatten()
        .zip(b.groups.iter().flatten())
        .map(|(x, y)| d(x.accuracy, y.accuracy).max(d(x.roc_auc, y.roc_auc)).max(d(x.log_loss, y.log_loss)))
        .fold(0.0, f64::max)
}

/// Percentile intervals (as `scan_bootstrap`) of metric `m` of group `g` from replicate sums.
fn interval(
    sums: &[GroupSums],
    n_groups: usize,
    replicates: usize,
    g: usize,
    m: usize,
    level: f64,
) -> Option<[f64; 2]> {
    let mut v: Vec<f64> =
        (0..replicates).filter_map(|r| sums[r * n_groups + g].metrics()[m]).filter(|v| v.is_finite()).collect();
    if v.is_empty() || v.len() * 2 < replicates {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some([quantile(&v, (1.0 - level) / 2.0), quantile(&v, 1.0 - (1.0 - level) / 2.0)])
}

fn main() {
    let rows = env_usize("KILN_BENCH_ROWS", 10_000_000);
    let replicates = env_usize("KILN_BENCH_REPLICATES", 1_000).max(2);
    let cpu_replicates = env_usize("KILN_BENCH_CPU_REPLICATES", 10).clamp(2, replicates);
    let cpu_budget = env_usize("KILN_BENCH_CPU_BUDGET_S", 120) as f64;
    let out_dir = std::env::var_os("KILN_GPU_OUT").map_or_else(std::env::temp_dir, PathBuf::from);
    let (seed, level) = (42u64, 0.95);

    let gpu = match Gpu::new(0) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("sliced_gpu: no GPU opens: {e}");
            std::process::exit(2);
        }
    };
    let (gen_s, d) = seconds(|| generate(rows, 20_261_126));
    let ab = cross(&d.a, GROUPS[0], &d.b, GROUPS[1]);
    let slicings = [
        SegmentCodes { codes: &d.a, groups: GROUPS[0] },
        SegmentCodes { codes: &d.b, groups: GROUPS[1] },
        SegmentCodes { codes: &d.c, groups: GROUPS[2] },
        SegmentCodes { codes: &ab, groups: GROUPS[0] * GROUPS[1] },
    ];
    let input = ScanInput { labels: &d.labels, scores: &d.scores, weights: None, threshold: 0.5, slicings: &slicings };

    // the first launches JIT-compile the PTX: on a small prefix, timed apart
    let small_rows = rows.min(10_000);
    let small_slicings: Vec<SegmentCodes<'_>> =
        slicings.iter().map(|s| SegmentCodes { codes: &s.codes[..small_rows], groups: s.groups }).collect();
    let small = ScanInput {
        labels: &d.labels[..small_rows],
        scores: &d.scores[..small_rows],
        weights: None,
        threshold: 0.5,
        slicings: &small_slicings,
    };
    let (warm_s, warm) = seconds(|| -> Result<(), GpuError> {
        let prep = prepare(&small)?;
        let lists = gpu.upload_lists(&prep)?;
        scan_prepared(&gpu, &small, &prep, &lists)?;
        gpu.bootstrap(&lists, 2, seed)?;
        Ok(())
    });
    warm.expect("GPU warm-up");

    // host preparation (one sort by score, group lists) and upload, shared by point and bootstrap
    let (prep_s, prep) = seconds(|| prepare(&input).expect("valid benchmark data"));
    let (upload_s, lists) = seconds(|| gpu.upload_lists(&prep).expect("upload"));
    let mut point_times = Vec::new();
    let mut gpu_point = None;
    for _ in 0..3 {
        let (t, r) = seconds(|| scan_prepared(&gpu, &input, &prep, &lists).expect("GPU sliced evaluation"));
        point_times.push(t);
        gpu_point = Some(r);
    }
    point_times.sort_by(f64::total_cmp);
    let gpu_point = gpu_point.expect("three runs");
    let mut cpu_times = Vec::new();
    let mut cpu_point = None;
    for _ in 0..3 {
        let (t, r) = seconds(|| scan(&input).expect("valid"));
        cpu_times.push(t);
        cpu_point = Some(r);
    }
    cpu_times.sort_by(f64::total_cmp);
    let point_diff = max_diff(&gpu_point, &cpu_point.expect("three runs"));

    let (boot_s, sums) = seconds(|| gpu.bootstrap(&lists, replicates as u32, seed).expect("GPU bootstrap"));
    let gpu_boot_total = prep_s + upload_s + boot_s;

    // the CPU bootstrap: timed on fewer replicates, the full count only within the budget
    let (cpu_one, _) = seconds(|| scan_bootstrap(&input, 1, seed, level).expect("valid"));
    let (cpu_few, cpu_boot) = seconds(|| scan_bootstrap(&input, cpu_replicates, seed, level).expect("valid"));
    let per = (cpu_few - cpu_one) / (cpu_replicates - 1) as f64;
    let estimate = cpu_one + per * (replicates - 1) as f64;
    let (cpu_full, cpu_note) = if estimate <= cpu_budget {
        let (t, _) = seconds(|| scan_bootstrap(&input, replicates, seed, level).expect("valid"));
        (t, format!("measured, {replicates} replicates"))
    } else {
        (estimate, format!("extrapolated from {cpu_replicates} replicates (t(1) + (R - 1) x per replicate)"))
    };
    // the GPU's intervals over the CPU's replicates
    let few = gpu.bootstrap(&lists, cpu_replicates as u32, seed).expect("GPU bootstrap");
    let mut interval_diff: f64 = 0.0;
    for (s, groups) in cpu_boot.intervals.iter().enumerate() {
        for (g, iv) in groups.iter().enumerate() {
            let acc = prep.offsets[s] as usize + g;
            for (m, cpu_iv) in [iv.accuracy, iv.log_loss, iv.roc_auc].into_iter().enumerate() {
                let got = interval(&few, prep.n_groups, cpu_replicates, acc, m, level);
                interval_diff = interval_diff.max(match (got, cpu_iv) {
                    (Some(a), Some(b)) => (a[0] - b.lo).abs().max((a[1] - b.hi).abs()),
                    (None, None) => 0.0,
                    _ => f64::INFINITY,
                });
            }
        }
    }
    let example = interval(&sums, prep.n_groups, replicates, 0, 2, level);

    println!("machine: {}; GPU: {}", machine(), gpu.name());
    println!(
        "rows: {rows} (generated in {gen_s:.2} s), 4 slicings, {} groups, {} chunks",
        prep.n_groups,
        prep.n_chunks()
    );
    println!("GPU first launches (PTX JIT, 10,000 rows): {warm_s:.3} s");
    println!("host preparation (sort by score, group lists): {prep_s:.3} s; upload: {upload_s:.3} s");
    println!(
        "point metrics: GPU {:.4} s (best of 3; uploads of labels, scores and codes included), CPU scan {:.4} s; max |diff| {point_diff:.1e}",
        point_times[0], cpu_times[0]
    );
    println!(
        "bootstrap, {replicates} replicates: GPU {boot_s:.3} s kernels and downloads, {gpu_boot_total:.3} s with preparation and upload"
    );
    println!(
        "bootstrap on the CPU (kiln_eval::scan_bootstrap): {cpu_full:.2} s ({cpu_note}); {per:.3} s per replicate"
    );
    println!("GPU vs CPU intervals over {cpu_replicates} replicates: max |diff| {interval_diff:.1e}");
    println!("example, segment a = 0, ROC AUC interval: {example:?}");
    let num = |x: f64| if x.is_finite() { format!("{x:e}") } else { "null".into() };
    let json = format!(
        "{{\"rows\": {rows}, \"replicates\": {replicates}, \"gpu\": \"{}\", \"gpu_warmup_s\": {warm_s}, \"prep_s\": {prep_s}, \
         \"upload_s\": {upload_s}, \"gpu_point_s\": {}, \"cpu_point_s\": {}, \"point_max_diff\": {}, \
         \"gpu_bootstrap_s\": {boot_s}, \"gpu_bootstrap_total_s\": {gpu_boot_total}, \"cpu_bootstrap_s\": {cpu_full}, \
         \"cpu_bootstrap_note\": \"{cpu_note}\", \"cpu_per_replicate_s\": {per}, \"cpu_replicates_run\": {cpu_replicates}, \
         \"interval_max_diff\": {}}}\n",
        gpu.name().replace('"', "'"),
        point_times[0],
        cpu_times[0],
        num(point_diff),
        num(interval_diff)
    );
    std::fs::create_dir_all(&out_dir).expect("create the output folder");
    std::fs::write(out_dir.join("sliced_gpu.json"), json).expect("write sliced_gpu.json");
    if point_diff > 1e-9 || interval_diff > 1e-9 {
        eprintln!("GPU and CPU differ by more than 1e-9");
        std::process::exit(1);
    }
}

//! Sliced evaluation on N rows (default 10 million): count, accuracy, ROC AUC and log loss of
//! every group of three segment columns (2, 8 and 50 values) and the cross of the first two,
//! with `kiln_eval::scan`. Writes the data as `.npy` files and kiln's numbers as CSV into
//! `KILN_SLICED_DIR` for the Python peers (`benches/peers/sliced_eval.py`, driven by
//! `benches/sliced_eval.sh`), and kiln's timings as JSON.
//!
//!     cargo bench -p kiln-bench --bench sliced_eval
//!     KILN_BENCH_ROWS=1000000 KILN_SLICED_DIR=/tmp/sliced cargo bench -p kiln-bench --bench sliced_eval

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kiln_bench::machine;
use kiln_bench::sliced::{GROUPS, SlicedData, generate, write_all};
use kiln_eval::scan::{ScanInput, ScanResult, SegmentCodes, cross, scan};

/// Rows of the smaller copy of the results, for peers timed on a prefix.
const PREFIX_ROWS: usize = 1_000_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The cross of `a` and `b`, then the scan over `a`, `b`, `c` and the cross.
fn evaluate(d: &SlicedData, scores: &[f64], rows: usize) -> ScanResult {
    let ab = cross(&d.a[..rows], GROUPS[0], &d.b[..rows], GROUPS[1]);
    let slicings = [
        SegmentCodes { codes: &d.a[..rows], groups: GROUPS[0] },
        SegmentCodes { codes: &d.b[..rows], groups: GROUPS[1] },
        SegmentCodes { codes: &d.c[..rows], groups: GROUPS[2] },
        SegmentCodes { codes: &ab, groups: GROUPS[0] * GROUPS[1] },
    ];
    let input = ScanInput {
        labels: &d.labels[..rows],
        scores: &scores[..rows],
        weights: None,
        threshold: 0.5,
        slicings: &slicings,
    };
    scan(&input).expect("valid benchmark data")
}

/// Best and median of `reps` timed runs after one warm-up.
fn time(reps: usize, mut f: impl FnMut() -> ScanResult) -> (Duration, Duration, ScanResult) {
    let result = f();
    let mut times: Vec<Duration> = (0..reps.max(1))
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort_unstable();
    (times[0], times[times.len() / 2], result)
}

/// `slicing,group,count,accuracy,roc_auc,log_loss` rows (17 significant digits; empty when undefined).
fn write_csv(path: &Path, result: &ScanResult) {
    let names = ["a", "b", "c", "a_x_b"];
    let mut out = String::from("slicing,group,count,accuracy,roc_auc,log_loss\n");
    let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.17e}"));
    for (name, groups) in names.iter().zip(&result.groups) {
        for (g, s) in groups.iter().enumerate() {
            let _ = writeln!(out, "{name},{g},{},{},{},{}", s.count, num(s.accuracy), num(s.roc_auc), num(s.log_loss));
        }
    }
    std::fs::write(path, out).expect("write kiln results");
}

fn main() {
    let rows = env_usize("KILN_BENCH_ROWS", 10_000_000);
    let reps = env_usize("KILN_BENCH_REPS", 7);
    let dir = std::env::var_os("KILN_SLICED_DIR")
        .map_or_else(|| std::env::temp_dir().join("kiln-sliced-eval"), PathBuf::from);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);

    let start = Instant::now();
    let data = generate(rows, 20_261_126);
    let gen_time = start.elapsed();
    let start = Instant::now();
    write_all(&dir, &data).expect("write .npy files");
    let write_time = start.elapsed();

    let (best, median, result) = time(reps, || evaluate(&data, &data.scores, rows));
    write_csv(&dir.join("kiln_full.csv"), &result);
    let prefix = rows.min(PREFIX_ROWS);
    write_csv(&dir.join("kiln_prefix.csv"), &evaluate(&data, &data.scores, prefix));

    // the same rows with continuous double-precision scores (no ties, all 52 mantissa bits vary)
    let mut rng = kiln_core::rng::Rng::new(7);
    let jittered: Vec<f64> = data.scores.iter().map(|&s| (s + (rng.uniform() - 0.5) * 1e-7).clamp(0.0, 1.0)).collect();
    let (best_f64, median_f64, _) = time(reps, || evaluate(&data, &jittered, rows));

    println!("machine: {} (rayon threads: {threads})", machine());
    println!("rows: {rows}; data in {}", dir.display());
    println!("generate: {:.2} s, write .npy: {:.2} s", gen_time.as_secs_f64(), write_time.as_secs_f64());
    println!(
        "kiln scan (cross + 4 slicings, 76 groups), f32-valued scores: best {:.3} s, median {:.3} s of {reps}",
        best.as_secs_f64(),
        median.as_secs_f64()
    );
    println!(
        "kiln scan, continuous f64 scores:                             best {:.3} s, median {:.3} s of {reps}",
        best_f64.as_secs_f64(),
        median_f64.as_secs_f64()
    );
    let json = format!(
        "{{\"rows\": {rows}, \"prefix_rows\": {prefix}, \"reps\": {reps}, \"threads\": {threads}, \
         \"best_s\": {}, \"median_s\": {}, \"best_f64_s\": {}, \"median_f64_s\": {}}}\n",
        best.as_secs_f64(),
        median.as_secs_f64(),
        best_f64.as_secs_f64(),
        median_f64.as_secs_f64()
    );
    std::fs::write(dir.join("kiln_time.json"), json).expect("write timings");
}

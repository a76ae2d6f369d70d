//! Poisson bootstrap on the fast path: `kiln_eval::scan::scan_bootstrap` over N rows (default
//! 10 million) with the slicings of `sliced_eval` (2, 8 and 50 groups and the 2 × 8 cross),
//! R replicates (default 20) of accuracy, log loss and ROC AUC for every group. Prints the total
//! and the seconds per replicate, `(t(R) − t(1)) / (R − 1)`.
//!
//!     cargo bench -p kiln-bench --bench sliced_bootstrap
//!     KILN_BENCH_ROWS=1000000 KILN_BENCH_REPLICATES=50 cargo bench -p kiln-bench --bench sliced_bootstrap

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::time::Instant;

use kiln_bench::machine;
use kiln_bench::sliced::{GROUPS, generate};
use kiln_eval::scan::{ScanInput, SegmentCodes, cross, scan_bootstrap};

fn main() {
    let env = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let rows = env("KILN_BENCH_ROWS", 10_000_000);
    let replicates = env("KILN_BENCH_REPLICATES", 20).max(2);
    let d = generate(rows, 20_261_126);
    let ab = cross(&d.a, GROUPS[0], &d.b, GROUPS[1]);
    let slicings = [
        SegmentCodes { codes: &d.a, groups: GROUPS[0] },
        SegmentCodes { codes: &d.b, groups: GROUPS[1] },
        SegmentCodes { codes: &d.c, groups: GROUPS[2] },
        SegmentCodes { codes: &ab, groups: GROUPS[0] * GROUPS[1] },
    ];
    let input = ScanInput { labels: &d.labels, scores: &d.scores, weights: None, threshold: 0.5, slicings: &slicings };
    let run = |r: usize| {
        let start = Instant::now();
        let out = scan_bootstrap(&input, r, 42, 0.95).expect("valid benchmark data");
        (start.elapsed().as_secs_f64(), out)
    };
    let (one, _) = run(1);
    let (total, out) = run(replicates);
    let per = (total - one) / (replicates - 1) as f64;
    println!("machine: {}", machine());
    println!("rows: {rows}, replicates: {replicates}, 76 groups x 3 metrics");
    println!("scan_bootstrap with 1 replicate: {one:.3} s (point scan, sort, one replicate)");
    println!("scan_bootstrap with {replicates} replicates: {total:.3} s");
    println!("seconds per replicate: {per:.3} s ({:.1} M rows/s)", rows as f64 / per / 1e6);
    let overall = out.intervals[0][0];
    println!("example, segment a = 0: AUC {:?}, accuracy {:?}", overall.roc_auc, overall.accuracy);
}

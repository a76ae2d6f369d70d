//! Times `runs list` (metric filter + sort + limit 20, and a few neighbours) over a store of
//! 100,000 synthetic runs, each with ~20 parameters and 10 metric series of 20 steps.
//!
//! `cargo bench -p kiln-track --bench runs_list` runs it in full (set `KILN_BENCH_RUNS` to
//! change the size); run without `--bench` (as `cargo test --benches` does) it is a quick smoke
//! run on 1,000 runs.

#![allow(clippy::print_stdout, reason = "a benchmark prints its results")]

use std::time::{Duration, Instant};

use kiln_track::synth::fill_store;
use kiln_track::{RunFilter, RunSort, RunStatus, Store};

const REPETITIONS: usize = 15;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let full = std::env::args().any(|arg| arg == "--bench");
    let n_runs: usize = match std::env::var("KILN_BENCH_RUNS") {
        Ok(text) => text.parse()?,
        Err(_) if full => 100_000,
        Err(_) => 1_000,
    };
    let dir = tempfile::tempdir()?;
    let path = dir.path().join(".kiln/kiln.db");
    let store = Store::open(&path)?;

    let started = Instant::now();
    fill_store(&store, n_runs, 42)?;
    let fill_time = started.elapsed();
    let started = Instant::now();
    store.optimize()?;
    let optimize_time = started.elapsed();
    let size_bytes: u64 = ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", path.display())).ok())
        .map(|meta| meta.len())
        .sum();
    println!(
        "runs_list: generated {n_runs} runs in {:.1} s, optimize {:.1} s, store {:.0} MiB",
        fill_time.as_secs_f64(),
        optimize_time.as_secs_f64(),
        size_bytes as f64 / (1024.0 * 1024.0)
    );

    let metric_sort = |key: &str, descending: bool| RunSort::Metric { key: key.to_owned(), descending };
    let cases: Vec<(&str, RunFilter)> = vec![
        (
            "filter auc>=0.9, sort auc desc, limit 20",
            RunFilter {
                metrics: vec!["auc>=0.9".parse()?],
                sort: metric_sort("auc", true),
                limit: Some(20),
                ..RunFilter::default()
            },
        ),
        (
            "filter auc>=0.9, sort val_loss asc, limit 20",
            RunFilter {
                metrics: vec!["auc>=0.9".parse()?],
                sort: metric_sort("val_loss", false),
                limit: Some(20),
                ..RunFilter::default()
            },
        ),
        (
            "filter optimizer=adam and auc>=0.9, sort auc desc, limit 20",
            RunFilter {
                params: vec!["optimizer=adam".parse()?],
                metrics: vec!["auc>=0.9".parse()?],
                sort: metric_sort("auc", true),
                limit: Some(20),
                ..RunFilter::default()
            },
        ),
        (
            "filter status=failed, sort started desc, limit 20",
            RunFilter { status: Some(RunStatus::Failed), limit: Some(20), ..RunFilter::default() },
        ),
        ("no filter, sort started desc, limit 20", RunFilter { limit: Some(20), ..RunFilter::default() }),
    ];
    for (label, filter) in &cases {
        let n_found = store.list_runs(filter)?.len(); // warm-up
        let mut times: Vec<Duration> = Vec::with_capacity(REPETITIONS);
        for _ in 0..REPETITIONS {
            let started = Instant::now();
            let runs = store.list_runs(filter)?;
            times.push(started.elapsed());
            assert_eq!(runs.len(), n_found);
        }
        times.sort_unstable();
        let ms = |time: Duration| time.as_secs_f64() * 1000.0;
        println!(
            "runs_list/{n_runs}: {label}: median {:.2} ms (min {:.2}, max {:.2}, {REPETITIONS} reps, {n_found} rows)",
            ms(times[REPETITIONS / 2]),
            ms(times[0]),
            ms(times[REPETITIONS - 1]),
        );
    }
    Ok(())
}

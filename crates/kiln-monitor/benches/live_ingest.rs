//! Times the live drift sketch's ingestion on one thread: a pre-built batch of Adult-like rows
//! (6 numeric and 8 categorical features, 3 of them segment columns followed live, and a
//! score) fed in batches of 1 to 1,024 rows, as a server's scoring threads feed it; and the
//! synthetic layout of the monitoring benchmark (20 numeric features, 3 segment columns).
//! Prints rows per second per core, the time a request of one row adds to its scoring
//! thread, and the time of a full drift report.
//!
//! `cargo bench -p kiln-monitor --bench live_ingest` runs it in full (1,000,000 rows; set
//! `KILN_BENCH_ROWS` to change it); run without `--bench` (as `cargo test --benches` does) it
//! is a quick smoke run on 20,000 rows.

#![allow(clippy::print_stdout, reason = "a benchmark prints its results")]

use std::time::{Duration, Instant};

use kiln_core::bundle::{ReferenceDistributions, ScoreReference, SegmentReference, SliceSpec};
use kiln_core::columns::{Batch, Values};
use kiln_core::preprocess::{ColumnRef, PreprocessConfig, Preprocessor};
use kiln_core::rng::Rng;
use kiln_monitor::live::{LiveSettings, LiveSketch};

/// A categorical column: its name and how many values it takes (value `k` drawn with weight
/// `1 / (k + 1)`, so that a few values dominate as in Adult).
const ADULT_CATEGORICAL: [(&str, usize); 8] = [
    ("workclass", 9),
    ("education", 16),
    ("marital_status", 7),
    ("occupation", 15),
    ("relationship", 6),
    ("race", 5),
    ("sex", 2),
    ("native_country", 42),
];
const SEGMENTS: [&str; 3] = ["sex", "race", "relationship"];

struct Layout {
    numeric: usize,
    categorical: Vec<(&'static str, usize)>,
    segments: Vec<&'static str>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let full = std::env::args().any(|arg| arg == "--bench");
    let n_rows: usize = match std::env::var("KILN_BENCH_ROWS") {
        Ok(text) => text.parse()?,
        Err(_) if full => 1_000_000,
        Err(_) => 20_000,
    };
    let adult = Layout { numeric: 6, categorical: ADULT_CATEGORICAL.to_vec(), segments: SEGMENTS.to_vec() };
    run("adult-like (6 numeric, 8 categorical, 3 segment columns)", &adult, n_rows)?;
    let synthetic = Layout {
        numeric: 20,
        categorical: vec![("segment_a", 4), ("segment_b", 6), ("segment_c", 10)],
        segments: vec!["segment_a", "segment_b", "segment_c"],
    };
    run("synthetic (20 numeric features, 3 segment columns)", &synthetic, n_rows)?;
    Ok(())
}

fn run(title: &str, layout: &Layout, n_rows: usize) -> Result<(), Box<dyn std::error::Error>> {
    let (reference, settings) = reference(layout)?;
    let batch = rows(layout, 99, n_rows);
    let scores: Vec<f64> = (0..n_rows).map(|i| (i % 1000) as f64 / 1000.0).collect();
    let groups = LiveSketch::new(&reference, settings.clone(), Instant::now())?.groups().count();
    println!("live_ingest: {title}: {n_rows} rows, {groups} groups (overall included)");
    for rows_per_batch in [1usize, 16, 1024] {
        let parts = split(&batch, rows_per_batch);
        let sketch = LiveSketch::new(&reference, settings.clone(), Instant::now())?;
        let now = Instant::now();
        // warm-up, then the timed pass
        for (part, start) in parts.iter().take(100) {
            sketch.ingest(part, Some(&scores[*start..start + part.n_rows()]), now);
        }
        let started = Instant::now();
        for (part, start) in &parts {
            sketch.ingest(part, Some(&scores[*start..start + part.n_rows()]), now);
        }
        let elapsed = started.elapsed();
        let per_row = elapsed.as_secs_f64() / n_rows as f64;
        let per_batch = elapsed.as_secs_f64() / parts.len() as f64;
        println!(
            "  batches of {rows_per_batch:>5} rows: {:>12.0} rows/s per core, {:>8.2} µs per batch",
            1.0 / per_row,
            per_batch * 1e6
        );
    }
    let sketch = LiveSketch::new(&reference, settings, Instant::now())?;
    sketch.ingest(&batch, Some(&scores), Instant::now());
    let started = Instant::now();
    let overall = sketch.overall(Instant::now());
    let overall_time = started.elapsed();
    let started = Instant::now();
    let report = sketch.report(Instant::now());
    let report_time = started.elapsed();
    println!(
        "  verdict of the overall group: {}; full report of {} groups: {} (overall share drifted {:?})",
        show(overall_time),
        report.groups.len(),
        show(report_time),
        overall.drifted_share
    );
    Ok(())
}

fn show(time: Duration) -> String {
    format!("{:.1} µs", time.as_secs_f64() * 1e6)
}

/// The batch cut into parts of `size` rows, each with its first row's index.
fn split(batch: &Batch, size: usize) -> Vec<(Batch, usize)> {
    (0..batch.n_rows())
        .step_by(size)
        .map(|start| {
            let end = (start + size).min(batch.n_rows());
            let columns = batch
                .columns
                .iter()
                .map(|(name, values)| {
                    let part = match values {
                        Values::Float(v) => Values::Float(v[start..end].to_vec()),
                        Values::Text(v) => Values::Text(v[start..end].to_vec()),
                        Values::Int(v) => Values::Int(v[start..end].to_vec()),
                        Values::Bool(v) => Values::Bool(v[start..end].to_vec()),
                    };
                    (name.clone(), part)
                })
                .collect();
            (Batch::new(columns), start)
        })
        .collect()
}

/// Rows of `layout`: numeric feature `j` ~ N(j, 1 + j / 10), with 2% missing; categorical
/// values `v0`, `v1`, … weighted `1 / (k + 1)`.
fn rows(layout: &Layout, seed: u64, n: usize) -> Batch {
    let mut rng = Rng::new(seed);
    let mut columns = Vec::new();
    for j in 0..layout.numeric {
        let values = (0..n)
            .map(|_| (rng.uniform() >= 0.02).then(|| j as f64 + (1.0 + j as f64 / 10.0) * rng.normal()))
            .collect();
        columns.push((format!("n{j}"), Values::Float(values)));
    }
    for (name, levels) in &layout.categorical {
        let weights: Vec<f64> = (0..*levels).map(|k| 1.0 / (k + 1) as f64).collect();
        let total: f64 = weights.iter().sum();
        let values = (0..n)
            .map(|_| {
                let mut u = rng.uniform() * total;
                let k = weights.iter().position(|w| {
                    u -= w;
                    u < 0.0
                });
                Some(format!("v{}", k.unwrap_or(levels - 1)))
            })
            .collect();
        columns.push((name.to_string(), Values::Text(values)));
    }
    Batch::new(columns)
}

/// The reference of 100,000 rows of `layout`, with one slicing per segment column.
fn reference(layout: &Layout) -> Result<(ReferenceDistributions, LiveSettings), Box<dyn std::error::Error>> {
    let train = rows(layout, 1, 100_000);
    let numeric: Vec<(String, Vec<Option<f64>>)> = train
        .columns
        .iter()
        .filter_map(|(n, v)| match v {
            Values::Float(v) => Some((n.clone(), v.clone())),
            _ => None,
        })
        .collect();
    let text: Vec<(String, Vec<Option<&str>>)> = train
        .columns
        .iter()
        .filter_map(|(n, v)| match v {
            Values::Text(v) => Some((n.clone(), v.iter().map(|s| s.as_deref()).collect())),
            _ => None,
        })
        .collect();
    let mut columns: Vec<(&str, ColumnRef<'_>)> =
        numeric.iter().map(|(n, v)| (n.as_str(), ColumnRef::Numeric(v.as_slice()))).collect();
    columns.extend(text.iter().map(|(n, v)| (n.as_str(), ColumnRef::Categorical(v.as_slice()))));
    let preprocessor = Preprocessor::fit(&PreprocessConfig::default(), &columns)?;
    let mut reference = ReferenceDistributions::fit(&preprocessor, &columns)?;
    let scores: Vec<f64> = (0..train.n_rows()).map(|i| (i % 997) as f64 / 997.0).collect();
    reference.scores = Some(ScoreReference::of_scores(&scores));
    for segment in &layout.segments {
        reference.slicings.push(SliceSpec {
            name: segment.to_string(),
            by: vec![segment.to_string()],
            bands: None,
            value: None,
        });
        let values = &text.iter().find(|(n, _)| n == segment).ok_or("no segment column")?.1;
        let mut levels: Vec<&str> = values.iter().flatten().copied().collect();
        levels.sort_unstable();
        levels.dedup();
        for level in levels {
            let picked: Vec<u32> = (0..values.len() as u32).filter(|r| values[*r as usize] == Some(level)).collect();
            let group_scores: Vec<f64> = picked.iter().map(|r| scores[*r as usize]).collect();
            reference.segments.push(SegmentReference {
                slice: segment.to_string(),
                group: level.to_string(),
                rows: picked.len() as u64,
                features: ReferenceDistributions::fit_rows(&preprocessor, &columns, &picked)?,
                scores: Some(ScoreReference::of_scores(&group_scores)),
            });
        }
    }
    Ok((reference, LiveSettings::default()))
}

//! Times single-row requests through one version's batcher (one scoring thread), with and
//! without its live drift sketch: what the sketch adds per request. A linear model over 4
//! features (2 numeric, 2 categorical, one of them a segment column) whose bundle holds the
//! reference of 10,000 generated rows; requests from 1 and from 64 concurrent clients (the
//! scoring thread saturated), rounds alternating between the two settings.
//!
//! `cargo bench -p kiln-serve --bench drift_batcher` runs it in full (20,000 requests per
//! round, 5 rounds); run without `--bench` it is a quick smoke run.

#![allow(clippy::print_stdout, reason = "a benchmark prints its results")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_core::bundle::{
    Architecture, Bundle, DataHashes, FORMAT_VERSION, KILN_VERSION, Manifest, ReferenceDistributions, ScoreReference,
    SegmentReference, SliceSpec, TensorData,
};
use kiln_core::columns::{Batch, Values};
use kiln_core::preprocess::{ColumnRef, PreprocessConfig, Preprocessor};
use kiln_core::rng::Rng;
use kiln_core::schema::{Column, DType, Role, Schema, Task};
use kiln_serve::batcher::{Batcher, Faults};
use kiln_serve::config::{Batching, MonitoringSettings};
use kiln_serve::drift::LiveDrift;
use kiln_serve::source::{Loaded, Resolved, Source};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let full = std::env::args().any(|arg| arg == "--bench");
    let (requests, rounds) = if full { (20_000, 5) } else { (500, 1) };
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("linear.safetensors");
    bundle(&path)?;
    let resolved = Resolved { name: "m".into(), version: 1, path: path.clone(), sha256: None, run_id: None };
    let loaded = Arc::new(Loaded::load("m", resolved)?);
    let one_row = Arc::new(rows(9, 1));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    println!("drift_batcher: single-row requests, one scoring thread, {requests} requests per round");
    for clients in [1usize, 64] {
        let mut times: BTreeMap<bool, Vec<f64>> = BTreeMap::new();
        for _ in 0..rounds {
            for monitored in [false, true] {
                let settings = MonitoringSettings { min_rows: 1000, ..MonitoringSettings::default() };
                let source = Source::File(path.clone());
                let drift =
                    monitored.then(|| LiveDrift::start("m", &source, &loaded, &settings).map(Arc::new)).flatten();
                let batching = Batching { max_rows: 1024, max_wait_us: 0, workers: 1 };
                let observe = Arc::new(|_: usize| {});
                let batcher = Arc::new(Batcher::start(
                    loaded.clone(),
                    &batching,
                    4096,
                    Arc::new(Faults::default()),
                    observe,
                    drift,
                ));
                let elapsed = runtime.block_on(drive(batcher, one_row.clone(), requests, clients));
                times.entry(monitored).or_default().push(elapsed.as_secs_f64() * 1e6 / requests as f64);
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let off = median(times.get_mut(&false).ok_or("no round")?);
        let on = median(times.get_mut(&true).ok_or("no round")?);
        println!(
            "  {clients:>2} clients: {off:.2} µs per request without live drift, {on:.2} µs with it ({:+.2} µs, {:+.1}%)",
            on - off,
            (on / off - 1.0) * 100.0
        );
    }
    Ok(())
}

/// `requests` requests of `batch` from `clients` concurrent closed-loop clients.
async fn drive(batcher: Arc<Batcher>, batch: Arc<Batch>, requests: usize, clients: usize) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (batcher, batch) = (batcher.clone(), batch.clone());
        let share = requests / clients + usize::from(client < requests % clients);
        tasks.push(tokio::spawn(async move {
            for _ in 0..share {
                let reply = batcher.score(batch.clone()).await;
                assert!(matches!(reply, Ok(Ok(_))), "scoring failed");
            }
        }));
    }
    for task in tasks {
        task.await.expect("client");
    }
    started.elapsed()
}

fn rows(seed: u64, n: usize) -> Batch {
    let mut rng = Rng::new(seed);
    let (mut x, mut y, mut sex, mut city) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        x.push(Some(rng.normal()));
        y.push(Some(rng.uniform() * 10.0));
        sex.push(Some(if rng.uniform() < 0.4 { "F" } else { "M" }.to_string()));
        city.push(Some(["a", "b", "c"][rng.below(3) as usize].to_string()));
    }
    Batch::new(vec![
        ("x".into(), Values::Float(x)),
        ("y".into(), Values::Float(y)),
        ("sex".into(), Values::Text(sex)),
        ("city".into(), Values::Text(city)),
    ])
}

fn column(name: &str, dtype: DType, role: Role) -> Column {
    Column { name: name.into(), dtype, role, segment: name == "sex", protected: false, pii: false }
}

/// A linear model of `x` with the reference of 10,000 rows, per `sex` group, with scores.
fn bundle(path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let train = rows(3, 10_000);
    let floats = |name: &str| match train.get(name) {
        Some(Values::Float(v)) => v.clone(),
        _ => Vec::new(),
    };
    let texts = |name: &str| match train.get(name) {
        Some(Values::Text(v)) => v.iter().map(|s| s.as_deref()).collect(),
        _ => Vec::new(),
    };
    let (x, y, sex, city): (_, _, Vec<Option<&str>>, Vec<Option<&str>>) =
        (floats("x"), floats("y"), texts("sex"), texts("city"));
    let columns = [
        ("x", ColumnRef::Numeric(&x)),
        ("y", ColumnRef::Numeric(&y)),
        ("sex", ColumnRef::Categorical(&sex)),
        ("city", ColumnRef::Categorical(&city)),
    ];
    let preprocessor = Preprocessor::fit(&PreprocessConfig::default(), &columns)?;
    let mut reference = ReferenceDistributions::fit(&preprocessor, &columns)?;
    let scores: Vec<f64> = x.iter().map(|x| 1.0 / (1.0 + (-x.unwrap_or(0.0)).exp())).collect();
    reference.scores = Some(ScoreReference::of_scores(&scores));
    reference.slicings = vec![SliceSpec { name: "sex".into(), by: vec!["sex".into()], bands: None, value: None }];
    for group in ["F", "M"] {
        let picked: Vec<u32> = (0..sex.len() as u32).filter(|r| sex[*r as usize] == Some(group)).collect();
        let group_scores: Vec<f64> = picked.iter().map(|r| scores[*r as usize]).collect();
        reference.segments.push(SegmentReference {
            slice: "sex".into(),
            group: group.into(),
            rows: picked.len() as u64,
            features: ReferenceDistributions::fit_rows(&preprocessor, &columns, &picked)?,
            scores: Some(ScoreReference::of_scores(&group_scores)),
        });
    }
    let n_inputs = preprocessor.n_dense();
    let mut weight = vec![0.0f32; n_inputs];
    weight[0] = 1.0;
    let tensors = BTreeMap::from([
        ("linear.weight".to_string(), TensorData::from_f32(vec![1, n_inputs], &weight)),
        ("linear.bias".to_string(), TensorData::from_f32(vec![1], &[0.0])),
    ]);
    let schema = Schema {
        task: Task::Binary,
        columns: vec![
            column("x", DType::Float, Role::Numeric),
            column("y", DType::Float, Role::Numeric),
            column("sex", DType::String, Role::Categorical),
            column("city", DType::String, Role::Categorical),
            column("label", DType::String, Role::Target),
        ],
        target: "label".into(),
        classes: vec!["no".into(), "yes".into()],
    };
    let schema_hash = schema.hash();
    let manifest = Manifest {
        format_version: FORMAT_VERSION.into(),
        task: Task::Binary,
        schema,
        preprocessor,
        architecture: Architecture::Linear { n_inputs, n_outputs: 1 },
        hyperparameters: serde_json::json!({}),
        data: DataHashes { data_hash: "a".repeat(64), schema_hash, split_hash: "c".repeat(64) },
        metrics: BTreeMap::new(),
        reference,
        git_commit: None,
        git_dirty: false,
        kiln_version: KILN_VERSION.into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        device: "cpu".into(),
        decision_threshold: Some(0.5),
    };
    Bundle::new(manifest, tensors).write(path)?;
    Ok(())
}

//! Training throughput of kiln's own CPU MLP trainer (`kiln_train::nn`): an MLP
//! 64 → 512 → 512 → 1 (ReLU, no dropout), binary cross-entropy, AdamW, batch 4096, 2 threads,
//! on synthetic rows drawn from kiln's RNG. Prints steady-state samples/s (the median over the
//! epochs after the first). `benches/peers/torch_mlp.py` times the same work in PyTorch.
//!
//!     cargo bench -p kiln-bench --bench mlp_train             # 262,144 rows, 4 epochs
//!     KILN_BENCH_ROWS=65536 KILN_BENCH_EPOCHS=3 cargo bench -p kiln-bench --bench mlp_train

#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use kiln_core::preprocess::Encoded;
use kiln_core::rng::Rng;
use kiln_core::schema::Task;
use kiln_train::config::{Activation, Norm};
use kiln_train::nn::{NeuralArch, TrainParams, fit};
use kiln_train::target::Target;

const N_INPUTS: usize = 64;

fn data(rows: usize, seed: u64) -> (Encoded, Target) {
    let mut rng = Rng::new(seed);
    let dense: Vec<f32> = (0..rows * N_INPUTS).map(|_| rng.normal() as f32).collect();
    let index = dense
        .chunks_exact(N_INPUTS)
        .map(|x| u32::from(x[0] - x[1] + x[2] * x[3] + 0.3 * rng.normal() as f32 > 0.0))
        .collect();
    (
        Encoded { n_rows: rows, dense, n_dense: N_INPUTS, codes: Vec::new(), n_codes: 0 },
        Target::Classes { index, n_classes: 2 },
    )
}

fn main() {
    let env = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let rows = env("KILN_BENCH_ROWS", 262_144);
    let epochs = env("KILN_BENCH_EPOCHS", 4).max(2);
    let threads = env("KILN_BENCH_THREADS", 2);
    let (train, y_train) = data(rows, 1);
    let (valid, y_valid) = data(4_096, 2);
    let arch =
        NeuralArch::Mlp { hidden: vec![512, 512], activation: Activation::Relu, norm: Norm::None, residual: false };
    let params = TrainParams {
        epochs,
        batch_size: 4_096,
        lr: 1e-3,
        weight_decay: 1e-4,
        warmup_epochs: 0,
        patience: epochs,
        dropout: 0.0,
        clip_norm: None,
        max_seconds: None,
        threads,
        class_weights: None,
    };
    let (_, report) =
        fit(Task::Binary, arch, &params, &train, &y_train, &valid, &y_valid, 42, |_| {}).expect("training runs");
    let mut rates: Vec<f64> = report.epochs.iter().skip(1).map(|e| e.samples_per_sec).collect();
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    for epoch in &report.epochs {
        println!(
            "epoch {}: {:.0} samples/s ({:.2} s), train loss {:.4}, valid AUC {:.4}",
            epoch.epoch, epoch.samples_per_sec, epoch.seconds, epoch.train_loss, epoch.valid_metric
        );
    }
    println!(
        "mlp_train/cpu/bs4096: kiln {median:.0} samples/s (median of epochs 2..{epochs}, {rows} rows, {threads} threads)"
    );
}

//! Training throughput of kiln's own CPU MLP trainer (`kiln_train::nn`): an MLP
//! 64 → 512 → 512 → 1 (ReLU, no dropout), binary cross-entropy, AdamW, batch 4096, 2 threads,
//! on synthetic rows drawn from kiln's RNG. Prints steady-state samples/s (the median over the
//! epochs after the first). `benches/peers/torch_mlp.py` times the same work in PyTorch.
//!
//!     cargo bench -p kiln-bench --bench mlp_train             # 262,144 rows, 4 epochs
//!     KILN_BENCH_ROWS=65536 KILN_BENCH_EPOCHS=3 cargo bench -p kiln-bench --bench mlp_train
//!
//! `KILN_BENCH_DEVICE=cuda` (and `KILN_BENCH_PRECISION=bf16`) ask for the same training on a
//! GPU through the candle backend (`kiln_train::backend`); without `--features cuda` it fails
//! with a message saying so (exit code 2), so that `benches/gpu/run.sh` can report it.
//!
//!     KILN_BENCH_DEVICE=cuda KILN_BENCH_PRECISION=bf16 cargo bench -p kiln-bench --features cuda --bench mlp_train

#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark reports on stdout

use kiln_core::device::DeviceSpec;
use kiln_core::preprocess::Encoded;
use kiln_core::rng::Rng;
use kiln_core::schema::Task;
use kiln_train::backend::{Backend, Precision};
use kiln_train::config::{Activation, Norm};
use kiln_train::nn::{FitInput, NeuralArch, TrainParams};
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
    let device = std::env::var("KILN_BENCH_DEVICE").unwrap_or_else(|_| "cpu".into());
    let precision = std::env::var("KILN_BENCH_PRECISION").unwrap_or_else(|_| "f32".into());
    let (device, precision) = (device.trim().to_string(), precision.trim().to_string());
    let backend = if device == "cpu" && precision == "f32" {
        Backend::native()
    } else {
        let spec = device.parse::<DeviceSpec>().ok();
        let chosen = precision.parse::<Precision>().ok();
        match (spec, chosen) {
            (Some(spec), Some(chosen)) if cfg!(feature = "cuda") => Backend::select(spec, chosen).unwrap_or_else(|e| {
                eprintln!("mlp_train: {e}");
                std::process::exit(2)
            }),
            _ => unavailable(&device, &precision),
        }
    };
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
    let (_, report) = backend
        .fit(&FitInput::new(Task::Binary, arch, &params, (&train, &y_train), (&valid, &y_valid), 42), |_| {})
        .expect("training runs");
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
        "mlp_train/{backend}/{precision}/bs4096: kiln {median:.0} samples/s (median of epochs 2..{epochs}, {rows} rows, {threads} threads)"
    );
}

/// The device or precision asked for is not in this build: says what is missing, exits 2.
fn unavailable(device: &str, precision: &str) -> ! {
    if !matches!(device, "cpu" | "cuda") && !device.starts_with("cuda:") {
        eprintln!("KILN_BENCH_DEVICE={device}: expected cpu, cuda or cuda:N");
    } else if !matches!(precision, "f32" | "bf16") {
        eprintln!("KILN_BENCH_PRECISION={precision}: expected f32 or bf16");
    } else {
        eprintln!(
            "mlp_train: device {device}, precision {precision} needs the cuda feature\n\
             hint: cargo bench -p kiln-bench --features cuda --bench mlp_train (after scripts/cuda-toolchain.sh)"
        );
    }
    std::process::exit(2)
}

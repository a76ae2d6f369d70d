//! The candle trainer against the native one: same seed, same data, a few epochs, weights and
//! predictions within stated tolerances; dropout (the same masks); bf16 against f32;
//! determinism. The device is [`test_device`]: the CPU, or the first GPU in a build with the
//! `cuda` feature when `KILN_TEST_DEVICE=cuda` is set, so the same tests check a GPU.

use candle_core::Device;
use kiln_core::preprocess::Encoded;
use kiln_core::rng::Rng;
use kiln_core::schema::Task;

use crate::backend::Precision;
use crate::config::{Activation, Norm};
use crate::nn::{self, FitInput, NeuralArch, NeuralModel, TrainParams, TrainReport};
use crate::target::Target;

/// The largest |Δ| between native and candle weights allowed after 3 epochs (f32). Measured on
/// the CPU (2026-11-26): at most 1.2e-7 over every case below (a few ulps); the bound leaves
/// room for a GPU's different summation order.
const WEIGHT_TOLERANCE: f32 = 1e-4;
/// The largest |Δ| between the two models' predictions (probabilities, or regression values
/// around 10). Measured on the CPU: at most 2e-7 for probabilities, 3.8e-6 for the values.
const PREDICTION_TOLERANCE: f64 = 1e-4;

/// The device these tests train on: `KILN_TEST_DEVICE=cuda` picks the first GPU in a build
/// with the `cuda` feature; otherwise the CPU.
pub(crate) fn test_device() -> Device {
    #[cfg(feature = "cuda")]
    if std::env::var("KILN_TEST_DEVICE").is_ok_and(|v| v == "cuda") {
        return Device::new_cuda(0).expect("KILN_TEST_DEVICE=cuda: cannot open cuda:0");
    }
    Device::Cpu
}

/// `n_rows` rows of 10 numeric features and a 4-wide one-hot block, and a target of `task`
/// that depends on them non-linearly (with noise).
fn synthetic(task: Task, n_rows: usize, seed: u64) -> (Encoded, Target) {
    let mut rng = Rng::new(seed);
    let (n_numeric, n_onehot) = (10, 4);
    let n_dense = n_numeric + n_onehot;
    let mut dense = Vec::with_capacity(n_rows * n_dense);
    let mut scores = Vec::with_capacity(n_rows);
    for _ in 0..n_rows {
        let x: Vec<f32> = (0..n_numeric).map(|_| rng.normal() as f32).collect();
        let category = (rng.uniform() * n_onehot as f64) as usize % n_onehot;
        let s = f64::from(x[0]) * 1.5 - f64::from(x[1] * x[2]) + f64::from(x[3]).sin() * 2.0 + category as f64 * 0.5
            - 0.75
            + rng.normal() * 0.5;
        dense.extend_from_slice(&x);
        dense.extend((0..n_onehot).map(|k| if k == category { 1.0 } else { 0.0 }));
        scores.push(s);
    }
    let target = match task {
        Task::Binary => Target::Classes { index: scores.iter().map(|s| u32::from(*s > 0.0)).collect(), n_classes: 2 },
        Task::Multiclass => Target::Classes {
            index: scores
                .iter()
                .map(|s| {
                    if *s < -1.0 {
                        0
                    } else if *s < 1.0 {
                        1
                    } else {
                        2
                    }
                })
                .collect(),
            n_classes: 3,
        },
        Task::Regression => Target::Values(scores.iter().map(|s| s * 3.0 + 10.0).collect()),
    };
    (Encoded { n_rows, dense, n_dense, codes: Vec::new(), n_codes: 0 }, target)
}

fn params(epochs: usize, dropout: f64) -> TrainParams {
    TrainParams {
        epochs,
        batch_size: 64,
        lr: 3e-3,
        weight_decay: 1e-4,
        warmup_epochs: 1,
        patience: epochs,
        dropout,
        clip_norm: Some(1.0),
        max_seconds: None,
        threads: 1,
        class_weights: None,
    }
}

fn mlp(norm: Norm, activation: Activation, residual: bool) -> NeuralArch {
    NeuralArch::Mlp { hidden: vec![32, 32], activation, norm, residual }
}

/// Native and candle fits of one setup.
struct Pair {
    native: (NeuralModel, TrainReport),
    candle: (NeuralModel, TrainReport),
    valid: Encoded,
}

fn fit_both(task: Task, arch: NeuralArch, params: &TrainParams, precision: Precision) -> Pair {
    let (train, y_train) = synthetic(task, 700, 1);
    let (valid, y_valid) = synthetic(task, 300, 2);
    let native =
        nn::fit(&FitInput::new(task, arch.clone(), params, (&train, &y_train), (&valid, &y_valid), 42), |_| {})
            .expect("native");
    let device = test_device();
    let candle = super::fit(
        &device,
        precision,
        &FitInput::new(task, arch, params, (&train, &y_train), (&valid, &y_valid), 42),
        |_| {},
    )
    .expect("candle");
    Pair { native, candle, valid }
}

fn max_weight_difference(a: &NeuralModel, b: &NeuralModel) -> f32 {
    a.named_tensors()
        .iter()
        .zip(b.named_tensors())
        .flat_map(|((_, _, x), (_, _, y))| x.iter().zip(y).map(|(p, q)| (p - q).abs()).collect::<Vec<_>>())
        .fold(0.0, f32::max)
}

fn max_prediction_difference(a: &NeuralModel, b: &NeuralModel, data: &Encoded) -> f64 {
    let (p, q) = (a.predict(data).expect("predict"), b.predict(data).expect("predict"));
    p.values.iter().zip(&q.values).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
#[allow(clippy::print_stderr)] // the measured differences (shown with --nocapture)
fn candle_matches_the_native_trainer() {
    let cases = [
        ("mlp relu", Task::Binary, mlp(Norm::None, Activation::Relu, false), 0.0),
        ("mlp layer norm gelu residual", Task::Binary, mlp(Norm::Layer, Activation::Gelu, true), 0.0),
        ("mlp silu multiclass", Task::Multiclass, mlp(Norm::None, Activation::Silu, false), 0.0),
        ("mlp tanh regression", Task::Regression, mlp(Norm::Layer, Activation::Tanh, false), 0.0),
        ("linear", Task::Binary, NeuralArch::Linear, 0.0),
        (
            "resnet",
            Task::Binary,
            NeuralArch::ResNet { d_block: 16, d_hidden: 32, n_blocks: 2, d_embedding: 0, cardinalities: Vec::new() },
            0.0,
        ),
        // The masks come from the same generator stream in the same order: the same dropout.
        ("mlp dropout", Task::Binary, mlp(Norm::None, Activation::Relu, false), 0.2),
        (
            "resnet dropout",
            Task::Binary,
            NeuralArch::ResNet { d_block: 16, d_hidden: 32, n_blocks: 2, d_embedding: 0, cardinalities: Vec::new() },
            0.2,
        ),
    ];
    for (name, task, arch, dropout) in cases {
        let pair = fit_both(task, arch, &params(3, dropout), Precision::F32);
        let (native, candle) = (&pair.native.0, &pair.candle.0);
        let weights = max_weight_difference(native, candle);
        let predictions = max_prediction_difference(native, candle, &pair.valid);
        eprintln!("{name}: max |Δw| {weights:e}, max |Δp| {predictions:e}");
        assert!(weights <= WEIGHT_TOLERANCE, "{name}: max |Δw| = {weights:e}");
        assert!(predictions <= PREDICTION_TOLERANCE, "{name}: max |Δp| = {predictions:e}");
        assert_eq!(pair.native.1.best_epoch, pair.candle.1.best_epoch, "{name}");
        for (a, b) in pair.native.1.epochs.iter().zip(&pair.candle.1.epochs) {
            assert!((a.train_loss - b.train_loss).abs() < 1e-4, "{name}: {} vs {}", a.train_loss, b.train_loss);
        }
    }
}

#[test]
fn class_weights_and_early_stopping_follow_the_native_trainer() {
    let mut p = params(12, 0.0);
    p.class_weights = Some(vec![1.0, 3.0]);
    p.patience = 2;
    p.lr = 0.05;
    let pair = fit_both(Task::Binary, mlp(Norm::None, Activation::Relu, false), &p, Precision::F32);
    assert_eq!(pair.native.1.best_epoch, pair.candle.1.best_epoch);
    assert_eq!(pair.native.1.epochs.len(), pair.candle.1.epochs.len());
    assert_eq!(pair.native.1.stopped_early, pair.candle.1.stopped_early);
    let weights = max_weight_difference(&pair.native.0, &pair.candle.0);
    assert!(weights <= 10.0 * WEIGHT_TOLERANCE, "max |Δw| = {weights:e}");
}

/// The validation log loss of a binary model.
fn log_loss(model: &NeuralModel, data: &Encoded, target: &Target) -> f64 {
    let Target::Classes { index, .. } = target else { unreachable!("binary target") };
    let p = model.predict(data).expect("predict").values;
    let total: f64 = p.iter().zip(index).map(|(p, y)| -(if *y == 1 { *p } else { 1.0 - *p }).max(1e-12).ln()).sum();
    total / index.len() as f64
}

/// bf16 products: the validation log loss stays within this of f32's after 8 epochs
/// (measured on the CPU: 0.41368 against 0.41379).
const BF16_LOG_LOSS_MARGIN: f64 = 0.02;

#[test]
#[allow(clippy::print_stderr)] // the measured losses (shown with --nocapture)
fn bf16_trains_close_to_f32() {
    let arch = mlp(Norm::Layer, Activation::Relu, false);
    let (train, y_train) = synthetic(Task::Binary, 700, 1);
    let (valid, y_valid) = synthetic(Task::Binary, 300, 2);
    let device = test_device();
    let fit = |precision| {
        super::fit(
            &device,
            precision,
            &FitInput::new(Task::Binary, arch.clone(), &params(8, 0.0), (&train, &y_train), (&valid, &y_valid), 3),
            |_| {},
        )
        .expect("fit")
        .0
    };
    let (f32_model, bf16_model) = (fit(Precision::F32), fit(Precision::Bf16));
    let (f32_loss, bf16_loss) = (log_loss(&f32_model, &valid, &y_valid), log_loss(&bf16_model, &valid, &y_valid));
    eprintln!("validation log loss: f32 {f32_loss:.5}, bf16 {bf16_loss:.5}");
    assert!((bf16_loss - f32_loss).abs() <= BF16_LOG_LOSS_MARGIN, "bf16 {bf16_loss} vs f32 {f32_loss}");
    assert!(bf16_loss < 0.5, "bf16 learned: {bf16_loss}");
    assert_ne!(f32_model, bf16_model, "bf16 rounds the products");
}

#[test]
fn the_same_seed_gives_the_same_weights() {
    let (train, y_train) = synthetic(Task::Multiclass, 400, 5);
    let (valid, y_valid) = synthetic(Task::Multiclass, 100, 6);
    let arch = NeuralArch::ResNet { d_block: 8, d_hidden: 16, n_blocks: 1, d_embedding: 0, cardinalities: Vec::new() };
    let device = test_device();
    let fit = |seed| {
        super::fit(
            &device,
            Precision::F32,
            &FitInput::new(
                Task::Multiclass,
                arch.clone(),
                &params(2, 0.1),
                (&train, &y_train),
                (&valid, &y_valid),
                seed,
            ),
            |_| {},
        )
        .expect("fit")
        .0
    };
    assert_eq!(fit(9), fit(9));
    assert_ne!(fit(9), fit(10));
}

#[test]
fn batch_norm_is_refused_clearly() {
    let (train, y_train) = synthetic(Task::Binary, 50, 1);
    let arch = mlp(Norm::Batch, Activation::Relu, false);
    let err = super::fit(
        &Device::Cpu,
        Precision::F32,
        &FitInput::new(Task::Binary, arch, &params(1, 0.0), (&train, &y_train), (&train, &y_train), 1),
        |_| {},
    )
    .expect_err("batch norm");
    assert!(err.to_string().contains("normalization"), "{err}");
}

/// The largest |Δ| allowed between a bundle's predictions on the CPU (kiln-core's forward
/// pass) and on the test device (candle's). Measured on the CPU: a few ulps of f32.
const DEVICE_PREDICTION_TOLERANCE: f64 = 1e-5;

#[test]
fn a_bundles_predictions_on_the_device_match_the_cpu() {
    for (task, arch) in [
        (Task::Binary, mlp(Norm::Layer, Activation::Gelu, true)),
        (Task::Multiclass, mlp(Norm::None, Activation::Relu, false)),
        (Task::Regression, NeuralArch::Linear),
        (
            Task::Binary,
            NeuralArch::ResNet { d_block: 8, d_hidden: 16, n_blocks: 2, d_embedding: 0, cardinalities: Vec::new() },
        ),
    ] {
        let (train, y_train) = synthetic(task, 500, 3);
        let (valid, y_valid) = synthetic(task, 400, 4);
        let (trained, _) = nn::fit(
            &FitInput::new(task, arch.clone(), &params(2, 0.0), (&train, &y_train), (&valid, &y_valid), 9),
            |_| {},
        )
        .expect("fit");
        // Through the bundle's tensors, as `kiln predict` would load it.
        let bundled = NeuralModel::from_tensors(task, &trained.architecture(), &trained.to_tensors()).expect("reload");
        let cpu = bundled.predict(&valid).expect("cpu");
        let device = super::predict_on(&test_device(), &bundled, &valid).expect("device");
        assert_eq!(cpu.values.len(), device.values.len());
        let diff = cpu.values.iter().zip(&device.values).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(diff <= DEVICE_PREDICTION_TOLERANCE, "{task:?} {arch:?}: max |Δ| {diff}");
    }
}

/// `data` with two categorical columns (cardinalities 5 and 3) as index codes.
fn with_codes(mut data: Encoded, seed: u64) -> Encoded {
    let mut rng = Rng::new(seed);
    data.n_codes = 2;
    data.codes = (0..data.n_rows).flat_map(|_| [rng.below(5) as u32, rng.below(3) as u32]).collect();
    data
}

const EMBEDDED_RESNET: fn() -> NeuralArch =
    || NeuralArch::ResNet { d_block: 16, d_hidden: 32, n_blocks: 2, d_embedding: 4, cardinalities: vec![5, 3] };

#[test]
#[allow(clippy::print_stderr)] // the measured differences (shown with --nocapture)
fn embeddings_follow_the_native_trainer_and_predict_alike_on_the_device() {
    for (task, dropout) in [(Task::Binary, 0.0), (Task::Multiclass, 0.2)] {
        let (train, y_train) = synthetic(task, 700, 1);
        let (valid, y_valid) = synthetic(task, 300, 2);
        let (train, valid) = (with_codes(train, 3), with_codes(valid, 4));
        let params = params(3, dropout);
        let native = nn::fit(
            &FitInput::new(task, EMBEDDED_RESNET(), &params, (&train, &y_train), (&valid, &y_valid), 42),
            |_| {},
        )
        .expect("native");
        let device = test_device();
        let candle = super::fit(
            &device,
            Precision::F32,
            &FitInput::new(task, EMBEDDED_RESNET(), &params, (&train, &y_train), (&valid, &y_valid), 42),
            |_| {},
        )
        .expect("candle");
        let weights = max_weight_difference(&native.0, &candle.0);
        let predictions = max_prediction_difference(&native.0, &candle.0, &valid);
        eprintln!("resnet embeddings {task:?}: max |Δw| {weights:e}, max |Δp| {predictions:e}");
        assert!(weights <= WEIGHT_TOLERANCE, "{task:?}: max |Δw| = {weights:e}");
        assert!(predictions <= PREDICTION_TOLERANCE, "{task:?}: max |Δp| = {predictions:e}");
        assert_eq!(native.1.best_epoch, candle.1.best_epoch);
        // The tables were trained (not left at their initial values) on both paths.
        let table = |m: &NeuralModel| m.embeddings[0].weight.clone();
        let (untrained, _) = nn::fit(
            &FitInput::new(task, EMBEDDED_RESNET(), &params_epochs0(), (&train, &y_train), (&valid, &y_valid), 42),
            |_| {},
        )
        .expect("one step");
        assert_ne!(table(&candle.0), table(&untrained));
        // A bundle of the model predicts the same on the device as on the CPU.
        let bundled =
            NeuralModel::from_tensors(task, &native.0.architecture(), &native.0.to_tensors()).expect("reload");
        let cpu = bundled.predict(&valid).expect("cpu");
        let on_device = super::predict_on(&device, &bundled, &valid).expect("device");
        let diff = cpu.values.iter().zip(&on_device.values).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(diff <= DEVICE_PREDICTION_TOLERANCE, "{task:?}: max |Δ| {diff}");
    }
}

/// One epoch at a learning rate of almost 0: the initial weights, for comparison.
fn params_epochs0() -> TrainParams {
    TrainParams { lr: 1e-30, ..params(1, 0.0) }
}

#[test]
fn predicting_with_batch_norm_on_the_device_is_refused_clearly() {
    let (train, y_train) = synthetic(Task::Binary, 300, 5);
    let (valid, y_valid) = synthetic(Task::Binary, 100, 6);
    let arch = mlp(Norm::Batch, Activation::Relu, false);
    let (trained, _) =
        nn::fit(&FitInput::new(Task::Binary, arch, &params(1, 0.0), (&train, &y_train), (&valid, &y_valid), 9), |_| {})
            .expect("fit");
    let e = super::predict_on(&test_device(), &trained, &valid).expect_err("batch norm");
    assert!(e.to_string().contains("candle backend"), "{e}");
}

/// Stops a fit after `stop_after` epochs; records the epoch it started from and those it saw.
struct StopAfter {
    stop_after: usize,
    started_at: Option<usize>,
    seen: Vec<usize>,
}

impl nn::TrainObserver for StopAfter {
    fn start(&mut self, _epochs: usize, done: usize) {
        self.started_at = Some(done);
    }

    fn epoch(&mut self, stats: &nn::EpochStats) -> std::ops::ControlFlow<()> {
        self.seen.push(stats.epoch);
        if stats.epoch >= self.stop_after {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    }
}

fn bits(model: &NeuralModel) -> Vec<Vec<u32>> {
    model.named_tensors().into_iter().map(|(_, _, v)| v.iter().map(|f| f.to_bits()).collect()).collect()
}

#[test]
fn a_stopped_fit_resumes_from_its_checkpoint_to_the_same_weights() {
    // dropout and clipping: the generator states, the moments and the schedule carry over
    let (train, y_train) = synthetic(Task::Binary, 700, 1);
    let (valid, y_valid) = synthetic(Task::Binary, 300, 2);
    let arch = mlp(Norm::Layer, Activation::Relu, false);
    let params = params(5, 0.2);
    let device = test_device();
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = nn::CheckpointSpec { path: dir.path().join("mlp.ckpt"), every: 2, resume: true };
    let fit = |spec: Option<&nn::CheckpointSpec>, observer: &mut dyn nn::TrainObserver| {
        let data = ((&train, &y_train), (&valid, &y_valid));
        super::fit_with(
            &device,
            Precision::F32,
            &FitInput::new(Task::Binary, arch.clone(), &params, data.0, data.1, 42).with_checkpoint(spec),
            observer,
        )
    };
    let (expected, expected_report) = fit(None, &mut |_: &nn::EpochStats| {}).expect("uninterrupted");

    let mut stop = StopAfter { stop_after: 3, started_at: None, seen: Vec::new() };
    let err = fit(Some(&spec), &mut stop).expect_err("stopped");
    assert!(matches!(err, crate::Error::Interrupted { epoch: 3 }), "{err:?}");
    assert_eq!(nn::TrainState::read(&spec.path).expect("checkpoint").epoch, 2, "the last due checkpoint");

    let mut resumed_from = StopAfter { stop_after: usize::MAX, started_at: None, seen: Vec::new() };
    let (model, report) = fit(Some(&spec), &mut resumed_from).expect("resumed");
    assert_eq!(resumed_from.started_at, Some(2));
    assert_eq!(resumed_from.seen, [3, 4, 5], "no epoch is trained twice");
    assert_eq!(bits(&model), bits(&expected), "resumed weights differ from an uninterrupted fit on this device");
    assert_eq!(report.best_epoch, expected_report.best_epoch);
    let losses = |r: &TrainReport| r.epochs.iter().map(|e| e.train_loss.to_bits()).collect::<Vec<_>>();
    assert_eq!(losses(&report), losses(&expected_report), "the history carries over");
}

#[test]
fn a_native_checkpoint_continues_on_this_device() {
    // the checkpoint format is the trainers' common one: a fit stopped on the native trainer
    // continues with candle and ends where the native trainer ends, to rounding
    let (train, y_train) = synthetic(Task::Multiclass, 700, 1);
    let (valid, y_valid) = synthetic(Task::Multiclass, 300, 2);
    let arch = mlp(Norm::None, Activation::Silu, false);
    let params = params(4, 0.2);
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = nn::CheckpointSpec { path: dir.path().join("mlp.ckpt"), every: 1, resume: true };
    let (expected, _) = nn::fit(
        &FitInput::new(Task::Multiclass, arch.clone(), &params, (&train, &y_train), (&valid, &y_valid), 42),
        |_| {},
    )
    .expect("native");
    let mut stop = StopAfter { stop_after: 2, started_at: None, seen: Vec::new() };
    nn::fit_with(
        &FitInput::new(Task::Multiclass, arch.clone(), &params, (&train, &y_train), (&valid, &y_valid), 42)
            .with_checkpoint(Some(&spec)),
        &mut stop,
    )
    .expect_err("stopped");
    let mut resumed_from = StopAfter { stop_after: usize::MAX, started_at: None, seen: Vec::new() };
    let (model, _) = super::fit_with(
        &test_device(),
        Precision::F32,
        &FitInput::new(Task::Multiclass, arch, &params, (&train, &y_train), (&valid, &y_valid), 42)
            .with_checkpoint(Some(&spec)),
        &mut resumed_from,
    )
    .expect("continued with candle");
    assert_eq!(resumed_from.seen, [3, 4]);
    let weights = max_weight_difference(&model, &expected);
    assert!(weights <= WEIGHT_TOLERANCE, "max |Δw| = {weights:e}");
}

#[test]
fn a_checkpoint_of_this_device_continues_on_the_native_trainer() {
    // the other direction through the shared epoch driver: stopped on candle after epoch 2,
    // continued natively from candle's weights, optimizer state, generators and history
    let (train, y_train) = synthetic(Task::Binary, 700, 5);
    let (valid, y_valid) = synthetic(Task::Binary, 300, 6);
    let arch = mlp(Norm::Layer, Activation::Relu, true);
    let params = params(4, 0.1);
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = nn::CheckpointSpec { path: dir.path().join("mlp.ckpt"), every: 1, resume: true };
    let input = FitInput::new(Task::Binary, arch, &params, (&train, &y_train), (&valid, &y_valid), 7);
    let (expected, expected_report) = super::fit(&test_device(), Precision::F32, &input, |_| {}).expect("candle");
    let mut stop = StopAfter { stop_after: 2, started_at: None, seen: Vec::new() };
    let checkpointed = input.clone().with_checkpoint(Some(&spec));
    super::fit_with(&test_device(), Precision::F32, &checkpointed, &mut stop).expect_err("stopped");
    let mut resumed_from = StopAfter { stop_after: usize::MAX, started_at: None, seen: Vec::new() };
    let (model, report) = nn::fit_with(&checkpointed, &mut resumed_from).expect("continued natively");
    assert_eq!((resumed_from.started_at, resumed_from.seen), (Some(2), vec![3, 4]));
    let history = |r: &TrainReport| r.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>();
    assert_eq!(history(&report), history(&expected_report), "the history carries over");
    let numbers = |r: &TrainReport| {
        r.epochs[..2].iter().map(|e| (e.train_loss.to_bits(), e.valid_metric.to_bits())).collect::<Vec<_>>()
    };
    assert_eq!(numbers(&report), numbers(&expected_report), "the first two epochs are candle's own");
    let weights = max_weight_difference(&model, &expected);
    assert!(weights <= WEIGHT_TOLERANCE, "max |Δw| = {weights:e}");
}

//! Checkpoints of the neural trainer: a fit stopped after some epochs and continued from its
//! checkpoint by a fresh call ends with the same weights, bit for bit, as an uninterrupted
//! fit; damaged or foreign checkpoints are refused with the file named.

use std::ops::ControlFlow;

use kiln_core::preprocess::Encoded;
use kiln_core::schema::Task;
use kiln_train::Error;
use kiln_train::config::{MlpConfig, ResnetConfig};
use kiln_train::nn::{
    CheckpointSpec, EpochStats, FitInput, NeuralArch, NeuralModel, TrainObserver, TrainParams, TrainReport, TrainState,
    fit, fit_with, mlp_arch, resnet_arch,
};
use kiln_train::target::Target;

use crate::nn::generated;

/// Stops the fit after `stop_after` epochs; records where it started.
struct StopAfter {
    stop_after: usize,
    started_at: Option<usize>,
    seen: Vec<usize>,
}

impl TrainObserver for StopAfter {
    fn start(&mut self, _epochs: usize, done: usize) {
        self.started_at = Some(done);
    }

    fn epoch(&mut self, stats: &EpochStats) -> ControlFlow<()> {
        self.seen.push(stats.epoch);
        if stats.epoch >= self.stop_after { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }
}

struct Data {
    train: Encoded,
    y_train: Target,
    valid: Encoded,
    y_valid: Target,
}

fn data() -> Data {
    let (train, y_train) = generated(1_500, 6, 1, Task::Binary);
    let (valid, y_valid) = generated(400, 6, 2, Task::Binary);
    Data { train, y_train, valid, y_valid }
}

fn run(
    data: &Data,
    arch: &NeuralArch,
    params: &TrainParams,
    spec: Option<&CheckpointSpec>,
    observer: &mut dyn TrainObserver,
) -> kiln_train::Result<(NeuralModel, TrainReport)> {
    let Data { train, y_train, valid, y_valid } = data;
    fit_with(
        &FitInput::new(Task::Binary, arch.clone(), params, (train, y_train), (valid, y_valid), 9).with_checkpoint(spec),
        observer,
    )
}

fn bits(model: &NeuralModel) -> Vec<(String, Vec<u32>)> {
    model.named_tensors().into_iter().map(|(name, _, v)| (name, v.iter().map(|f| f.to_bits()).collect())).collect()
}

/// Train `stop_after` epochs, stop, continue in a fresh call from the checkpoint, and compare
/// with one uninterrupted fit.
fn stopped_and_resumed_equals_uninterrupted(arch: NeuralArch, params: TrainParams, stop_after: usize, every: usize) {
    let data = data();
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = CheckpointSpec { path: dir.path().join("m.ckpt"), every, resume: true };
    let (expected, expected_report) = run(&data, &arch, &params, None, &mut |_: &EpochStats| {}).expect("fit");

    let mut stop = StopAfter { stop_after, started_at: None, seen: Vec::new() };
    let err = run(&data, &arch, &params, Some(&spec), &mut stop).expect_err("stopped");
    assert!(matches!(err, Error::Interrupted { epoch } if epoch == stop_after), "{err:?}");
    let saved = TrainState::read(&spec.path).expect("checkpoint");
    let saved_epoch = stop_after / every * every;
    assert_eq!(saved.epoch, saved_epoch, "the last due checkpoint");
    assert_eq!(saved.history.len(), saved_epoch);

    let mut resumed_from = StopAfter { stop_after: usize::MAX, started_at: None, seen: Vec::new() };
    let (model, report) = run(&data, &arch, &params, Some(&spec), &mut resumed_from).expect("resume");
    assert_eq!(resumed_from.started_at, Some(saved_epoch));
    assert_eq!(resumed_from.seen.first().copied(), Some(saved_epoch + 1), "no epoch is trained twice");
    assert_eq!(bits(&model), bits(&expected), "resumed weights differ from an uninterrupted fit");
    assert_eq!(report.best_epoch, expected_report.best_epoch);
    assert_eq!(report.stopped_early, expected_report.stopped_early);
    let metrics = |r: &TrainReport| r.epochs.iter().map(|e| (e.epoch, e.train_loss.to_bits())).collect::<Vec<_>>();
    assert_eq!(metrics(&report), metrics(&expected_report), "the history carries over");

    // The finished checkpoint gives the same model again without training.
    let mut after = StopAfter { stop_after: 0, started_at: None, seen: Vec::new() };
    let (again, _) = run(&data, &arch, &params, Some(&spec), &mut after).expect("finished checkpoint");
    assert!(after.seen.is_empty(), "nothing left to train");
    assert_eq!(bits(&again), bits(&expected));
}

#[test]
fn a_stopped_mlp_fit_resumes_to_bit_identical_weights() {
    let config = MlpConfig {
        hidden: vec![16, 16],
        epochs: 6,
        batch_size: 64,
        lr: 3e-3,
        dropout: 0.1,
        warmup_epochs: 1,
        norm: kiln_train::config::Norm::Layer,
        ..MlpConfig::default()
    };
    let params = TrainParams { threads: 2, ..TrainParams::from_mlp(&config) };
    stopped_and_resumed_equals_uninterrupted(mlp_arch(&config), params, 3, 1);
}

#[test]
fn a_resnet_fit_checkpointed_every_2_epochs_resumes_from_the_last_saved_one() {
    let config =
        ResnetConfig { d_block: 8, n_blocks: 1, epochs: 5, batch_size: 64, dropout: 0.1, ..Default::default() };
    let params = TrainParams { threads: 1, ..TrainParams::from_resnet(&config) };
    // Stopped after epoch 3: the checkpoint holds epoch 2, so epoch 3 is trained again.
    stopped_and_resumed_equals_uninterrupted(resnet_arch(&config, &[]), params, 3, 2);
}

#[test]
fn a_resumed_fit_matches_an_uninterrupted_one_with_another_thread_count() {
    let config = MlpConfig { hidden: vec![8], epochs: 3, batch_size: 32, ..MlpConfig::default() };
    let data = data();
    let (arch, params) = (mlp_arch(&config), TrainParams::from_mlp(&config));
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = CheckpointSpec { path: dir.path().join("m.ckpt"), every: 1, resume: true };
    let mut stop = StopAfter { stop_after: 1, started_at: None, seen: Vec::new() };
    run(&data, &arch, &TrainParams { threads: 1, ..params.clone() }, Some(&spec), &mut stop).expect_err("stopped");
    let (resumed, _) =
        run(&data, &arch, &TrainParams { threads: 3, ..params.clone() }, Some(&spec), &mut |_: &EpochStats| {})
            .expect("resume");
    let Data { train, y_train, valid, y_valid } = &data;
    let (expected, _) = fit(&FitInput::new(Task::Binary, arch, &params, (train, y_train), (valid, y_valid), 9), |_| {})
        .expect("uninterrupted");
    assert_eq!(bits(&resumed), bits(&expected));
}

#[test]
fn damaged_or_foreign_checkpoints_are_refused_with_the_file_named() {
    let config = MlpConfig { hidden: vec![8], epochs: 3, batch_size: 64, ..MlpConfig::default() };
    let data = data();
    let (arch, params) = (mlp_arch(&config), TrainParams { threads: 1, ..TrainParams::from_mlp(&config) });
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = CheckpointSpec { path: dir.path().join("m.ckpt"), every: 1, resume: true };
    let mut stop = StopAfter { stop_after: 1, started_at: None, seen: Vec::new() };
    run(&data, &arch, &params, Some(&spec), &mut stop).expect_err("stopped");
    let bytes = std::fs::read(&spec.path).expect("read");

    // Another learning rate: the fingerprint differs.
    let other = TrainParams { lr: params.lr * 2.0, ..params.clone() };
    let err = run(&data, &arch, &other, Some(&spec), &mut |_: &EpochStats| {}).expect_err("foreign");
    assert!(matches!(&err, Error::CheckpointMismatch { path, .. } if *path == spec.path), "{err:?}");
    assert!(err.to_string().contains("m.ckpt") && err.to_string().contains("hint:"), "{err}");

    // One flipped byte: the checksum fails.
    let mut damaged = bytes.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x40;
    std::fs::write(&spec.path, &damaged).expect("write");
    let err = run(&data, &arch, &params, Some(&spec), &mut |_: &EpochStats| {}).expect_err("damaged");
    assert!(matches!(&err, Error::CheckpointCorrupt { problem, .. } if problem.contains("checksum")), "{err:?}");
    std::fs::write(&spec.path, &bytes[..bytes.len() / 3]).expect("write");
    let err = run(&data, &arch, &params, Some(&spec), &mut |_: &EpochStats| {}).expect_err("truncated");
    assert!(matches!(&err, Error::CheckpointFile(kiln_core::Error::ParseFile { .. })), "{err:?}");
    assert!(err.to_string().contains("m.ckpt") && err.to_string().contains("hint:"), "{err}");

    // A bundle is not a checkpoint, and a checkpoint is not a bundle.
    let bundle = crate::common::linear_bundle_file(dir.path());
    let err = TrainState::read(&bundle).expect_err("a bundle");
    assert!(
        matches!(&err, Error::CheckpointFile(kiln_core::Error::WrongFormat { found, .. }) if found == "kiln.bundle.v1"),
        "{err:?}"
    );
    std::fs::write(&spec.path, &bytes).expect("restore");
    let err = kiln_core::bundle::Bundle::read(&spec.path).expect_err("a checkpoint");
    assert!(matches!(&err, kiln_core::Error::WrongFormat { found, .. } if found == "kiln.checkpoint.v1"), "{err:?}");

    // Without `resume`, an existing checkpoint is ignored and overwritten.
    let fresh = CheckpointSpec { resume: false, ..spec.clone() };
    run(&data, &arch, &params, Some(&fresh), &mut |_: &EpochStats| {}).expect("fresh fit");
    assert_eq!(TrainState::read(&spec.path).expect("rewritten").epoch, 3);
}

#[test]
fn a_state_round_trips_through_its_bytes() {
    let config = MlpConfig { hidden: vec![4], epochs: 2, batch_size: 64, ..MlpConfig::default() };
    let data = data();
    let (arch, params) = (mlp_arch(&config), TrainParams { threads: 1, ..TrainParams::from_mlp(&config) });
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = CheckpointSpec { path: dir.path().join("m.ckpt"), every: 1, resume: false };
    run(&data, &arch, &params, Some(&spec), &mut |_: &EpochStats| {}).expect("fit");
    let state = TrainState::read(&spec.path).expect("read");
    assert!(state.finished && state.epoch == 2 && state.step > 0);
    let bytes = state.to_bytes().expect("bytes");
    let (n_header, metadata) = safetensors::SafeTensors::read_metadata(&bytes).expect("a safetensors file");
    let header: serde_json::Value =
        serde_json::from_str(&metadata.metadata().as_ref().expect("metadata")["kiln.manifest"]).expect("json");
    assert!(n_header > 0 && header["format_version"] == "kiln.checkpoint.v1", "{header}");
    assert_eq!(TrainState::from_bytes(&bytes, &spec.path).expect("parse"), state);
    assert_eq!(bytes, std::fs::read(&spec.path).expect("file"), "the bytes are deterministic");
}

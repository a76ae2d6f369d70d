//! `kiln train --resume`: the real binary killed with SIGKILL in the middle of training an
//! MLP, then resumed under the same run id, exports a bundle whose tensors are byte-identical
//! to an uninterrupted run's; resuming with another config or a finished run is refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kiln_core::bundle::Bundle;
use kiln_train::nn::TrainState;

use crate::kiln_at;

/// Epochs of the MLP: enough that the kill lands while it trains.
const EPOCHS: usize = 150;

fn models(epochs: usize) -> String {
    format!(
        "\n[[models]]\nkind = \"prior\"\n\n[[models]]\nkind = \"mlp\"\nhidden = [32, 32]\nepochs = {epochs}\n\
         batch_size = 64\nlr = 0.0005\npatience = {epochs}\n"
    )
}

/// The first `<store folder>/checkpoints/<run>/mlp.ckpt`, if one exists.
fn find_checkpoint(folder: &Path) -> Option<PathBuf> {
    std::fs::read_dir(folder.join("checkpoints"))
        .ok()?
        .flatten()
        .map(|run| run.path().join("mlp.ckpt"))
        .find(|path| path.exists())
}

#[test]
fn a_killed_training_run_resumes_to_the_same_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_path = dir.path().join("kiln.db");
    let store = store_path.display().to_string();
    let data = dir.path().join("s.csv");
    let (code, _, err) =
        kiln_at(&store, &["-q", "data", "synth", "--rows", "3000", "--out", &data.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    let config_path = dir.path().join("s.toml");
    let base = std::fs::read_to_string(&config_path).expect("config");
    std::fs::write(&config_path, format!("{base}{}", models(EPOCHS))).expect("write");
    let config = config_path.display().to_string();
    let (expected, resumed) = (dir.path().join("expected.safetensors"), dir.path().join("resumed.safetensors"));

    // The uninterrupted reference run.
    let (code, _, err) = kiln_at(&store, &["-q", "train", &config, "--out", &expected.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(find_checkpoint(dir.path()).is_none(), "a finished run leaves no checkpoints");

    // The same run in a child process, killed as soon as the MLP's first checkpoint exists.
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .env("KILN_STORE", &store_path)
        .args(["-q", "train", &config, "--out", &resumed.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kiln");
    let deadline = Instant::now() + Duration::from_secs(60);
    let checkpoint = loop {
        if let Some(path) = find_checkpoint(dir.path()) {
            break path;
        }
        assert!(child.try_wait().expect("poll").is_none(), "kiln ended before its first checkpoint");
        assert!(Instant::now() < deadline, "no checkpoint after 60 s");
        std::thread::sleep(Duration::from_millis(1));
    };
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    let state = TrainState::read(&checkpoint).expect("the checkpoint survives the kill whole");
    assert!(state.epoch >= 1 && !state.finished, "killed in the middle of training (epoch {})", state.epoch);
    assert!(!resumed.exists(), "nothing was exported");

    let (_, out, _) = kiln_at(&store, &["runs", "list", "--status", "interrupted", "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_str(&out).expect("json");
    let runs = runs.as_array().expect("runs");
    assert_eq!(runs.len(), 1, "the killed run is marked interrupted: {out}");
    let run_id = runs[0]["id"].as_str().expect("id").to_string();
    let saved_prior = checkpoint.with_file_name("prior.model.safetensors");
    assert!(saved_prior.exists(), "the finished prior model was saved");

    // Another config is refused, naming the line that differs.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, format!("{base}{}", models(EPOCHS + 1))).expect("write");
    let (code, _, err) = kiln_at(&store, &["-q", "train", &other.display().to_string(), "--resume", &run_id]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("differs from the config run") && err.contains(&format!("epochs = {EPOCHS}")), "{err}");

    // The resume finishes the same run and exports the same tensors.
    let (code, out, err) = kiln_at(
        &store,
        &["-q", "train", &config, "--out", &resumed.display().to_string(), "--resume", &run_id, "--format", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let result: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(result["run_id"], run_id.as_str());
    let exported: Vec<&str> = result["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter(|m| m["exported"] == true)
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(exported, ["mlp"]);
    let (a, b) = (Bundle::read(&expected).expect("expected"), Bundle::read(&resumed).expect("resumed"));
    assert!(a.tensors.keys().any(|name| name.starts_with("mlp.layers.")), "{:?}", a.tensors.keys());
    assert_eq!(a.tensors, b.tensors, "the resumed run's tensors differ from the uninterrupted run's");
    assert_eq!(a.manifest.architecture, b.manifest.architecture);
    assert_eq!(a.manifest.metrics, b.manifest.metrics);

    let (_, out, _) = kiln_at(&store, &["runs", "show", &run_id, "--format", "json"]);
    let run: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(run["status"], "finished");
    assert_eq!(run["metrics"]["mlp.epoch.train_loss"].as_array().map(Vec::len), Some(EPOCHS), "every epoch is logged");
    assert!(!checkpoint.exists(), "the checkpoints go when the run finishes");

    // A finished run cannot be resumed.
    let (code, _, err) = kiln_at(&store, &["-q", "train", &config, "--resume", &run_id]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is finished") && err.contains("interrupted"), "{err}");
}

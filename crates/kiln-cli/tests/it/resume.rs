//! `kiln train --resume` and `kiln run --resume`: the real binary killed with SIGKILL in the
//! middle of training an MLP, then resumed under the same run id, exports a bundle whose
//! tensors are byte-identical to an uninterrupted run's; resuming with another config or a
//! finished run is refused.

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

/// Run kiln with `args` (store in `folder`) and SIGKILL it as soon as the MLP's first
/// checkpoint exists; that checkpoint.
fn kill_at_first_checkpoint(folder: &Path, args: &[&str]) -> PathBuf {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .env("KILN_STORE", folder.join("kiln.db"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kiln");
    let deadline = Instant::now() + Duration::from_secs(60);
    let checkpoint = loop {
        if let Some(path) = find_checkpoint(folder) {
            break path;
        }
        assert!(child.try_wait().expect("poll").is_none(), "kiln ended before its first checkpoint");
        assert!(Instant::now() < deadline, "no checkpoint after 60 s");
        std::thread::sleep(Duration::from_millis(1));
    };
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    checkpoint
}

/// A synthetic dataset and its config with a prior and a long MLP, in `folder`: the config's
/// path, and the config as `data synth` wrote it (without the models).
fn synthetic_config(folder: &Path, store: &str) -> (String, String) {
    let data = folder.join("s.csv");
    let (code, _, err) =
        kiln_at(store, &["-q", "data", "synth", "--rows", "3000", "--out", &data.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    let config_path = folder.join("s.toml");
    let base = std::fs::read_to_string(&config_path).expect("config");
    std::fs::write(&config_path, format!("{base}{}", models(EPOCHS))).expect("write");
    (config_path.display().to_string(), base)
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// The id of the one interrupted run in the store.
fn interrupted_run(store: &str) -> String {
    let (_, out, _) = kiln_at(store, &["runs", "list", "--status", "interrupted", "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_str(&out).expect("json");
    let runs = runs.as_array().expect("runs");
    assert_eq!(runs.len(), 1, "the killed run is marked interrupted: {out}");
    runs[0]["id"].as_str().expect("id").to_string()
}

#[test]
fn a_killed_kiln_run_resumes_to_the_same_bundle_and_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let (config, _) = synthetic_config(dir.path(), &store);
    let path = |name: &str| dir.path().join(name).display().to_string();
    let run = |bundle: &str, report: &str| -> Vec<String> {
        ["-q", "run", &config, "--bundle", &path(bundle), "--out", &path(report)].map(String::from).to_vec()
    };

    let (code, _, err) = kiln_at(&store, &strs(&run("expected.safetensors", "expected-report")));
    assert_eq!(code, 0, "{err}");
    let checkpoint = kill_at_first_checkpoint(dir.path(), &strs(&run("resumed.safetensors", "resumed-report")));
    assert!(!dir.path().join("resumed.safetensors").exists(), "nothing was exported");
    let run_id = interrupted_run(&store);

    let mut resume = run("resumed.safetensors", "resumed-report");
    resume.extend(["--resume".to_string(), run_id.clone()]);
    let (code, _, err) = kiln_at(&store, &strs(&resume));
    assert_eq!(code, 0, "{err}");
    let a = Bundle::read(&dir.path().join("expected.safetensors")).expect("expected");
    let b = Bundle::read(&dir.path().join("resumed.safetensors")).expect("resumed");
    assert_eq!(a.tensors, b.tensors, "the resumed run's bundle differs from the uninterrupted run's");
    let report = |name: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(dir.path().join(name).join("report.json")).expect("report.json");
        serde_json::from_str(&text).expect("json")
    };
    let (ra, rb) = (report("expected-report"), report("resumed-report"));
    assert_eq!(ra["chosen"], rb["chosen"]);
    assert_eq!(ra["models"][1]["slicings"], rb["models"][1]["slicings"], "the MLP's sliced metrics differ");
    let (_, out, _) = kiln_at(&store, &["runs", "show", &run_id, "--format", "json"]);
    let shown: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(shown["status"], "finished");
    assert!(!checkpoint.exists(), "the checkpoints go when the run finishes");
    // `kiln run` resumes only its own runs' kind: `kiln train --resume` of it is refused.
    let (code, _, err) = kiln_at(&store, &["-q", "train", &config, "--resume", &run_id]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_killed_training_run_resumes_to_the_same_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let (config, base) = synthetic_config(dir.path(), &store);
    let (expected, resumed) = (dir.path().join("expected.safetensors"), dir.path().join("resumed.safetensors"));

    // The uninterrupted reference run.
    let (code, _, err) = kiln_at(&store, &["-q", "train", &config, "--out", &expected.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(find_checkpoint(dir.path()).is_none(), "a finished run leaves no checkpoints");

    // The same run in a child process, killed as soon as the MLP's first checkpoint exists.
    let checkpoint =
        kill_at_first_checkpoint(dir.path(), &["-q", "train", &config, "--out", &resumed.display().to_string()]);
    let state = TrainState::read(&checkpoint).expect("the checkpoint survives the kill whole");
    assert!(state.epoch >= 1 && !state.finished, "killed in the middle of training (epoch {})", state.epoch);
    assert!(!resumed.exists(), "nothing was exported");

    let run_id = interrupted_run(&store);
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

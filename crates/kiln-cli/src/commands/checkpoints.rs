//! The per-run checkpoint folder of `kiln train` and the checks of `kiln train --resume`.
//!
//! `<store folder>/checkpoints/<run id>/` holds, per model, `<model>.ckpt` (the neural
//! trainer's state, see `kiln_train::nn::checkpoint`) and, once the model is trained,
//! `<model>.model.safetensors`: a finished-model file (`kiln_train::finished`), reloaded on
//! resume instead of training it again. The folder is removed when the run finishes.

use std::path::{Path, PathBuf};

use anyhow::Context;
use kiln_core::bundle::Manifest;
use kiln_track::{DataVersions, RunDetail};

/// The checkpoint folder of run `run_id`, beside the tracking store `store_path`.
pub(crate) fn run_dir(store_path: &Path, run_id: &str) -> PathBuf {
    let folder = store_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    folder.join("checkpoints").join(run_id)
}

/// A model name as a file name: characters other than letters, digits, `-`, `_` and `.`
/// become `_`.
pub(crate) fn file_stem(model: &str) -> String {
    model.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect()
}

/// Check that run `detail` can be continued by `kiln {command}` with the config text read from `config_path` and
/// data with the hashes `data`: a run of the same command, the same config byte for byte, the same data,
/// schema and split hashes. The error names what differs.
pub(crate) fn check_resumable(
    detail: &RunDetail,
    command: &str,
    config_path: &Path,
    config_text: &str,
    data: &DataVersions,
) -> anyhow::Result<()> {
    let id = &detail.id;
    anyhow::ensure!(
        detail.command == command,
        "run {id} was recorded by `kiln {}`, not `kiln {command}`\nhint: resume it with `kiln {} --resume {id}`",
        detail.command,
        detail.command
    );
    if detail.config != config_text {
        let (recorded, current): (Vec<&str>, Vec<&str>) =
            (detail.config.lines().collect(), config_text.lines().collect());
        let line = (0..recorded.len().max(current.len()))
            .find(|i| recorded.get(*i) != current.get(*i))
            .unwrap_or(recorded.len().min(current.len()));
        let show = |lines: &[&str]| lines.get(line).map_or("(end of file)".to_string(), |l| format!("`{l}`"));
        anyhow::bail!(
            "{} differs from the config run {id} was started with: line {} is {} in the file but was {} \
             (config hash {})\nhint: resume with the config the run started with (`kiln runs show {id}` prints it), \
             or start a new run",
            config_path.display(),
            line + 1,
            show(&current),
            show(&recorded),
            detail.config_hash
        );
    }
    let hashes = [
        ("data", &detail.data.data_hash, &data.data_hash),
        ("schema", &detail.data.schema_hash, &data.schema_hash),
        ("split", &detail.data.split_hash, &data.split_hash),
    ];
    for (what, recorded, current) in hashes {
        anyhow::ensure!(
            recorded == current,
            "the {what} hash of {} is {} but run {id} was started with {}\nhint: the data changed since the run \
             started: restore the files it read, or start a new run",
            config_path.display(),
            current.as_deref().unwrap_or("(none)"),
            recorded.as_deref().unwrap_or("(none)"),
        );
    }
    Ok(())
}

/// A trained model with its exact bundle parts and training time.
pub(crate) use kiln_train::finished::Finished;

/// Save a trained model at `path` (atomically) as a finished-model file with `manifest`
/// (`kiln_train::finished::save`).
pub(crate) fn save_finished(path: &Path, manifest: Manifest, finished: &Finished) -> anyhow::Result<()> {
    kiln_train::finished::save(path, manifest, finished)
        .with_context(|| format!("saving the trained model to {}", path.display()))
}

/// The model saved at `path` by [`save_finished`], or `None` when there is no such file.
pub(crate) fn load_finished(path: &Path) -> anyhow::Result<Option<Finished>> {
    kiln_train::finished::load(path)
        .with_context(|| format!("reading the model saved by the interrupted run, {}", path.display()))
}

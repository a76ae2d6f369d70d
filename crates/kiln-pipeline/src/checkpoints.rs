//! The per-run checkpoint folder of `kiln train` and `kiln run`, and the checks of `--resume`.
//!
//! `<store folder>/checkpoints/<run id>/` holds, per model, `<model>.ckpt` (the neural
//! trainer's state, see `kiln_train::nn::checkpoint`) and, once the model is trained,
//! `<model>.model.safetensors`: a finished-model file (`kiln_train::finished`), reloaded on
//! resume instead of training it again. The folder is removed when the run finishes.

use std::path::{Path, PathBuf};

use kiln_core::bundle::Manifest;
use kiln_track::{DataVersions, RunDetail};

use crate::error::{ConfigDifference, Error, Result};

/// The checkpoint folder of run `run_id`, beside the tracking store `store_path`.
pub fn run_dir(store_path: &Path, run_id: &str) -> PathBuf {
    let folder = store_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    folder.join("checkpoints").join(run_id)
}

/// A model name as a file name: characters other than letters, digits, `-`, `_` and `.`
/// become `_`.
pub fn file_stem(model: &str) -> String {
    model.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect()
}

/// Check that run `detail` can be continued by `kiln {command}` with the config text read from `config_path` and
/// data with the hashes `data`: a run of the same command, the same config byte for byte, the same data,
/// schema and split hashes. The error names what differs.
pub fn check_resumable(
    detail: &RunDetail,
    command: &str,
    config_path: &Path,
    config_text: &str,
    data: &DataVersions,
) -> Result<()> {
    let id = detail.id.to_string();
    if detail.command != command {
        return Err(Error::ResumeCommand { id, recorded: detail.command.clone(), command: command.to_string() });
    }
    if detail.config != config_text {
        let (recorded, current): (Vec<&str>, Vec<&str>) =
            (detail.config.lines().collect(), config_text.lines().collect());
        let line = (0..recorded.len().max(current.len()))
            .find(|i| recorded.get(*i) != current.get(*i))
            .unwrap_or(recorded.len().min(current.len()));
        let show = |lines: &[&str]| lines.get(line).map_or("(end of file)".to_string(), |l| format!("`{l}`"));
        return Err(Error::ResumeConfig {
            path: config_path.to_path_buf(),
            id,
            config_hash: detail.config_hash.clone(),
            difference: Box::new(ConfigDifference {
                line: line + 1,
                current: show(&current),
                recorded: show(&recorded),
            }),
        });
    }
    let hashes = [
        ("data", &detail.data.data_hash, &data.data_hash),
        ("schema", &detail.data.schema_hash, &data.schema_hash),
        ("split", &detail.data.split_hash, &data.split_hash),
    ];
    for (what, recorded, current) in hashes {
        if recorded != current {
            return Err(Error::ResumeData {
                what,
                path: config_path.to_path_buf(),
                id,
                current: current.clone().unwrap_or_else(|| "(none)".into()),
                recorded: recorded.clone().unwrap_or_else(|| "(none)".into()),
            });
        }
    }
    Ok(())
}

/// A trained model with its exact bundle parts and training time.
pub use kiln_train::finished::Finished;

/// Save a trained model at `path` (atomically) as a finished-model file with `manifest`
/// (`kiln_train::finished::save`).
pub fn save_finished(path: &Path, manifest: Manifest, finished: &Finished) -> Result<()> {
    kiln_train::finished::save(path, manifest, finished)
        .map_err(|source| Error::SaveFinished { path: path.to_path_buf(), source: Box::new(source) })
}

/// The model saved at `path` by [`save_finished`], or `None` when there is no such file
/// (`kiln_train::finished::load`).
pub fn load_finished(path: &Path) -> Result<Option<Finished>> {
    kiln_train::finished::load(path)
        .map_err(|source| Error::ReadFinished { path: path.to_path_buf(), source: Box::new(source) })
}

/// Remove a finished run's checkpoint folder (a warning if that fails).
pub fn remove_run_dir(dir: &Path) {
    if dir.exists()
        && let Err(error) = std::fs::remove_dir_all(dir)
    {
        tracing::warn!(path = %dir.display(), %error, "could not remove the finished run's checkpoints");
    }
}

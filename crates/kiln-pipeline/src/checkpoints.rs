//! The per-run checkpoint folder of `kiln train` and `kiln run`, and the checks of `--resume`.
//!
//! `<store folder>/checkpoints/<run id>/` holds, per model, `<model>.ckpt` (the neural
//! trainer's state, see `kiln_train::nn::checkpoint`) and, once the model is trained,
//! `<model>.model.safetensors`: a bundle of the fitted model, reloaded on resume instead of
//! training it again. The folder is removed when the run finishes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_core::bundle::{Architecture, Bundle, Manifest, TensorData};
use kiln_track::{DataVersions, RunDetail};
use kiln_train::trained::TrainedModel;

use crate::error::{ConfigDifference, Error, Result};

/// The manifest key that lists a saved model's own tensors (a bundle adds the preprocessor's).
const TENSORS_KEY: &str = "tensors";
/// The manifest metric that keeps a saved model's training time.
const SECONDS_KEY: &str = "train_seconds";

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
#[derive(Debug)]
pub struct Finished {
    pub model: TrainedModel,
    pub architecture: Architecture,
    pub tensors: BTreeMap<String, TensorData>,
    pub seconds: f64,
}

/// Save a trained model at `path` (atomically) as a bundle with `manifest`, whose
/// architecture, hyperparameters and metrics this sets.
pub fn save_finished(path: &Path, mut manifest: Manifest, finished: &Finished) -> Result<()> {
    manifest.architecture = finished.architecture.clone();
    manifest.hyperparameters = serde_json::json!({
        "model": manifest.hyperparameters,
        TENSORS_KEY: finished.tensors.keys().collect::<Vec<_>>(),
    });
    manifest.metrics = BTreeMap::from([(SECONDS_KEY.to_string(), finished.seconds)]);
    if let TrainedModel::Neural(neural) = &finished.model {
        manifest.preprocessor = neural.preprocessor.clone();
    }
    Bundle::new(manifest, finished.tensors.clone())
        .write(path)
        .map_err(|source| Error::SaveFinished { path: path.to_path_buf(), source: Box::new(source) })
}

/// The model saved at `path` by [`save_finished`], or `None` when there is no such file.
pub fn load_finished(path: &Path) -> Result<Option<Finished>> {
    if !path.exists() {
        return Ok(None);
    }
    read_finished(path).map(Some).map_err(|e| Error::ReadFinished { path: path.to_path_buf(), source: Box::new(e) })
}

fn read_finished(path: &Path) -> Result<Finished> {
    let bundle = Bundle::read(path)?;
    let model = TrainedModel::from_bundle(&bundle)?;
    let manifest = &bundle.manifest;
    let incomplete = |what: String| Error::FinishedIncomplete { path: path.to_path_buf(), what };
    let names: Vec<String> = manifest
        .hyperparameters
        .get(TENSORS_KEY)
        .and_then(|names| serde_json::from_value(names.clone()).ok())
        .ok_or_else(|| incomplete("the list of its model tensors".into()))?;
    let tensors = names
        .into_iter()
        .map(|name| {
            let tensor = bundle.tensor(&name).cloned().ok_or_else(|| incomplete(format!("tensor `{name}`")));
            tensor.map(|t| (name, t))
        })
        .collect::<Result<BTreeMap<_, _>>>()?;
    let seconds = manifest.metrics.get(SECONDS_KEY).copied().unwrap_or(f64::NAN);
    Ok(Finished { model, architecture: manifest.architecture.clone(), tensors, seconds })
}

/// Remove a finished run's checkpoint folder (a warning if that fails).
pub fn remove_run_dir(dir: &Path) {
    if dir.exists()
        && let Err(error) = std::fs::remove_dir_all(dir)
    {
        tracing::warn!(path = %dir.display(), %error, "could not remove the finished run's checkpoints");
    }
}

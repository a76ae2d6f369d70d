//! Finished-model files (`kiln.finished.v1`): a model that a run trained before it stopped,
//! saved so that the resumed run reloads it instead of training it again.
//!
//! The file is a `kiln_core::container` file. Its header holds the manifest of the bundle the
//! model would be exported in (architecture and preprocessor set to the model's), the names
//! of the model's own tensors and the training time; its tensors are that bundle's (the
//! model's and the preprocessor's). Reading checks the tensors as a bundle's are checked and
//! rebuilds the model with [`TrainedModel::from_bundle`], the path every bundle takes.

use std::path::{Path, PathBuf};

use kiln_core::bundle::{Architecture, Bundle, Manifest, TensorData};
use kiln_core::container::{self, Format, Tensors};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::trained::TrainedModel;

/// The format this build writes and reads.
pub const FINISHED_FORMAT: Format = container::FINISHED;

/// A trained model with its exact bundle parts and training time.
#[derive(Debug)]
pub struct Finished {
    pub model: TrainedModel,
    pub architecture: Architecture,
    /// The model's own tensors (without the preprocessor's).
    pub tensors: Tensors,
    /// Seconds its training took (NaN when unknown).
    pub seconds: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format_version: String,
    /// `None` for a NaN training time.
    train_seconds: Option<f64>,
    /// The names of the model's own tensors, in order.
    model_tensors: Vec<String>,
    manifest: Manifest,
}

impl container::Header for Header {
    const FORMAT: &'static Format = &FINISHED_FORMAT;

    fn format_version(&self) -> &str {
        &self.format_version
    }
}

/// Save `finished` at `path` (atomically) with `manifest`, the manifest the run would export
/// it with; its architecture (and a neural model's preprocessor) are set from the model.
pub fn save(path: &Path, mut manifest: Manifest, finished: &Finished) -> Result<()> {
    manifest.architecture = finished.architecture.clone();
    if let TrainedModel::Neural(neural) = &finished.model {
        manifest.preprocessor = neural.preprocessor.clone();
    }
    let bundle = Bundle::new(manifest, finished.tensors.clone());
    let bundle = Bundle::from_parts(bundle.manifest, bundle.tensors, path).map_err(Error::FinishedFile)?;
    let header = Header {
        format_version: FINISHED_FORMAT.name.to_string(),
        train_seconds: Some(finished.seconds).filter(|s| s.is_finite()),
        model_tensors: finished.tensors.keys().cloned().collect(),
        manifest: bundle.manifest,
    };
    container::write(path, &header, &bundle.tensors).map_err(Error::FinishedFile)
}

/// The model saved at `path` by [`save`], or `None` when there is no such file.
pub fn load(path: &Path) -> Result<Option<Finished>> {
    if !path.exists() {
        return Ok(None);
    }
    let (header, tensors) = container::read::<Header>(path).map_err(Error::FinishedFile)?;
    let bundle = Bundle::from_parts(header.manifest, tensors, path).map_err(Error::FinishedFile)?;
    let unusable = |source: Error| Error::FinishedModel { path: PathBuf::from(path), source: Box::new(source) };
    let model = TrainedModel::from_bundle(&bundle).map_err(unusable)?;
    let tensors = header
        .model_tensors
        .into_iter()
        .map(|name| match bundle.tensor(&name) {
            Some(tensor) => Ok((name, tensor.clone())),
            None => Err(unusable(Error::MissingTensor { name })),
        })
        .collect::<Result<std::collections::BTreeMap<String, TensorData>>>()?;
    let seconds = header.train_seconds.unwrap_or(f64::NAN);
    Ok(Some(Finished { model, architecture: bundle.manifest.architecture.clone(), tensors, seconds }))
}

//! The model bundle: one self-contained `.safetensors` file that holds a trained model's
//! tensors and, under the `kiln.manifest` metadata key, a JSON [`Manifest`] with everything
//! else needed to use and audit it (schema, preprocessor, architecture, hashes, metrics,
//! reference distributions).
//!
//! The file is a [`crate::container`] of format `kiln.bundle.v1` (the manifest is its header).
//! Loading a bundle needs kiln-core only, and the file opens in Python with the `safetensors`
//! package. Writing is atomic (a temporary file in the target folder, then a rename) and
//! deterministic: the same bundle always gives the same bytes. Reading checks that every
//! tensor the manifest requires is present with the right element type and shape.
//! This module owns the file format; it does not train, predict or read the clock.

mod manifest;
mod reference;
mod tensor;

use std::collections::BTreeMap;
use std::path::Path;

pub use manifest::{Architecture, DataHashes, Manifest, PREPROCESS_CENTER, PREPROCESS_FILL, PREPROCESS_SCALE};
pub use reference::{
    CalibrationBlock, CalibrationMap, FeatureReference, REFERENCE_BINS, REFERENCE_QUANTILES, ReferenceDistributions,
    ScoreReference, SegmentReference, SliceSpec, mean_std, quantiles,
};
pub use tensor::{TensorData, TensorDtype, TensorSpec};
pub(crate) use tensor::{show_shape, show_shape_spec};

use crate::container;
use crate::error::{Error, Result};
use crate::preprocess::Preprocessor;

/// The format version this kiln writes and reads ([`container::BUNDLE`]'s name).
pub const FORMAT_VERSION: &str = container::BUNDLE.name;
/// The safetensors metadata key that holds the manifest JSON ([`container::HEADER_KEY`]).
pub const MANIFEST_KEY: &str = container::HEADER_KEY;
/// The version of kiln-core, for [`Manifest::kiln_version`].
pub const KILN_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A model bundle in memory: the manifest and the tensors by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub manifest: Manifest,
    pub tensors: BTreeMap<String, TensorData>,
}

impl Bundle {
    /// A bundle of `manifest` and the model's `tensors`, with the preprocessor's numeric state
    /// added as the tensors [`PREPROCESS_CENTER`], [`PREPROCESS_SCALE`] and [`PREPROCESS_FILL`]
    /// (f32, one value per numeric feature, replacing any of those names in `tensors`).
    pub fn new(manifest: Manifest, mut tensors: BTreeMap<String, TensorData>) -> Self {
        tensors.extend(preprocess_tensors(&manifest.preprocessor));
        Self { manifest, tensors }
    }

    /// The tensor called `name`, if the bundle has it.
    pub fn tensor(&self, name: &str) -> Option<&TensorData> {
        self.tensors.get(name)
    }

    /// A bundle of `manifest` and all its tensors as read from a file (the preprocessor's
    /// state included), checked as [`Bundle::read`] checks a file; `path` names it in errors.
    pub fn from_parts(manifest: Manifest, tensors: BTreeMap<String, TensorData>, path: &Path) -> Result<Self> {
        let bundle = Self { manifest, tensors };
        bundle.check(path)?;
        Ok(bundle)
    }

    /// Write the bundle to `path` atomically (a [`crate::container`] file of format
    /// [`container::BUNDLE`]), creating missing parent folders. The file gets mode 0644 on
    /// unix. Fails, writing nothing, when the manifest's format version is not
    /// [`FORMAT_VERSION`] or a tensor does not match the manifest.
    pub fn write(&self, path: &Path) -> Result<()> {
        self.check(path)?;
        container::write(path, &self.manifest, &self.tensors)
    }

    /// Read and check the bundle at `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let (manifest, tensors) = container::read::<Manifest>(path)?;
        Self::from_parts(manifest, tensors, path)
    }

    /// The bundle's content hash: [`crate::hash::content_hash`] of the file's bytes as one
    /// part (BLAKE3 of the 8-byte little-endian length followed by the bytes).
    pub fn content_hash(path: &Path) -> Result<String> {
        let bytes = std::fs::read(path).map_err(|source| Error::ReadFile {
            path: path.to_path_buf(),
            format: &container::BUNDLE,
            source,
        })?;
        Ok(crate::hash::content_hash(&[&bytes]))
    }

    /// The file's bytes; `path` only names the bundle in errors.
    #[cfg(test)]
    fn to_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        self.check(path)?;
        container::to_bytes(path, &self.manifest, &self.tensors)
    }

    /// Parse and check a bundle from the bytes of the file at `path` (read once, so that a
    /// caller can verify the bytes' checksum and parse exactly what it verified).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let (manifest, tensors) = container::from_bytes::<Manifest>(bytes, path)?;
        Self::from_parts(manifest, tensors, path)
    }

    /// The manifest has this kiln's format version, every tensor's bytes fit its shape, and
    /// every tensor the manifest requires is present with the required element type and shape.
    fn check(&self, path: &Path) -> Result<()> {
        container::check_version(path, &self.manifest.format_version, &container::BUNDLE)?;
        container::check_sizes(path, &self.tensors)?;
        for spec in self.manifest.required_tensors() {
            let Some(tensor) = self.tensors.get(&spec.name) else {
                return Err(Error::MissingTensor { path: path.to_path_buf(), tensor: spec.name });
            };
            if tensor.dtype != spec.dtype {
                return Err(Error::TensorDtypeMismatch {
                    path: path.to_path_buf(),
                    tensor: spec.name,
                    expected: spec.dtype,
                    found: tensor.dtype,
                });
            }
            if !spec.matches_shape(&tensor.shape) {
                return Err(Error::ShapeMismatch {
                    path: path.to_path_buf(),
                    tensor: spec.name,
                    expected: spec.shape,
                    found: tensor.shape.clone(),
                });
            }
        }
        Ok(())
    }
}

/// The preprocessor's numeric state as f32 tensors, one value per numeric feature.
fn preprocess_tensors(preprocessor: &Preprocessor) -> [(String, TensorData); 3] {
    let column = |value: fn(&crate::preprocess::NumericState) -> f64| {
        let values: Vec<f32> = preprocessor.numeric.iter().map(|s| value(s) as f32).collect();
        TensorData::from_f32(vec![values.len()], &values)
    };
    [
        (PREPROCESS_CENTER.to_string(), column(|s| s.center)),
        (PREPROCESS_SCALE.to_string(), column(|s| s.scale)),
        (PREPROCESS_FILL.to_string(), column(|s| s.fill)),
    ]
}

impl container::Header for Manifest {
    const FORMAT: &'static container::Format = &container::BUNDLE;

    fn format_version(&self) -> &str {
        &self.format_version
    }
}

#[cfg(test)]
mod tests;

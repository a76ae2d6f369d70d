//! The model bundle: one self-contained `.safetensors` file that holds a trained model's
//! tensors and, under the `kiln.manifest` metadata key, a JSON [`Manifest`] with everything
//! else needed to use and audit it (schema, preprocessor, architecture, hashes, metrics,
//! reference distributions).
//!
//! Loading a bundle needs kiln-core only, and the file opens in Python with the `safetensors`
//! package. Writing is atomic (a temporary file in the target folder, then a rename) and
//! deterministic: the same bundle always gives the same bytes. Reading checks that every
//! tensor the manifest requires is present with the right element type and shape.
//! This module owns the file format; it does not train, predict or read the clock.

mod manifest;
mod reference;
mod tensor;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub use manifest::{Architecture, DataHashes, Manifest, PREPROCESS_CENTER, PREPROCESS_FILL, PREPROCESS_SCALE};
pub use reference::{FeatureReference, REFERENCE_BINS, ReferenceDistributions};
pub use tensor::{TensorData, TensorDtype, TensorSpec};
pub(crate) use tensor::{show_shape, show_shape_spec};

use crate::error::{Error, Result};
use crate::preprocess::Preprocessor;

/// The format version this kiln writes and reads.
pub const FORMAT_VERSION: &str = "kiln.bundle.v1";
/// The safetensors metadata key that holds the manifest JSON.
pub const MANIFEST_KEY: &str = "kiln.manifest";
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

    /// Write the bundle to `path` atomically, creating missing parent folders. The file gets
    /// mode 0644 on unix. Fails, writing nothing, when the manifest's format version is not
    /// [`FORMAT_VERSION`] or a tensor does not match the manifest.
    pub fn write(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes(path)?;
        write_atomic(path, &bytes)?;
        tracing::debug!(path = %path.display(), n_bytes = bytes.len(), n_tensors = self.tensors.len(), "wrote bundle");
        Ok(())
    }

    /// Read and check the bundle at `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::ReadBundle { path: path.to_path_buf(), source })?;
        Self::from_bytes(&bytes, path)
    }

    /// The bundle's content hash: [`crate::hash::content_hash`] of the file's bytes as one
    /// part (BLAKE3 of the 8-byte little-endian length followed by the bytes).
    pub fn content_hash(path: &Path) -> Result<String> {
        let bytes = std::fs::read(path).map_err(|source| Error::ReadBundle { path: path.to_path_buf(), source })?;
        Ok(crate::hash::content_hash(&[&bytes]))
    }

    /// The file's bytes; `path` only names the bundle in errors.
    fn to_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        self.check(path)?;
        let manifest =
            serde_json::to_string(&self.manifest).expect("a manifest always serializes to JSON (string keys only)");
        // One metadata entry only: the header's metadata is a hash map, and a single key keeps
        // its serialization (and so the file) deterministic. Tensors are ordered by safetensors.
        let metadata = HashMap::from([(MANIFEST_KEY.to_string(), manifest)]);
        safetensors::serialize(self.tensors.iter().map(|(name, t)| (name.as_str(), t)), Some(metadata))
            .map_err(|source| Error::EncodeBundle { path: path.to_path_buf(), source })
    }

    /// Parse and check a bundle from the bytes of the file at `path`.
    fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let parse_error = |source| Error::ParseBundle { path: path.to_path_buf(), source };
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(parse_error)?;
        let manifest_text = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(MANIFEST_KEY))
            .ok_or_else(|| Error::MissingManifest { path: path.to_path_buf() })?;
        let manifest = parse_manifest(manifest_text, path)?;

        let file = safetensors::SafeTensors::deserialize(bytes).map_err(parse_error)?;
        let mut tensors = BTreeMap::new();
        for (name, view) in file.iter() {
            let dtype = TensorDtype::from_safetensors(view.dtype()).ok_or_else(|| Error::UnsupportedTensorDtype {
                path: path.to_path_buf(),
                tensor: name.to_string(),
                dtype: view.dtype().to_string(),
            })?;
            let data = TensorData { dtype, shape: view.shape().to_vec(), bytes: view.data().to_vec() };
            tensors.insert(name.to_string(), data);
        }
        let bundle = Self { manifest, tensors };
        bundle.check(path)?;
        Ok(bundle)
    }

    /// The manifest has this kiln's format version, every tensor's bytes fit its shape, and
    /// every tensor the manifest requires is present with the required element type and shape.
    fn check(&self, path: &Path) -> Result<()> {
        if self.manifest.format_version != FORMAT_VERSION {
            return Err(Error::UnsupportedFormatVersion {
                path: path.to_path_buf(),
                found: self.manifest.format_version.clone(),
                supported: FORMAT_VERSION,
            });
        }
        for (name, tensor) in &self.tensors {
            if !tensor.is_consistent() {
                let expected = tensor.shape.iter().try_fold(tensor.dtype.size(), |acc, &d| acc.checked_mul(d));
                return Err(Error::TensorSize {
                    path: path.to_path_buf(),
                    tensor: name.clone(),
                    shape: tensor.shape.clone(),
                    dtype: tensor.dtype,
                    expected: expected.unwrap_or(usize::MAX),
                    found: tensor.bytes.len(),
                });
            }
        }
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

/// Check the format version before the full parse, so that a bundle from another format
/// version is reported as such rather than as a malformed manifest.
fn parse_manifest(text: &str, path: &Path) -> Result<Manifest> {
    let parse_error = |source| Error::ParseManifest { path: path.to_path_buf(), source };
    let value: serde_json::Value = serde_json::from_str(text).map_err(parse_error)?;
    if let Some(found) = value.get("format_version").and_then(serde_json::Value::as_str)
        && found != FORMAT_VERSION
    {
        return Err(Error::UnsupportedFormatVersion {
            path: path.to_path_buf(),
            found: found.to_string(),
            supported: FORMAT_VERSION,
        });
    }
    serde_json::from_value(value).map_err(parse_error)
}

/// Write `bytes` to a temporary file beside `path`, sync it, then rename it over `path`. On
/// any failure the temporary file is removed (it is deleted when dropped).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;

    let write_error = |source| Error::WriteBundle { path: path.to_path_buf(), source };
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(write_error)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".kiln-tmp-").suffix(".safetensors");
    let mut tmp = builder.tempfile_in(dir).map_err(write_error)?;
    // Temporary files are private (0600); the finished bundle is an ordinary file. Set after
    // creation so that the umask does not apply.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(write_error)?;
    }
    tmp.as_file_mut().write_all(bytes).map_err(write_error)?;
    tmp.as_file_mut().sync_all().map_err(write_error)?;
    tmp.persist(path).map_err(|e| write_error(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests;

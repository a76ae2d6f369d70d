//! kiln's one file container: every file kiln writes for a model (bundles, training
//! checkpoints, finished-model files) is a safetensors file whose tensors hold the numbers and
//! whose metadata holds one entry, [`HEADER_KEY`], with a typed JSON header. The header's
//! `format_version` names the kind of file and its version (`kiln.bundle.v1`,
//! `kiln.checkpoint.v1`, `kiln.finished.v1`; see [`Format`]), so a reader refuses a file of
//! another kind, or of a version it does not know, with an error that names both.
//!
//! This module reads and writes containers; what the header and tensors mean belongs to the
//! format's owner (`crate::bundle`, kiln-train's checkpoints and finished models). Writing is
//! atomic through [`crate::atomic`] and deterministic: one metadata entry (safetensors keeps
//! the metadata in a hash map, and a single key serializes the same way every time) and
//! tensors ordered by safetensors.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bundle::{TensorData, TensorDtype};
use crate::error::{Error, Result};

/// The safetensors metadata key that holds the header JSON (the bundle manifest's historical
/// key, kept so that every bundle written before the other formats existed still reads).
pub const HEADER_KEY: &str = "kiln.manifest";

/// A kind of container file and the version of it this kiln reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    /// `kiln.<kind>.v<N>`, the header's `format_version`.
    pub name: &'static str,
    /// What the file is, in messages (`bundle`, `training checkpoint`).
    pub noun: &'static str,
    /// What a user does about an unreadable file of this kind (the end of a hint).
    pub remedy: &'static str,
}

/// Model bundles (`crate::bundle`): a trained model, its manifest and preprocessor.
pub const BUNDLE: Format = Format { name: "kiln.bundle.v1", noun: "bundle", remedy: "export the model again" };
/// Training checkpoints (kiln-train's `nn::checkpoint`): the whole state of a neural fit.
pub const CHECKPOINT: Format = Format {
    name: "kiln.checkpoint.v1",
    noun: "training checkpoint",
    remedy: "delete the file to train this model again from its first epoch",
};
/// Finished-model files (kiln-train's `finished`): a model a stopped run already trained.
pub const FINISHED: Format = Format {
    name: "kiln.finished.v1",
    noun: "finished-model file",
    remedy: "delete the file to train this model again",
};
/// Every container format, for naming the kind of a file found where another was expected.
pub const FORMATS: [Format; 3] = [BUNDLE, CHECKPOINT, FINISHED];

impl Format {
    /// The kind part of the name: `kiln.bundle` of `kiln.bundle.v1`.
    pub fn kind(&self) -> &'static str {
        split_name(self.name).map_or(self.name, |(kind, _)| kind)
    }

    /// The version number: 1 of `kiln.bundle.v1`.
    pub fn version(&self) -> u32 {
        split_name(self.name).map_or(0, |(_, version)| version)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// `kiln.bundle.v1` as (`kiln.bundle`, 1); `None` for a name without a `.vN` suffix.
pub fn split_name(name: &str) -> Option<(&str, u32)> {
    let (kind, version) = name.rsplit_once(".v")?;
    Some((kind, version.parse().ok()?))
}

/// The noun of the format of kind `kind`, or `file` for a kind this kiln does not know.
pub(crate) fn noun_of(name: &str) -> &'static str {
    let kind = split_name(name).map_or(name, |(kind, _)| kind);
    FORMATS.iter().find(|f| f.kind() == kind).map_or("file", |f| f.noun)
}

/// The header of one container format: its JSON form, and the `format_version` it holds.
pub trait Header: Serialize + DeserializeOwned {
    /// The format of files with this header.
    const FORMAT: &'static Format;
    /// The `format_version` this header holds (must be [`Self::FORMAT`]'s name to be written).
    fn format_version(&self) -> &str;
}

/// The tensors of a container, by name.
pub type Tensors = BTreeMap<String, TensorData>;

/// Write `header` and `tensors` to `path` atomically, creating missing parent folders (mode
/// 0644 on unix). Fails, writing nothing, when the header's version is not its format's or a
/// tensor's bytes do not fit its shape.
pub fn write<H: Header>(path: &Path, header: &H, tensors: &Tensors) -> Result<()> {
    let bytes = to_bytes(path, header, tensors)?;
    crate::atomic::write_bytes(path, &bytes).map_err(|source| Error::WriteFile {
        path: path.to_path_buf(),
        format: H::FORMAT,
        source,
    })?;
    tracing::debug!(path = %path.display(), format = H::FORMAT.name, n_bytes = bytes.len(), n_tensors = tensors.len(), "wrote container");
    Ok(())
}

/// Read the container at `path` as format `H`.
pub fn read<H: Header>(path: &Path) -> Result<(H, Tensors)> {
    let bytes = std::fs::read(path).map_err(|source| Error::ReadFile {
        path: path.to_path_buf(),
        format: H::FORMAT,
        source,
    })?;
    from_bytes(&bytes, path)
}

/// The file's bytes; `path` only names the file in errors.
pub fn to_bytes<H: Header>(path: &Path, header: &H, tensors: &Tensors) -> Result<Vec<u8>> {
    check_version(path, header.format_version(), H::FORMAT)?;
    check_sizes(path, tensors)?;
    let json = serde_json::to_string(header).expect("a container header always serializes to JSON (string keys only)");
    let metadata = HashMap::from([(HEADER_KEY.to_string(), json)]);
    safetensors::serialize(tensors.iter().map(|(name, t)| (name.as_str(), t)), Some(metadata))
        .map_err(|source| Error::EncodeFile { path: path.to_path_buf(), format: H::FORMAT, source })
}

/// Parse a container of format `H` from the bytes of the file at `path`: the header's kind
/// and version are checked before the header is decoded, so that a file of another kind or
/// version is reported as such rather than as a malformed header.
pub fn from_bytes<H: Header>(bytes: &[u8], path: &Path) -> Result<(H, Tensors)> {
    let format = H::FORMAT;
    let parse_error = |source| Error::ParseFile { path: path.to_path_buf(), format, source };
    let (_, metadata) = safetensors::SafeTensors::read_metadata(bytes).map_err(parse_error)?;
    let text = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get(HEADER_KEY))
        .ok_or_else(|| Error::MissingHeader { path: path.to_path_buf(), format })?;
    let header_error = |source| Error::ParseHeader { path: path.to_path_buf(), format, source };
    let value: serde_json::Value = serde_json::from_str(text).map_err(header_error)?;
    if let Some(found) = value.get("format_version").and_then(serde_json::Value::as_str) {
        check_version(path, found, format)?;
    }
    let header: H = serde_json::from_value(value).map_err(header_error)?;

    let file = safetensors::SafeTensors::deserialize(bytes).map_err(parse_error)?;
    let mut tensors = BTreeMap::new();
    for (name, view) in file.iter() {
        let dtype = TensorDtype::from_safetensors(view.dtype()).ok_or_else(|| Error::UnsupportedTensorDtype {
            path: path.to_path_buf(),
            tensor: name.to_string(),
            dtype: view.dtype().to_string(),
        })?;
        tensors
            .insert(name.to_string(), TensorData { dtype, shape: view.shape().to_vec(), bytes: view.data().to_vec() });
    }
    Ok((header, tensors))
}

/// Every tensor's bytes fit its shape and element type.
pub(crate) fn check_sizes(path: &Path, tensors: &Tensors) -> Result<()> {
    for (name, tensor) in tensors {
        if !tensor.is_consistent() {
            return Err(Error::TensorSize {
                path: path.to_path_buf(),
                tensor: name.clone(),
                shape: tensor.shape.clone(),
                dtype: tensor.dtype,
                expected: tensor.expected_len().unwrap_or(usize::MAX),
                found: tensor.bytes.len(),
            });
        }
    }
    Ok(())
}

/// `found` is `expected`'s name; else the error says whether the file is another kind of
/// container or another version of this one.
pub(crate) fn check_version(path: &Path, found: &str, expected: &'static Format) -> Result<()> {
    if found == expected.name {
        return Ok(());
    }
    match split_name(found) {
        Some((kind, version)) if kind == expected.kind() => Err(Error::UnsupportedFormatVersion {
            path: path.to_path_buf(),
            found: found.to_string(),
            format: expected,
            newer: version > expected.version(),
        }),
        _ => Err(Error::WrongFormat { path: path.to_path_buf(), found: found.to_string(), expected }),
    }
}

#[cfg(test)]
mod tests;

//! kiln-core's error type: one enum for the schema, preprocessor, bundle and device code.

use std::path::PathBuf;

use crate::bundle::{TensorDtype, show_shape, show_shape_spec};
use crate::container::{Format, noun_of};
use crate::rows::RowReport;
use crate::schema::Task;

/// Errors from kiln-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("column `{column}` is missing from the input")]
    MissingColumn { column: String },
    #[error("column `{column}` must be {expected}")]
    ColumnKind { column: String, expected: &'static str },
    #[error("column `{column}` has {found} rows, expected {expected}")]
    LengthMismatch { column: String, expected: usize, found: usize },
    #[error("cannot read the {what} JSON")]
    Deserialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    /// A container file (bundle, checkpoint, finished model) could not be read from disk.
    #[error("could not read {} {path}", .format.noun)]
    ReadFile {
        path: PathBuf,
        format: &'static Format,
        #[source]
        source: std::io::Error,
    },
    /// A container file (or its temporary sibling) could not be written, synced or renamed.
    #[error("could not write {} {path}", .format.noun)]
    WriteFile {
        path: PathBuf,
        format: &'static Format,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a readable safetensors file: corrupt, truncated or something else.
    #[error(
        "{} {path} is not a valid safetensors file\nhint: the file may be truncated or corrupt; {}",
        .format.noun,
        .format.remedy
    )]
    ParseFile {
        path: PathBuf,
        format: &'static Format,
        #[source]
        source: safetensors::SafeTensorError,
    },
    /// The safetensors encoder refused the file's tensors.
    #[error("could not encode {} {path} as safetensors", .format.noun)]
    EncodeFile {
        path: PathBuf,
        format: &'static Format,
        #[source]
        source: safetensors::SafeTensorError,
    },
    /// A safetensors file without the `kiln.manifest` metadata key: not a file kiln wrote.
    #[error(
        "{path} is a safetensors file without a `kiln.manifest` metadata entry, so it is not a kiln {}\nhint: pass a {} written by kiln (format `{}`)",
        .format.noun,
        .format.noun,
        .format.name
    )]
    MissingHeader { path: PathBuf, format: &'static Format },
    /// The `kiln.manifest` metadata is not the JSON header the format expects.
    #[error("the `kiln.manifest` metadata of {} {path} is not a valid `{}` header", .format.noun, .format.name)]
    ParseHeader {
        path: PathBuf,
        format: &'static Format,
        #[source]
        source: serde_json::Error,
    },
    /// The file is a kiln container of another kind (a checkpoint where a bundle was expected).
    #[error(
        "{path} is a {} (format `{found}`), not a {} (format `{}`)\nhint: pass a {} in its place, or {}",
        noun_of(found),
        .expected.noun,
        .expected.name,
        .expected.noun,
        .expected.remedy
    )]
    WrongFormat { path: PathBuf, found: String, expected: &'static Format },
    /// The file is of the right kind but a version this kiln cannot read.
    #[error(
        "{} {path} has format version `{found}`, but this kiln reads only `{}`\nhint: {}",
        .format.noun,
        .format.name,
        version_hint(*.newer, .format)
    )]
    UnsupportedFormatVersion { path: PathBuf, found: String, format: &'static Format, newer: bool },
    /// A tensor that the manifest's architecture or preprocessor requires is absent.
    #[error("bundle {path} has no tensor `{tensor}`, which its manifest requires")]
    MissingTensor { path: PathBuf, tensor: String },
    /// A tensor's shape disagrees with the manifest (`None` in `expected` is any size).
    #[error(
        "tensor `{tensor}` of bundle {path} has shape {}, but its manifest requires {}",
        show_shape(.found),
        show_shape_spec(.expected)
    )]
    ShapeMismatch { path: PathBuf, tensor: String, expected: Vec<Option<usize>>, found: Vec<usize> },
    /// A tensor's element type disagrees with the manifest.
    #[error("tensor `{tensor}` of bundle {path} holds {found} values, but its manifest requires {expected}")]
    TensorDtypeMismatch { path: PathBuf, tensor: String, expected: TensorDtype, found: TensorDtype },
    /// The file holds a tensor of an element type kiln bundles never use.
    #[error("tensor `{tensor}` of {path} has dtype {dtype}\nhint: kiln files hold only F32, F64, U8 and I64 tensors")]
    UnsupportedTensorDtype { path: PathBuf, tensor: String, dtype: String },
    /// A tensor's byte buffer does not match its shape and element type.
    #[error(
        "tensor `{tensor}` for {path} has {found} bytes, but shape {} of {dtype} needs {expected}",
        show_shape(.shape)
    )]
    TensorSize { path: PathBuf, tensor: String, shape: Vec<usize>, dtype: TensorDtype, expected: usize, found: usize },
    /// A tensor could not be read as the requested element type.
    #[error("cannot read a {dtype} tensor of shape {} ({n_bytes} bytes) as {wanted}", show_shape(.shape))]
    TensorConversion { wanted: TensorDtype, dtype: TensorDtype, shape: Vec<usize>, n_bytes: usize },

    /// A model tensor is absent, of the wrong element type or shape, or truncated.
    #[error(
        "model tensor `{tensor}` {problem}\nhint: the bundle may be corrupt or hand-edited; export the model again"
    )]
    ModelTensor { tensor: String, problem: String },
    /// The bundle's model cannot be rebuilt: an inconsistent architecture or an unknown setting.
    #[error("the bundle's {architecture} model {problem}")]
    InvalidModel { architecture: &'static str, problem: String },
    /// Input rows that the model cannot read (the wrong width or codes outside a vocabulary).
    #[error(
        "the model cannot read its input: {problem}\nhint: encode with the preprocessor the model was trained with"
    )]
    ModelInput { problem: String },

    /// The model's outputs per row do not fit the schema's task and classes.
    #[error(
        "the bundle's {architecture} model gives {n_outputs} output(s) per row, but its schema is a {} task with {n_classes} class(es)\nhint: the bundle is inconsistent (hand-edited or badly exported); export the model again",
        .task.as_str()
    )]
    OutputsMismatch { architecture: &'static str, task: Task, n_outputs: usize, n_classes: usize },
    /// A binary bundle that records no decision threshold.
    #[error(
        "the bundle records no decision threshold for its binary model (it was exported before kiln stored `[evaluation] threshold` in bundles), so its predicted labels are unknown\nhint: export the model again with this kiln"
    )]
    NoDecisionThreshold,
    /// A recorded decision threshold outside (0, 1).
    #[error(
        "the bundle's decision threshold is {value}, which is not strictly between 0 and 1\nhint: the bundle is inconsistent; set [evaluation] threshold in the config and export the model again"
    )]
    InvalidDecisionThreshold { value: f64 },
    /// Input rows that do not fit the model's schema: every problem, with column and rows.
    #[error(
        "{0}\nhint: send every feature column of the model's schema, one value per row, of its declared type; missing values are allowed, NaN and infinity are not"
    )]
    InvalidRows(Box<RowReport>),

    /// A device name that is not one of the accepted forms.
    #[error("unknown device `{text}`\nhint: use one of auto, cpu, cuda, cuda:N (N is a GPU index, e.g. cuda:1)")]
    ParseDevice { text: String },
    /// A CUDA device was asked for, but this build has no CUDA support.
    #[error(
        "device `{device}` needs CUDA, but this kiln was built without it\nhint: rebuild with `cargo build --release --features cuda`, or choose the cpu device"
    )]
    CudaNotCompiled { device: String },
}

/// The hint of [`Error::UnsupportedFormatVersion`].
fn version_hint(newer: bool, format: &Format) -> String {
    if newer {
        format!("the file was written by a newer kiln: read it with that version, or {}", format.remedy)
    } else {
        format!("the file was written by an older kiln: {}", format.remedy)
    }
}

/// kiln-core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! kiln-core's error type: one enum for the schema, preprocessor, bundle and device code.

use std::path::PathBuf;

use crate::bundle::{TensorDtype, show_shape, show_shape_spec};
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

    /// The bundle file could not be read from disk.
    #[error("could not read bundle {path}")]
    ReadBundle {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bundle file (or its temporary sibling) could not be written, synced or renamed.
    #[error("could not write bundle {path}")]
    WriteBundle {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a readable safetensors file: corrupt, truncated or something else.
    #[error(
        "bundle {path} is not a valid safetensors file\nhint: the file may be truncated or corrupt; export the model again"
    )]
    ParseBundle {
        path: PathBuf,
        #[source]
        source: safetensors::SafeTensorError,
    },
    /// The safetensors encoder refused the bundle's tensors.
    #[error("could not encode bundle {path} as safetensors")]
    EncodeBundle {
        path: PathBuf,
        #[source]
        source: safetensors::SafeTensorError,
    },
    /// A safetensors file without the `kiln.manifest` metadata key.
    #[error(
        "{path} is a safetensors file without a `kiln.manifest` metadata entry, so it is not a kiln bundle\nhint: pass a bundle exported by kiln"
    )]
    MissingManifest { path: PathBuf },
    /// The `kiln.manifest` metadata is not the JSON manifest kiln expects.
    #[error("the `kiln.manifest` metadata of bundle {path} is not a valid manifest")]
    ParseManifest {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The manifest names a bundle format this version of kiln cannot read.
    #[error(
        "bundle {path} has format version `{found}`, but this kiln reads only `{supported}`\nhint: use the kiln version that wrote the bundle, or export the model again"
    )]
    UnsupportedFormatVersion { path: PathBuf, found: String, supported: &'static str },
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
    #[error(
        "tensor `{tensor}` of bundle {path} has dtype {dtype}\nhint: kiln bundles hold only F32, U8 and I64 tensors"
    )]
    UnsupportedTensorDtype { path: PathBuf, tensor: String, dtype: String },
    /// A tensor's byte buffer does not match its shape and element type.
    #[error(
        "tensor `{tensor}` for bundle {path} has {found} bytes, but shape {} of {dtype} needs {expected}",
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

/// kiln-core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! kiln-train's error type. Every variant names the model, key path or column at fault; hints
//! go on their own line.

use std::path::PathBuf;

/// Errors from kiln-train.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid [[models]] table in {path}")]
    ConfigParse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("`{key}` {problem}\nhint: {hint}")]
    InvalidValue { key: String, problem: String, hint: String },
    #[error("`{key}` names column `{column}`, which is not a feature column\nhint: the feature columns are: {known}")]
    UnknownColumn { key: String, column: String, known: String },
    #[error(
        "`{key}` repeats the model name `{name}` (first used by `{first}`)\nhint: give each [[models]] table its own `name`"
    )]
    DuplicateName { key: String, name: String, first: String },

    #[error("the training rows are empty\nhint: check the split: the training part must hold rows")]
    NoTrainingRows,
    #[error(
        "target `{column}` is missing at row {row}\nhint: drop rows without a label before training, or check data.missing"
    )]
    MissingTarget { column: String, row: usize },
    #[error(
        "target `{column}` has the value `{value}` at row {row}, which is not one of the classes {classes}\nhint: add it to columns.classes, or map it with [data.map.{column}]"
    )]
    UnknownClass { column: String, value: String, row: usize, classes: String },
    #[error(
        "target `{column}` is not a finite number at row {row}\nhint: a regression target must be a finite number in every training row"
    )]
    NonFiniteTarget { column: String, row: usize },
    #[error("the data has no column `{column}`, needed as {what}\nhint: use a table loaded with the model's config")]
    MissingColumn { column: String, what: &'static str },
    #[error("data operation failed while {doing}")]
    Polars {
        doing: &'static str,
        #[source]
        source: polars::error::PolarsError,
    },
    #[error("cannot encode the features")]
    Encode(#[source] kiln_data::Error),
    #[error("gradient boosting failed while {doing}: {message}")]
    Gbdt { doing: &'static str, message: String },
    #[error("cannot write the {what} as JSON")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "cannot read the {what}: not a saved kiln {what}\nhint: load bytes written by the same model kind's `to_bytes`"
    )]
    Deserialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "cannot read the {what}: format `{found}`, expected `{expected}`\nhint: save the model again with this version of kiln"
    )]
    Format { what: &'static str, found: String, expected: &'static str },
    #[error("cannot score the rows")]
    Score(#[source] kiln_core::Error),
    #[error("the bundle does not hold a model kiln can load")]
    Bundle(#[source] kiln_core::Error),
    #[error(
        "the bundle's {architecture} architecture has no trainer or predictor yet\nhint: train it with a kiln version that supports it"
    )]
    UnsupportedArchitecture { architecture: &'static str },
    #[error(
        "training `{kind}` models (`{name}`) is not available yet\nhint: remove the model from [[models]] or use prior, rules, linear, gbdt, mlp or resnet"
    )]
    NotTrainable { name: String, kind: &'static str },
    #[error(
        "the validation rows are empty\nhint: the neural models early-stop on the validation part: give the split a validation_fraction"
    )]
    NoValidationRows,
    #[error("the target has {found} rows but the features have {expected}\nhint: pass the target of the same rows")]
    TargetLength { expected: usize, found: usize },
    #[error("the target does not fit a {task} task\nhint: read it with `target::read_target` and the model's schema")]
    TargetKind { task: &'static str },
    #[error(
        "the features have {found} dense columns but the model takes {expected}\nhint: encode with the preprocessor the model was trained with, in the network's encoding (`NeuralArch::encoding`)"
    )]
    InputWidth { expected: usize, found: usize },
    #[error(
        "the features have {found} categorical code columns but the model embeds {expected}\nhint: encode with the preprocessor the model was trained with (index encoding for embeddings, one-hot otherwise)"
    )]
    InputCodes { expected: usize, found: usize },
    #[error(
        "categorical column {feature} has code {code}, outside the model's vocabulary of {cardinality}\nhint: encode with the preprocessor the model was trained with"
    )]
    CodeOutOfRange { feature: usize, code: u32, cardinality: usize },
    #[error("neural training parameter `{key}` {problem}")]
    InvalidTrainParam { key: &'static str, problem: &'static str },
    #[error("kiln's neural trainer does not support {what}")]
    UnsupportedNeural { what: &'static str },
    #[error(
        "the training loss became infinite or NaN at epoch {epoch}, step {step}\nhint: lower the learning rate or enable gradient clipping"
    )]
    NonFiniteLoss { epoch: usize, step: usize },
    #[error("the model tensors lack `{name}`")]
    MissingTensor { name: String },
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    TensorShape { name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("cannot read tensor `{name}`")]
    TensorRead {
        name: String,
        #[source]
        source: Box<kiln_core::Error>,
    },
    /// The checkpoint file could not be written or read as a `kiln.checkpoint.v1` container
    /// (the error names the file and says what to do).
    #[error(transparent)]
    CheckpointFile(kiln_core::Error),
    /// A finished-model file could not be written or read as a `kiln.finished.v1` container,
    /// or its tensors do not fit its manifest.
    #[error(transparent)]
    FinishedFile(kiln_core::Error),
    /// A finished-model file holds a model that cannot be rebuilt.
    #[error("the model saved in {path} cannot be loaded\nhint: delete the file to train this model again")]
    FinishedModel {
        path: PathBuf,
        #[source]
        source: Box<Error>,
    },
    #[error(
        "the training checkpoint {path} is unusable: {problem}\nhint: delete the file to train this model again from its first epoch"
    )]
    CheckpointCorrupt { path: PathBuf, problem: String },
    #[error(
        "the training checkpoint {path} belongs to another fit: {what} differs\nhint: resume with the config and data the run started with, or delete the file to train this model again from its first epoch"
    )]
    CheckpointMismatch { path: PathBuf, what: &'static str },
    #[error("training was stopped after epoch {epoch}\nhint: its checkpoint (when enabled) continues it")]
    Interrupted { epoch: usize },
    #[error(transparent)]
    Device(kiln_core::Error),
    #[error(
        "cannot open CUDA device {device}\nhint: check that `nvidia-smi` lists it and that the driver's libcuda.so.1 is on LD_LIBRARY_PATH (scripts/device-env.sh), or choose another device (--device cuda:N or cpu)"
    )]
    CudaOpen {
        device: String,
        #[source]
        source: Box<candle_core::Error>,
    },
    #[error(
        "bf16 precision needs the candle backend, and device `{device}` trains with kiln's native CPU trainer (f32 only)\nhint: train on a GPU with --device cuda (a build with --features cuda), pass --device cpu-candle to use candle on the CPU, or use --precision f32"
    )]
    Bf16NeedsCandle { device: String },
    #[error("the candle backend failed while {doing}")]
    Candle {
        doing: &'static str,
        #[source]
        source: Box<candle_core::Error>,
    },
}

/// kiln-train's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

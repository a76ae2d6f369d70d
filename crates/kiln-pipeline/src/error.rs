//! The errors of the pipeline: what failed, naming the file, key, column or model, wrapping
//! the typed errors of the crates it drives.

use std::path::PathBuf;

/// An error of a pipeline stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading, checking or writing data, configs or tables (kiln-data's message names the
    /// file, line, column or key).
    #[error(transparent)]
    Data(#[from] kiln_data::Error),
    #[error(transparent)]
    Train(#[from] kiln_train::Error),
    #[error(transparent)]
    Core(#[from] kiln_core::Error),
    #[error(transparent)]
    Eval(#[from] kiln_eval::Error),
    #[error(transparent)]
    Track(#[from] kiln_track::Error),
    #[error("opening the tracking store {}", path.display())]
    OpenStore {
        path: PathBuf,
        #[source]
        source: kiln_track::Error,
    },
    #[error("checking [[models]] in {}", path.display())]
    Models {
        path: PathBuf,
        #[source]
        source: kiln_train::Error,
    },
    #[error("{} declares no [[models]]", path.display())]
    NoModels { path: PathBuf },
    #[error("training model `{model}`")]
    Training {
        model: String,
        #[source]
        source: kiln_train::Error,
    },
    #[error("scoring model `{model}`")]
    Scoring {
        model: String,
        #[source]
        source: kiln_core::Error,
    },
    #[error("model `{model}` gave {found} scores for {rows} rows of {outputs} output(s)")]
    ScoreCount { model: String, rows: usize, outputs: usize, found: usize },
    #[error("writing the bundle {}", path.display())]
    WriteBundle {
        path: PathBuf,
        #[source]
        source: kiln_core::Error,
    },
    #[error("loading the model in {}", path.display())]
    LoadModel {
        path: PathBuf,
        #[source]
        source: kiln_core::Error,
    },
    #[error("resuming run {id}")]
    Resume {
        id: String,
        #[source]
        source: kiln_track::Error,
    },
    #[error(
        "run {id} was recorded by `kiln {recorded}`, not `kiln {command}`\nhint: resume it with `kiln {recorded} --resume {id}`"
    )]
    ResumeCommand { id: String, recorded: String, command: String },
    #[error(
        "{} differs from the config run {id} was started with: line {line} is {current} in the file but was \
         {recorded} (config hash {config_hash})\nhint: resume with the config the run started with \
         (`kiln runs show {id}` prints it), or start a new run",
        path.display()
    )]
    ResumeConfig { path: PathBuf, id: String, line: usize, current: String, recorded: String, config_hash: String },
    #[error(
        "the {what} hash of {} is {current} but run {id} was started with {recorded}\nhint: the data changed \
         since the run started: restore the files it read, or start a new run",
        path.display()
    )]
    ResumeData { what: &'static str, path: PathBuf, id: String, current: String, recorded: String },
    #[error("saving the trained model to {}", path.display())]
    SaveFinished {
        path: PathBuf,
        #[source]
        source: kiln_core::Error,
    },
    #[error(
        "reading the model saved by the interrupted run, {}\nhint: delete the file to train this model again",
        path.display()
    )]
    ReadFinished {
        path: PathBuf,
        #[source]
        source: Box<Error>,
    },
    #[error("{} lacks {what}", path.display())]
    FinishedIncomplete { path: PathBuf, what: String },
    #[error("reading the labels of the evaluated rows")]
    Labels {
        #[source]
        source: kiln_train::Error,
    },
    #[error("a {task} task with class labels")]
    LabelsForTask { task: &'static str },
    #[error("slice column `{column}` is not in the schema")]
    SliceColumn { column: String },
    #[error("reading the labelled rows of {}", path.display())]
    EvalRows {
        path: PathBuf,
        #[source]
        source: Box<Error>,
    },
    #[error("{} has {count} bad cell(s); first: {first}", path.display())]
    BadCells { path: PathBuf, count: u64, first: String },
    #[error("creating the report folder {}", path.display())]
    ReportFolder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {what} as JSON")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("the chosen model `{model}` is not among the trained models")]
    ChosenMissing { model: String },
    #[error("no model was trained")]
    NothingTrained,
    #[error("the run has already ended")]
    RunEnded,
}

/// The pipeline's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

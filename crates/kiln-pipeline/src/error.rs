//! The errors of the pipeline: what failed, naming the file, key, column or model, wrapping
//! the typed errors of the crates it drives.

use std::path::PathBuf;

/// An error of a pipeline stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading, checking or writing data, configs or tables (kiln-data's message names the
    /// file, line, column or key).
    #[error(transparent)]
    Data(Box<kiln_data::Error>),
    #[error(transparent)]
    Train(Box<kiln_train::Error>),
    #[error(transparent)]
    Core(Box<kiln_core::Error>),
    #[error(transparent)]
    Eval(Box<kiln_eval::Error>),
    /// A drift check that could not run (the message names the column or key).
    #[error(transparent)]
    Monitor(Box<kiln_monitor::Error>),
    /// A bundle written before bundles held monitoring references.
    #[error("{}: this bundle holds no monitoring references (it was written by an older kiln)\nhint: export the model again with `kiln run`, or monitor against the training data with `kiln monitor --config CONFIG --data FILE`", path.display())]
    NoSketches { path: PathBuf },
    /// Windows by time without times.
    #[error(
        "[monitoring] window: windows by time need each row's time\nhint: set `time_column` to a column of milliseconds since the epoch, or monitor the prediction log (`--log`), whose rows carry their time"
    )]
    NoTimes,
    /// A time column that cannot give times.
    #[error("[monitoring] window: time column `{column}`: {problem}")]
    TimeColumn { column: String, problem: String },
    /// Recording into the tracking store (boxed: the store's errors are large).
    #[error(transparent)]
    Track(Box<kiln_track::Error>),
    #[error("opening the tracking store {}", path.display())]
    OpenStore {
        path: PathBuf,
        #[source]
        source: Box<kiln_track::Error>,
    },
    /// `[evaluation]` or `[acceptance]` does not fit the task or the columns (the source
    /// names the key).
    #[error("{}", path.display())]
    EvaluationConfig {
        path: PathBuf,
        #[source]
        source: Box<kiln_eval::Error>,
    },
    /// Another retraining of the model holds its lock.
    #[error(
        "a retraining of {model} is already running ({holder})\nhint: wait for it to end, or pass --wait to start when it does"
    )]
    RetrainBusy { model: String, holder: String },
    #[error("--model {model}: give the served model as NAME@ALIAS or NAME@vN (for example adult@champion)")]
    ModelTarget { model: String },
    #[error(
        "--model {model} is not a model of this config, whose project is `{project}`\nhint: retrain {project}@champion, or use the config of that model"
    )]
    ModelProject { model: String, project: String },
    #[error(
        "retraining run {run} exported no challenger\nhint: the config must train at least one model that is not a baseline"
    )]
    NoChallenger { run: String },
    #[error("writing the retraining's config")]
    ConfigText {
        #[source]
        source: toml::ser::Error,
    },
    /// A `[retrain]` key that does not hold.
    #[error("{}: [retrain] {key}: {problem}", path.display())]
    RetrainConfig { path: PathBuf, key: &'static str, problem: String },
    #[error("checking [[models]] in {}", path.display())]
    Models {
        path: PathBuf,
        #[source]
        source: Box<kiln_train::Error>,
    },
    #[error("{} declares no [[models]]", path.display())]
    NoModels { path: PathBuf },
    #[error("training model `{model}`")]
    Training {
        model: String,
        #[source]
        source: Box<kiln_train::Error>,
    },
    #[error("scoring model `{model}`")]
    Scoring {
        model: String,
        #[source]
        source: Box<kiln_core::Error>,
    },
    #[error("model `{model}` gave {found} scores for {rows} rows of {outputs} output(s)")]
    ScoreCount { model: String, rows: usize, outputs: usize, found: usize },
    #[error("writing the bundle {}", path.display())]
    WriteBundle {
        path: PathBuf,
        #[source]
        source: Box<kiln_core::Error>,
    },
    #[error("loading the model in {}", path.display())]
    LoadModel {
        path: PathBuf,
        #[source]
        source: Box<kiln_core::Error>,
    },
    #[error("resuming run {id}")]
    Resume {
        id: String,
        #[source]
        source: Box<kiln_track::Error>,
    },
    #[error(
        "run {id} was recorded by `kiln {recorded}`, not `kiln {command}`\nhint: resume it with `kiln {recorded} --resume {id}`"
    )]
    ResumeCommand { id: String, recorded: String, command: String },
    #[error(
        "{} differs from the config run {id} was started with: {difference} (config hash {config_hash})\n\
         hint: resume with the config the run started with (`kiln runs show {id}` prints it), or start a new run",
        path.display()
    )]
    ResumeConfig { path: PathBuf, id: String, config_hash: String, difference: Box<ConfigDifference> },
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
        source: Box<kiln_train::Error>,
    },
    /// The finished-model file of an interrupted run cannot be read (the source names the
    /// file's problem and says to delete it).
    #[error("reading the model saved by the interrupted run, {}", path.display())]
    ReadFinished {
        path: PathBuf,
        #[source]
        source: Box<kiln_train::Error>,
    },
    #[error("reading the labels of the evaluated rows")]
    Labels {
        #[source]
        source: Box<kiln_train::Error>,
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
    /// The prediction log could not be read (the message names the folder or segment).
    #[error(transparent)]
    ReadLog(Box<kiln_log::read::ReadError>),
    #[error("no prediction log for model `{model}` under {}\nhint: point --log at the folder of `[serving.log] dir` and check the model's name", dir.display())]
    NoLog { dir: PathBuf, model: String },
    #[error("cannot list {}", path.display())]
    ReadFolder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the label store file {}\nhint: the label store holds only files written by `kiln feedback ingest`; move other files out of the folder", path.display())]
    LabelStore {
        path: PathBuf,
        #[source]
        source: polars::error::PolarsError,
    },
    #[error("locking the label store with {}", path.display())]
    LockLabels {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the label file {} has no column `{column}` (its columns: {found})\nhint: {hint}", path.display())]
    LabelColumn { path: PathBuf, column: String, found: String, hint: String },
    #[error(
        "the prediction log of `{model}` has no input column `{column}`\nhint: --id-column names an input column the requests carried; leave it out to join on request_id"
    )]
    NoLogColumn { model: String, column: String },
    #[error("cannot read the label file {}\nhint: give CSV with a header row, or Parquet whose columns are text or numbers (times as RFC 3339 text or Int64 milliseconds)", path.display())]
    ReadLabels {
        path: PathBuf,
        #[source]
        source: polars::error::PolarsError,
    },
    #[error("the label file {} has no data rows", path.display())]
    NoLabels { path: PathBuf },
    #[error("the chosen model `{model}` is not among the trained models")]
    ChosenMissing { model: String },
    #[error("no model was trained")]
    NothingTrained,
    #[error("the run has already ended")]
    RunEnded,
    /// A key of `[rollout]` that does not fit.
    #[error("[rollout] {key}: {problem}")]
    RolloutConfig { key: &'static str, problem: String },
    /// A model with no rollout to evaluate, show or stop.
    #[error("model `{name}` has no {what} rollout\nhint: start one with `kiln rollout start {name} --config CONFIG`")]
    NoRollout { name: String, what: &'static str },
    /// The plan given now is not the one the rollout was started with.
    #[error(
        "rollout {id} of `{name}` was started with another [rollout] plan (recorded: {recorded})\nhint: run without --config to follow the recorded plan, or abort the rollout and start it again"
    )]
    PlanChanged { id: i64, name: String, recorded: String },
    /// A server's `/metrics` text that cannot be read.
    #[error(
        "the metrics of {server}, line {line}: {problem}\nhint: pass the base URL of a kiln-serve server (--server http://HOST:PORT)"
    )]
    Metrics { server: String, line: usize, problem: String },
    /// A rollout whose recorded plan cannot be read back.
    #[error("the plan recorded for rollout {id} cannot be read: {problem}")]
    RecordedPlan { id: i64, problem: String },
}

/// The first line where a config differs from the one a run was started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDifference {
    /// 1-based.
    pub line: usize,
    /// The line in the file now, quoted, or `(end of file)`.
    pub current: String,
    /// The line the run was started with.
    pub recorded: String,
}

impl std::fmt::Display for ConfigDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} is {} in the file but was {}", self.line, self.current, self.recorded)
    }
}

/// Each wrapped crate's error, boxed (they are large, and results pass through every stage).
macro_rules! boxed_from {
    ($($variant:ident: $error:ty),*) => {$(
        impl From<$error> for Error {
            fn from(error: $error) -> Self {
                Error::$variant(Box::new(error))
            }
        }
    )*};
}

boxed_from!(Data: kiln_data::Error, Train: kiln_train::Error, Core: kiln_core::Error, Eval: kiln_eval::Error, Track: kiln_track::Error, Monitor: kiln_monitor::Error);

/// The pipeline's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The crate's error type: one variant per thing that can fail for the caller, each naming the
//! store path, run id or model it was about, and keeping the lower error as its source.

use std::path::PathBuf;

/// Result with this crate's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while recording to or reading from a kiln store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The folder that holds the store (or its run locks) could not be created.
    #[error("could not create store folder {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// SQLite could not open the file at all.
    #[error("could not open store {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The file is not a SQLite database, or its pages are damaged.
    #[error("store {path} is not a valid SQLite database or is corrupt")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The file is a SQLite database that belongs to some other program.
    #[error(
        "{path} is a SQLite database but not a kiln store (application_id {application_id:#x})\nhint: pass another --store path"
    )]
    Foreign { path: PathBuf, application_id: i32 },
    /// Another connection held a lock on the store for longer than the busy timeout.
    #[error("store {path} is locked by another process\nhint: wait for it to finish, or raise the busy timeout")]
    Locked {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The store was written by a newer kiln whose schema this version does not know.
    #[error(
        "store {path} has schema version {found}, newer than the {supported} this kiln supports\nhint: upgrade kiln"
    )]
    SchemaTooNew { path: PathBuf, found: i64, supported: i64 },
    /// Applying a schema migration step failed (the whole step was rolled back).
    #[error("could not migrate store {path} to schema version {version}")]
    Migrate {
        path: PathBuf,
        version: i64,
        #[source]
        source: rusqlite::Error,
    },
    /// A statement failed while doing `action` on the store.
    #[error("could not {action} in store {path}")]
    Query {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    /// A statement on a PostgreSQL store failed while doing `action`.
    #[error("could not {action} in store {store}")]
    Postgres {
        store: String,
        action: &'static str,
        #[source]
        source: postgres::Error,
    },
    /// The PostgreSQL server could not be reached or refused the connection.
    #[error(
        "could not connect to store {store}\nhint: check the URL (postgres://USER@HOST:PORT/DB), that the server runs and that the user may connect"
    )]
    Connect {
        store: String,
        #[source]
        source: postgres::Error,
    },
    /// A store location that starts like a PostgreSQL URL but is not a valid one.
    #[error("invalid store URL {url}: {problem}\nhint: write postgres://USER@HOST:PORT/DB, or a file path for SQLite")]
    InvalidUrl { url: String, problem: String },
    /// The PostgreSQL database holds tables but is not a kiln store.
    #[error("database {store} holds tables but is not a kiln store\nhint: pass another --store, or an empty database")]
    NotAStore { store: String },
    /// A column held a value of another type than the one kiln wrote there.
    #[error("store {store}: column {index} read while trying to {action} holds {found}, not {expected}")]
    ColumnType { store: String, action: &'static str, index: usize, expected: &'static str, found: String },
    /// A copy between stores was asked for into a store that already holds records.
    #[error("target store {store} is not empty ({what})\nhint: copy into a new, empty store")]
    TargetNotEmpty { store: String, what: String },
    /// A copied store differs from its source after the copy.
    #[error("copy into {store} does not match its source: {problem}")]
    CopyMismatch { store: String, problem: String },
    /// A run lock file could not be created or locked.
    #[error("could not lock run file {path}")]
    RunLock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A store lock file (`<store>.locks/<what>`) could not be created, read or locked.
    #[error("could not lock {path}")]
    StoreLock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file to be hashed could not be read.
    #[error("could not read {path}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// JSON stored in the database could not be decoded.
    #[error("could not decode {what} stored for {id}")]
    DecodeJson {
        what: &'static str,
        id: String,
        #[source]
        source: serde_json::Error,
    },
    /// A value stored in the database is not one this version understands.
    #[error("unknown {what} {value:?} stored in {path}")]
    UnknownValue { path: PathBuf, what: &'static str, value: String },
    /// No run has this id (or id prefix).
    #[error("no run with id {id}")]
    RunNotFound { id: String },
    /// An id prefix matched more than one run.
    #[error("run id prefix {prefix} is ambiguous: {} runs match ({})", candidates.len(), candidates.join(", "))]
    AmbiguousRunId { prefix: String, candidates: Vec<String> },
    /// The run has already ended and cannot be ended again.
    #[error("run {id} already ended as {status}")]
    RunEnded { id: String, status: String },
    /// Only an interrupted or failed run can be continued.
    #[error(
        "run {id} is {status}: only an interrupted or failed run can be resumed\nhint: start a new run, or pick an interrupted one with `kiln runs list --status interrupted`"
    )]
    RunNotResumable { id: String, status: String },
    /// Another live process holds the run's lock.
    #[error(
        "run {id} is still being recorded by another process\nhint: wait for that process to end, or stop it first"
    )]
    RunBusy { id: String },
    /// A run filter such as `auc>=0.9` or `lr=0.1` could not be parsed.
    #[error("invalid {what} filter {text:?}\nhint: {hint}")]
    ParseFilter { what: &'static str, text: String, hint: &'static str },
    /// A lineage target is neither `NAME@ALIAS`, `NAME@vN`, `NAME:N` nor a run id.
    #[error("invalid lineage target {target:?}\nhint: use NAME@ALIAS, NAME@vN, NAME:N or a run id")]
    ParseTarget { target: String },
    /// A model or alias name is empty or holds characters that targets use as separators.
    #[error("invalid {what} name {name:?}\nhint: use letters, digits, '-', '_' and '.'")]
    InvalidName { what: &'static str, name: String },
    /// No registered model has this name.
    #[error("no model named {name}")]
    ModelNotFound { name: String },
    /// The model exists but has no such version.
    #[error("model {name} has no version {version}")]
    VersionNotFound { name: String, version: i64 },
    /// The alias does not point at any version of the model.
    #[error("model {name} has no alias {alias}")]
    AliasNotFound { name: String, alias: String },
    /// Promotion refused: the version did not pass its acceptance gate.
    #[error(
        "refusing to promote {name} v{version} to {alias}: it did not pass its acceptance gate\nhint: pass --force with --reason to override (the override is audited)"
    )]
    GateNotPassed { name: String, version: i64, alias: String },
    /// A forced promotion was asked for without a reason.
    #[error("a forced promotion of {name} v{version} needs a non-empty reason")]
    MissingReason { name: String, version: i64 },
    /// The alias has no earlier holder to roll back to.
    #[error("alias {alias} of model {name} has no earlier version to roll back to")]
    NothingToRollBack { name: String, alias: String },
    /// A rollout was asked for while another rollout of the model is still active.
    #[error(
        "model {name} already has an active rollout (id {id})\nhint: wait for it to end, or stop it with `kiln rollout abort {name} --reason ...`"
    )]
    RolloutActive { name: String, id: i64 },
    /// No rollout has this id, or the model has no active rollout.
    #[error("{what}\nhint: start one with `kiln rollout start NAME --config CONFIG`")]
    RolloutNotFound { what: String },
    /// A rollout was not in the phase and step the caller expected: another controller (or
    /// an operator) moved it first.
    #[error(
        "rollout {id} is {found_phase} at step {found_step}, not {expected_phase} at step {expected_step}: it was moved by someone else\nhint: read it again with `kiln rollout status`"
    )]
    RolloutMoved { id: i64, expected_phase: String, expected_step: i64, found_phase: String, found_step: i64 },
    /// A rollout transition that its phases do not allow (a finished rollout moved again, a
    /// challenger that is the champion, a share outside 0..=1).
    #[error("invalid rollout of {name}: {problem}")]
    InvalidRollout { name: String, problem: String },
}

impl Error {
    /// Whether this error is a gate refusal (a verdict, not a failure of the store).
    pub fn is_gate_refusal(&self) -> bool {
        matches!(self, Error::GateNotPassed { .. })
    }
}

//! kiln-track: the record of what kiln did. It keeps runs (resolved config, parameters, data,
//! schema and split hashes, git commit, seed, device, metric series, artifacts), a model
//! registry with immutable versions and movable aliases, gradual rollouts that move the
//! `champion` alias, lineage from an alias back to the data (through each retraining), a
//! hash-chained, append-only audit log, all in one embedded SQLite file (by default
//! `.kiln/kiln.db`), and named locks beside it for long work such as a retraining.
//!
//! Main types: [`Store`] (open, migrate, every query), [`RunHandle`] (a live run, holding its
//! lock file), [`RunFilter`] / [`RunSummary`] / [`RunDetail`] / [`RunDiff`] (queries),
//! [`ModelVersion`] / [`AliasMove`] (registry), [`Rollout`] / [`RolloutMove`] (gradual
//! rollouts of a challenger), [`Lineage`], [`StoreLock`], [`AuditEvent`] / [`AuditReport`]
//! (audit log).
//!
//! Place in the graph: a leaf. It depends on no other kiln crate, and never on candle or polars;
//! kiln-train records into it and kiln-cli reads it.

mod audit;
mod copy;
mod db;
mod error;
mod hashing;
mod lineage;
mod locks;
pub mod pgtest;
mod provenance;
mod query;
mod registry;
mod rollout;
mod runs;
mod schema;
mod store;
pub mod synth;
mod time;

pub use audit::{AuditAction, AuditEvent, AuditFilter, AuditReport, GENESIS_HASH, NewAuditEvent, Tamper};
pub use copy::{CopyReport, TableCount};
pub use error::{Error, Result};
pub use hashing::{sha256_file, sha256_hex};
pub use lineage::{
    DATASET_HASH_PARAM, DATASET_PARAM, Lineage, LineageRun, LineageTarget, MANIFEST_PARAM, PARENT_PARAM, RetrainLink,
};
pub use locks::{LockHolder, StoreLock};
pub use provenance::{ACTOR_ENV, GitInfo, default_actor, git_info};
pub use query::{
    CmpOp, MetricDiff, MetricFilter, MetricPoint, ParamFilter, RunDetail, RunDiff, RunFilter, RunSort, RunSummary,
    ValueDiff,
};
pub use registry::{AliasMove, ModelSummary, ModelVersion, NewModelVersion, Promotion};
pub use rollout::{CHAMPION_ALIAS, NewRollout, Rollout, RolloutMove, RolloutPhase};
pub use runs::{Artifact, DataVersions, NewRun, RunHandle, RunId, RunStatus};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
pub use store::{DEFAULT_STORE_PATH, Store, StoreOptions, is_postgres_url};
pub use time::{format_rfc3339, now_ms};

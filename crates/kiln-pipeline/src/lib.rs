//! kiln-pipeline: the stages of `kiln run` as a library, in a fixed order, each returning a
//! typed result that says what it produced:
//!
//! | stage | function | result |
//! | --- | --- | --- |
//! | load | [`prepare::load`] | [`prepare::Loaded`] |
//! | validate | [`prepare::Loaded::validate`] | [`prepare::Validation`] |
//! | snapshot | [`prepare::Validated::snapshot`] | [`prepare::Snapshotted`] |
//! | split | [`prepare::Snapshotted::split`] | [`prepare::SplitParts`] |
//! | fit preprocessor | [`prepare::SplitParts::fit_preprocessor`] | [`prepare::Prepared`] |
//! | train | [`prepare::Prepared::train`] | [`train::Trained`] |
//! | evaluate | [`prepare::Prepared::evaluate`] | [`evaluate::Evaluated`] |
//! | gate | [`evaluate::Evaluated::gate`] | [`evaluate::Gated`] |
//! | export | [`prepare::Prepared::export`] | [`export::Exported`] |
//! | register | [`export::register`] | the version number |
//!
//! [`run`] chains them as `kiln run`, `kiln compare` and `kiln train` do. Tracking is a sink
//! ([`track::Tracker`]) the stages report to; progress goes to a [`progress::Progress`] the
//! caller implements. The library never prints, parses arguments or draws progress. Each
//! stage logs its duration at debug level (`KILN_LOG=kiln_pipeline=debug`).

pub mod bundle_eval;
pub mod checkpoints;
pub mod config;
pub mod error;
pub mod evaluate;
pub mod export;
pub mod failpoint;
pub mod feedback;
pub mod monitor;
pub mod prepare;
pub mod progress;
pub mod reference;
pub mod retrain;
pub mod rollout;
pub mod run;
pub mod score;
pub mod split_files;
pub mod track;
pub mod train;

pub use error::{Error, Result};

/// Run `stage` inside a tracing span, logging its duration at debug level.
pub(crate) fn timed<T>(stage: &'static str, f: impl FnOnce() -> T) -> T {
    let span = tracing::debug_span!("stage", name = stage);
    let _entered = span.enter();
    let started = std::time::Instant::now();
    let result = f();
    tracing::debug!(stage, seconds = started.elapsed().as_secs_f64(), "stage done");
    result
}

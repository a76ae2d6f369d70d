//! kiln-mlflow: kiln's runs and model registry exported into an MLflow tracking server through
//! MLflow's REST API, so that a team that looks at its experiments in MLflow's UI sees kiln's
//! runs there too.
//!
//! Main items: [`MlflowClient`] (the REST calls, each MLflow answer or failure turned into a
//! typed [`enum@Error`] naming the URL), [`export()`] (runs of a [`kiln_track::Store`], oldest
//! first, into one experiment per project; then the model versions they produced, with their
//! aliases) and its [`ExportReport`]. Exporting again updates what is there: runs are found by
//! their `kiln.run_id` tag, model versions by their `kiln.version` and `kiln.run_id` tags.
//!
//! Place in the graph: depends on kiln-track only (it reads the store, never writes it);
//! kiln-cli's `kiln runs export --mlflow URL` calls it. Plain HTTP through `ureq`, blocking.

mod client;
mod error;
mod export;
mod time;
mod versions;

pub use client::{MetricPoint, MlflowClient, MlflowRun, MlflowVersion};
pub use error::{Error, Result};
pub use export::{
    Action, ArtifactExport, ArtifactOutcome, BUNDLE_FOLDER, CONFIG_ARTIFACT, ExportReport, RUN_ID_TAG, RunExport,
    export, mlflow_status, run_tags,
};
pub use versions::{VERSION_TAG, VersionExport, version_tags};

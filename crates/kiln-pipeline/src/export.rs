//! The stages "export" and "register": a chosen model written as one bundle (manifest with its
//! architecture and test metrics, model and preprocessor tensors), then registered as a new
//! version of the project's model.

use std::path::{Path, PathBuf};

use kiln_core::bundle::Bundle;

use crate::error::{Error, Result};
use crate::prepare::Prepared;
use crate::reference::{TestMetrics, add_score_references};
use crate::timed;
use crate::track::Tracker;
use crate::train::{Trained, error_chain};

/// What the stage "export" produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The model's name in the config.
    pub model: String,
    pub path: PathBuf,
    /// Lowercase hex SHA-256 of the bundle file.
    pub sha256: String,
}

/// What the stage "register" records.
#[derive(Debug, Clone)]
pub struct Registration<'a> {
    /// The registered model's name (the project's).
    pub project: &'a str,
    pub exported: &'a Exported,
    /// Whether the model passed every gate.
    pub passed: bool,
    /// The verdict (or why there is none) as JSON.
    pub verdict: serde_json::Value,
    /// Record a training event in the audit log too (`kiln train`).
    pub record_training: bool,
}

impl Prepared {
    /// The bundle of model `index` of `trained`, with its overall test metrics in its manifest
    /// and its test scores (overall and per slicing group) in its monitoring references.
    pub fn bundle(&self, trained: &Trained, index: usize, metrics: impl Into<TestMetrics>) -> Result<Bundle> {
        let fitted = &trained.models[index];
        let metrics = metrics.into();
        let mut manifest =
            self.manifest(index, fitted.finished.architecture.clone(), trained.git.as_ref(), &trained.device)?;
        let min_rows = self.config().config.evaluation.min_slice_size;
        add_score_references(
            &mut manifest.reference,
            &self.parts.test,
            self.schema(),
            &fitted.test_scores,
            &metrics,
            min_rows,
        )?;
        manifest.metrics = metrics.overall;
        Ok(Bundle::new(manifest, fitted.finished.tensors.clone()))
    }

    /// The stage "export": write model `index` to its bundle (`out`, or
    /// `.kiln/bundles/<project>-<model>-<run>.safetensors`) with `metrics` in its manifest,
    /// and tell `tracker`. A failed write marks the run failed.
    pub fn export(
        &self,
        trained: &Trained,
        index: usize,
        metrics: impl Into<TestMetrics>,
        out: Option<&Path>,
        tracker: &mut dyn Tracker,
    ) -> Result<Exported> {
        timed("export", || {
            let fitted = &trained.models[index];
            let project = &self.config().plan.project.name;
            let path = out.map(Path::to_path_buf).unwrap_or_else(|| {
                PathBuf::from(".kiln/bundles").join(format!("{project}-{}-{}.safetensors", fitted.name, trained.run.id))
            });
            let written = self.bundle(trained, index, metrics).and_then(|b| {
                b.write(&path).map_err(|source| Error::WriteBundle { path: path.clone(), source: Box::new(source) })
            });
            if let Err(e) = written {
                tracker.failed(&error_chain(&e))?;
                return Err(e);
            }
            let sha256 = kiln_track::sha256_file(&path)?;
            let exported = Exported { model: fitted.name.clone(), path, sha256 };
            tracker.exported(&exported)?;
            Ok(exported)
        })
    }
}

/// The stage "register": a new version of the project's model in the registry; returns the
/// version number.
pub fn register(registration: &Registration<'_>, tracker: &mut dyn Tracker) -> Result<i64> {
    timed("register", || tracker.registered(registration))
}

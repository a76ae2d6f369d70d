//! The retraining's tracking sink: the store tracker, with the retraining's params added to
//! the run it opens (the version retrained, the dataset, its hash and manifest), so that a run
//! killed mid-training still names them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kiln_eval::report::EvalReport;

use crate::error::Result;
use crate::export::{Exported, Registration};
use crate::track::{OpenedRun, RunStart, StoreTracker, Tracker};
use crate::train::Fitted;

/// A [`StoreTracker`] whose runs carry `params`.
#[derive(Debug)]
pub struct RetrainTracker {
    pub inner: StoreTracker,
    pub params: BTreeMap<String, String>,
}

impl Tracker for RetrainTracker {
    fn open(&mut self, start: &RunStart<'_>) -> Result<OpenedRun> {
        let mut start = start.clone();
        start.run.params.extend(self.params.clone());
        self.inner.open(&start)
    }

    fn trained(&mut self, fitted: &Fitted) -> Result<()> {
        self.inner.trained(fitted)
    }

    fn evaluated(&mut self, report: &EvalReport, files: &[PathBuf]) -> Result<()> {
        self.inner.evaluated(report, files)
    }

    fn bundle_evaluated(&mut self, report: &EvalReport, files: &[PathBuf]) -> Result<()> {
        self.inner.bundle_evaluated(report, files)
    }

    fn exported(&mut self, exported: &Exported) -> Result<()> {
        self.inner.exported(exported)
    }

    fn registered(&mut self, registration: &Registration<'_>) -> Result<i64> {
        self.inner.registered(registration)
    }

    fn finished(&mut self) -> Result<()> {
        self.inner.finished()
    }

    fn failed(&mut self, error: &str) -> Result<()> {
        self.inner.failed(error)
    }
}

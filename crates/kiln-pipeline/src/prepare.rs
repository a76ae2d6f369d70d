//! The stages before training: load → validate → snapshot → split → fit the preprocessor.
//!
//! Each stage consumes the previous stage's result and returns its own, so the order cannot
//! be broken: [`load()`] gives [`Loaded`], [`Loaded::validate`] gives [`Validation`] (the data
//! passed, or was refused with every finding), [`Validated::snapshot`] gives [`Snapshotted`]
//! (content hashes of data, schema and split), [`Snapshotted::split`] gives [`SplitParts`],
//! and [`SplitParts::fit_preprocessor`] gives [`Prepared`], everything training needs.

use kiln_core::bundle::ReferenceDistributions;

use crate::reference::{segment_references, slice_specs};
use kiln_core::preprocess::Preprocessor;
use kiln_core::schema::{Schema, Task};
use kiln_data::fit::{feature_columns, fit_preprocessor, with_refs};
use kiln_data::load::{self, Source, Table};
use kiln_data::snapshot::Snapshot;
use kiln_data::split::{self, Part, Split};
use kiln_data::validate::ValidationReport;
use kiln_train::config::{ModelPlan, ModelsSection};
use polars::prelude::DataFrame;

use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::timed;

/// Rows of the test file read for type findings' examples.
const TEST_EXAMPLES: usize = 5;

/// The stage "load": the config's training file and its test file, when it has one.
#[derive(Debug)]
pub struct Loaded {
    pub config: LoadedConfig,
    pub train: Table,
    pub test: Option<Table>,
}

/// Read the files of `config`.
pub fn load(config: LoadedConfig, progress: &dyn Progress) -> Result<Loaded> {
    timed("load", || {
        let plan = &config.plan;
        let step = progress.step(format!("reading {}", plan.train_path.display()));
        let train = load::load(plan, Source::Train, plan.validation.max_examples)?;
        let test = plan.test_path.as_ref().map(|_| load::load(plan, Source::Test, TEST_EXAMPLES)).transpose()?;
        step.done();
        Ok(Loaded { config, train, test })
    })
}

/// The outcome of the stage "validate".
#[derive(Debug)]
pub enum Validation {
    /// The data passed every check.
    Passed(Box<Validated>),
    /// The data failed: every finding, for the caller to show (nothing is trained).
    Refused(ValidationReport),
}

/// Data that passed validation, with the checked model plan.
#[derive(Debug)]
pub struct Validated {
    pub loaded: Loaded,
    pub report: ValidationReport,
    pub models: ModelPlan,
}

impl Loaded {
    /// The stage "validate": the data against `[validation]`, then `[[models]]` against the
    /// schema.
    pub fn validate(self) -> Result<Validation> {
        timed("validate", || {
            let path = self.config.path.display().to_string();
            let plan = &self.config.plan;
            let report = kiln_data::validate::validate(&path, &plan.validation, &self.train, self.test.as_ref())?;
            if !report.passed() {
                return Ok(Validation::Refused(report));
            }
            let models = ModelsSection { models: self.config.config.models.clone() }
                .validate(&self.train.schema)
                .map_err(|source| Error::Models { path: self.config.path.clone(), source: Box::new(source) })?;
            if models.models.is_empty() {
                return Err(Error::NoModels { path: self.config.path.clone() });
            }
            Ok(Validation::Passed(Box::new(Validated { loaded: self, report, models })))
        })
    }
}

/// The stage "snapshot": every row assigned to its part, and the content hashes of the data,
/// the schema and the split.
#[derive(Debug)]
pub struct Snapshotted {
    pub validated: Validated,
    pub assignment: Split,
    pub snapshot: Snapshot,
}

impl Validated {
    /// Assign rows to parts (seeded, stratified, key-hashed or fixed) and hash the data.
    pub fn snapshot(self) -> Result<Snapshotted> {
        timed("snapshot", || {
            let loaded = &self.loaded;
            let plan = &loaded.config.plan;
            let n_test_rows = loaded.test.as_ref().map_or(0, Table::n_rows);
            let assignment = split::assign(&plan.split, plan.split_seed, &loaded.train, n_test_rows)?;
            let config = loaded.config.path.display().to_string();
            let snapshot = kiln_data::snapshot::snapshot(&config, &loaded.train, loaded.test.as_ref(), &assignment)?;
            Ok(Snapshotted { validated: self, assignment, snapshot })
        })
    }
}

/// The stage "split": the rows of each part.
#[derive(Debug)]
pub struct SplitParts {
    pub config: LoadedConfig,
    pub schema: Schema,
    pub models: ModelPlan,
    pub snapshot: Snapshot,
    pub train: DataFrame,
    /// The validation rows (the test rows when no validation part is configured).
    pub holdout: DataFrame,
    pub test: DataFrame,
    /// Where the test rows came from, for reports.
    pub test_label: String,
}

impl SplitParts {
    /// Rows in the training, validation (holdout) and test parts.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.train.height(), self.holdout.height(), self.test.height())
    }
}

impl Snapshotted {
    /// Select the rows of each part.
    pub fn split(self) -> Result<SplitParts> {
        timed("split", || {
            let Snapshotted { validated, assignment, snapshot } = self;
            let Validated { loaded, models, .. } = validated;
            let Loaded { config, train: file, test: test_file } = loaded;
            let train = assignment.select(&file.df, Part::Train)?;
            let valid = assignment.select(&file.df, Part::Validation)?;
            let (test, test_label) = match test_file {
                Some(t) => (t.df, t.path.display().to_string()),
                None => (assignment.select(&file.df, Part::Test)?, "the test split".to_string()),
            };
            let holdout = if valid.height() > 0 { valid } else { test.clone() };
            Ok(SplitParts { config, schema: file.schema, models, snapshot, train, holdout, test, test_label })
        })
    }
}

/// The stage "fit preprocessor": everything the models are trained on.
#[derive(Debug)]
pub struct Prepared {
    pub parts: SplitParts,
    /// Fitted on the training rows only.
    pub preprocessor: Preprocessor,
    /// The training rows' feature distributions, overall and per slicing group, stored in
    /// bundles for drift checks (the score references are added at export).
    pub reference: ReferenceDistributions,
    /// Values per row: the number of classes for multiclass, else 1.
    pub n_outputs: usize,
}

impl SplitParts {
    /// Fit the preprocessor and the reference distributions on the training rows.
    pub fn fit_preprocessor(self) -> Result<Prepared> {
        timed("fit preprocessor", || {
            let plan = &self.config.plan;
            let preprocessor = fit_preprocessor(&plan.preprocess, &self.train, &self.schema)?;
            let features = feature_columns(&self.train, &self.schema)?;
            let mut reference = with_refs(&features, |refs| ReferenceDistributions::fit(&preprocessor, refs))?;
            let evaluation = &self.config.config.evaluation;
            reference.slicings = slice_specs(&self.schema, &evaluation.slices);
            reference.segments = segment_references(
                &preprocessor,
                &self.train,
                &self.schema,
                &reference.slicings,
                evaluation.min_slice_size,
            )?;
            let n_outputs = if self.schema.task == Task::Multiclass { self.schema.classes.len() } else { 1 };
            Ok(Prepared { parts: self, preprocessor, reference, n_outputs })
        })
    }
}

impl Prepared {
    /// The schema of the data.
    pub fn schema(&self) -> &Schema {
        &self.parts.schema
    }

    /// The config.
    pub fn config(&self) -> &LoadedConfig {
        &self.parts.config
    }
}

/// Every stage up to the fitted preprocessor, in order; `Ok(Err(report))` when the data fails
/// validation.
pub fn prepare(config: LoadedConfig, progress: &dyn Progress) -> Result<Result<Prepared, ValidationReport>> {
    match load(config, progress)?.validate()? {
        Validation::Refused(report) => Ok(Err(report)),
        Validation::Passed(validated) => Ok(Ok(validated.snapshot()?.split()?.fit_preprocessor()?)),
    }
}

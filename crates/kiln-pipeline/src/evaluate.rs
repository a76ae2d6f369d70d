//! The stages "evaluate" and "gate": every model's test scores (computed once, by the stage
//! "train") and cost through kiln-eval (metrics overall and per slice, intervals, fairness,
//! comparison against the baselines, acceptance gates), and the report folder.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use kiln_core::schema::{Role, Schema, Task};
use kiln_data::fit::{Plain, plain_column};
use kiln_eval::config::{AcceptanceConfig, EvaluationConfig, SliceConfig};
use kiln_eval::data::{ColumnValues, CurvePoint, DisplayColumn, EvalData, Labels, ModelOutput, SliceColumn};
use kiln_eval::evaluate::{EvalInput, evaluate};
use kiln_eval::gates::Verdict;
use kiln_eval::report::{EvalReport, MetricValue};
use kiln_eval::slices::OVERALL;
use kiln_train::target::{Target, read_target};
use polars::prelude::DataFrame;

use crate::error::{Error, Result};
use crate::prepare::Prepared;
use crate::progress::Progress;
use crate::reference::TestMetrics;
use crate::score::{latency, size_of};
use crate::timed;
use crate::train::Trained;

/// What the stage "evaluate" produced: the report of every model on the test rows.
#[derive(Debug)]
pub struct Evaluated {
    pub report: EvalReport,
}

/// What the stage "gate" decided: each model's verdict and the model chosen to ship.
#[derive(Debug, Clone, Copy)]
pub struct Gated<'a> {
    /// The best model that passed every gate, by index into the trained models.
    pub chosen: Option<usize>,
    pub verdicts: &'a [Verdict],
}

impl Gated<'_> {
    /// The chosen model's verdict.
    pub fn chosen_verdict(&self) -> Option<&Verdict> {
        self.chosen.map(|i| &self.verdicts[i])
    }
}

impl Prepared {
    /// The stage "evaluate": every trained model on the test rows, its scores from training,
    /// its latency timed on a fixed sample of the rows, its size from its bundle parts.
    pub fn evaluate(&self, trained: &Trained, progress: &dyn Progress) -> Result<Evaluated> {
        timed("evaluate", || {
            let config = &self.config().config;
            let step = progress.step(format!(
                "evaluating {} model(s) on {} rows",
                trained.models.len(),
                self.parts.test.height()
            ));
            let data = timed("evaluated columns", || eval_data(&self.parts.test, self.schema(), &config.evaluation))?;
            let mut models = Vec::with_capacity(trained.models.len());
            for f in &trained.models {
                step.message(format!("timing {}", f.name));
                let mut cost = timed("time latency", || latency(&f.name, &f.model, &trained.test_rows))?;
                let (size, params) = size_of(&f.finished.architecture, &f.finished.tensors);
                cost.train_seconds = Some(f.finished.seconds);
                (cost.size_bytes, cost.n_params) = (Some(size), params);
                models.push(ModelOutput {
                    name: f.name.clone(),
                    kind: f.kind.to_string(),
                    baseline: matches!(f.kind, "prior" | "rules"),
                    scores: f.test_scores.clone(),
                    cost,
                    learning_curve: f
                        .history
                        .iter()
                        .map(|e| CurvePoint { epoch: e.epoch, train_loss: e.train_loss, valid_metric: e.valid_metric })
                        .collect(),
                });
            }
            step.message("slices, intervals, fairness, comparison and gates".into());
            let segments: Vec<String> = self.schema().segments().map(|c| c.name.clone()).collect();
            let report = timed("metrics, slices, intervals and gates", || {
                evaluate(&EvalInput {
                    project: &self.config().plan.project.name,
                    data_label: &self.parts.test_label,
                    data: &data,
                    models: &models,
                    evaluation: &config.evaluation,
                    acceptance: &config.acceptance,
                    segments: &segments,
                })
            })?;
            step.done();
            Ok(Evaluated { report })
        })
    }
}

impl Evaluated {
    /// The stage "gate": the verdicts, and the chosen model's index among `trained`.
    pub fn gate(&self, trained: &Trained) -> Result<Gated<'_>> {
        let chosen = match self.report.chosen.as_deref() {
            Some(name) => Some(
                trained
                    .models
                    .iter()
                    .position(|f| f.name == name)
                    .ok_or_else(|| Error::ChosenMissing { model: name.to_string() })?,
            ),
            None => None,
        };
        Ok(Gated { chosen, verdicts: &self.report.verdicts })
    }

    /// The test metrics of model `index`, overall (for its bundle's manifest) and per reported
    /// slice group (for its monitoring references).
    pub fn test_metrics(&self, index: usize) -> TestMetrics {
        let values =
            |m: &BTreeMap<String, MetricValue>| m.iter().filter_map(|(k, v)| Some((k.clone(), v.value?))).collect();
        let model = &self.report.models[index];
        let mut groups = BTreeMap::new();
        for slicing in model.slicings.iter().filter(|s| s.name != OVERALL) {
            for slice in slicing.slices.iter().filter(|s| !s.suppressed) {
                groups.insert((slicing.name.clone(), slice.value.clone()), values(&slice.metrics));
            }
        }
        TestMetrics { overall: model.overall().map(|s| values(&s.metrics)).unwrap_or_default(), groups }
    }
}

/// Evaluate one model's `scores` of the rows `data` with the given settings.
pub(crate) fn evaluate_one(
    project: &str,
    data_label: &str,
    data: &EvalData,
    model: ModelOutput,
    settings: (&EvaluationConfig, &AcceptanceConfig),
    segments: &[String],
) -> Result<EvalReport> {
    Ok(evaluate(&EvalInput {
        project,
        data_label,
        data,
        models: &[model],
        evaluation: settings.0,
        acceptance: settings.1,
        segments,
    })?)
}

/// The rows of `df` as kiln-eval columns: labels, the segment and protected columns (and any
/// column a configured slice names), and every kept column for the error analysis.
pub fn eval_data(df: &DataFrame, schema: &Schema, evaluation: &EvaluationConfig) -> Result<EvalData> {
    let target = read_target(df, schema).map_err(|source| Error::Labels { source: Box::new(source) })?;
    let labels = match (schema.task, target) {
        (Task::Binary, Target::Classes { index, .. }) => Labels::Binary(index.into_iter().map(|i| i == 1).collect()),
        (Task::Multiclass, Target::Classes { index, n_classes }) => Labels::Multiclass { labels: index, n_classes },
        (_, Target::Values(v)) => Labels::Regression(v),
        (task, Target::Classes { .. }) => return Err(Error::LabelsForTask { task: task.as_str() }),
    };
    let columns = slice_columns(df, schema, &evaluation.slices)?;
    let mut display = Vec::new();
    for column in schema.columns.iter().filter(|c| c.role != Role::Drop) {
        let Plain::Categorical(values) = plain_column(df, &column.name, false)? else { continue };
        display.push(DisplayColumn {
            name: column.name.clone(),
            pii: column.pii,
            values: values.into_iter().map(|v| v.unwrap_or_else(|| "(missing)".into())).collect(),
        });
    }
    Ok(EvalData {
        labels,
        class_names: schema.classes.clone(),
        weights: None,
        columns,
        protected: schema.protected().map(|c| c.name.clone()).collect(),
        display,
    })
}

/// The segment and protected columns of `df`, and any column `slices` names, as kiln-eval's
/// slicing columns.
pub fn slice_columns(df: &DataFrame, schema: &Schema, slices: &[SliceConfig]) -> Result<Vec<SliceColumn>> {
    let mut wanted: Vec<&str> =
        schema.columns.iter().filter(|c| c.segment || c.protected).map(|c| c.name.as_str()).collect();
    for slice in slices {
        wanted.extend(slice.by.iter().map(String::as_str));
    }
    wanted.sort_unstable();
    wanted.dedup();
    let mut columns = Vec::with_capacity(wanted.len());
    for name in wanted {
        let column = schema.column(name).ok_or_else(|| Error::SliceColumn { column: name.to_string() })?;
        let numeric = column.dtype.is_numeric() && column.role != Role::Categorical;
        let values = match plain_column(df, name, numeric)? {
            Plain::Numeric(v) => ColumnValues::Numeric(v),
            Plain::Categorical(v) => categorical_codes(&v),
        };
        columns.push(SliceColumn { name: name.to_string(), values });
    }
    Ok(columns)
}

/// Codes in sorted order of the distinct values, with "(missing)" last.
fn categorical_codes(values: &[Option<String>]) -> ColumnValues {
    // the distinct values first (a hash set), then only those sorted
    let distinct: HashSet<&str> = values.iter().flatten().map(String::as_str).collect();
    let mut levels: Vec<&str> = distinct.into_iter().collect();
    levels.sort_unstable();
    let index: HashMap<&str, u32> = levels.iter().enumerate().map(|(i, l)| (*l, i as u32)).collect();
    let missing = levels.len() as u32;
    let codes = values.iter().map(|v| v.as_deref().map_or(missing, |v| index[v])).collect();
    let mut levels: Vec<String> = levels.into_iter().map(str::to_string).collect();
    levels.push("(missing)".into());
    ColumnValues::Categorical { codes, levels }
}

/// Write `report.json`, `report.md` and `report.html` into `dir`, each atomically.
pub fn write_report(dir: &Path, report: &EvalReport) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|source| Error::ReportFolder { path: dir.to_path_buf(), source })?;
    let json = serde_json::to_string_pretty(report).map_err(|source| Error::Json { what: "the report", source })?;
    let files = [
        ("report.json", json + "\n"),
        ("report.md", kiln_eval::render::markdown(report)),
        ("report.html", kiln_eval::render::html(report)),
    ];
    write_files(dir, files)
}

/// Write each `(name, text)` into `dir` (which exists), atomically; the paths written.
pub(crate) fn write_files(dir: &Path, files: impl IntoIterator<Item = (&'static str, String)>) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        kiln_data::write::write_text(&path, &text)?;
        written.push(path);
    }
    Ok(written)
}

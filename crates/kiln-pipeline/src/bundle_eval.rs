//! `kiln eval`'s path: an exported bundle scored by kiln-core's inference on labelled rows,
//! then evaluated (sliced metrics, intervals, fairness, gates) into a report folder and a run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_core::bundle::{Bundle, KILN_VERSION};
use kiln_core::model::Model;
use kiln_data::load;
use kiln_eval::config::{AcceptanceConfig, EvaluationConfig};
use kiln_eval::data::ModelOutput;
use kiln_eval::report::EvalReport;
use kiln_track::{DataVersions, NewRun};

use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::evaluate::{eval_data, evaluate_one, write_report};
use crate::progress::Progress;
use crate::score::{Rows, latency, size_of};
use crate::track::{RunStart, Tracker};

/// Rows read for examples of bad cells.
const EXAMPLES: usize = 5;

/// What to evaluate.
#[derive(Debug, Clone, Copy)]
pub struct BundleEval<'a> {
    /// The model bundle (.safetensors).
    pub bundle: &'a Path,
    /// Labelled rows with the bundle's columns.
    pub data: &'a Path,
    /// A config whose `[evaluation]` and `[acceptance]` apply and whose read options read
    /// `data` (default: Parquet or CSV with a header, the segment columns, every metric of
    /// the task, no gates).
    pub config: Option<&'a LoadedConfig>,
    /// The report folder (default `.kiln/reports/eval-<bundle name>`).
    pub out: Option<&'a Path>,
}

/// What `kiln eval` produced.
#[derive(Debug)]
pub struct BundleEvaluation {
    pub report: EvalReport,
    pub report_dir: PathBuf,
    pub report_files: Vec<PathBuf>,
}

/// Score the rows of `request.data` with the bundle's model, evaluate, write the report and
/// record the evaluation as a run of `kiln eval`.
pub fn evaluate_bundle(
    request: &BundleEval<'_>,
    tracker: &mut dyn Tracker,
    progress: &dyn Progress,
) -> Result<BundleEvaluation> {
    let bundle = Bundle::read(request.bundle)?;
    let model = Model::from_bundle(&bundle)
        .map_err(|source| Error::LoadModel { path: request.bundle.to_path_buf(), source: Box::new(source) })?;
    let schema = &bundle.manifest.schema;
    let (evaluation, acceptance, config_text) = match request.config {
        Some(c) => (c.config.evaluation.clone(), c.config.acceptance.clone(), c.text.clone()),
        None => (EvaluationConfig::default(), AcceptanceConfig::default(), String::new()),
    };
    let step = progress.step(format!("reading {}", request.data.display()));
    let table = match request.config {
        Some(c) => load::load_path(&c.plan, request.data, "data to evaluate", EXAMPLES)?,
        None => load::load_for_schema(request.data, schema, EXAMPLES)?,
    };
    step.done();
    if let Some(first) = table.findings.first() {
        return Err(Error::BadCells { path: request.data.to_path_buf(), count: first.count, first: first.summary() });
    }
    let data = eval_data(&table.df, schema, &evaluation)
        .map_err(|e| Error::EvalRows { path: request.data.to_path_buf(), source: Box::new(e) })?;
    let step = progress.step("scoring and timing the model".into());
    let name = request.bundle.file_stem().map_or_else(|| "model".to_string(), |s| s.to_string_lossy().to_string());
    let rows = Rows::extract(&table.df, schema, &[&model])?;
    let scores = rows.score(&name, &model)?;
    let mut cost = latency(&name, &model, &rows)?;
    cost.size_bytes = std::fs::metadata(request.bundle).ok().map(|m| m.len());
    cost.n_params = size_of(&bundle.manifest.architecture, &bundle.tensors).1;
    let output = ModelOutput {
        name: name.clone(),
        kind: model.kind().to_string(),
        baseline: matches!(model.kind(), "prior" | "rules"),
        scores,
        cost,
        learning_curve: Vec::new(),
    };
    step.done();
    let segments: Vec<String> = schema.segments().map(|c| c.name.clone()).collect();
    let step = progress.step("evaluating".into());
    let data_label = request.data.display().to_string();
    let report = evaluate_one(&name, &data_label, &data, output, (&evaluation, &acceptance), &segments)?;
    step.done();
    let report_dir = request
        .out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".kiln/reports").join(format!("eval-{name}")));
    let report_files = write_report(&report_dir, &report)?;

    let run = NewRun {
        name: name.clone(),
        command: "eval".into(),
        config: config_text,
        params: BTreeMap::from([
            ("bundle".to_string(), request.bundle.display().to_string()),
            ("data".to_string(), data_label),
        ]),
        data: DataVersions { data_hash: None, schema_hash: Some(schema.hash()), split_hash: None },
        git: kiln_track::git_info(Path::new(".")),
        seed: Some(evaluation.ci.seed),
        device: Some("cpu".into()),
        kiln_version: KILN_VERSION.into(),
    };
    tracker.open(&RunStart { run, resume: None, config_path: request.bundle })?;
    tracker.bundle_evaluated(&report, &report_files)?;
    tracker.finished()?;
    Ok(BundleEvaluation { report, report_dir, report_files })
}

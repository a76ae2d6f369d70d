//! The held-out judging of a challenger: champion and challenger bundles both score the
//! judging rows through kiln-core's `Model`; kiln-eval evaluates both (sliced metrics,
//! intervals, every `[acceptance]` gate); the paired non-inferiority test runs overall and per
//! slice group. The verdict and both models' report are written to the report folder.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use kiln_core::bundle::Bundle;
use kiln_core::model::Model;
use kiln_eval::config::SliceConfig;
use kiln_eval::data::ModelOutput;
use kiln_eval::evaluate::{EvalInput, evaluate};
use kiln_eval::gates::Verdict;
use kiln_eval::metrics::MetricParams;
use kiln_eval::report::EvalReport;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::evaluate::{eval_data, slice_columns, write_files, write_report};
use crate::export::Exported;
use crate::retrain::judge::{PairedScores, PairedTest, TestSettings, all_hold, paired_tests};
use crate::run::{Judge, Judged};
use crate::score::{Rows, latency, size_of};

/// The verdict of a retraining.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrainVerdict {
    pub passed: bool,
    /// `NAME@vN` of the champion judged against.
    pub champion: String,
    /// The challenger's bundle.
    pub challenger: String,
    pub metric: String,
    pub margin: f64,
    pub alpha: f64,
    pub judge_rows: usize,
    /// Why it failed (empty when it passed).
    pub reasons: Vec<String>,
    /// The challenger's `[acceptance]` verdict on the test rows of its training run.
    pub tested: Verdict,
    /// Its `[acceptance]` verdict on the judging rows.
    pub gates: Verdict,
    /// The paired non-inferiority tests, overall first.
    pub tests: Vec<PairedTest>,
}

/// The judge `kiln retrain` hands to the pipeline's run.
#[derive(Debug)]
pub struct HeldOutJudge<'a> {
    pub config: &'a LoadedConfig,
    /// `NAME@vN` and bundle path of the champion.
    pub champion: (&'a str, &'a Path),
    pub judging: &'a DataFrame,
    /// Where the judging report goes.
    pub report_dir: PathBuf,
    /// The verdict and the files written, once judged.
    pub outcome: Mutex<Option<(RetrainVerdict, Vec<PathBuf>)>>,
}

impl HeldOutJudge<'_> {
    /// The verdict and report files, once the run judged its model.
    pub fn take(&self) -> Option<(RetrainVerdict, Vec<PathBuf>)> {
        self.outcome.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl Judge for HeldOutJudge<'_> {
    fn judge(&self, exported: &Exported, tested: &Verdict) -> Result<Judged> {
        let (verdict, report) = self.verdict(exported, tested)?;
        let mut files = write_report(&self.report_dir, &report)?;
        let json = serde_json::to_string_pretty(&verdict)
            .map_err(|source| Error::Json { what: "the retraining verdict", source })?;
        files.extend(write_files(&self.report_dir, [("verdict.json", json + "\n")])?);
        let judged = Judged {
            passed: verdict.passed,
            verdict: serde_json::to_value(&verdict)
                .map_err(|source| Error::Json { what: "the retraining verdict", source })?,
        };
        *self.outcome.lock().unwrap_or_else(PoisonError::into_inner) = Some((verdict, files));
        crate::failpoint::hit("retrain.judged");
        Ok(judged)
    }
}

impl HeldOutJudge<'_> {
    fn verdict(&self, exported: &Exported, tested: &Verdict) -> Result<(RetrainVerdict, EvalReport)> {
        let config = &self.config.config;
        let plan = &self.config.retrain;
        let (champion_name, champion_path) = self.champion;
        let champion = scored(champion_name, champion_path, self.judging)?;
        let challenger = scored(&exported.model, &exported.path, self.judging)?;
        let schema = &challenger.bundle.manifest.schema;
        let mut data = eval_data(self.judging, schema, &config.evaluation)?;
        let segments: Vec<String> = schema.segments().map(|c| c.name.clone()).collect();
        // training time is a property of the training run, checked on its test rows already;
        // scoring the judging rows measures everything else the budget names
        let mut acceptance = config.acceptance.clone();
        if let Some(budget) = &mut acceptance.budget {
            budget.max_train_seconds = None;
        }
        let report = evaluate(&EvalInput {
            project: &self.config.plan.project.name,
            data_label: "the judging rows",
            data: &data,
            models: &[champion.output.clone(), challenger.output.clone()],
            evaluation: &config.evaluation,
            acceptance: &acceptance,
            segments: &segments,
        })?;
        let gates = report.verdicts[1].clone();
        let tested_by: Vec<SliceConfig> = plan
            .segments
            .iter()
            .map(|s| SliceConfig { by: vec![s.clone()], bands: None, value: None, name: None })
            .collect();
        for column in slice_columns(self.judging, schema, &tested_by)? {
            if !data.columns.iter().any(|c| c.name == column.name) {
                data.columns.push(column);
            }
        }
        let configs = if tested_by.is_empty() { &config.evaluation.slices } else { &tested_by };
        let slicings = kiln_eval::slices::build(&data, configs, &segments)?;
        let settings = TestSettings {
            metric: plan.metric,
            margin: plan.margin,
            alpha: plan.alpha,
            min_rows: config.evaluation.min_slice_size,
            params: MetricParams { threshold: config.evaluation.threshold, ..MetricParams::default() },
            replicates: config.evaluation.ci.replicates,
            seed: config.evaluation.ci.seed,
        };
        let scores = PairedScores {
            labels: &data.labels,
            champion: &champion.output.scores,
            challenger: &challenger.output.scores,
        };
        let tests = paired_tests(&scores, &slicings, &settings);
        let reasons = reasons(tested, &gates, &tests, plan.margin);
        let verdict = RetrainVerdict {
            passed: reasons.is_empty(),
            champion: champion_name.to_string(),
            challenger: exported.path.display().to_string(),
            metric: plan.metric.name().to_string(),
            margin: plan.margin,
            alpha: plan.alpha,
            judge_rows: data.n_rows(),
            reasons,
            tested: tested.clone(),
            gates,
            tests,
        };
        Ok((verdict, report))
    }
}

/// Why a challenger fails: a failed gate on the test or judging rows, a failed (or an
/// undefined overall) non-inferiority test.
fn reasons(tested: &Verdict, gates: &Verdict, tests: &[PairedTest], margin: f64) -> Vec<String> {
    let mut reasons = Vec::new();
    for (rows, verdict) in [("test", tested), ("judging", gates)] {
        for check in verdict.failures() {
            let value = check.decided_value.map_or_else(|| "none".to_string(), |v| format!("{v:.4}"));
            reasons.push(format!(
                "[acceptance] {} {} on the {rows} rows ({}): {value} {} {}",
                check.metric,
                check.slice,
                check.note.as_deref().unwrap_or("gate"),
                check.op,
                check.threshold
            ));
        }
    }
    for t in tests.iter().filter(|t| t.status == kiln_eval::gates::Status::Fail) {
        let lower = t.lower.unwrap_or(f64::NAN);
        reasons.push(format!(
            "{} {} = {}: the challenger's lower bound {lower:.4} is not above -{margin}",
            t.method, t.slicing, t.group
        ));
    }
    if !all_hold(tests) && reasons.is_empty() {
        reasons.push("the overall non-inferiority test could not run on the judging rows".into());
    }
    reasons
}

/// A bundle's model and its scores of the judging rows.
struct Scored {
    bundle: Bundle,
    output: ModelOutput,
}

fn scored(name: &str, path: &Path, df: &DataFrame) -> Result<Scored> {
    let bundle = Bundle::read(path)?;
    let model = Model::from_bundle(&bundle)
        .map_err(|source| Error::LoadModel { path: path.to_path_buf(), source: Box::new(source) })?;
    let rows = Rows::extract(df, &bundle.manifest.schema, &[&model])?;
    let scores = rows.score(name, &model)?;
    let mut cost = latency(name, &model, &rows)?;
    cost.size_bytes = std::fs::metadata(path).ok().map(|m| m.len());
    cost.n_params = size_of(&bundle.manifest.architecture, &bundle.tensors).1;
    let output = ModelOutput {
        name: name.to_string(),
        kind: model.kind().to_string(),
        baseline: false,
        scores,
        cost,
        learning_curve: Vec::new(),
    };
    Ok(Scored { bundle, output })
}

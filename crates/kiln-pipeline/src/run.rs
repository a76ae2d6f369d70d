//! The stages in their fixed order, as `kiln run`, `kiln compare` and `kiln train` run them:
//! load → validate → snapshot → split → fit preprocessor → train → evaluate → gate → export →
//! register. Each driver returns what its stages produced; nothing here prints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_data::validate::ValidationReport;
use kiln_eval::gates::Verdict;
use kiln_eval::report::EvalReport;

use crate::checkpoints;
use crate::config::LoadedConfig;
use crate::error::Result;
use crate::evaluate::write_report;
use crate::export::{Exported, Registration, register};
use crate::prepare::prepare;
use crate::progress::Progress;
use crate::track::Tracker;
use crate::train::{Fitted, TrainOptions, Trained, error_chain};

/// A driver's outcome: the data was refused by validation (nothing trained), or what the
/// stages produced.
#[derive(Debug)]
pub enum Outcome<T> {
    Refused(ValidationReport),
    Done(T),
}

/// Where `kiln run` and `kiln compare` write.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions<'a> {
    pub train: &'a TrainOptions<'a>,
    /// The report folder (default `.kiln/reports/<project>-<run id>`).
    pub report_dir: Option<&'a Path>,
    /// Export and register the chosen model (`kiln run`), to this bundle path or the default
    /// one; `None` compares only.
    pub export: Option<Option<&'a Path>>,
    /// Judge the exported model before it is registered (`kiln retrain`): its verdict is the
    /// registered one. With a judge, the best model by the primary metric is exported even
    /// when none passed `[acceptance]` on the test rows (the judge sees that verdict).
    pub judge: Option<&'a dyn Judge>,
}

/// What a judge decided about an exported model.
#[derive(Debug, Clone)]
pub struct Judged {
    pub passed: bool,
    /// Registered as the version's verdict.
    pub verdict: serde_json::Value,
}

/// Decides whether an exported model passes, before it is registered.
pub trait Judge: std::fmt::Debug {
    /// `tested` is the model's `[acceptance]` verdict on the test rows.
    fn judge(&self, exported: &Exported, tested: &Verdict) -> Result<Judged>;
}

/// What `kiln run` and `kiln compare` produced.
#[derive(Debug)]
pub struct RunSummary {
    pub run_id: String,
    pub report: EvalReport,
    pub report_dir: PathBuf,
    pub report_files: Vec<PathBuf>,
    /// The chosen model's bundle and its registered version.
    pub exported: Option<(Exported, i64)>,
}

/// Train, evaluate and gate every model, write the report folder; with `options.export`,
/// export and register the chosen model.
pub fn run(
    config: LoadedConfig,
    options: &RunOptions<'_>,
    tracker: &mut dyn Tracker,
    progress: &dyn Progress,
) -> Result<Outcome<RunSummary>> {
    let prepared = match prepare(config, progress)? {
        Ok(prepared) => prepared,
        Err(report) => return Ok(Outcome::Refused(report)),
    };
    let trained = prepared.train(options.train, tracker, progress)?;
    let evaluated = match prepared.evaluate(&trained, progress) {
        Ok(evaluated) => evaluated,
        Err(e) => {
            tracker.failed(&error_chain(&e))?;
            return Err(e);
        }
    };
    let run_id = trained.run.id.clone();
    let project = prepared.config().plan.project.name.clone();
    let report_dir = options
        .report_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".kiln/reports").join(format!("{project}-{run_id}")));
    let report_files = write_report(&report_dir, &evaluated.report)?;
    tracker.evaluated(&evaluated.report, &report_files)?;
    let gated = evaluated.gate(&trained)?;
    let mut exported = None;
    let index = gated.chosen.or_else(|| options.judge.and_then(|_| best_model(&evaluated.report, &trained)));
    if let (Some(bundle_out), Some(index)) = (options.export, index) {
        let verdict = &gated.verdicts[index];
        let metrics = evaluated.test_metrics(index);
        let bundle = prepared.export(&trained, index, metrics, bundle_out, tracker)?;
        // the rules baseline goes beside it: the serving fallback while the model misbehaves
        if let Some(rules) = trained.models.iter().position(|m| m.finished.architecture.kind() == "rules")
            && rules != index
        {
            let name = format!("{project}-{}-{run_id}.safetensors", trained.models[rules].name);
            let path = bundle.path.parent().unwrap_or(Path::new(".")).join(name);
            prepared.export(&trained, rules, evaluated.test_metrics(rules), Some(&path), tracker)?;
        }
        let Judged { passed, verdict } = match options.judge {
            Some(judge) => match judge.judge(&bundle, verdict) {
                Ok(judged) => judged,
                Err(e) => {
                    tracker.failed(&error_chain(&e))?;
                    return Err(e);
                }
            },
            None => Judged {
                passed: verdict.passed,
                verdict: serde_json::to_value(verdict)
                    .map_err(|source| crate::Error::Json { what: "the chosen model's verdict", source })?,
            },
        };
        let registration =
            Registration { project: &project, exported: &bundle, passed, verdict, record_training: false };
        let version = register(&registration, tracker)?;
        exported = Some((bundle, version));
    }
    finish(&trained, tracker)?;
    Ok(Outcome::Done(RunSummary { run_id, report: evaluated.report, report_dir, report_files, exported }))
}

/// The index among `trained` of the best model that is not a baseline, by the report's
/// primary metric on the test rows.
fn best_model(report: &EvalReport, trained: &Trained) -> Option<usize> {
    let primary = kiln_eval::metrics::Metric::parse(&report.primary_metric)?;
    let (best, _) = report
        .models
        .iter()
        .filter(|m| !m.baseline)
        .filter_map(|m| Some((m, m.overall_metric(primary.name())?.value?)))
        .reduce(|best, next| if kiln_eval::gates::better(primary, next.1, best.1) { next } else { best })?;
    trained.models.iter().position(|f| f.name == best.name)
}

/// What `kiln train` produced.
#[derive(Debug)]
pub struct TrainSummary {
    pub run_id: String,
    pub project: String,
    pub models: Vec<Fitted>,
    /// Index of the exported model (the best validation score).
    pub best: usize,
    pub exported: Exported,
    pub version: i64,
}

/// Train every model, export the one with the best validation score (its test score in the
/// manifest) and register it as not evaluated.
pub fn train(
    config: LoadedConfig,
    options: &TrainOptions<'_>,
    out: Option<&Path>,
    tracker: &mut dyn Tracker,
    progress: &dyn Progress,
) -> Result<Outcome<TrainSummary>> {
    let prepared = match prepare(config, progress)? {
        Ok(prepared) => prepared,
        Err(report) => return Ok(Outcome::Refused(report)),
    };
    let trained = prepared.train(options, tracker, progress)?;
    let best = trained.best_by_validation()?;
    let chosen = &trained.models[best];
    let metrics = BTreeMap::from([(chosen.test.metric.to_string(), chosen.test.value)]);
    let exported = prepared.export(&trained, best, metrics, out, tracker)?;
    let project = prepared.config().plan.project.name.clone();
    let registration = Registration {
        project: &project,
        exported: &exported,
        passed: false,
        verdict: serde_json::json!({ "status": "not evaluated", "model": chosen.name }),
        record_training: true,
    };
    let version = register(&registration, tracker)?;
    finish(&trained, tracker)?;
    let run_id = trained.run.id.clone();
    Ok(Outcome::Done(TrainSummary { run_id, project, models: trained.models, best, exported, version }))
}

/// End the run well and remove its checkpoints.
fn finish(trained: &Trained, tracker: &mut dyn Tracker) -> Result<()> {
    tracker.finished()?;
    checkpoints::remove_run_dir(&trained.run.checkpoint_dir);
    Ok(())
}

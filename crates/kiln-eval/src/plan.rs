//! The checked evaluation plan: `[evaluation]` and `[acceptance]` checked against each other,
//! the task and the configured columns before any data is read (the second stage after serde,
//! as `kiln_data::plan::DataPlan` is for the data sections).

use kiln_core::schema::Task;

use crate::config::{AcceptanceConfig, CiMethod, EvaluationConfig, FAIRNESS_METRICS, SliceConfig, SliceSelector};
use crate::error::{Error, Result};
use crate::metrics::Metric;
use crate::sliced::primary_metric;

/// What the plan checks the sections against: the configured columns.
#[derive(Debug, Clone, Copy)]
pub struct PlanColumns<'a> {
    /// Every configured column, with whether it is numeric.
    pub columns: &'a [(&'a str, bool)],
    /// The protected columns.
    pub protected: &'a [&'a str],
    /// The segment columns: the default slicings when `[[evaluation.slices]]` is empty.
    pub segments: &'a [&'a str],
}

/// `[evaluation]` and `[acceptance]`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalPlan {
    pub task: Task,
    pub evaluation: EvaluationConfig,
    pub acceptance: AcceptanceConfig,
    /// The metrics reported for every slice: the configured ones, or every metric of the task,
    /// in report order.
    pub metrics: Vec<Metric>,
    /// The metric that ranks models.
    pub primary: Metric,
    /// The slicings' names besides "overall".
    pub slicings: Vec<String>,
}

impl EvalPlan {
    /// Checks the sections; the first problem is an error that names its key.
    pub fn new(
        task: Task,
        evaluation: EvaluationConfig,
        acceptance: AcceptanceConfig,
        columns: &PlanColumns<'_>,
    ) -> Result<Self> {
        let metrics = resolve_metrics(task, &evaluation.metrics)?;
        check_settings(&evaluation)?;
        for (i, slice) in evaluation.slices.iter().enumerate() {
            check_slice(&format!("[[evaluation.slices]] #{}", i + 1), slice, columns.columns)?;
        }
        let slicings: Vec<String> = if evaluation.slices.is_empty() {
            columns.segments.iter().map(|s| s.to_string()).collect()
        } else {
            evaluation.slices.iter().map(SliceConfig::display_name).collect()
        };
        check_acceptance(&acceptance, &slicings, columns.protected)?;
        Ok(EvalPlan { task, evaluation, acceptance, metrics, primary: primary_metric(task), slicings })
    }
}

/// The metrics named in `[evaluation] metrics` (every metric of the task when empty), each
/// known and applicable to the task.
pub fn resolve_metrics(task: Task, names: &[String]) -> Result<Vec<Metric>> {
    if names.is_empty() {
        return Ok(Metric::for_task(task));
    }
    let key = "[evaluation] metrics";
    names
        .iter()
        .map(|name| {
            let metric = parse_metric(key, name)?;
            if !metric.applies_to(task) {
                let choices = Metric::for_task(task).iter().map(|m| m.name()).collect::<Vec<_>>().join(", ");
                return Err(Error::MetricNotForTask {
                    key: key.into(),
                    name: name.clone(),
                    task: task.as_str(),
                    choices,
                });
            }
            Ok(metric)
        })
        .collect()
}

fn parse_metric(key: &str, name: &str) -> Result<Metric> {
    Metric::parse(name).ok_or_else(|| Error::UnknownMetric {
        key: key.to_string(),
        name: name.to_string(),
        choices: Metric::names(),
    })
}

fn check_settings(evaluation: &EvaluationConfig) -> Result<()> {
    let out_of_range = |key: &str, value: f64, expected| Error::OutOfRange { key: key.into(), value, expected };
    if !(evaluation.threshold > 0.0 && evaluation.threshold < 1.0) {
        return Err(out_of_range(
            "[evaluation] threshold",
            evaluation.threshold,
            "the threshold lies strictly between 0 and 1, e.g. 0.5",
        ));
    }
    let ci = &evaluation.ci;
    if !(ci.level > 0.0 && ci.level < 1.0) {
        return Err(out_of_range(
            "[evaluation.ci] level",
            ci.level,
            "the level lies strictly between 0 and 1, e.g. 0.95",
        ));
    }
    if ci.method != CiMethod::None && !(2..=u32::MAX as usize).contains(&ci.replicates) {
        return Err(out_of_range(
            "[evaluation.ci] replicates",
            ci.replicates as f64,
            "use at least 2 replicates (1000 is the default)",
        ));
    }
    if evaluation.calibration_bins == 0 {
        return Err(out_of_range("[evaluation] calibration_bins", 0.0, "use at least 1 bin (10 is the default)"));
    }
    Ok(())
}

fn check_slice(key: &str, slice: &SliceConfig, columns: &[(&str, bool)]) -> Result<()> {
    let bad = |problem, hint| Error::BadSlicing { key: key.into(), problem, hint };
    if slice.by.is_empty() {
        return Err(bad("`by` is empty", "name one column, or several to cross"));
    }
    for c in &slice.by {
        match columns.iter().find(|(n, _)| n == c) {
            None => {
                return Err(Error::UnknownColumn {
                    key: key.into(),
                    column: c.clone(),
                    hint: "`by` names columns of [columns]",
                });
            }
            Some((_, false)) if slice.bands.is_some() => {
                return Err(Error::BandsNotNumeric { key: key.into(), column: c.clone() });
            }
            Some(_) => {}
        }
    }
    if let Some(edges) = &slice.bands {
        if slice.by.len() != 1 {
            return Err(bad("`bands` applies to exactly one column in `by`", "band one numeric column per slicing"));
        }
        if edges.is_empty() || edges.windows(2).any(|w| w[0] >= w[1]) || edges.iter().any(|e| !e.is_finite()) {
            return Err(bad("`bands` must be finite, strictly ascending edges", "e.g. bands = [25, 35, 45]"));
        }
    }
    if slice.value.is_some() && (slice.by.len() != 1 || slice.bands.is_some()) {
        return Err(bad(
            "`value` applies to exactly one categorical column in `by`",
            "keep one column and leave out `bands`",
        ));
    }
    Ok(())
}

fn check_acceptance(acceptance: &AcceptanceConfig, slicings: &[String], protected: &[&str]) -> Result<()> {
    for (i, g) in acceptance.metrics.iter().enumerate() {
        let key = format!("[[acceptance.metrics]] #{}", i + 1);
        parse_metric(&key, &g.metric)?;
        if g.min.is_none() && g.max.is_none() {
            return Err(Error::NoBound { key, metric: g.metric.clone() });
        }
        match &g.slices {
            SliceSelector::Keyword(k) if k != "overall" && k != "all" => {
                return Err(Error::UnknownChoice {
                    key: format!("{key} slices"),
                    found: k.clone(),
                    choices: "\"overall\", \"all\" or a list of slicing names",
                });
            }
            SliceSelector::Names(names) => {
                if let Some(name) = names.iter().find(|n| *n != "overall" && !slicings.contains(n)) {
                    let slicings = std::iter::once("overall").chain(slicings.iter().map(String::as_str));
                    return Err(Error::UnknownSlicing {
                        key,
                        name: name.clone(),
                        slicings: slicings.collect::<Vec<_>>().join(", "),
                    });
                }
            }
            SliceSelector::Keyword(_) => {}
        }
    }
    for (i, g) in acceptance.fairness.iter().enumerate() {
        let key = format!("[[acceptance.fairness]] #{}", i + 1);
        if !FAIRNESS_METRICS.contains(&g.metric.as_str()) {
            return Err(Error::UnknownMetric { key, name: g.metric.clone(), choices: FAIRNESS_METRICS.join(", ") });
        }
        if g.min.is_none() && g.max.is_none() {
            return Err(Error::NoBound { key, metric: g.metric.clone() });
        }
        if g.method != "between_groups" && g.method != "to_overall" {
            return Err(Error::UnknownChoice {
                key: format!("{key} method"),
                found: g.method.clone(),
                choices: "\"between_groups\" or \"to_overall\"",
            });
        }
        if let Some(c) = &g.column
            && !protected.contains(&c.as_str())
        {
            return Err(Error::UnknownColumn {
                key,
                column: c.clone(),
                hint: "the column is not in [columns] protected: add it there, or name a protected column",
            });
        }
    }
    if !acceptance.fairness.is_empty() && protected.is_empty() {
        return Err(Error::NoProtectedColumn { key: "[[acceptance.fairness]]".into() });
    }
    if let Some(b) = &acceptance.baseline {
        parse_metric("[acceptance.baseline] metric", &b.metric)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FairnessGate, MetricGate};

    const COLUMNS: &[(&str, bool)] = &[("age", true), ("sex", false), ("race", false)];

    fn plan(evaluation: EvaluationConfig, acceptance: AcceptanceConfig) -> Result<EvalPlan> {
        let columns = PlanColumns { columns: COLUMNS, protected: &["sex"], segments: &["race"] };
        EvalPlan::new(Task::Binary, evaluation, acceptance, &columns)
    }

    fn slice(by: &[&str], bands: Option<Vec<f64>>) -> SliceConfig {
        SliceConfig { by: by.iter().map(|s| s.to_string()).collect(), bands, value: None, name: None }
    }

    fn gate(metric: &str, min: Option<f64>, slices: SliceSelector) -> MetricGate {
        MetricGate { metric: metric.into(), min, max: None, slices }
    }

    #[test]
    fn defaults_plan_every_metric_of_the_task_and_the_segment_slicings() {
        let p = plan(EvaluationConfig::default(), AcceptanceConfig::default()).expect("plan");
        assert_eq!(p.metrics, Metric::for_task(Task::Binary));
        assert_eq!(p.metrics.len(), 12);
        assert_eq!(p.primary, Metric::RocAuc);
        assert_eq!(p.slicings, vec!["race".to_string()]);
    }

    #[test]
    fn every_problem_names_its_key() {
        let e = |evaluation, acceptance| plan(evaluation, acceptance).expect_err("a problem");
        let cases: Vec<(Error, &str)> = vec![
            (
                e(EvaluationConfig { metrics: vec!["auroc".into()], ..Default::default() }, Default::default()),
                "[evaluation] metrics",
            ),
            (
                e(EvaluationConfig { metrics: vec!["rmse".into()], ..Default::default() }, Default::default()),
                "[evaluation] metrics",
            ),
            (
                e(EvaluationConfig { threshold: 1.0, ..Default::default() }, Default::default()),
                "[evaluation] threshold",
            ),
            (
                e(EvaluationConfig { slices: vec![slice(&["zip"], None)], ..Default::default() }, Default::default()),
                "[[evaluation.slices]] #1",
            ),
            (
                e(
                    EvaluationConfig {
                        slices: vec![slice(&["age"], None), slice(&["sex"], Some(vec![1.0]))],
                        ..Default::default()
                    },
                    Default::default(),
                ),
                "[[evaluation.slices]] #2",
            ),
            (
                e(
                    Default::default(),
                    AcceptanceConfig {
                        metrics: vec![gate("roc_auc", Some(0.8), SliceSelector::Names(vec!["sex".into()]))],
                        ..Default::default()
                    },
                ),
                "[[acceptance.metrics]] #1",
            ),
            (
                e(
                    Default::default(),
                    AcceptanceConfig {
                        fairness: vec![FairnessGate {
                            metric: "tpr_difference".into(),
                            column: Some("race".into()),
                            max: Some(0.1),
                            min: None,
                            method: "between_groups".into(),
                        }],
                        ..Default::default()
                    },
                ),
                "[[acceptance.fairness]] #1",
            ),
        ];
        for (error, key) in cases {
            assert_eq!(error.key(), Some(key), "{error}");
            assert!(error.to_string().starts_with(key) && error.to_string().contains("\nhint: "), "{error}");
        }
    }

    #[test]
    fn a_metric_of_another_task_is_refused_with_the_task_s_choices() {
        let evaluation = EvaluationConfig { metrics: vec!["rmse".into()], ..Default::default() };
        let error = plan(evaluation, AcceptanceConfig::default()).expect_err("rmse is a regression metric");
        assert!(matches!(&error, Error::MetricNotForTask { task: "binary", .. }), "{error}");
        assert!(error.to_string().contains("roc_auc, average_precision, accuracy"), "{error}");
    }
}

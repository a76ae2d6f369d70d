//! The figures of a rollout's current step: the challenger's scoring outcomes and breaker
//! openings from each server's `/metrics` (counted since the step began), and from the
//! prediction log the rows, p95 latency, labels and metric of champion and challenger on the
//! requests that arrived since the step began.

use std::collections::BTreeMap;
use std::path::Path;

use kiln_core::bundle::Manifest;
use kiln_core::schema::Task;
use kiln_monitor::cbpe::{ScoredWindow, roc_auc};
use kiln_track::{Rollout, RolloutPhase};
use serde::{Deserialize, Serialize};

use super::RolloutPlan;
use super::scrape::{Counters, Scrape, challenger_counters, samples, since};
use crate::error::{Error, Result};
use crate::feedback::{LabelledRows, LogQuery, labelled_rows};

/// Where a step's metric figures came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricSource {
    /// Computed on the labelled rows of the step (both versions had `min_labels`).
    Realised,
    /// Estimated without labels by CBPE from each bundle's calibration.
    Estimated,
    /// Neither: too few rows, no calibration, or not a binary model.
    Unavailable,
}

/// One version's figures over the step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionFigures {
    pub version: i64,
    /// Scoring calls counted by the servers (the challenger only).
    pub requests: u64,
    pub failed: u64,
    /// Rows logged.
    pub rows: u64,
    /// Logged rows with a label.
    pub labelled: u64,
    pub latency_p95_ms: Option<f64>,
    pub metric: Option<f64>,
}

/// What a step is judged on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepFigures {
    pub phase: RolloutPhase,
    pub step: i64,
    /// Time since the step began.
    pub elapsed_ms: i64,
    pub champion: VersionFigures,
    pub challenger: VersionFigures,
    /// The challenger's failed share of its scoring calls (none before its first call).
    pub error_rate: Option<f64>,
    /// Challenger p95 latency over champion p95 latency.
    pub latency_ratio: Option<f64>,
    pub metric: String,
    pub metric_source: MetricSource,
    /// Champion metric minus challenger metric.
    pub metric_drop: Option<f64>,
    /// Whether the challenger's breaker opened during the step (or is open now).
    pub breaker_opened: bool,
    /// Each server's counters of the challenger's route now: the base of the next step's
    /// counts while the route stays the same (a server starts a new route's counts at zero).
    pub counters: BTreeMap<String, Counters>,
}

/// What [`gather`] reads.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The served model's name in the log and the metrics (the registry name).
    pub model: &'a str,
    pub log_dir: &'a Path,
    pub scrapes: &'a [Scrape],
    pub champion: &'a Manifest,
    pub challenger: &'a Manifest,
    pub now_ms: i64,
}

/// The figures of `rollout`'s current step.
pub fn gather(rollout: &Rollout, plan: &RolloutPlan, sources: &Sources<'_>) -> Result<StepFigures> {
    let route = if rollout.phase == RolloutPhase::Canary { "canary" } else { "shadow" };
    // the base recorded with the last move (none after a move into a new route)
    let bases: BTreeMap<String, Counters> =
        serde_json::from_value(rollout.figures["counters"].clone()).unwrap_or_default();
    let mut counters = BTreeMap::new();
    let mut step_counts = Counters::default();
    for scrape in sources.scrapes {
        let samples = samples(&scrape.server, &scrape.text)?;
        let now = challenger_counters(&samples, sources.model, rollout.challenger_version, route);
        let counted = since(now, bases.get(&scrape.server).copied());
        step_counts.ok += counted.ok;
        step_counts.failed += counted.failed;
        step_counts.breaker_opens += counted.breaker_opens;
        step_counts.breaker_open_now |= counted.breaker_open_now;
        counters.insert(scrape.server.clone(), now);
    }
    let score_column = score_column(sources.challenger);
    let read = |version: i64, route: &str| {
        let query = LogQuery {
            log_dir: sources.log_dir,
            model: sources.model,
            versions: Some(&[version]),
            routes: &[route],
            since_ms: Some(rollout.step_started_ms),
            until_ms: None,
            labelled_only: false,
        };
        match labelled_rows(&query, &score_column) {
            Err(Error::NoLog { .. }) => Ok(LabelledRows::default()),
            other => other,
        }
    };
    let champion_rows = read(rollout.champion_version, "primary")?;
    let challenger_rows = read(rollout.challenger_version, route)?;
    let mut champion = version_figures(rollout.champion_version, &champion_rows);
    let mut challenger = version_figures(rollout.challenger_version, &challenger_rows);
    challenger.requests = (step_counts.ok + step_counts.failed) as u64;
    challenger.failed = step_counts.failed as u64;
    let metric_source = metric_source(plan, sources, (&champion, &champion_rows), (&challenger, &challenger_rows));
    let (champion_metric, challenger_metric) = match metric_source {
        MetricSource::Realised => (
            realised(&plan.metric, sources.champion, &champion_rows),
            realised(&plan.metric, sources.challenger, &challenger_rows),
        ),
        MetricSource::Estimated => (
            estimated(&plan.metric, sources.champion, &champion_rows.scores),
            estimated(&plan.metric, sources.challenger, &challenger_rows.scores),
        ),
        MetricSource::Unavailable => (None, None),
    };
    champion.metric = champion_metric;
    challenger.metric = challenger_metric;
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).filter(|(_, b)| *b > 0.0).map(|(a, b)| a / b);
    Ok(StepFigures {
        phase: rollout.phase,
        step: rollout.step,
        elapsed_ms: sources.now_ms - rollout.step_started_ms,
        error_rate: (challenger.requests > 0).then(|| challenger.failed as f64 / challenger.requests as f64),
        latency_ratio: ratio(challenger.latency_p95_ms, champion.latency_p95_ms),
        metric: plan.metric.clone(),
        metric_source,
        metric_drop: champion.metric.zip(challenger.metric).map(|(a, b)| a - b),
        breaker_opened: step_counts.breaker_opens > 0.0 || step_counts.breaker_open_now,
        champion,
        challenger,
        counters,
    })
}

/// The output column logged as a binary model's score (`p_<positive class>`), or `predicted`.
pub fn score_column(manifest: &Manifest) -> String {
    let schema = &manifest.schema;
    match schema.task {
        Task::Binary => format!("p_{}", schema.classes.get(1).map_or("1", String::as_str)),
        _ => "predicted".to_string(),
    }
}

fn version_figures(version: i64, rows: &LabelledRows) -> VersionFigures {
    VersionFigures {
        version,
        rows: rows.len() as u64,
        labelled: rows.n_labelled() as u64,
        latency_p95_ms: p95(&rows.latency_ms),
        ..VersionFigures::default()
    }
}

/// The 95th percentile (nearest rank) of the finite values.
pub fn p95(values: &[f64]) -> Option<f64> {
    let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return None;
    }
    finite.sort_by(f64::total_cmp);
    let rank = (0.95 * finite.len() as f64).ceil() as usize;
    Some(finite[rank.clamp(1, finite.len()) - 1])
}

fn metric_source(
    plan: &RolloutPlan,
    sources: &Sources<'_>,
    champion: (&VersionFigures, &LabelledRows),
    challenger: (&VersionFigures, &LabelledRows),
) -> MetricSource {
    let binary = [sources.champion, sources.challenger].iter().all(|m| m.schema.task == Task::Binary);
    if !binary {
        return MetricSource::Unavailable;
    }
    if plan.min_labels > 0 && champion.0.labelled >= plan.min_labels && challenger.0.labelled >= plan.min_labels {
        return MetricSource::Realised;
    }
    let calibrated = [sources.champion, sources.challenger]
        .iter()
        .all(|m| m.reference.scores.as_ref().is_some_and(|s| s.calibration.is_some()));
    if calibrated && champion.1.len() >= 2 && challenger.1.len() >= 2 {
        MetricSource::Estimated
    } else {
        MetricSource::Unavailable
    }
}

fn threshold(manifest: &Manifest) -> f64 {
    manifest.decision_threshold.unwrap_or(0.5)
}

/// The metric on the labelled rows of a bundle's model with finite scores.
fn realised(metric: &str, manifest: &Manifest, rows: &LabelledRows) -> Option<f64> {
    let positive = manifest.schema.classes.get(1)?;
    realised_on(metric, positive, threshold(manifest), &rows.labels, &rows.scores)
}

/// The metric of `scores` against the `labels` (text; `positive` is the positive class) that
/// are present, where the score is finite; accuracy at `threshold`.
fn realised_on(metric: &str, positive: &str, threshold: f64, labels: &[Option<String>], scores: &[f64]) -> Option<f64> {
    let (labels, scores): (Vec<bool>, Vec<f64>) = labels
        .iter()
        .zip(scores)
        .filter_map(|(label, score)| Some((label.as_deref()? == positive, *score)).filter(|(_, s)| s.is_finite()))
        .unzip();
    if scores.is_empty() {
        return None;
    }
    match metric {
        "roc_auc" => roc_auc(&labels, &scores).ok().flatten(),
        _ => {
            let right = labels.iter().zip(&scores).filter(|(label, score)| (**score >= threshold) == **label).count();
            Some(right as f64 / scores.len() as f64)
        }
    }
}

/// The CBPE estimate of the metric from the bundle's calibration of its test scores.
fn estimated(metric: &str, manifest: &Manifest, scores: &[f64]) -> Option<f64> {
    let map = manifest.reference.scores.as_ref()?.calibration.as_ref()?;
    let calibrator = kiln_monitor::performance::calibrator(map).ok()?;
    let finite: Vec<f64> = scores.iter().copied().filter(|s| s.is_finite()).collect();
    let window = ScoredWindow::new(&calibrator, &finite, threshold(manifest)).ok()?;
    match metric {
        "roc_auc" => window.estimated_roc_auc(),
        _ => Some(window.estimated_accuracy()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realised_metrics_use_the_labelled_finite_rows_only() {
        let label = |l: &str| Some(l.to_owned());
        let labels = [label("yes"), label("no"), label("yes"), label("no"), None, label("yes")];
        let scores = [0.9, 0.8, 0.7, 0.1, 0.5, f64::NAN];
        // positive × negative pairs ranked right: (0.9, 0.8), (0.9, 0.1), (0.7, 0.1) of 4
        assert_eq!(realised_on("roc_auc", "yes", 0.5, &labels, &scores), Some(0.75));
        // at 0.75: yes (0.9) right, no (0.8) wrong, yes (0.7) wrong, no (0.1) right
        assert_eq!(realised_on("accuracy", "yes", 0.75, &labels, &scores), Some(0.5));
        assert_eq!(realised_on("accuracy", "yes", 0.5, &labels, &scores), Some(0.75));
        assert_eq!(realised_on("accuracy", "yes", 0.5, &[None, None], &[0.1, 0.2]), None);
    }

    #[test]
    fn p95_is_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(p95(&values), Some(95.0));
        assert_eq!(p95(&[3.0, f64::NAN, 1.0, 2.0]), Some(3.0));
        assert_eq!(p95(&[7.0]), Some(7.0));
        assert_eq!(p95(&[]), None);
    }
}

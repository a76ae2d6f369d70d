//! The checks of one window and its slicing groups: every feature's drift test against the
//! group's reference, the share of drifted features, the scores' drift and the estimated
//! metrics. Features are tested in parallel; nothing here reads files or knows where the rows
//! came from.

use std::collections::BTreeMap;

use kiln_core::preprocess::ColumnRef;
use rayon::prelude::*;

use crate::config::MonitorPlan;
use crate::error::{Error, Result};
use crate::grouped::{Cuts, profiles, score_profiles};
use crate::performance::{PerformanceReference, estimate};
use crate::profile::{Paired, Profile, Reference, pair};
use crate::report::{FeatureResult, GroupResult, Plot};
use crate::stats::binning::sturges_edges;
use crate::stats::{ColumnOptions, FeatureKind, Sample, dataset_drift, test_column};

/// The seed of the estimated metrics' intervals (the same rows give the same report).
const ESTIMATE_SEED: u64 = 7;

/// The most bins or categories a plot shows.
const PLOT_BINS: usize = 40;

/// One group's references: each feature's, and the scores'.
#[derive(Debug, Clone, Default)]
pub struct GroupReference {
    pub features: Vec<(String, Reference)>,
    pub scores: Option<Reference>,
    /// The calibration and test metrics that estimate performance without labels.
    pub performance: Option<PerformanceReference>,
}

/// The current rows: feature columns by name, and the model's scores of them.
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    pub columns: &'a [(&'a str, ColumnRef<'a>)],
    pub scores: Option<&'a [f64]>,
}

impl Current<'_> {
    fn column(&self, name: &str) -> Option<ColumnRef<'_>> {
        self.columns.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
    }
}

/// One group to check in a window: its names, rows (ascending), slicing index (the window
/// itself has none) and reference (none: listed, not judged).
#[derive(Debug, Clone, Copy)]
pub struct Group<'a> {
    pub slice: &'a str,
    pub group: &'a str,
    pub rows: &'a [u32],
    pub slicing: Option<usize>,
    pub reference: Option<&'a GroupReference>,
}

/// Check a window: `groups[0]` is the whole window, the others its slicing groups. Each
/// feature's values are profiled once for all groups (see [`crate::grouped`]); features are
/// tested in parallel.
pub fn check_window(
    groups: &[Group<'_>],
    current: &Current<'_>,
    n_rows: usize,
    plan: &MonitorPlan,
) -> Result<Vec<GroupResult>> {
    let whole = groups[0];
    let parts: Vec<(usize, &[u32])> = groups[1..].iter().map(|g| (g.slicing.unwrap_or(0), g.rows)).collect();
    let cuts = Cuts::new(whole.rows, n_rows, &parts);
    let judged = |g: &Group<'_>| g.reference.is_some() && g.rows.len() >= plan.min_rows;
    let names: Vec<&str> = whole
        .reference
        .map(|r| r.features.iter().map(|(n, _)| n.as_str()).filter(|n| !plan.skipped.iter().any(|s| s == n)).collect())
        .unwrap_or_default();
    let tested: Vec<Vec<Option<FeatureResult>>> = names
        .par_iter()
        .map(|name| {
            let column = current.column(name).ok_or_else(|| Error::UnknownFeature {
                column: name.to_string(),
                hint: "the current rows lack a feature the reference has: send every feature the model was trained on",
            })?;
            let (overall, each) = profiles(column, &cuts);
            let profiles = std::iter::once(&overall).chain(&each);
            groups
                .iter()
                .zip(profiles)
                .enumerate()
                .map(|(i, (g, profile))| match (judged(g), g.reference.and_then(|r| r.feature(name))) {
                    (true, Some(reference)) => {
                        test_feature(name, reference, profile, plan.options(name, kind_of(reference)), i == 0)
                    }
                    _ => Ok(None),
                })
                .collect()
        })
        .collect::<Result<_>>()?;
    let scores = match current.scores {
        Some(scores) => {
            let (overall, each) = score_profiles(scores, &cuts);
            std::iter::once(overall).chain(each).map(Some).collect()
        }
        None => vec![None; groups.len()],
    };
    let mut out = Vec::with_capacity(groups.len());
    for (i, (g, score_profile)) in groups.iter().zip(scores).enumerate() {
        let mut result = empty(g);
        let reference = match g.reference {
            Some(reference) if judged(g) => reference,
            None => {
                result.skipped = Some("no reference: the training rows had too few rows of this group, or none".into());
                out.push(result);
                continue;
            }
            Some(_) => {
                result.skipped = Some(format!("{} rows, fewer than min_rows = {}", g.rows.len(), plan.min_rows));
                out.push(result);
                continue;
            }
        };
        result.features = tested.iter().filter_map(|per_group| per_group[i].clone()).collect();
        if !result.features.is_empty() {
            result.dataset = Some(dataset_drift(result.features.iter().map(|f| &f.result), plan.drift_share)?);
        }
        if let (Some(profile), Some(score_reference)) = (score_profile, &reference.scores) {
            result.scores = test_feature("score", score_reference, &profile, plan.scores, false)?;
        }
        if let (Some(scores), Some(performance)) = (current.scores, &reference.performance) {
            let picked: Vec<f64> = g.rows.iter().map(|&r| scores[r as usize]).collect();
            result.estimated = estimate(performance, &picked, plan.level, plan.max_metric_drop, ESTIMATE_SEED)?;
        }
        out.push(result);
    }
    Ok(out)
}

fn empty(g: &Group<'_>) -> GroupResult {
    GroupResult {
        slice: g.slice.to_string(),
        group: g.group.to_string(),
        rows: g.rows.len() as u64,
        skipped: None,
        features: Vec::new(),
        dataset: None,
        scores: None,
        estimated: Vec::new(),
        realised: Vec::new(),
    }
}

impl GroupReference {
    /// The reference of one feature, by name.
    pub fn feature(&self, name: &str) -> Option<&Reference> {
        self.features.iter().find(|(n, _)| n == name).map(|(_, r)| r)
    }
}

/// One feature's test; `None` when the current side has no value and `required` is false.
fn test_feature(
    name: &str,
    reference: &Reference,
    current: &Profile,
    options: ColumnOptions,
    required: bool,
) -> Result<Option<FeatureResult>> {
    if current.rows() == current.missing() {
        if required {
            return Err(Error::AllMissing { column: name.to_string(), rows: current.rows() });
        }
        return Ok(None);
    }
    let paired = pair(reference, current).ok_or_else(|| Error::KindMismatch { column: name.to_string() })?;
    let result = test_column(&paired.inputs(), name, options)?;
    let share = |missing: u64, rows: u64| if rows == 0 { 0.0 } else { missing as f64 / rows as f64 };
    Ok(Some(FeatureResult {
        feature: name.to_string(),
        kind: paired.inputs().kind(),
        result,
        reference_rows: reference.rows(),
        current_rows: current.rows(),
        reference_missing_share: share(reference.missing(), reference.rows()),
        current_missing_share: share(current.missing(), current.rows()),
        plot: plot(&paired, reference, current),
    }))
}

/// Binned shares of both sides for the report.
fn plot(paired: &Paired<'_>, reference: &Reference, current: &Profile) -> Plot {
    match paired {
        Paired::Numeric { reference, current } => numeric_plot(reference, current),
        Paired::Categorical(_) => categorical_plot(reference, current),
    }
}

fn numeric_plot(reference: &Sample<'_>, current: &Sample<'_>) -> Plot {
    let (first, last) = (reference.min().min(current.min()), reference.max().max(current.max()));
    let mut edges = sturges_edges(first, last, reference.count() + current.count());
    if edges.len() > PLOT_BINS + 1 {
        edges = crate::stats::binning::linspace(edges[0], edges[edges.len() - 1], PLOT_BINS + 1);
    }
    let shares = |s: &Sample<'_>| {
        let n = s.count().max(1) as f64;
        let k = edges.len() - 1;
        (0..k).map(|i| s.count_between(edges[i], edges[i + 1], i == k - 1) / n).collect()
    };
    Plot { reference: shares(reference), current: shares(current), edges, categories: Vec::new() }
}

fn categorical_plot(reference: &Reference, current: &Profile) -> Plot {
    let empty = BTreeMap::new();
    let r = match reference {
        Reference::Data(Profile::Categorical { counts, .. }) | Reference::Vocabulary { counts, .. } => counts,
        _ => &empty,
    };
    let c = match current {
        Profile::Categorical { counts, .. } => counts,
        Profile::Numeric { .. } => &empty,
    };
    let (nr, nc) = (r.values().sum::<u64>().max(1) as f64, c.values().sum::<u64>().max(1) as f64);
    let mut keys: Vec<(&String, f64)> = r
        .keys()
        .chain(c.keys())
        .map(|k| (k, r.get(k).copied().unwrap_or(0) as f64 / nr + c.get(k).copied().unwrap_or(0) as f64 / nc))
        .collect();
    keys.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    keys.dedup_by(|a, b| a.0 == b.0);
    keys.truncate(PLOT_BINS);
    Plot {
        edges: Vec::new(),
        reference: keys.iter().map(|(k, _)| r.get(*k).copied().unwrap_or(0) as f64 / nr).collect(),
        current: keys.iter().map(|(k, _)| c.get(*k).copied().unwrap_or(0) as f64 / nc).collect(),
        categories: keys.into_iter().map(|(k, _)| k.clone()).collect(),
    }
}

/// The kind the tests give a reference.
pub fn kind_of(reference: &Reference) -> FeatureKind {
    match reference {
        Reference::Data(Profile::Numeric { .. }) | Reference::Sketch { .. } => FeatureKind::Numeric,
        _ => FeatureKind::Categorical,
    }
}

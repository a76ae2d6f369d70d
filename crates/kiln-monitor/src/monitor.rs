//! A whole monitoring pass: the references of every group, the current rows cut into windows
//! and slicing groups, each group checked, and the findings in words with the verdict.
//! The caller cuts rows into slicings (kiln-pipeline does it with kiln-eval's slicing, so the
//! groups carry the names the bundle's references were stored under).

use std::collections::BTreeMap;

use kiln_core::bundle::{FeatureReference, ReferenceDistributions, ScoreReference};
use kiln_core::preprocess::ColumnRef;

use crate::check::{Current, Group, GroupReference, check_window};
use crate::config::MonitorPlan;
use crate::error::{Error, Result};
use crate::grouped::{Cuts, profiles};
use crate::performance::PerformanceReference;
use crate::profile::Reference;
use crate::report::{Finding, GroupResult, WindowResult};

/// The name of the group holding every row.
pub const OVERALL: (&str, &str) = ("overall", "all");

/// The references of the whole data and of each slicing group.
#[derive(Debug, Clone, Default)]
pub struct References {
    pub overall: GroupReference,
    /// By (slicing, group).
    pub groups: BTreeMap<(String, String), GroupReference>,
}

impl References {
    /// A bundle's references (with the model's decision threshold, for estimated accuracy);
    /// an error when it was written without sketches.
    pub fn from_bundle(reference: &ReferenceDistributions, threshold: Option<f64>) -> Result<Self> {
        if !reference.has_sketches() {
            return Err(Error::NoSketches);
        }
        let group = |features: &[FeatureReference], scores: Option<&ScoreReference>| -> Result<GroupReference> {
            let performance = match (scores, threshold) {
                (Some(scores), Some(threshold)) => PerformanceReference::from_scores(scores, threshold)?,
                _ => None,
            };
            Ok(GroupReference {
                features: features
                    .iter()
                    .filter_map(|f| Some((f.name().to_string(), Reference::from_bundle(f)?)))
                    .collect(),
                scores: scores.and_then(Reference::from_scores),
                performance,
            })
        };
        let mut groups = BTreeMap::new();
        for s in &reference.segments {
            groups.insert((s.slice.clone(), s.group.clone()), group(&s.features, s.scores.as_ref())?);
        }
        Ok(Self { overall: group(&reference.features, reference.scores.as_ref())?, groups })
    }
}

impl References {
    /// Exact references from reference rows: every column whole and in each group of
    /// `slicings` with at least `min_rows` rows (each column profiled once for all groups).
    pub fn from_data(columns: &[(&str, ColumnRef<'_>)], slicings: &[SlicingRows], min_rows: usize) -> Self {
        let n = columns.first().map_or(0, |(_, c)| c.len());
        let all: Vec<u32> = (0..n as u32).collect();
        let kept: Vec<(usize, &String, &Vec<u32>)> = slicings
            .iter()
            .enumerate()
            .flat_map(|(s, slicing)| slicing.groups.iter().map(move |(value, rows)| (s, value, rows)))
            .filter(|(_, _, rows)| rows.len() >= min_rows)
            .collect();
        let parts: Vec<(usize, &[u32])> = kept.iter().map(|(s, _, rows)| (*s, rows.as_slice())).collect();
        let cuts = Cuts::new(&all, n, &parts);
        let mut overall = GroupReference::default();
        let mut groups = vec![GroupReference::default(); kept.len()];
        for (name, column) in columns {
            let (whole, each) = profiles(*column, &cuts);
            overall.features.push((name.to_string(), Reference::Data(whole)));
            for (group, profile) in groups.iter_mut().zip(each) {
                group.features.push((name.to_string(), Reference::Data(profile)));
            }
        }
        let groups = kept
            .iter()
            .zip(groups)
            .map(|((s, value, _), group)| ((slicings[*s].name.clone(), (*value).clone()), group))
            .collect();
        Self { overall, groups }
    }
}

/// One slicing of the current rows: each group's rows (ascending indices).
#[derive(Debug, Clone, PartialEq)]
pub struct SlicingRows {
    pub name: String,
    pub groups: Vec<(String, Vec<u32>)>,
}

/// One window of the current rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub label: String,
    /// Ascending row indices.
    pub rows: Vec<u32>,
}

/// Check every window: the whole window, then every group of every slicing in it.
pub fn check_windows(
    references: &References,
    current: &Current<'_>,
    windows: &[Window],
    slicings: &[SlicingRows],
    plan: &MonitorPlan,
) -> Result<Vec<WindowResult>> {
    if windows.iter().all(|w| w.rows.is_empty()) {
        return Err(Error::EmptyWindow);
    }
    let n_rows = current.columns.first().map_or(0, |(_, c)| c.len());
    let mut out = Vec::with_capacity(windows.len());
    for (index, window) in windows.iter().enumerate() {
        let mut cut: Vec<(&str, &str, Vec<u32>, Option<usize>)> =
            vec![(OVERALL.0, OVERALL.1, window.rows.clone(), None)];
        if plan.segments {
            for (s, slicing) in slicings.iter().enumerate() {
                for (value, rows) in &slicing.groups {
                    let rows = intersect(rows, &window.rows);
                    if rows.len() >= plan.min_rows {
                        cut.push((&slicing.name, value, rows, Some(s)));
                    }
                }
            }
        }
        let groups: Vec<Group<'_>> = cut
            .iter()
            .map(|(slice, group, rows, slicing)| Group {
                slice,
                group,
                rows,
                slicing: *slicing,
                reference: match slicing {
                    None => Some(&references.overall),
                    Some(_) => references.groups.get(&(slice.to_string(), group.to_string())),
                },
            })
            .collect();
        let groups = check_window(&groups, current, n_rows, plan)?;
        out.push(WindowResult { index, label: window.label.clone(), rows: window.rows.len() as u64, groups });
    }
    Ok(out)
}

/// Rows of `a` also in `b` (both ascending).
fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    if b.len() == b.last().map_or(0, |&l| l as usize + 1) && b.first() == Some(&0) {
        return a.iter().copied().take_while(|&r| (r as usize) < b.len()).collect();
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// The findings in words, and whether any of them is drift.
///
/// A group's score drift judged by a p-value counts as drift only below the threshold divided
/// by the number of groups judged in the window (Bonferroni): with twenty groups, one of them
/// would otherwise cross 0.05 by chance in most windows. Feature drift in a group counts
/// through the group's share of drifted features, as overall.
pub fn findings(windows: &[WindowResult], plan: &MonitorPlan) -> (Vec<Finding>, bool) {
    let mut out = Vec::new();
    for w in windows {
        let judged = w.groups.iter().filter(|g| g.slice != OVERALL.0 && g.dataset.is_some()).count().max(1);
        let overall = &w.groups[0];
        let overall_drifted: Vec<&str> =
            overall.features.iter().filter(|f| f.result.drifted).map(|f| f.feature.as_str()).collect();
        let mut add = |kind: &str, message: String, drift: bool| {
            out.push(Finding { kind: kind.into(), window: w.index, message, drift });
        };
        for g in &w.groups {
            let name = group_name(g);
            if let Some(d) = g.dataset.filter(|d| d.drifted) {
                add(
                    "dataset_drift",
                    format!(
                        "{name}: {} of {} features drifted ({:.0}% ≥ drift_share {:.0}%)",
                        d.n_drifted,
                        d.n_columns,
                        d.share * 100.0,
                        plan.drift_share * 100.0
                    ),
                    true,
                );
            }
            let drifted: Vec<&str> =
                g.features.iter().filter(|f| f.result.drifted).map(|f| f.feature.as_str()).collect();
            if g.slice == OVERALL.0 {
                for f in &drifted {
                    add("feature_drift", format!("`{f}` drifted overall"), false);
                }
            } else {
                let only: Vec<&str> = drifted.iter().copied().filter(|f| !overall_drifted.contains(f)).collect();
                for f in only {
                    add("segment_drift", format!("`{f}` drifted only for {name}, not overall"), false);
                }
            }
            if let Some(s) = g.scores.as_ref().filter(|s| s.result.drifted) {
                let (drift, note) = match s.result.p_value {
                    Some(p) if g.slice != OVERALL.0 => {
                        let level = s.result.threshold / judged as f64;
                        (p < level, format!("; drift below p = {level:.2e} over {judged} groups"))
                    }
                    _ => (true, String::new()),
                };
                add(
                    "score_drift",
                    format!("{name}: the model's scores drifted ({} {:.4}{note})", s.result.test, s.result.score),
                    drift,
                );
            }
            for m in g.estimated.iter().chain(&g.realised).filter(|m| m.dropped) {
                add(
                    "metric_drop",
                    format!(
                        "{name}: {} {:.4} [{:.4}, {:.4}] is more than {} below its test value {:.4}",
                        m.metric,
                        m.value,
                        m.low,
                        m.high,
                        plan.max_metric_drop,
                        m.reference.unwrap_or(f64::NAN)
                    ),
                    true,
                );
            }
            if g.skipped.as_deref().is_some_and(|s| s.starts_with("no reference")) {
                add(
                    "no_reference",
                    format!("{name}: {} rows of a group the training rows had too few of", g.rows),
                    false,
                );
            }
        }
    }
    let drift = out.iter().any(|f| f.drift);
    (out, drift)
}

/// "overall" or "sex = Female".
pub fn group_name(g: &GroupResult) -> String {
    if g.slice == OVERALL.0 { "overall".into() } else { format!("{} = {}", g.slice, g.group) }
}

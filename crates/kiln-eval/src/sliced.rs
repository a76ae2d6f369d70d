//! One model on every slice: metrics with intervals, confusion matrices, calibration and ROC
//! curves, and the most confident errors.

use std::collections::BTreeMap;

use kiln_core::schema::Task;

use crate::ci::intervals;
use crate::config::{CiMethod, EvaluationConfig};
use crate::data::{EvalData, Labels, ModelOutput};
use crate::metrics::{Metric, MetricParams, Outcomes, compute_all};
use crate::report::{CalibrationBin, ErrorRow, MetricValue, SliceReport, SlicingReport, WorstSlice};
use crate::scan::score_order;
use crate::slices::{Group, Slicing};

mod replicates;
#[cfg(test)]
mod tests;

use replicates::SortedRows;

/// The metric that ranks models: ROC AUC, log loss or RMSE.
pub fn primary_metric(task: Task) -> Metric {
    match task {
        Task::Binary => Metric::RocAuc,
        Task::Multiclass => Metric::LogLoss,
        Task::Regression => Metric::Rmse,
    }
}

/// One slice's rows gathered into contiguous columns (binary: ordered by score, so that the
/// rank metrics' sorts find sorted input on every replicate).
pub(crate) struct GroupView {
    pub(crate) rows: Vec<u32>,
    pub labels: Labels,
    pub scores: Vec<f64>,
}

impl GroupView {
    pub(crate) fn new(group: &Group, labels: &Labels, scores: &[f64]) -> Self {
        let mut rows = group.rows.clone();
        if let Labels::Binary(_) = labels {
            rows.sort_by(|&a, &b| scores[a as usize].total_cmp(&scores[b as usize]));
        }
        Self::of_rows(rows, labels, scores)
    }

    /// The view of `rows`, taken in the order given.
    fn of_rows(rows: Vec<u32>, labels: &Labels, scores: &[f64]) -> Self {
        let k = labels.n_outputs();
        let gathered_scores: Vec<f64> =
            rows.iter().flat_map(|&r| scores[r as usize * k..(r as usize + 1) * k].iter().copied()).collect();
        let gathered_labels = match labels {
            Labels::Binary(v) => Labels::Binary(rows.iter().map(|&r| v[r as usize]).collect()),
            Labels::Multiclass { labels, n_classes } => {
                Labels::Multiclass { labels: rows.iter().map(|&r| labels[r as usize]).collect(), n_classes: *n_classes }
            }
            Labels::Regression(v) => Labels::Regression(rows.iter().map(|&r| v[r as usize]).collect()),
        };
        Self { rows, labels: gathered_labels, scores: gathered_scores }
    }

    pub(crate) fn outcomes(&self) -> Outcomes<'_> {
        crate::data::outcomes(&self.labels, &self.scores)
    }

    /// `metrics` of this group under row weights `all`. Rows of weight 0 count as absent
    /// (as in every metric), so binary groups drop them before the rank metrics sort.
    pub(crate) fn metrics(&self, all: &[f64], metrics: &[Metric], params: &MetricParams) -> Vec<Option<f64>> {
        if let Labels::Binary(labels) = &self.labels {
            let mut l = Vec::with_capacity(self.rows.len());
            let mut s = Vec::with_capacity(self.rows.len());
            let mut w = Vec::with_capacity(self.rows.len());
            for (i, &r) in self.rows.iter().enumerate() {
                let weight = all[r as usize];
                if weight != 0.0 {
                    l.push(labels[i]);
                    s.push(self.scores[i]);
                    w.push(weight);
                }
            }
            return compute_all(metrics, &Outcomes::Binary { labels: &l, scores: &s }, Some(&w), params);
        }
        let wg = self.gather(all);
        compute_all(metrics, &self.outcomes(), Some(&wg), params)
    }

    /// This group's share of row weights `all`.
    pub(crate) fn gather(&self, all: &[f64]) -> Vec<f64> {
        self.rows.iter().map(|&r| all[r as usize]).collect()
    }
}

/// Which way the bootstrap intervals of a binary evaluation are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Path {
    /// One sort of the rows by score, and one pass over them per replicate
    /// ([`replicates`]) where it applies: binary labels, bootstrap intervals, probabilities.
    Fast,
    /// Every metric of every slice recomputed per replicate (`ci::intervals`).
    Generic,
}

/// Every slicing of one model.
pub(crate) fn slicings(
    model: &ModelOutput,
    data: &EvalData,
    slicings: &[Slicing],
    metrics: &[Metric],
    config: &EvaluationConfig,
) -> Vec<SlicingReport> {
    let path = if let Labels::Binary(_) = data.labels { Path::Fast } else { Path::Generic };
    slicings_by(model, data, slicings, metrics, config, path)
}

/// [`slicings`] on the chosen path.
pub(crate) fn slicings_by(
    model: &ModelOutput,
    data: &EvalData,
    slicings: &[Slicing],
    metrics: &[Metric],
    config: &EvaluationConfig,
    path: Path,
) -> Vec<SlicingReport> {
    let params = MetricParams { threshold: config.threshold, ece_bins: config.calibration_bins, top_k: config.top_k };
    let n = data.n_rows();
    let ones = vec![1.0; n];
    let base: &[f64] = data.weights.as_deref().unwrap_or(&ones);
    // binary rows in score order, once: every slice's view is taken from it
    let order = match (&data.labels, path) {
        (Labels::Binary(_), Path::Fast) => score_order(&model.scores).ok(),
        _ => None,
    };
    // Every slice that is large enough, flattened, for one pass of the resampling.
    let mut views: Vec<(usize, usize, GroupView)> = Vec::new();
    for (si, slicing) in slicings.iter().enumerate() {
        let mut in_order = order.as_deref().map(|o| rows_in_order(o, slicing, n));
        for (gi, group) in slicing.groups.iter().enumerate() {
            if group.rows.len() >= config.min_slice_size.max(1) {
                let view = match &mut in_order {
                    Some(lists) => GroupView::of_rows(std::mem::take(&mut lists[gi]), &data.labels, &model.scores),
                    None => GroupView::new(group, &data.labels, &model.scores),
                };
                views.push((si, gi, view));
            }
        }
    }
    let stat = |w: &[f64]| -> Vec<Option<f64>> {
        let mut out = Vec::with_capacity(views.len() * metrics.len());
        for (_, _, view) in &views {
            out.extend(view.metrics(w, metrics, &params));
        }
        out
    };
    let point = stat(base);
    let cis = match (&data.labels, order.as_deref()) {
        (Labels::Binary(labels), Some(order)) if fast_bootstrap_applies(config, &model.scores) => {
            let view_rows: Vec<(usize, &[u32])> = views.iter().map(|(si, _, v)| (*si, v.rows.as_slice())).collect();
            SortedRows::new(order, labels, &model.scores, base, &view_rows, slicings.len(), &params)
                .bootstrap(&config.ci, metrics, &params)
        }
        _ => intervals(n, data.weights.as_deref(), &config.ci, &point, stat),
    };
    let values: Vec<MetricValue> = point.iter().zip(&cis).map(|(&value, &ci)| MetricValue { value, ci }).collect();
    reports(data, slicings, metrics, config, base, &views, &values)
}

/// Whether the one-pass bootstrap gives this evaluation's intervals: bootstrap intervals of
/// probabilities (the generic path's log loss, Brier score and calibration error are
/// undefined for other scores), with calibration bins.
fn fast_bootstrap_applies(config: &EvaluationConfig, scores: &[f64]) -> bool {
    config.ci.method == CiMethod::Bootstrap
        && config.calibration_bins > 0
        && scores.iter().all(|s| (0.0..=1.0).contains(s))
}

/// The rows of each group of `slicing`, in the order of `order`.
fn rows_in_order(order: &[u32], slicing: &Slicing, n: usize) -> Vec<Vec<u32>> {
    let mut group_of = vec![u32::MAX; n];
    for (gi, group) in slicing.groups.iter().enumerate() {
        group.rows.iter().for_each(|&r| group_of[r as usize] = gi as u32);
    }
    let mut lists: Vec<Vec<u32>> = slicing.groups.iter().map(|g| Vec::with_capacity(g.rows.len())).collect();
    for &row in order {
        if let Some(list) = lists.get_mut(group_of[row as usize] as usize) {
            list.push(row);
        }
    }
    lists
}

/// The slicing reports from the views' values (`values[v * metrics.len() + m]`).
fn reports(
    data: &EvalData,
    slicings: &[Slicing],
    metrics: &[Metric],
    config: &EvaluationConfig,
    base: &[f64],
    views: &[(usize, usize, GroupView)],
    values: &[MetricValue],
) -> Vec<SlicingReport> {
    let mut reports: Vec<SlicingReport> = slicings
        .iter()
        .map(|s| SlicingReport {
            name: s.name.clone(),
            columns: s.columns.clone(),
            slices: s
                .groups
                .iter()
                .map(|g| SliceReport {
                    value: g.value.clone(),
                    n: g.rows.len(),
                    weight: g.rows.iter().map(|&r| base[r as usize]).sum(),
                    suppressed: true,
                    metrics: BTreeMap::new(),
                    confusion: None,
                    calibration: Vec::new(),
                    roc: Vec::new(),
                    confident_errors: Vec::new(),
                })
                .collect(),
        })
        .collect();
    for (v, (si, gi, view)) in views.iter().enumerate() {
        let slice = &mut reports[*si].slices[*gi];
        slice.suppressed = false;
        for (m, metric) in metrics.iter().enumerate() {
            let k = v * metrics.len() + m;
            slice.metrics.insert(metric.name().to_string(), values[k]);
        }
        let wg = view.gather(base);
        slice.confusion = confusion(view, &wg, config.threshold);
        if let Labels::Binary(labels) = &view.labels {
            slice.calibration = calibration(labels, &view.scores, &wg, config.calibration_bins);
            slice.roc = roc_points(labels, &view.scores, &wg);
        }
        slice.confident_errors = confident_errors(view, data, config.threshold, config.top_errors);
    }
    reports
}

/// Weighted confusion counts: binary [[tn, fp], [fn, tp]], multiclass k×k (rows = truth).
fn confusion(view: &GroupView, w: &[f64], threshold: f64) -> Option<Vec<Vec<f64>>> {
    match &view.labels {
        Labels::Binary(labels) => {
            let mut m = vec![vec![0.0; 2]; 2];
            for ((&y, &s), &w) in labels.iter().zip(&view.scores).zip(w) {
                m[usize::from(y)][usize::from(s >= threshold)] += w;
            }
            Some(m)
        }
        Labels::Multiclass { labels, n_classes } => {
            let k = *n_classes;
            let mut m = vec![vec![0.0; k]; k];
            for (i, (&y, &w)) in labels.iter().zip(w).enumerate() {
                let p = argmax(&view.scores[i * k..(i + 1) * k]);
                if (y as usize) < k {
                    m[y as usize][p] += w;
                }
            }
            Some(m)
        }
        Labels::Regression(_) => None,
    }
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

/// Equal-width bins on [0, 1]; empty bins are left out.
fn calibration(labels: &[bool], scores: &[f64], w: &[f64], bins: usize) -> Vec<CalibrationBin> {
    let mut weight = vec![0.0; bins];
    let mut predicted = vec![0.0; bins];
    let mut observed = vec![0.0; bins];
    for ((&y, &s), &w) in labels.iter().zip(scores).zip(w) {
        let b = ((s * bins as f64) as usize).min(bins - 1);
        weight[b] += w;
        predicted[b] += w * s;
        observed[b] += if y { w } else { 0.0 };
    }
    (0..bins)
        .filter(|&b| weight[b] > 0.0)
        .map(|b| CalibrationBin {
            lo: b as f64 / bins as f64,
            hi: (b + 1) as f64 / bins as f64,
            weight: weight[b],
            mean_predicted: predicted[b] / weight[b],
            observed_rate: observed[b] / weight[b],
        })
        .collect()
}

/// The ROC curve at up to 101 thresholds (scores ascending in `scores`), from (0,0) to (1,1).
fn roc_points(labels: &[bool], scores: &[f64], w: &[f64]) -> Vec<[f64; 2]> {
    let pos: f64 = labels.iter().zip(w).filter(|(y, _)| **y).map(|(_, w)| w).sum();
    let neg: f64 = labels.iter().zip(w).filter(|(y, _)| !**y).map(|(_, w)| w).sum();
    if pos <= 0.0 || neg <= 0.0 {
        return Vec::new();
    }
    // Walk from the highest score down; emit a point at every distinct score, then thin.
    let mut points = vec![[0.0, 0.0]];
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut i = scores.len();
    while i > 0 {
        let s = scores[i - 1];
        while i > 0 && scores[i - 1] == s {
            i -= 1;
            if labels[i] {
                tp += w[i];
            } else {
                fp += w[i];
            }
        }
        points.push([fp / neg, tp / pos]);
    }
    if points.len() <= 101 {
        return points;
    }
    let step = (points.len() - 1) as f64 / 100.0;
    (0..=100).map(|k| points[((k as f64 * step).round() as usize).min(points.len() - 1)]).collect()
}

fn confident_errors(view: &GroupView, data: &EvalData, threshold: f64, top: usize) -> Vec<ErrorRow> {
    if top == 0 {
        return Vec::new();
    }
    let class = |k: usize| data.class_names.get(k).cloned().unwrap_or_else(|| k.to_string());
    // (confidence, position in view, label, predicted, score)
    let mut wrong: Vec<(f64, usize, String, String, f64)> = Vec::new();
    match &view.labels {
        Labels::Binary(labels) => {
            for (i, (&y, &s)) in labels.iter().zip(&view.scores).enumerate() {
                let predicted = s >= threshold;
                if predicted != y {
                    wrong.push(((s - threshold).abs(), i, class(usize::from(y)), class(usize::from(predicted)), s));
                }
            }
        }
        Labels::Multiclass { labels, n_classes } => {
            let k = *n_classes;
            for (i, &y) in labels.iter().enumerate() {
                let probs = &view.scores[i * k..(i + 1) * k];
                let p = argmax(probs);
                if p != y as usize {
                    wrong.push((probs[p], i, class(y as usize), class(p), probs[p]));
                }
            }
        }
        Labels::Regression(targets) => {
            for (i, (&t, &p)) in targets.iter().zip(&view.scores).enumerate() {
                wrong.push(((t - p).abs(), i, format!("{t}"), format!("{p}"), p));
            }
        }
    }
    wrong.sort_by(|a, b| b.0.total_cmp(&a.0).then(view.rows[a.1].cmp(&view.rows[b.1])));
    wrong
        .into_iter()
        .take(top)
        .map(|(_, i, label, predicted, score)| {
            let row = view.rows[i] as usize;
            let values = data
                .display
                .iter()
                .map(|c| {
                    let v = if c.pii { "***".to_string() } else { c.values.get(row).cloned().unwrap_or_default() };
                    (c.name.clone(), v)
                })
                .collect();
            ErrorRow { row, label, predicted, score, values }
        })
        .collect()
}

/// Slices furthest below the overall value of `metric` (at most `top`).
pub(crate) fn worst_slices(slicings: &[SlicingReport], metric: Metric, top: usize) -> Vec<WorstSlice> {
    let name = metric.name();
    let Some(overall) = slicings.first().and_then(|s| s.slices.first()).and_then(|s| s.metrics.get(name)?.value) else {
        return Vec::new();
    };
    let sign = if metric.higher_is_better() { 1.0 } else { -1.0 };
    let mut out: Vec<WorstSlice> = slicings
        .iter()
        .skip(1)
        .flat_map(|s| s.slices.iter().map(move |slice| (s, slice)))
        .filter(|(_, slice)| !slice.suppressed)
        .filter_map(|(s, slice)| {
            let value = *slice.metrics.get(name)?;
            let v = value.value?;
            Some(WorstSlice {
                slicing: s.name.clone(),
                value: slice.value.clone(),
                n: slice.n,
                metric: name.to_string(),
                value_metric: value,
                gap: sign * (v - overall),
            })
        })
        .collect();
    out.sort_by(|a, b| a.gap.total_cmp(&b.gap));
    out.truncate(top);
    out
}

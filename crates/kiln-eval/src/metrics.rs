//! TEMPORARY local shim (not committed): the API the metrics module will provide.
use serde::{Deserialize, Serialize};
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Metric { Accuracy, Precision, Recall, F1, RocAuc, AveragePrecision, LogLoss, Brier, Ece, Tpr, Fpr, SelectionRate, MacroF1, WeightedF1, TopKAccuracy, Rmse, Mae, R2, Mape }
impl Metric {
    pub fn name(self) -> &'static str { match self { Metric::RocAuc => "roc_auc", Metric::Accuracy => "accuracy", Metric::LogLoss => "log_loss", Metric::Rmse => "rmse", _ => "other" } }
    pub fn parse(s: &str) -> Option<Self> { match s { "roc_auc" => Some(Metric::RocAuc), "accuracy" => Some(Metric::Accuracy), "log_loss" => Some(Metric::LogLoss), "rmse" => Some(Metric::Rmse), "f1" => Some(Metric::F1), "brier" => Some(Metric::Brier), "ece" => Some(Metric::Ece), _ => None } }
    pub fn higher_is_better(self) -> bool { !matches!(self, Metric::LogLoss | Metric::Brier | Metric::Ece | Metric::Rmse | Metric::Mae | Metric::Mape | Metric::Fpr) }
}
pub enum Outcomes<'a> { Binary { labels: &'a [bool], scores: &'a [f64] }, Multiclass { labels: &'a [u32], probs: &'a [f64], n_classes: usize }, Regression { targets: &'a [f64], predictions: &'a [f64] } }
#[derive(Debug, Clone, Copy)]
pub struct MetricParams { pub threshold: f64, pub ece_bins: usize, pub top_k: usize }
impl Default for MetricParams { fn default() -> Self { Self { threshold: 0.5, ece_bins: 10, top_k: 2 } } }
pub fn compute(metric: Metric, outcomes: &Outcomes<'_>, weights: Option<&[f64]>, params: &MetricParams) -> Option<f64> {
    let Outcomes::Binary { labels, scores } = outcomes else { return None };
    let w = |i: usize| weights.map_or(1.0, |w| w[i]);
    let tot: f64 = (0..labels.len()).map(w).sum();
    if tot <= 0.0 { return None; }
    match metric {
        Metric::Accuracy => Some((0..labels.len()).map(|i| if (scores[i] >= params.threshold) == labels[i] { w(i) } else { 0.0 }).sum::<f64>() / tot),
        Metric::LogLoss => Some((0..labels.len()).map(|i| { let p = scores[i].clamp(1e-15, 1.0 - 1e-15); -w(i) * if labels[i] { p.ln() } else { (1.0 - p).ln() } }).sum::<f64>() / tot),
        Metric::RocAuc => { let mut idx: Vec<usize> = (0..labels.len()).collect(); idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
            let (mut pos, mut neg, mut area) = (0.0, 0.0, 0.0); let mut i = 0;
            while i < idx.len() { let mut j = i; let (mut tp, mut tn) = (0.0, 0.0); while j < idx.len() && scores[idx[j]] == scores[idx[i]] { if labels[idx[j]] { tp += w(idx[j]) } else { tn += w(idx[j]) } j += 1; }
                area += tp * (neg + tn / 2.0); pos += tp; neg += tn; i = j; }
            if pos == 0.0 || neg == 0.0 { None } else { Some(area / (pos * neg)) } }
        _ => None,
    }
}

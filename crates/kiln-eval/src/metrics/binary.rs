//! Binary classification metrics: thresholded ones from one weighted confusion matrix, ranking ones
//! (ROC AUC, average precision) from one sort, and probabilistic ones (log loss, Brier, ECE).
//!
//! Labels are `bool` or `u8` 0/1 (see [`BinaryLabel`]); scores are the predicted probability of the
//! positive class. A row is predicted positive when `score >= threshold`, which is what scikit-learn
//! computes when given `(scores >= threshold).astype(int)` as `y_pred`.

use super::{bad_weight, ratio, with_weights};

/// A binary label: `bool`, or `u8` where 0 is negative, 1 is positive and any other value is invalid.
pub trait BinaryLabel: Copy {
    /// Whether the label is the positive class.
    fn is_positive(self) -> bool;
    /// Whether the value is a valid label at all.
    fn is_valid(self) -> bool;
}

impl BinaryLabel for bool {
    #[inline]
    fn is_positive(self) -> bool {
        self
    }
    #[inline]
    fn is_valid(self) -> bool {
        true
    }
}

impl BinaryLabel for u8 {
    #[inline]
    fn is_positive(self) -> bool {
        self == 1
    }
    #[inline]
    fn is_valid(self) -> bool {
        self <= 1
    }
}

/// Weighted confusion matrix of binary predictions: each cell is the sum of the weights of its rows.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ConfusionMatrix {
    /// Negative rows predicted negative.
    pub true_negative: f64,
    /// Negative rows predicted positive.
    pub false_positive: f64,
    /// Positive rows predicted negative.
    pub false_negative: f64,
    /// Positive rows predicted positive.
    pub true_positive: f64,
}

/// `num / den`, or 0 when `den` is 0: scikit-learn's `zero_division="warn"` default (and fairlearn's
/// rates, which replace NaN by 0).
#[inline]
fn zero_division(num: f64, den: f64) -> f64 {
    if den > 0.0 { num / den } else { 0.0 }
}

impl ConfusionMatrix {
    /// Total weight of all rows.
    pub fn total(&self) -> f64 {
        self.true_negative + self.false_positive + self.false_negative + self.true_positive
    }

    /// `Some(f(self))` when the total weight is positive, else `None`.
    fn defined(&self, f: impl FnOnce(&Self) -> f64) -> Option<f64> {
        if self.total() > 0.0 { Some(f(self)) } else { None }
    }

    /// `(tp + tn) / total`. `None` for zero total weight.
    pub fn accuracy(&self) -> Option<f64> {
        ratio(self.true_positive + self.true_negative, self.total())
    }

    /// `tp / (tp + fp)`; 0 when nothing is predicted positive (scikit-learn's default). `None` for zero total weight.
    pub fn precision(&self) -> Option<f64> {
        self.defined(|c| zero_division(c.true_positive, c.true_positive + c.false_positive))
    }

    /// `tp / (tp + fn)`; 0 when there is no positive row (scikit-learn's default). `None` for zero total weight.
    pub fn recall(&self) -> Option<f64> {
        self.defined(|c| zero_division(c.true_positive, c.true_positive + c.false_negative))
    }

    /// `2 tp / (2 tp + fp + fn)`; 0 when there is neither a positive row nor a positive prediction
    /// (scikit-learn's default). `None` for zero total weight.
    pub fn f1(&self) -> Option<f64> {
        self.defined(|c| {
            zero_division(2.0 * c.true_positive, 2.0 * c.true_positive + c.false_positive + c.false_negative)
        })
    }

    /// True positive rate, the same as [`ConfusionMatrix::recall`] (fairlearn's `true_positive_rate`).
    pub fn tpr(&self) -> Option<f64> {
        self.recall()
    }

    /// `fp / (fp + tn)`; 0 when there is no negative row (fairlearn's `false_positive_rate`).
    /// `None` for zero total weight.
    pub fn fpr(&self) -> Option<f64> {
        self.defined(|c| zero_division(c.false_positive, c.false_positive + c.true_negative))
    }

    /// `(tp + fp) / total`, the share predicted positive (fairlearn's `selection_rate`). `None` for zero total weight.
    pub fn selection_rate(&self) -> Option<f64> {
        ratio(self.true_positive + self.false_positive, self.total())
    }
}

/// Weighted confusion matrix of `score >= threshold` against `labels`, in one pass.
///
/// `None` when lengths differ, the threshold or a score is NaN, a label or weight is invalid.
/// Empty input gives a matrix of zeros, whose ratios are all `None`.
pub fn confusion_matrix<L: BinaryLabel>(
    labels: &[L],
    scores: &[f64],
    weights: Option<&[f64]>,
    threshold: f64,
) -> Option<ConfusionMatrix> {
    if labels.len() != scores.len() || threshold.is_nan() {
        return None;
    }
    if weights.is_some_and(|w| w.len() != labels.len()) {
        return None;
    }
    // cells indexed by 2 * label + prediction: tn, fp, fn, tp
    let mut cells = [0.0_f64; 4];
    let mut bad = false;
    with_weights!(weights, |ws| {
        for ((&y, &s), w) in labels.iter().zip(scores).zip(ws) {
            bad |= !y.is_valid() | s.is_nan() | bad_weight(w);
            let cell = 2 * usize::from(y.is_positive()) + usize::from(s >= threshold);
            cells[cell] += w;
        }
    });
    if bad {
        return None;
    }
    Some(ConfusionMatrix {
        true_negative: cells[0],
        false_positive: cells[1],
        false_negative: cells[2],
        true_positive: cells[3],
    })
}

/// Accuracy of `score >= threshold`. See [`confusion_matrix`] and [`ConfusionMatrix::accuracy`].
pub fn accuracy<L: BinaryLabel>(labels: &[L], scores: &[f64], weights: Option<&[f64]>, threshold: f64) -> Option<f64> {
    confusion_matrix(labels, scores, weights, threshold)?.accuracy()
}

/// Precision of `score >= threshold`. See [`ConfusionMatrix::precision`].
pub fn precision<L: BinaryLabel>(labels: &[L], scores: &[f64], weights: Option<&[f64]>, threshold: f64) -> Option<f64> {
    confusion_matrix(labels, scores, weights, threshold)?.precision()
}

/// Recall of `score >= threshold`. See [`ConfusionMatrix::recall`].
pub fn recall<L: BinaryLabel>(labels: &[L], scores: &[f64], weights: Option<&[f64]>, threshold: f64) -> Option<f64> {
    confusion_matrix(labels, scores, weights, threshold)?.recall()
}

/// F1 of `score >= threshold`. See [`ConfusionMatrix::f1`].
pub fn f1<L: BinaryLabel>(labels: &[L], scores: &[f64], weights: Option<&[f64]>, threshold: f64) -> Option<f64> {
    confusion_matrix(labels, scores, weights, threshold)?.f1()
}

/// True positive rate of `score >= threshold`. See [`ConfusionMatrix::tpr`].
pub fn tpr<L: BinaryLabel>(labels: &[L], scores: &[f64], weights: Option<&[f64]>, threshold: f64) -> Option<f64> {
    confusion_matrix(labels, scores, weights, threshold)?.tpr()
}

/// False positive rate of `score >= threshold`. See [`ConfusionMatrix::fpr`].
pub fn fpr<L: BinaryLabel>(labels: &[L], scores: &[f64], weights: Option<&[f64]>, threshold: f64) -> Option<f64> {
    confusion_matrix(labels, scores, weights, threshold)?.fpr()
}

/// Selection rate of `score >= threshold`. See [`ConfusionMatrix::selection_rate`].
pub fn selection_rate<L: BinaryLabel>(
    labels: &[L],
    scores: &[f64],
    weights: Option<&[f64]>,
    threshold: f64,
) -> Option<f64> {
    confusion_matrix(labels, scores, weights, threshold)?.selection_rate()
}

/// Order-preserving map of a non-NaN score onto `u64` (the transform behind `f64::total_cmp`), with
/// `-0.0` folded onto `0.0` so that the two tie, as in scikit-learn. Integer keys sort faster than
/// `total_cmp` on floats.
#[inline]
fn sort_key(score: f64) -> u64 {
    let bits = (score + 0.0).to_bits();
    if bits >> 63 == 1 { !bits } else { bits | (1 << 63) }
}

/// Rows with positive weight as `(score key, signed weight)` (positive label: `+w`, negative: `-w`), sorted
/// by decreasing score. One allocation of `n` pairs and one unstable sort.
///
/// `None` when lengths differ, a score is NaN, a label or weight is invalid.
fn ranked<L: BinaryLabel>(labels: &[L], scores: &[f64], weights: Option<&[f64]>) -> Option<Vec<(u64, f64)>> {
    if labels.len() != scores.len() || weights.is_some_and(|w| w.len() != labels.len()) {
        return None;
    }
    let mut rows = Vec::with_capacity(labels.len());
    let mut bad = false;
    with_weights!(weights, |ws| {
        for ((&y, &s), w) in labels.iter().zip(scores).zip(ws) {
            bad |= !y.is_valid() | s.is_nan() | bad_weight(w);
            if w > 0.0 {
                rows.push((sort_key(s), if y.is_positive() { w } else { -w }));
            }
        }
    });
    if bad {
        return None;
    }
    rows.sort_unstable_by_key(|r| std::cmp::Reverse(r.0));
    Some(rows)
}

/// Visits the groups of tied scores of `rows` (sorted by decreasing score) with the positive and negative
/// weight of each group.
#[inline]
fn for_each_tie_group(rows: &[(u64, f64)], mut visit: impl FnMut(f64, f64)) {
    let mut i = 0;
    while i < rows.len() {
        let key = rows[i].0;
        let (mut pos, mut neg) = (0.0, 0.0);
        while i < rows.len() && rows[i].0 == key {
            let w = rows[i].1;
            if w > 0.0 {
                pos += w;
            } else {
                neg -= w;
            }
            i += 1;
        }
        visit(pos, neg);
    }
}

/// ROC AUC of the sorted rows, `None` unless both classes have positive weight.
fn roc_auc_of(rows: &[(u64, f64)]) -> Option<f64> {
    let (mut tp, mut fp, mut area) = (0.0, 0.0, 0.0);
    for_each_tie_group(rows, |pos, neg| {
        // trapezoid between (fp, tp) and (fp + neg, tp + pos)
        area += neg * (tp + 0.5 * pos);
        tp += pos;
        fp += neg;
    });
    if tp > 0.0 && fp > 0.0 { Some(area / (tp * fp)) } else { None }
}

/// Rows sorted once by decreasing score, for a weighted ROC AUC recomputed under many weight
/// vectors (bootstrap replicates) without sorting again: each call only gathers the rows of
/// positive weight in that order.
#[derive(Debug)]
pub(crate) struct RankedRows {
    /// `(score key, positive label, row)`, by decreasing score.
    rows: Vec<(u64, bool, u32)>,
}

impl RankedRows {
    /// `None` when lengths differ, a score is NaN or a label is invalid (as [`roc_auc`]).
    pub(crate) fn new<L: BinaryLabel>(labels: &[L], scores: &[f64]) -> Option<Self> {
        if labels.len() != scores.len() || labels.iter().zip(scores).any(|(y, s)| !y.is_valid() || s.is_nan()) {
            return None;
        }
        let mut rows: Vec<(u64, bool, u32)> = labels
            .iter()
            .zip(scores)
            .enumerate()
            .map(|(i, (y, &s))| (sort_key(s), y.is_positive(), i as u32))
            .collect();
        rows.sort_by_key(|r| (std::cmp::Reverse(r.0), r.2));
        Some(Self { rows })
    }

    /// [`roc_auc`] of these rows under the weight `weight(row)` of each row; `None` for an
    /// invalid weight or when a class has zero total weight.
    pub(crate) fn roc_auc(&self, weight: impl Fn(usize) -> f64) -> Option<f64> {
        let mut signed = Vec::with_capacity(self.rows.len());
        for &(key, positive, row) in &self.rows {
            let w = weight(row as usize);
            if bad_weight(w) {
                return None;
            }
            if w > 0.0 {
                signed.push((key, if positive { w } else { -w }));
            }
        }
        roc_auc_of(&signed)
    }
}

/// Average precision of the sorted rows, `None` unless the positive class has positive weight.
fn average_precision_of(rows: &[(u64, f64)]) -> Option<f64> {
    let (mut tp, mut fp, mut sum) = (0.0, 0.0, 0.0);
    for_each_tie_group(rows, |pos, neg| {
        tp += pos;
        fp += neg;
        if pos > 0.0 {
            // recall step (pos / P) times the precision at this threshold; divided by P at the end
            sum += pos * (tp / (tp + fp));
        }
    });
    if tp > 0.0 { Some(sum / tp) } else { None }
}

/// Area under the ROC curve, as scikit-learn's `roc_auc_score`.
///
/// The trapezoid over the distinct scores, which equals the weighted Mann-Whitney statistic: the share
/// of (positive, negative) weight pairs ordered correctly, tied pairs counting one half. Scores may be
/// any non-NaN reals, infinities included. One sort of the rows by score, then one pass.
///
/// `None` when either class has zero total weight (scikit-learn raises or returns NaN), or for the
/// invalid inputs of [`confusion_matrix`].
pub fn roc_auc<L: BinaryLabel>(labels: &[L], scores: &[f64], weights: Option<&[f64]>) -> Option<f64> {
    roc_auc_of(&ranked(labels, scores, weights)?)
}

/// Average precision, as scikit-learn's `average_precision_score`: `Σ (R_i - R_{i-1}) P_i` over the distinct
/// scores in decreasing order, with the precision `P_i` and recall `R_i` of predicting positive every row
/// scoring at least the i-th score (tied rows enter together).
///
/// `None` when the positive class has zero total weight (scikit-learn warns and returns 0), or for the
/// invalid inputs of [`confusion_matrix`].
pub fn average_precision<L: BinaryLabel>(labels: &[L], scores: &[f64], weights: Option<&[f64]>) -> Option<f64> {
    average_precision_of(&ranked(labels, scores, weights)?)
}

/// [`roc_auc`] and [`average_precision`] from a single sort, for callers that need both.
///
/// `None` for invalid inputs; otherwise each value is `None` under the conditions of its own function.
pub fn roc_auc_and_average_precision<L: BinaryLabel>(
    labels: &[L],
    scores: &[f64],
    weights: Option<&[f64]>,
) -> Option<(Option<f64>, Option<f64>)> {
    let rows = ranked(labels, scores, weights)?;
    Some((roc_auc_of(&rows), average_precision_of(&rows)))
}

/// Weighted mean over rows of `f(label, probability)`, requiring probabilities in `[0, 1]`.
fn probabilistic_mean<L: BinaryLabel>(
    labels: &[L],
    probs: &[f64],
    weights: Option<&[f64]>,
    f: impl Fn(bool, f64) -> f64,
) -> Option<f64> {
    if labels.len() != probs.len() || weights.is_some_and(|w| w.len() != labels.len()) {
        return None;
    }
    let (mut sum, mut total, mut bad) = (0.0, 0.0, false);
    with_weights!(weights, |ws| {
        for ((&y, &p), w) in labels.iter().zip(probs).zip(ws) {
            bad |= !y.is_valid() | !(0.0..=1.0).contains(&p) | bad_weight(w);
            if w > 0.0 {
                sum += w * f(y.is_positive(), p);
                total += w;
            }
        }
    });
    if bad { None } else { ratio(sum, total) }
}

/// Binary cross-entropy, as scikit-learn's `log_loss(y, p, labels=[0, 1])`.
///
/// Like scikit-learn (≥ 1.5), the probabilities of both classes, `1 - p` and `p`, are clipped to
/// `[ε, 1 - ε]` with `ε = f64::EPSILON` (2.22e-16) before the logarithm, so a confident wrong prediction
/// costs at most `-ln ε ≈ 36.04`. Rows with only one class are fine (scikit-learn needs `labels=[0, 1]`
/// for them). `None` when a probability is outside `[0, 1]` or NaN (scikit-learn raises), for zero total
/// weight, or for invalid labels or weights.
pub fn log_loss<L: BinaryLabel>(labels: &[L], probs: &[f64], weights: Option<&[f64]>) -> Option<f64> {
    probabilistic_mean(labels, probs, weights, |y, p| {
        let q = if y { p } else { 1.0 - p };
        -q.clamp(f64::EPSILON, 1.0 - f64::EPSILON).ln()
    })
}

/// Brier score `mean((y - p)²)`, as scikit-learn's `brier_score_loss` for binary targets.
///
/// `None` when a probability is outside `[0, 1]` or NaN, for zero total weight, or invalid labels or weights.
pub fn brier<L: BinaryLabel>(labels: &[L], probs: &[f64], weights: Option<&[f64]>) -> Option<f64> {
    probabilistic_mean(labels, probs, weights, |y, p| {
        let d = f64::from(u8::from(y)) - p;
        d * d
    })
}

/// Expected calibration error over `n_bins` equal-width bins of `[0, 1]`.
///
/// A row with probability `p` falls in bin `min(floor(p · n_bins), n_bins - 1)` (so bins are
/// `[i/n, (i+1)/n)`, the last one closed). Then
/// `ECE = Σ_b (W_b / W) · |mean_b(p) - mean_b(y)|`, with weighted means within the bin, `W_b` the bin's
/// weight and `W` the total; empty bins contribute nothing. scikit-learn has no ECE: the fixture's
/// reference is computed with numpy by this definition.
///
/// `None` when `n_bins` is 0, a probability is outside `[0, 1]` or NaN, for zero total weight, or invalid
/// labels or weights.
pub fn ece<L: BinaryLabel>(labels: &[L], probs: &[f64], weights: Option<&[f64]>, n_bins: usize) -> Option<f64> {
    if n_bins == 0 || labels.len() != probs.len() || weights.is_some_and(|w| w.len() != labels.len()) {
        return None;
    }
    // per bin: weight, weighted sum of p, weighted sum of y
    let mut bins = vec![[0.0_f64; 3]; n_bins];
    let scale = n_bins as f64;
    let (mut total, mut bad) = (0.0, false);
    with_weights!(weights, |ws| {
        for ((&y, &p), w) in labels.iter().zip(probs).zip(ws) {
            let valid = y.is_valid() && (0.0..=1.0).contains(&p) && !bad_weight(w);
            bad |= !valid;
            if valid && w > 0.0 {
                // p in [0, 1] so the product is in [0, n_bins]; `as` saturates in any case
                let b = ((p * scale).floor() as usize).min(n_bins - 1);
                let bin = &mut bins[b];
                bin[0] += w;
                bin[1] += w * p;
                bin[2] += w * f64::from(u8::from(y.is_positive()));
                total += w;
            }
        }
    });
    if bad || total <= 0.0 {
        return None;
    }
    let gap: f64 = bins.iter().filter(|b| b[0] > 0.0).map(|b| b[0] * (b[1] / b[0] - b[2] / b[0]).abs()).sum();
    Some(gap / total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn confusion_matrix_by_hand() {
        let labels = [true, true, false, false, true];
        let scores = [0.9, 0.5, 0.5, 0.1, 0.2];
        let w = [1.0, 2.0, 3.0, 4.0, 5.0];
        // predictions at 0.5 (score >= threshold): [1, 1, 1, 0, 0]
        let cm = confusion_matrix(&labels, &scores, Some(&w), 0.5).expect("valid input");
        assert_eq!(
            cm,
            ConfusionMatrix { true_negative: 4.0, false_positive: 3.0, false_negative: 5.0, true_positive: 3.0 }
        );
        assert_eq!(cm.accuracy(), Some(7.0 / 15.0));
        assert_eq!(cm.precision(), Some(0.5));
        assert_eq!(cm.recall(), Some(3.0 / 8.0));
        assert_eq!(cm.tpr(), Some(3.0 / 8.0));
        assert_eq!(cm.fpr(), Some(3.0 / 7.0));
        assert_eq!(cm.f1(), Some(6.0 / 14.0));
        assert_eq!(cm.selection_rate(), Some(6.0 / 15.0));
        // u8 labels give the same matrix
        let u8_labels = [1_u8, 1, 0, 0, 1];
        assert_eq!(confusion_matrix(&u8_labels, &scores, Some(&w), 0.5), Some(cm));
    }

    #[test]
    fn zero_division_follows_scikit_learn() {
        // nothing predicted positive, no positive row
        let cm = confusion_matrix(&[false, false], &[0.1, 0.2], None, 0.5).expect("valid input");
        assert_eq!(cm.precision(), Some(0.0));
        assert_eq!(cm.recall(), Some(0.0));
        assert_eq!(cm.f1(), Some(0.0));
        assert_eq!(cm.fpr(), Some(0.0));
        assert_eq!(cm.accuracy(), Some(1.0));
        // zero total weight: nothing is defined
        let cm = confusion_matrix(&[true], &[0.9], Some(&[0.0]), 0.5).expect("valid input");
        assert_eq!(cm.accuracy(), None);
        assert_eq!(cm.precision(), None);
        assert_eq!(cm.selection_rate(), None);
        assert_eq!(accuracy::<bool>(&[], &[], None, 0.5), None);
    }

    #[test]
    fn ranked_rows_give_roc_auc_under_any_weights() {
        // Scores with many ties (two decimals), labels and Poisson-like weights from kiln's
        // generator; the presorted AUC must equal the sorting one for every weight vector.
        let mut rng = kiln_core::rng::Rng::new(11);
        let n = 3000;
        let scores: Vec<f64> = (0..n).map(|_| (rng.uniform() * 100.0).floor() / 100.0).collect();
        let labels: Vec<bool> = scores.iter().map(|s| rng.uniform() < *s).collect();
        let ranked = RankedRows::new(&labels, &scores).expect("valid rows");
        for _ in 0..20 {
            let w: Vec<f64> = (0..n).map(|_| rng.below(4) as f64).collect();
            let expected = roc_auc(&labels, &scores, Some(&w)).expect("both classes");
            let got = ranked.roc_auc(|i| w[i]).expect("both classes");
            assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
        }
        assert_eq!(ranked.roc_auc(|_| -1.0), None, "a negative weight is refused");
        assert_eq!(ranked.roc_auc(|i| if labels[i] { 1.0 } else { 0.0 }), None, "one class only");
        assert!(RankedRows::new(&labels, &[f64::NAN; 3000]).is_none());
    }

    #[test]
    fn sort_key_orders_like_total_cmp_with_zeros_tied() {
        let values = [f64::NEG_INFINITY, -1e300, -1.0, -1e-300, -0.0, 0.0, 5e-324, 1.0, 1e300, f64::INFINITY];
        for pair in values.windows(2) {
            let (a, b) = (sort_key(pair[0]), sort_key(pair[1]));
            if pair[0] == pair[1] {
                assert_eq!(a, b, "{pair:?}");
            } else {
                assert!(a < b, "{pair:?}");
            }
        }
    }

    #[test]
    fn roc_auc_by_hand() {
        // positives {0.35, 0.8} against negatives {0.1, 0.4}: 3 of 4 pairs ordered
        assert_eq!(roc_auc(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8], None), Some(0.75));
        // positives {0.5, 0.9} against negatives {0.5, 0.2}: the tied pair counts one half -> 3.5 / 4
        let labels = [false, true, false, true];
        let scores = [0.5, 0.5, 0.2, 0.9];
        assert_eq!(roc_auc(&labels, &scores, None), Some(0.875));
        // weights [2, 1, 1, 1]: pairs (0.5+, 0.5-) 1·2·½, (0.5+, 0.2-) 1, (0.9+, 0.5-) 2, (0.9+, 0.2-) 1 -> 5 / 6
        assert!(close(roc_auc(&labels, &scores, Some(&[2.0, 1.0, 1.0, 1.0])), 5.0 / 6.0));
        // all tied: 0.5
        assert_eq!(roc_auc(&[false, true], &[0.3, 0.3], None), Some(0.5));
        // -0.0 and 0.0 are one score
        assert_eq!(roc_auc(&[false, true, false, true], &[-0.0, 0.0, 0.0, -0.0], None), Some(0.5));
        // infinite scores rank like any other
        assert_eq!(roc_auc(&[false, true], &[f64::NEG_INFINITY, f64::INFINITY], None), Some(1.0));
    }

    #[test]
    fn average_precision_by_hand() {
        // thresholds 0.8 (P 1, R ½), 0.4 (no new positive), 0.35 (P ⅔, R 1): ½·1 + ½·⅔
        let ap = average_precision(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8], None);
        assert!(close(ap, 0.5 + 1.0 / 3.0));
        // a tie enters together: 0.5 (P ½, R ½), 0.2 (P ⅔, R 1): ¼ + ⅓
        let ap = average_precision(&[true, false, true], &[0.5, 0.5, 0.2], None);
        assert!(close(ap, 0.25 + 1.0 / 3.0));
        assert_eq!(average_precision(&[true, true], &[0.1, 0.7], None), Some(1.0));
    }

    #[test]
    fn ranking_metrics_undefined_cases() {
        assert_eq!(roc_auc(&[true, true], &[0.1, 0.7], None), None);
        assert_eq!(roc_auc(&[false, false], &[0.1, 0.7], None), None);
        assert_eq!(average_precision(&[false, false], &[0.1, 0.7], None), None);
        // a class present only with weight 0 is absent
        assert_eq!(roc_auc(&[false, true], &[0.1, 0.7], Some(&[1.0, 0.0])), None);
        assert_eq!(roc_auc::<bool>(&[], &[], None), None);
        assert_eq!(roc_auc(&[false, true], &[0.1, f64::NAN], None), None);
        assert_eq!(roc_auc(&[false, true], &[0.1, 0.7], Some(&[1.0, -1.0])), None);
        assert_eq!(roc_auc(&[false, true], &[0.1, 0.7], Some(&[1.0])), None);
        assert_eq!(roc_auc(&[0_u8, 2], &[0.1, 0.7], None), None);
        assert_eq!(roc_auc_and_average_precision(&[true, true], &[0.1, 0.7], None), Some((None, Some(1.0))));
    }

    #[test]
    fn zero_weight_equals_removing_the_row_and_counts_repeat_it() {
        let labels = [true, false, true, false, true, false];
        let scores = [0.9, 0.8, 0.8, 0.3, 0.3, 0.1];
        let counts = [2.0, 0.0, 1.0, 3.0, 0.0, 1.0];
        let mut rep_labels = Vec::new();
        let mut rep_scores = Vec::new();
        for ((&y, &s), &c) in labels.iter().zip(&scores).zip(&counts) {
            for _ in 0..(c as usize) {
                rep_labels.push(y);
                rep_scores.push(s);
            }
        }
        let w = Some(&counts[..]);
        let pairs: [(Option<f64>, Option<f64>); 6] = [
            (roc_auc(&labels, &scores, w), roc_auc(&rep_labels, &rep_scores, None)),
            (average_precision(&labels, &scores, w), average_precision(&rep_labels, &rep_scores, None)),
            (log_loss(&labels, &scores, w), log_loss(&rep_labels, &rep_scores, None)),
            (brier(&labels, &scores, w), brier(&rep_labels, &rep_scores, None)),
            (ece(&labels, &scores, w, 5), ece(&rep_labels, &rep_scores, None, 5)),
            (f1(&labels, &scores, w, 0.5), f1(&rep_labels, &rep_scores, None, 0.5)),
        ];
        for (a, b) in pairs {
            let (a, b) = (a.expect("defined"), b.expect("defined"));
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }

    #[test]
    fn log_loss_and_brier_by_hand() {
        let l = log_loss(&[true, false], &[0.8, 0.4], None).expect("defined");
        assert!((l - (-(0.8_f64.ln()) - 0.6_f64.ln()) / 2.0).abs() < 1e-15);
        // certain and wrong: clipped to eps
        let l = log_loss(&[true], &[0.0], None).expect("defined");
        assert!((l + f64::EPSILON.ln()).abs() < 1e-12);
        // one class is fine
        assert!(log_loss(&[false, false], &[0.2, 0.1], None).is_some());
        assert_eq!(log_loss(&[true], &[1.2], None), None);
        assert_eq!(log_loss(&[true], &[f64::NAN], None), None);
        assert!(close(brier(&[true, false], &[0.8, 0.4], Some(&[1.0, 3.0])), (0.04 + 3.0 * 0.16) / 4.0));
        assert_eq!(brier(&[true], &[-0.1], None), None);
    }

    #[test]
    fn ece_by_hand() {
        let labels = [false, true, true, true];
        let probs = [0.05, 0.15, 0.95, 0.85];
        // ten bins, one row each: |0.05 - 0| + |0.15 - 1| + |0.95 - 1| + |0.85 - 1|, over 4
        assert!(close(ece(&labels, &probs, None, 10), 1.1 / 4.0));
        // two bins: |0.1 - 0.5| · ½ + |0.9 - 1| · ½
        assert!(close(ece(&labels, &probs, None, 2), 0.25));
        // p = 1 falls in the last bin, p = 0 in the first
        assert!(close(ece(&[true, false], &[1.0, 0.0], None, 10), 0.0));
        assert_eq!(ece(&labels, &probs, None, 0), None);
        assert_eq!(ece(&[true], &[1.5], None, 10), None);
    }

    #[test]
    fn threshold_is_inclusive() {
        assert_eq!(selection_rate(&[true, false], &[0.5, 0.4999], None, 0.5), Some(0.5));
        assert_eq!(tpr(&[true, false], &[0.5, 0.4999], None, 0.5), Some(1.0));
        assert_eq!(fpr(&[true, false], &[0.5, 0.4999], None, 0.5), Some(0.0));
        assert_eq!(precision(&[true, false], &[0.5, 0.4999], None, f64::NAN), None);
        assert_eq!(recall(&[true, false], &[0.5, f64::NAN], None, 0.5), None);
    }
}

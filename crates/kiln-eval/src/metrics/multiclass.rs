//! Multiclass metrics over class indices and row-major `n × k` probabilities: accuracy, macro and
//! weighted F1 (of the argmax), log loss and top-k accuracy.
//!
//! Every function returns `None` when `k` is 0, `probs.len() != labels.len() * k`, a label is not in
//! `0..k`, a probability is NaN, a weight is invalid, or the total weight is zero.

use super::{bad_weight, ratio, with_weights};

/// `None` unless the shapes agree: `k > 0`, `k` probabilities per label, one weight per label.
fn check_shapes(labels: &[u32], probs: &[f64], k: usize, weights: Option<&[f64]>) -> Option<()> {
    let ok =
        k > 0 && labels.len().checked_mul(k) == Some(probs.len()) && weights.is_none_or(|w| w.len() == labels.len());
    ok.then_some(())
}

/// Index of the first maximum of a non-empty row, as numpy's `argmax`.
#[inline]
fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    let mut max = f64::NEG_INFINITY;
    for (j, &v) in row.iter().enumerate() {
        if v > max || j == 0 {
            max = v;
            best = j;
        }
    }
    best
}

/// Visits every row as `(true class, probability row, weight)` and reports whether all rows were valid
/// (label in `0..k`, no NaN probability, usable weight). Rows are visited even when invalid; callers
/// discard the result then.
#[inline]
fn visit_rows(
    labels: &[u32],
    probs: &[f64],
    k: usize,
    weights: Option<&[f64]>,
    mut visit: impl FnMut(usize, &[f64], f64),
) -> bool {
    let mut bad = false;
    with_weights!(weights, |ws| {
        for ((&y, row), w) in labels.iter().zip(probs.chunks_exact(k)).zip(ws) {
            let y = y as usize;
            let invalid = y >= k || row.iter().any(|p| p.is_nan()) || bad_weight(w);
            bad |= invalid;
            if !invalid && w > 0.0 {
                visit(y, row, w);
            }
        }
    });
    !bad
}

/// Share of rows whose argmax (first maximum on ties, as numpy) is the true class, as scikit-learn's
/// `accuracy_score(y, probs.argmax(1))`.
pub fn accuracy(labels: &[u32], probs: &[f64], k: usize, weights: Option<&[f64]>) -> Option<f64> {
    check_shapes(labels, probs, k, weights)?;
    let (mut hits, mut total) = (0.0, 0.0);
    let ok = visit_rows(labels, probs, k, weights, |y, row, w| {
        if argmax(row) == y {
            hits += w;
        }
        total += w;
    });
    if ok { ratio(hits, total) } else { None }
}

/// Per-class weighted counts of the argmax predictions: true positives, predicted, actual.
struct ClassCounts {
    tp: Vec<f64>,
    predicted: Vec<f64>,
    actual: Vec<f64>,
}

impl ClassCounts {
    fn new(labels: &[u32], probs: &[f64], k: usize, weights: Option<&[f64]>) -> Option<Self> {
        check_shapes(labels, probs, k, weights)?;
        let mut c = ClassCounts { tp: vec![0.0; k], predicted: vec![0.0; k], actual: vec![0.0; k] };
        let ok = visit_rows(labels, probs, k, weights, |y, row, w| {
            let pred = argmax(row);
            c.predicted[pred] += w;
            c.actual[y] += w;
            if pred == y {
                c.tp[y] += w;
            }
        });
        ok.then_some(c)
    }

    /// `(F1, support)` of each class that has positive weight among the true or the predicted classes.
    fn present_f1(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.tp.iter().zip(&self.predicted).zip(&self.actual).filter_map(|((&tp, &pred), &act)| {
            let den = pred + act;
            (den > 0.0).then(|| (2.0 * tp / den, act))
        })
    }
}

/// Unweighted mean of the per-class F1 of the argmax predictions, as scikit-learn's
/// `f1_score(y, probs.argmax(1), average="macro")`.
///
/// Like scikit-learn without `labels=`, the mean runs over the classes present among the true or
/// predicted classes; a class that is never seen nor predicted is left out (it is not counted as 0).
/// Presence is judged on rows with positive weight, so a zero weight equals removing the row; scikit-learn
/// would still count a class that appears only in zero-weight rows, with F1 0 (its `zero_division` default).
pub fn macro_f1(labels: &[u32], probs: &[f64], k: usize, weights: Option<&[f64]>) -> Option<f64> {
    let counts = ClassCounts::new(labels, probs, k, weights)?;
    let (sum, n) = counts.present_f1().fold((0.0, 0usize), |(s, n), (f, _)| (s + f, n + 1));
    ratio(sum, n as f64)
}

/// Support-weighted mean of the per-class F1 of the argmax predictions, as scikit-learn's
/// `f1_score(y, probs.argmax(1), average="weighted")`: each class weighs its total true weight, so classes
/// that are predicted but never true count 0.
pub fn weighted_f1(labels: &[u32], probs: &[f64], k: usize, weights: Option<&[f64]>) -> Option<f64> {
    let counts = ClassCounts::new(labels, probs, k, weights)?;
    let (sum, support) = counts.present_f1().fold((0.0, 0.0), |(s, t), (f, a)| (s + f * a, t + a));
    ratio(sum, support)
}

/// Cross-entropy of the true class, as scikit-learn's `log_loss(y, probs, labels=range(k))`.
///
/// As in scikit-learn (≥ 1.5), each probability is clipped to `[ε, 1 - ε]` with `ε = f64::EPSILON`
/// and rows are not renormalized (scikit-learn only warns when a row does not sum to one).
/// `None` when `k < 2` or a probability is outside `[0, 1]` (scikit-learn raises), besides the module's cases.
pub fn log_loss(labels: &[u32], probs: &[f64], k: usize, weights: Option<&[f64]>) -> Option<f64> {
    check_shapes(labels, probs, k, weights)?;
    if k < 2 || probs.iter().any(|p| !(0.0..=1.0).contains(p)) {
        return None;
    }
    let (mut sum, mut total) = (0.0, 0.0);
    let ok = visit_rows(labels, probs, k, weights, |y, row, w| {
        sum -= w * row[y].clamp(f64::EPSILON, 1.0 - f64::EPSILON).ln();
        total += w;
    });
    if ok { ratio(sum, total) } else { None }
}

/// Share of rows whose true class is among the `top_k` most probable, as scikit-learn's
/// `top_k_accuracy_score(y, probs, k=top_k, labels=range(k))`.
///
/// Ties follow scikit-learn, which ranks classes by a stable ascending sort, reversed: among equal
/// probabilities the higher class index ranks first. The true class `c` is a hit when
/// `#{j : p_j > p_c} + #{j > c : p_j = p_c} < top_k`. (With `top_k = 1` this takes the *last* maximum,
/// unlike [`accuracy`], which takes the first as numpy's argmax does.) `top_k ≥ k` gives 1.
/// `None` when `top_k` is 0, besides the module's cases. (For `k = 2` scikit-learn refuses two-column
/// scores; here the rule above applies to any `k`.)
pub fn top_k_accuracy(labels: &[u32], probs: &[f64], k: usize, weights: Option<&[f64]>, top_k: usize) -> Option<f64> {
    check_shapes(labels, probs, k, weights)?;
    if top_k == 0 {
        return None;
    }
    let (mut hits, mut total) = (0.0, 0.0);
    let ok = visit_rows(labels, probs, k, weights, |y, row, w| {
        let p = row[y];
        let above = row.iter().enumerate().filter(|&(j, &q)| q > p || (q == p && j > y)).count();
        if above < top_k {
            hits += w;
        }
        total += w;
    });
    if ok { ratio(hits, total) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROBS: [f64; 12] = [
        0.7, 0.2, 0.1, // argmax 0
        0.3, 0.3, 0.4, // argmax 2
        0.4, 0.4, 0.2, // tie 0/1: argmax 0
        0.1, 0.6, 0.3, // argmax 1
    ];

    #[test]
    fn accuracy_takes_first_maximum() {
        // true [0, 1, 1, 1]: hits rows 0 and 3 (row 2 predicts 0 on the tie)
        assert_eq!(accuracy(&[0, 1, 1, 1], &PROBS, 3, None), Some(0.5));
        assert_eq!(accuracy(&[0, 1, 0, 1], &PROBS, 3, None), Some(0.75));
        assert_eq!(accuracy(&[0, 1, 1, 1], &PROBS, 3, Some(&[1.0, 0.0, 0.0, 2.0])), Some(1.0));
    }

    #[test]
    fn f1_by_hand() {
        // true [0, 1, 1, 1], predicted [0, 2, 0, 1]
        // class 0: tp 1, pred 2, true 1 -> 2/3; class 1: tp 1, pred 1, true 3 -> 1/2; class 2: tp 0, pred 1 -> 0
        let labels = [0, 1, 1, 1];
        let macro_expected = (2.0 / 3.0 + 0.5 + 0.0) / 3.0;
        let weighted_expected = (2.0 / 3.0 * 1.0 + 0.5 * 3.0) / 4.0;
        assert!((macro_f1(&labels, &PROBS, 3, None).expect("defined") - macro_expected).abs() < 1e-15);
        assert!((weighted_f1(&labels, &PROBS, 3, None).expect("defined") - weighted_expected).abs() < 1e-15);
        // weight 0 on row 1 removes class 2 from the macro mean
        let w = [1.0, 0.0, 1.0, 1.0];
        // class 0: tp 1, pred 2, true 1 -> 2/3; class 1: tp 1, pred 1, true 2 -> 2/3
        let m = macro_f1(&labels, &PROBS, 3, Some(&w)).expect("defined");
        assert!((m - 2.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn log_loss_clips_and_ignores_zero_weights() {
        let probs = [1.0, 0.0, 0.5, 0.5];
        // row 0 predicts its class with probability 1 -> clipped to 1 - eps
        let l = log_loss(&[0, 1], &probs, 2, None).expect("defined");
        let expected = (-(1.0 - f64::EPSILON).ln() + std::f64::consts::LN_2) / 2.0;
        assert!((l - expected).abs() < 1e-15);
        // the impossible class costs -ln(eps)
        let l = log_loss(&[1, 1], &probs, 2, Some(&[1.0, 0.0])).expect("defined");
        assert!((l + f64::EPSILON.ln()).abs() < 1e-12);
        assert_eq!(log_loss(&[0], &[1.5, -0.5], 2, None), None);
        assert_eq!(log_loss(&[0], &[1.0], 1, None), None);
    }

    #[test]
    fn top_k_ties_rank_higher_index_first() {
        let probs = [0.4, 0.4, 0.2];
        // classes ranked [1, 0, 2]
        assert_eq!(top_k_accuracy(&[1], &probs, 3, None, 1), Some(1.0));
        assert_eq!(top_k_accuracy(&[0], &probs, 3, None, 1), Some(0.0));
        assert_eq!(top_k_accuracy(&[0], &probs, 3, None, 2), Some(1.0));
        assert_eq!(top_k_accuracy(&[2], &probs, 3, None, 2), Some(0.0));
        assert_eq!(top_k_accuracy(&[2], &probs, 3, None, 3), Some(1.0));
        assert_eq!(top_k_accuracy(&[2], &probs, 3, None, 0), None);
    }

    #[test]
    fn invalid_inputs_are_none() {
        assert_eq!(accuracy(&[], &[], 3, None), None);
        assert_eq!(accuracy(&[3], &[0.2, 0.3, 0.5], 3, None), None);
        assert_eq!(accuracy(&[0], &[0.2, 0.3], 3, None), None);
        assert_eq!(accuracy(&[0], &[0.2, f64::NAN, 0.5], 3, None), None);
        assert_eq!(accuracy(&[0], &[0.2, 0.3, 0.5], 0, None), None);
        assert_eq!(accuracy(&[0], &[0.2, 0.3, 0.5], 3, Some(&[0.0])), None);
        assert_eq!(accuracy(&[0], &[0.2, 0.3, 0.5], 3, Some(&[-1.0])), None);
        assert_eq!(macro_f1(&[0], &[0.2, 0.3, 0.5], 3, Some(&[1.0, 1.0])), None);
        assert_eq!(weighted_f1(&[0], &[0.2, 0.3, 0.5], 3, Some(&[0.0])), None);
    }
}

//! Metrics kiln-train needs to check its own models: ROC AUC for now. The evaluation crate
//! owns the full set (slices, intervals, fairness).

/// ROC AUC of `scores` against binary `labels` (true = positive), by ranks: the probability
/// that a random positive scores above a random negative, ties counting one half (average
/// ranks, as the Mann-Whitney U statistic). `None` when either class is absent or the lengths
/// differ; NaN scores rank lowest.
pub fn roc_auc(labels: &[bool], scores: &[f64]) -> Option<f64> {
    if labels.len() != scores.len() {
        return None;
    }
    let n_pos = labels.iter().filter(|l| **l).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let key = |x: f64| if x.is_nan() { f64::NEG_INFINITY } else { x };
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|a, b| key(scores[*a]).total_cmp(&key(scores[*b])));
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let value = key(scores[order[start]]);
        let mut end = start + 1;
        while end < order.len() && key(scores[order[end]]) == value {
            end += 1;
        }
        let average_rank = (start + end + 1) as f64 / 2.0;
        let positives = order[start..end].iter().filter(|i| labels[**i]).count();
        rank_sum += average_rank * positives as f64;
        start = end;
    }
    let n_pos = n_pos as f64;
    Some((rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_worked_example_with_ties() {
        // scores: 0.1(-) 0.4(+) 0.4(-) 0.8(+) 0.8(+) 0.9(-)
        // Pairs (positive, negative), 3 x 3 = 9: 0.4+ beats 0.1-, ties 0.4-, loses to 0.9-: 1.5;
        // each 0.8+ beats 0.1- and 0.4-, loses to 0.9-: 2 + 2. AUC = 5.5 / 9.
        let labels = [false, true, false, true, true, false];
        let scores = [0.1, 0.4, 0.4, 0.8, 0.8, 0.9];
        let auc = roc_auc(&labels, &scores).expect("both classes");
        assert!((auc - 5.5 / 9.0).abs() < 1e-12, "{auc}");
        // Same rows in another order give the same value.
        let labels = [true, false, false, true, false, true];
        let scores = [0.8, 0.9, 0.1, 0.4, 0.4, 0.8];
        assert!((roc_auc(&labels, &scores).expect("both") - 5.5 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn perfect_reversed_constant_and_degenerate() {
        let labels = [false, false, true, true];
        assert_eq!(roc_auc(&labels, &[0.1, 0.2, 0.3, 0.4]), Some(1.0));
        assert_eq!(roc_auc(&labels, &[0.4, 0.3, 0.2, 0.1]), Some(0.0));
        assert_eq!(roc_auc(&labels, &[0.5; 4]), Some(0.5));
        assert_eq!(roc_auc(&[true, true], &[0.1, 0.2]), None);
        assert_eq!(roc_auc(&labels, &[0.1]), None);
    }
}

//! kiln-eval's metrics against scikit-learn's, on the cases of `tests/fixtures/sklearn_metrics.json`
//! (written by `scripts/fixtures/eval_sklearn.py`; see its header for how the references are made).
//!
//! Tolerance: `|actual - expected| <= 1e-9 · max(1, |expected|)`, i.e. absolute 1e-9 for values up to 1
//! in magnitude and relative 1e-9 beyond (log loss, MAPE). A `null` reference must give `None`.

use std::collections::BTreeMap;

use kiln_eval::metrics::{self, Metric, MetricParams, Outcomes, binary};
use serde::Deserialize;

const TOLERANCE: f64 = 1e-9;

#[derive(Deserialize)]
struct Fixture {
    binary: Vec<BinaryCase>,
    multiclass: Vec<MulticlassCase>,
    regression: Vec<RegressionCase>,
}

#[derive(Deserialize)]
struct BinaryCase {
    name: String,
    labels: Vec<u8>,
    scores: Vec<f64>,
    weights: Option<Vec<f64>>,
    threshold: f64,
    ece_bins: usize,
    expected: BinaryExpected,
}

#[derive(Deserialize)]
struct BinaryExpected {
    confusion_matrix: [f64; 4],
    #[serde(flatten)]
    values: BTreeMap<String, Option<f64>>,
}

#[derive(Deserialize)]
struct MulticlassCase {
    name: String,
    n_classes: usize,
    labels: Vec<u32>,
    probs: Vec<f64>,
    weights: Option<Vec<f64>>,
    expected: MulticlassExpected,
}

#[derive(Deserialize)]
struct MulticlassExpected {
    top_k_accuracy: Vec<(usize, Option<f64>)>,
    #[serde(flatten)]
    values: BTreeMap<String, Option<f64>>,
}

#[derive(Deserialize)]
struct RegressionCase {
    name: String,
    targets: Vec<f64>,
    predictions: Vec<f64>,
    weights: Option<Vec<f64>>,
    expected: BTreeMap<String, Option<f64>>,
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sklearn_metrics.json");
    let text = std::fs::read_to_string(path).expect("the fixture is committed next to this test");
    serde_json::from_str(&text).expect("the fixture matches the generator's layout")
}

/// Failure description if `actual` is not within tolerance of `expected`.
fn mismatch(what: &str, actual: Option<f64>, expected: Option<f64>) -> Option<String> {
    let ok = match (actual, expected) {
        (Some(a), Some(e)) => (a - e).abs() <= TOLERANCE * e.abs().max(1.0),
        (None, None) => true,
        _ => false,
    };
    (!ok).then(|| format!("{what}: kiln {actual:?}, scikit-learn {expected:?}"))
}

/// Checks every expected value of a case through [`metrics::compute`]; returns the number checked.
fn check_values(
    case: &str,
    expected: &BTreeMap<String, Option<f64>>,
    outcomes: &Outcomes<'_>,
    weights: Option<&[f64]>,
    params: &MetricParams,
    failures: &mut Vec<String>,
) -> usize {
    for (name, &want) in expected {
        let Some(metric) = Metric::parse(name) else {
            failures.push(format!("{case}: unknown metric {name:?} in the fixture"));
            continue;
        };
        let got = metrics::compute(metric, outcomes, weights, params);
        failures.extend(mismatch(&format!("{case} {name}"), got, want));
    }
    expected.len()
}

#[test]
fn binary_metrics_match_scikit_learn() {
    let mut failures = Vec::new();
    let mut checked = 0;
    let cases = fixture().binary;
    assert!(cases.len() >= 8, "the fixture has the binary cases");
    for case in &cases {
        let labels: Vec<bool> = case.labels.iter().map(|&y| y == 1).collect();
        let outcomes = Outcomes::Binary { labels: &labels, scores: &case.scores };
        let weights = case.weights.as_deref();
        let params = MetricParams { threshold: case.threshold, ece_bins: case.ece_bins, ..MetricParams::default() };
        checked += check_values(&case.name, &case.expected.values, &outcomes, weights, &params, &mut failures);

        let cm = binary::confusion_matrix(&labels, &case.scores, weights, case.threshold);
        let cells = cm.map(|c| [c.true_negative, c.false_positive, c.false_negative, c.true_positive]);
        for (i, cell) in ["tn", "fp", "fn", "tp"].into_iter().enumerate() {
            let got = cells.map(|c| c[i]);
            failures.extend(mismatch(&format!("{} {cell}", case.name), got, Some(case.expected.confusion_matrix[i])));
            checked += 1;
        }

        // u8 labels give the same values as bool labels; one sort gives both ranking metrics
        let u8_auc = binary::roc_auc(&case.labels, &case.scores, weights);
        failures.extend(mismatch(&format!("{} roc_auc (u8)", case.name), u8_auc, case.expected.values["roc_auc"]));
        let both = binary::roc_auc_and_average_precision(&labels, &case.scores, weights);
        let (auc, ap) = both.unwrap_or((None, None));
        failures.extend(mismatch(&format!("{} roc_auc (joint)", case.name), auc, case.expected.values["roc_auc"]));
        let want_ap = case.expected.values["average_precision"];
        failures.extend(mismatch(&format!("{} average_precision (joint)", case.name), ap, want_ap));
    }
    assert!(failures.is_empty(), "{} of {checked} values differ:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= 8 * 16, "all binary metrics were compared ({checked})");
}

#[test]
fn multiclass_metrics_match_scikit_learn() {
    let mut failures = Vec::new();
    let mut checked = 0;
    let cases = fixture().multiclass;
    assert!(cases.iter().any(|c| c.n_classes == 3) && cases.iter().any(|c| c.n_classes == 5));
    for case in &cases {
        let outcomes = Outcomes::Multiclass { labels: &case.labels, probs: &case.probs, n_classes: case.n_classes };
        let weights = case.weights.as_deref();
        let params = MetricParams::default();
        checked += check_values(&case.name, &case.expected.values, &outcomes, weights, &params, &mut failures);
        for &(top_k, want) in &case.expected.top_k_accuracy {
            let params = MetricParams { top_k, ..MetricParams::default() };
            let got = metrics::compute(Metric::TopKAccuracy, &outcomes, weights, &params);
            failures.extend(mismatch(&format!("{} top_{top_k}_accuracy", case.name), got, want));
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{} of {checked} values differ:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= cases.len() * 7, "all multiclass metrics were compared ({checked})");
}

#[test]
fn regression_metrics_match_scikit_learn() {
    let mut failures = Vec::new();
    let mut checked = 0;
    let cases = fixture().regression;
    for case in &cases {
        let outcomes = Outcomes::Regression { targets: &case.targets, predictions: &case.predictions };
        let weights = case.weights.as_deref();
        checked +=
            check_values(&case.name, &case.expected, &outcomes, weights, &MetricParams::default(), &mut failures);
    }
    assert!(failures.is_empty(), "{} of {checked} values differ:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= cases.len() * 4, "all regression metrics were compared ({checked})");
}

/// Poisson counts as weights equal repeating each row that many times: the bootstrap relies on it.
#[test]
fn poisson_count_weights_equal_repeated_rows() {
    let fixture = fixture();
    let params = MetricParams::default();
    for case in fixture.binary.iter().filter(|c| c.name.contains("poisson")) {
        let weights = case.weights.as_deref().expect("the poisson case is weighted");
        assert!(weights.contains(&0.0), "the case has zero counts");
        let labels: Vec<bool> = case.labels.iter().map(|&y| y == 1).collect();
        let (mut rep_labels, mut rep_scores) = (Vec::new(), Vec::new());
        for ((&y, &s), &w) in labels.iter().zip(&case.scores).zip(weights) {
            for _ in 0..(w as usize) {
                rep_labels.push(y);
                rep_scores.push(s);
            }
        }
        let weighted = Outcomes::Binary { labels: &labels, scores: &case.scores };
        let repeated = Outcomes::Binary { labels: &rep_labels, scores: &rep_scores };
        for metric in Metric::ALL.into_iter().filter(|m| m.applies_to(metrics::Task::Binary)) {
            let a = metrics::compute(metric, &weighted, Some(weights), &params);
            let b = metrics::compute(metric, &repeated, None, &params);
            assert!(mismatch(metric.name(), a, b).is_none(), "{metric}: {a:?} vs {b:?}");
        }
    }
}

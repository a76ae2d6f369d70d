//! The fast path against `metrics::compute` on each group's rows.

use kiln_core::rng::Rng;

use super::philox::{poisson1_weight, seed_key};
use super::*;
use crate::metrics::{Metric, MetricParams, Outcomes, compute};

/// Random rows: heavily tied scores (a few distinct values, with 0 and 1), labels, weights with
/// zeros, and slicings with the given group counts.
struct Data {
    labels: Vec<bool>,
    scores: Vec<f64>,
    weights: Vec<f64>,
    codes: Vec<Vec<u32>>,
    groups: Vec<u32>,
}

fn data(n: usize, groups: &[u32], distinct: u64, seed: u64) -> Data {
    let mut rng = Rng::new(seed);
    let scores: Vec<f64> = (0..n)
        .map(|_| if distinct == 0 { rng.uniform() } else { rng.below(distinct + 1) as f64 / distinct as f64 })
        .collect();
    let labels = scores.iter().map(|&s| rng.uniform() < 0.2 + 0.6 * s).collect();
    let weights = (0..n).map(|_| if rng.below(10) == 0 { 0.0 } else { rng.uniform() * 3.0 }).collect();
    let mut codes: Vec<Vec<u32>> =
        groups.iter().map(|&g| (0..n).map(|_| rng.below(u64::from(g)) as u32).collect()).collect();
    let mut all = groups.to_vec();
    if groups.len() >= 2 {
        codes.push(cross(&codes[0], groups[0], &codes[1], groups[1]));
        all.push(groups[0] * groups[1]);
    }
    Data { labels, scores, weights, codes, groups: all }
}

impl Data {
    fn slicings(&self) -> Vec<SegmentCodes<'_>> {
        self.codes.iter().zip(&self.groups).map(|(c, &g)| SegmentCodes { codes: c, groups: g }).collect()
    }
}

fn assert_close(what: &str, a: Option<f64>, b: Option<f64>) {
    match (a, b) {
        (Some(a), Some(b)) => {
            assert!((a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300), "{what}: {a} vs {b}")
        }
        _ => assert_eq!(a, b, "{what}"),
    }
}

/// Checks every group of `result` against `compute` on the group's rows.
fn check(d: &Data, weighted: bool, threshold: f64, result: &ScanResult) {
    let params = MetricParams { threshold, ..MetricParams::default() };
    for (s, codes) in d.codes.iter().enumerate() {
        assert_eq!(result.groups[s].len(), d.groups[s] as usize);
        for (g, stats) in result.groups[s].iter().enumerate() {
            let rows: Vec<usize> = (0..codes.len()).filter(|&i| codes[i] as usize == g).collect();
            let labels: Vec<bool> = rows.iter().map(|&i| d.labels[i]).collect();
            let scores: Vec<f64> = rows.iter().map(|&i| d.scores[i]).collect();
            let weights: Vec<f64> = rows.iter().map(|&i| if weighted { d.weights[i] } else { 1.0 }).collect();
            let outcomes = Outcomes::Binary { labels: &labels, scores: &scores };
            let m = |metric| compute(metric, &outcomes, Some(&weights), &params);
            let what = |name: &str| format!("slicing {s} group {g} {name}");
            assert_eq!(stats.count, rows.len() as u64);
            let total: f64 = weights.iter().sum();
            assert_close(&what("weight"), Some(stats.weight), Some(total));
            let pos: f64 = weights.iter().zip(&labels).filter(|(_, y)| **y).map(|(w, _)| w).sum();
            assert_close(&what("positive weight"), Some(stats.positive_weight), Some(pos));
            assert_close(&what("accuracy"), stats.accuracy, m(Metric::Accuracy));
            assert_close(&what("roc_auc"), stats.roc_auc, m(Metric::RocAuc));
            assert_close(&what("log_loss"), stats.log_loss, m(Metric::LogLoss));
            assert_close(&what("brier"), stats.brier, m(Metric::Brier));
            let cm = crate::metrics::binary::confusion_matrix(&labels, &scores, Some(&weights), threshold);
            let cm = cm.expect("valid rows");
            assert_close(&what("tp"), Some(stats.confusion.true_positive), Some(cm.true_positive));
            assert_close(&what("fp"), Some(stats.confusion.false_positive), Some(cm.false_positive));
            assert_close(&what("fn"), Some(stats.confusion.false_negative), Some(cm.false_negative));
        }
    }
}

fn run_scan(d: &Data, weighted: bool, threshold: f64) -> ScanResult {
    let slicings = d.slicings();
    let input = ScanInput {
        labels: &d.labels,
        scores: &d.scores,
        weights: weighted.then_some(&d.weights[..]),
        threshold,
        slicings: &slicings,
    };
    scan(&input).expect("valid input")
}

#[test]
fn equals_compute_with_heavy_ties_and_weights() {
    for (distinct, seed) in [(4u64, 1u64), (50, 2), (1000, 3), (0, 4)] {
        let d = data(3000, &[2, 8, 50], distinct, seed);
        for weighted in [false, true] {
            check(&d, weighted, 0.5, &run_scan(&d, weighted, 0.5));
        }
        // a threshold on a tied score value
        check(&d, true, 0.25, &run_scan(&d, true, 0.25));
    }
}

#[test]
fn equals_compute_across_chunks_and_item_layouts() {
    // more rows than a chunk: several ranking chunks and sort buckets; continuous scores need
    // (key, payload) pairs once weights put the row index in the payload
    let d = data(150_000, &[3, 5], 0, 7);
    check(&d, true, 0.5, &run_scan(&d, true, 0.5));
    let d = data(150_000, &[3, 5], 200, 8);
    check(&d, false, 0.5, &run_scan(&d, false, 0.5));
    // payload over 64 bits: index-only items, labels and codes read from the columns
    let d = data(20_000, &[3, 4, 1 << 15, 1 << 15, 1 << 15], 30, 9);
    let slicings = d.slicings();
    let layout = Layout::new(d.labels.len(), &slicings, (0, 64, 0), true);
    assert!(layout.index_only);
    check(&d, true, 0.5, &run_scan(&d, true, 0.5));
}

#[test]
fn u8_labels_match_bool_labels() {
    let d = data(2000, &[2, 3], 20, 5);
    let slicings = d.slicings();
    let labels: Vec<u8> = d.labels.iter().map(|&y| u8::from(y)).collect();
    let input = ScanInput { labels: &labels, scores: &d.scores, weights: None, threshold: 0.5, slicings: &slicings };
    assert_eq!(scan(&input).expect("valid"), run_scan(&d, false, 0.5));
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let d = data(200_000, &[2, 8, 50], 0, 11);
    let slicings = d.slicings();
    let input = ScanInput {
        labels: &d.labels,
        scores: &d.scores,
        weights: Some(&d.weights),
        threshold: 0.5,
        slicings: &slicings,
    };
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
        pool.install(|| (scan(&input).expect("valid"), scan_bootstrap(&input, 6, 42, 0.9).expect("valid")))
    };
    let (a, b) = (on(1), on(3));
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
}

#[test]
fn one_replicate_equals_compute_under_philox_poisson_weights() {
    let d = data(4000, &[2, 4], 40, 13);
    let slicings = d.slicings();
    let input = ScanInput {
        labels: &d.labels,
        scores: &d.scores,
        weights: Some(&d.weights),
        threshold: 0.5,
        slicings: &slicings,
    };
    let seed = 0xDEAD_BEEF_0123_4567;
    let boot = scan_bootstrap(&input, 1, seed, 0.95).expect("valid");
    assert_eq!(boot.point, scan(&input).expect("valid"));
    let key = seed_key(seed);
    let params = MetricParams::default();
    for (s, codes) in d.codes.iter().enumerate() {
        for (g, iv) in boot.intervals[s].iter().enumerate() {
            let rows: Vec<usize> = (0..codes.len()).filter(|&i| codes[i] as usize == g).collect();
            let labels: Vec<bool> = rows.iter().map(|&i| d.labels[i]).collect();
            let scores: Vec<f64> = rows.iter().map(|&i| d.scores[i]).collect();
            let w: Vec<f64> =
                rows.iter().map(|&i| d.weights[i] * f64::from(poisson1_weight(i as u32, 0, key))).collect();
            let outcomes = Outcomes::Binary { labels: &labels, scores: &scores };
            for (metric, interval) in
                [(Metric::Accuracy, iv.accuracy), (Metric::LogLoss, iv.log_loss), (Metric::RocAuc, iv.roc_auc)]
            {
                let expected = compute(metric, &outcomes, Some(&w), &params);
                assert_close(&format!("{s}/{g} {metric} lo"), interval.map(|i| i.lo), expected);
                assert_close(&format!("{s}/{g} {metric} hi"), interval.map(|i| i.hi), expected);
            }
        }
    }
}

#[test]
fn bootstrap_intervals_cover_the_point_and_are_seeded() {
    let d = data(20_000, &[2, 3], 0, 17);
    let slicings = d.slicings();
    let input = ScanInput { labels: &d.labels, scores: &d.scores, weights: None, threshold: 0.5, slicings: &slicings };
    let a = scan_bootstrap(&input, 200, 5, 0.95).expect("valid");
    assert_eq!(a, scan_bootstrap(&input, 200, 5, 0.95).expect("valid"));
    assert_ne!(a.intervals, scan_bootstrap(&input, 200, 6, 0.95).expect("valid").intervals);
    let overall = a.intervals[0][0].roc_auc.expect("interval");
    let point = a.point.groups[0][0].roc_auc.expect("auc");
    assert!(overall.lo < point && point < overall.hi, "{overall:?} around {point}");
    // about ±1.96 · 0.0055 for AUC ≈ 0.78 with 10,000 rows per group
    assert!(overall.hi - overall.lo < 0.04 && overall.hi - overall.lo > 0.01, "{overall:?}");
}

#[test]
fn invalid_inputs_are_errors() {
    let labels = [true, false];
    let codes = [0u32, 2];
    let slicings = [SegmentCodes { codes: &codes, groups: 2 }];
    let input = ScanInput { labels: &labels, scores: &[0.1, 0.2], weights: None, threshold: 0.5, slicings: &slicings };
    assert_eq!(scan(&input), Err(ScanError::Code { slicing: 0, row: 1, code: 2, groups: 2 }));
    let ok = [SegmentCodes { codes: &[0, 1], groups: 2 }];
    let bad_score = ScanInput { scores: &[0.1, f64::NAN], slicings: &ok, ..input };
    assert!(matches!(scan(&bad_score), Err(ScanError::Score { row: 1, .. })));
    let bad_weight = ScanInput { weights: Some(&[1.0, -1.0]), slicings: &ok, ..input };
    assert!(matches!(scan(&bad_weight), Err(ScanError::Weight { row: 1, .. })));
    let short = ScanInput { scores: &[0.1], slicings: &ok, ..input };
    assert!(matches!(scan(&short), Err(ScanError::Length { .. })));
    assert!(
        scan(&ScanInput { labels: &[0u8, 2], scores: &[0.1, 0.2], weights: None, threshold: 0.5, slicings: &ok })
            .is_err()
    );
    let valid = ScanInput { slicings: &ok, ..input };
    assert!(scan_bootstrap(&valid, 0, 1, 0.9).is_err());
    assert!(scan_bootstrap(&valid, 10, 1, 1.0).is_err());
}

#[test]
fn empty_and_degenerate_inputs() {
    let empty = ScanInput::<bool> { labels: &[], scores: &[], weights: None, threshold: 0.5, slicings: &[] };
    assert_eq!(scan(&empty).expect("valid").groups.len(), 0);
    let codes = [0u32, 0, 0];
    let slicings = [SegmentCodes { codes: &codes, groups: 2 }];
    let input = ScanInput {
        labels: &[true, true, false],
        scores: &[0.3; 3],
        weights: None,
        threshold: 0.5,
        slicings: &slicings,
    };
    let r = scan(&input).expect("valid");
    // one score: every pair tied
    assert_eq!(r.groups[0][0].roc_auc, Some(0.5));
    assert_eq!(r.groups[0][1], GroupStats::default());
}

#[test]
fn scores_come_back_from_compressed_keys() {
    let scores = [0.0, -0.0, 1e-300, 0.25, 0.5, 0.5000001, 1.0 - f64::EPSILON, 1.0];
    let labels = [true; 8];
    let input = ScanInput { labels: &labels, scores: &scores, weights: None, threshold: 0.5, slicings: &[] };
    let layout = Layout::new(scores.len(), &[], validate(&input).expect("valid"), false);
    for &s in &scores {
        assert_eq!(layout.score(layout.compress(s)), s + 0.0);
    }
    let one = [0.3];
    let input = ScanInput { labels: &labels[..1], scores: &one, weights: None, threshold: 0.5, slicings: &[] };
    let layout = Layout::new(1, &[], validate(&input).expect("valid"), false);
    assert_eq!(layout.score(layout.compress(0.3)), 0.3);
}

#[test]
fn cross_codes() {
    assert_eq!(cross(&[0, 1, 1], 2, &[2, 0, 3], 4), vec![2, 4, 7]);
}

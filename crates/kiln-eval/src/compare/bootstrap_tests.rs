//! Tests of the paired bootstrap.

use super::*;

/// Weighted share of rows whose score is on the side of 0.5 of their label.
fn accuracy(labels: &[bool], scores: &[f64], w: Option<&[f64]>) -> Option<f64> {
    let (mut right, mut total) = (0.0, 0.0);
    for (i, (&y, &s)) in labels.iter().zip(scores).enumerate() {
        let wi = w.map_or(1.0, |w| w[i]);
        total += wi;
        if (s >= 0.5) == y {
            right += wi;
        }
    }
    (total > 0.0).then(|| right / total)
}

/// Weighted ROC AUC over all positive/negative pairs (ties count one half).
fn auc(labels: &[bool], scores: &[f64], w: Option<&[f64]>) -> Option<f64> {
    let wi = |i: usize| w.map_or(1.0, |w| w[i]);
    let (mut num, mut wp, mut wn) = (0.0, 0.0, 0.0);
    for i in (0..labels.len()).filter(|&i| labels[i]) {
        wp += wi(i);
        for j in (0..labels.len()).filter(|&j| !labels[j]) {
            let psi = if scores[i] > scores[j] {
                1.0
            } else if scores[i] == scores[j] {
                0.5
            } else {
                0.0
            };
            num += wi(i) * wi(j) * psi;
        }
    }
    for j in (0..labels.len()).filter(|&j| !labels[j]) {
        wn += wi(j);
    }
    (wp > 0.0 && wn > 0.0).then(|| num / (wp * wn))
}

/// Labels and two noisy scores, A more informative than B.
fn data(n: usize) -> (Vec<bool>, Vec<f64>, Vec<f64>) {
    let mut rng = Rng::new(11);
    let labels: Vec<bool> = (0..n).map(|_| rng.uniform() < 0.4).collect();
    let a = labels.iter().map(|&y| 0.5 + if y { 0.25 } else { -0.25 } + 0.3 * rng.normal()).collect();
    let b = labels.iter().map(|&y| 0.5 + if y { 0.1 } else { -0.1 } + 0.3 * rng.normal()).collect();
    (labels, a, b)
}

#[test]
fn poisson_table_and_moments() {
    assert_eq!(POISSON1_CDF[0], (-1.0f64).exp());
    assert!((POISSON1_CDF[1] - 2.0 * (-1.0f64).exp()).abs() < 1e-16);
    assert!(POISSON1_CDF.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(POISSON1_CDF[POISSON1_TABLE_LEN - 1], 1.0);
    let mut w = vec![0.0; 200_000];
    poisson1_weights(&mut Rng::derive(3, 0), &mut w);
    let n = w.len() as f64;
    let mean = w.iter().sum::<f64>() / n;
    let var = w.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    let zeros = w.iter().filter(|&&x| x == 0.0).count() as f64 / n;
    assert!((mean - 1.0).abs() < 0.01 && (var - 1.0).abs() < 0.02, "{mean} {var}");
    assert!((zeros - (-1.0f64).exp()).abs() < 0.005, "{zeros}");
    assert!(w.iter().all(|x| x.fract() == 0.0 && (0.0..20.0).contains(x)));
}

#[test]
fn same_seed_same_result_other_seed_other_result() {
    let (y, a, b) = data(120);
    let config = BootstrapConfig { replicates: 200, level: 0.9, seed: 5 };
    let first = paired_bootstrap_scores(&y, &a, &b, None, auc, &config).expect("valid");
    let again = paired_bootstrap_scores(&y, &a, &b, None, auc, &config).expect("valid");
    assert_eq!(first, again);
    let other = paired_bootstrap_scores(&y, &a, &b, None, auc, &BootstrapConfig { seed: 6, ..config }).expect("valid");
    assert_ne!(first.ci_low, other.ci_low);
    assert_eq!(first.observed, other.observed);
}

#[test]
fn interval_contains_the_observed_difference() {
    let (y, a, b) = data(300);
    let config = BootstrapConfig { replicates: 400, level: 0.95, seed: 1 };
    for metric in [auc as ScoreMetric, accuracy] {
        let r = paired_bootstrap_scores(&y, &a, &b, None, metric, &config).expect("valid");
        let (lo, hi) = (r.ci_low.expect("replicates"), r.ci_high.expect("replicates"));
        assert!(lo <= r.observed && r.observed <= hi, "{lo} {} {hi}", r.observed);
        assert!(r.observed > 0.0 && lo > 0.0, "A is the better model: {r:?}");
        assert!(r.p_value.expect("replicates") < 0.01);
        let se = r.std_error.expect("replicates");
        assert!(se > 0.0 && se < hi - lo);
        assert_eq!((r.replicates, r.skipped), (400, 0));
    }
}

#[test]
fn closure_form_matches_score_form_with_sample_weights() {
    let (y, a, b) = data(80);
    let sw: Vec<f64> = (0..80).map(|i| 0.5 + (i % 3) as f64).collect();
    let config = BootstrapConfig { replicates: 50, level: 0.8, seed: 9 };
    let scores = paired_bootstrap_scores(&y, &a, &b, Some(&sw), auc, &config).expect("valid");
    let closure = paired_bootstrap(80, &config, |w, model| {
        let combined: Vec<f64> = w.iter().zip(&sw).map(|(p, s)| p * s).collect();
        auc(&y, if model == 0 { &a } else { &b }, Some(&combined))
    })
    .expect("valid");
    assert_eq!(scores.ci_low, closure.ci_low);
    assert_eq!(scores.p_value, closure.p_value);
    assert!((scores.observed - closure.observed).abs() < 1e-12);
}

#[test]
fn undefined_replicates_are_skipped_and_counted() {
    // defined only when row 0 is drawn: P(skip) = e^-1
    let config = BootstrapConfig { replicates: 1000, level: 0.95, seed: 2 };
    let r = paired_bootstrap(5, &config, |w, model| (w[0] > 0.0).then_some(model as f64)).expect("valid");
    assert_eq!(r.replicates + r.skipped, 1000);
    assert!((300..440).contains(&r.skipped), "{}", r.skipped);
    // A is always 1 below B: no replicate on the other side of 0
    assert_eq!(
        (r.observed, r.p_value, r.ci_low, r.ci_high, r.std_error),
        (-1.0, Some(0.0), Some(-1.0), Some(-1.0), Some(0.0))
    );
    // identical models
    let same = paired_bootstrap(5, &config, |w, _| Some(w.iter().sum())).expect("valid");
    assert_eq!((same.observed, same.p_value), (0.0, Some(1.0)));
}

#[test]
fn bad_settings_and_undefined_observed_metric_are_errors() {
    let ok = |_: &[f64], _: usize| Some(0.5);
    let zero = BootstrapConfig { replicates: 0, ..Default::default() };
    assert!(matches!(paired_bootstrap(3, &zero, ok), Err(CompareError::BadConfig(_))));
    let level = BootstrapConfig { level: 1.0, ..Default::default() };
    assert!(matches!(paired_bootstrap(3, &level, ok), Err(CompareError::BadConfig(_))));
    let undefined = paired_bootstrap(3, &BootstrapConfig::default(), |_, m| (m == 0).then_some(1.0));
    assert_eq!(undefined, Err(CompareError::UndefinedMetric));
    let y = [true, false];
    let bad =
        paired_bootstrap_scores(&y, &[0.1, 0.2], &[0.3, 0.4], Some(&[1.0, -2.0]), auc, &BootstrapConfig::default());
    assert_eq!(bad, Err(CompareError::BadWeight { row: 1, value: -2.0 }));
}

#[test]
fn quantiles_interpolate_like_numpy() {
    let v = [1.0, 2.0, 3.0, 4.0];
    assert_eq!(quantile_sorted(&v, 0.25), Some(1.75));
    assert_eq!(quantile_sorted(&v, 1.0), Some(4.0));
    assert_eq!(quantile_sorted(&v, 0.0), Some(1.0));
    assert_eq!(quantile_sorted(&[], 0.5), None);
}

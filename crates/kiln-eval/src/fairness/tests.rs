//! Tests of the fairness metrics.

use super::*;

const TOL: f64 = 1e-12;

fn close(got: Option<f64>, want: f64) -> bool {
    got.is_some_and(|g| (g - want).abs() < TOL)
}

/// Group A: (1,1) (1,0) (0,1) (0,0); group B: (1,1) (1,1) (0,0); group C: (0,1) (0,0), no
/// positives; group D never occurs.
fn small() -> (Vec<bool>, Vec<bool>, Vec<u32>, Vec<&'static str>) {
    let rows = [(1, 1, 0), (1, 0, 0), (0, 1, 0), (0, 0, 0), (1, 1, 1), (1, 1, 1), (0, 0, 1), (0, 1, 2), (0, 0, 2)];
    let labels = rows.iter().map(|r| r.0 == 1).collect();
    let preds = rows.iter().map(|r| r.1 == 1).collect();
    let groups = rows.iter().map(|r| r.2).collect();
    (labels, preds, groups, vec!["A", "B", "C", "D"])
}

#[test]
fn hand_worked_rates_and_gaps() {
    let (y, p, g, names) = small();
    let r = fairness_report(&y, &p, &g, &names, None, FairnessOptions::default()).expect("valid input");
    assert_eq!(r.empty_groups, vec!["D".to_string()]);
    assert_eq!(r.groups.len(), 3);
    let c = &r.groups[2];
    assert_eq!((c.name.as_str(), c.count, c.true_positive_rate), ("C", 2, None));
    assert!(close(c.false_positive_rate, 0.5) && close(c.selection_rate, 0.5));
    assert!(close(r.overall.selection_rate, 5.0 / 9.0));
    assert!(close(r.overall.true_positive_rate, 0.75) && close(r.overall.false_positive_rate, 0.4));
    assert!(close(r.groups[1].false_negative_rate, 0.0) && close(r.groups[1].true_negative_rate, 1.0));

    let dp = r.demographic_parity;
    assert!(close(dp.between_groups.difference, 1.0 / 6.0) && close(dp.between_groups.ratio, 0.75));
    assert!(close(dp.to_overall.difference, 1.0 / 9.0) && close(dp.to_overall.ratio, 5.0 / 6.0));
    // fairlearn counts C's undefined TPR as 0
    let tpr = r.true_positive_rate;
    assert!(close(tpr.between_groups.difference, 1.0) && close(tpr.between_groups.ratio, 0.0));
    assert!(close(tpr.to_overall.difference, 0.75) && close(tpr.to_overall.ratio, 0.0));
    let fpr = r.false_positive_rate;
    assert!(close(fpr.between_groups.difference, 0.5) && close(fpr.between_groups.ratio, 0.0));
    assert!(close(fpr.to_overall.difference, 0.4) && close(fpr.to_overall.ratio, 0.0));
    let eo = r.equalized_odds;
    assert!(close(eo.between_groups.difference, 1.0) && close(eo.between_groups.ratio, 0.0));
    assert!(close(eo.to_overall.difference, 0.75) && close(eo.to_overall.ratio, 0.0));
}

#[test]
fn excluding_undefined_rates_and_mean_aggregation() {
    let (y, p, g, names) = small();
    let options =
        FairnessOptions { undefined_rate: UndefinedRate::Exclude, equalized_odds_agg: EqualizedOddsAgg::Mean };
    let r = fairness_report(&y, &p, &g, &names, None, options).expect("valid input");
    let tpr = r.true_positive_rate;
    assert!(close(tpr.between_groups.difference, 0.5) && close(tpr.between_groups.ratio, 0.5));
    assert!(close(tpr.to_overall.difference, 0.25) && close(tpr.to_overall.ratio, 2.0 / 3.0));
    let eo = r.equalized_odds.between_groups;
    assert!(close(eo.difference, 0.5) && close(eo.ratio, 0.25));
}

#[test]
fn free_functions_agree_with_the_report() {
    let (y, p, g, _) = small();
    let dpd = demographic_parity_difference(&y, &p, &g, 4, None, Method::ToOverall).expect("valid");
    assert!(close(dpd, 1.0 / 9.0));
    let dpr = demographic_parity_ratio(&y, &p, &g, 4, None, Method::BetweenGroups).expect("valid");
    assert!(close(dpr, 0.75));
    let eod = equalized_odds_difference(&y, &p, &g, 4, None, Method::ToOverall, EqualizedOddsAgg::Mean);
    assert!(close(eod.expect("valid"), 0.5 * (0.75 + 0.4)));
    let eor = equalized_odds_ratio(&y, &p, &g, 4, None, Method::BetweenGroups, EqualizedOddsAgg::WorstCase);
    assert!(close(eor.expect("valid"), 0.0));
}

#[test]
fn integer_weights_equal_repeated_rows() {
    let (y, p, g, names) = small();
    let w = [1.0, 3.0, 2.0, 1.0, 1.0, 2.0, 4.0, 1.0, 2.0];
    let weighted = fairness_report(&y, &p, &g, &names, Some(&w), FairnessOptions::default()).expect("valid");
    let (mut y2, mut p2, mut g2) = (Vec::new(), Vec::new(), Vec::new());
    for (i, &k) in w.iter().enumerate() {
        for _ in 0..k as usize {
            y2.push(y[i]);
            p2.push(p[i]);
            g2.push(g[i]);
        }
    }
    let repeated = fairness_report(&y2, &p2, &g2, &names, None, FairnessOptions::default()).expect("valid");
    assert_eq!(weighted.demographic_parity, repeated.demographic_parity);
    assert_eq!(weighted.equalized_odds, repeated.equalized_odds);
    assert_eq!(weighted.groups[0].weight, 7.0);
    assert_eq!(weighted.groups[0].count, 4);
}

#[test]
fn degenerate_inputs_give_none_not_panics() {
    // nobody selected: every ratio is 0/0
    let y = [true, false, true, false];
    let p = [false; 4];
    let g = [0, 0, 1, 1];
    let r = fairness_report(&y, &p, &g, &["a", "b"], None, FairnessOptions::default()).expect("valid");
    assert_eq!(r.demographic_parity.between_groups, Gap { difference: Some(0.0), ratio: None });
    assert_eq!(r.equalized_odds.to_overall, Gap { difference: Some(0.0), ratio: None });
    // a group whose weights are all 0 has no selection rate and is skipped in its gaps
    let w = [1.0, 1.0, 0.0, 0.0];
    let p = [true, false, true, true];
    let r = fairness_report(&y, &p, &g, &["a", "b"], Some(&w), FairnessOptions::default()).expect("valid");
    assert_eq!(r.groups[1].selection_rate, None);
    assert_eq!(r.demographic_parity.between_groups, Gap { difference: Some(0.0), ratio: Some(1.0) });
    // no rows at all
    let r = fairness_report(&[], &[], &[], &["a"], None, FairnessOptions::default()).expect("valid");
    assert_eq!(r.demographic_parity, Gaps::default());
    assert_eq!(r.empty_groups, vec!["a".to_string()]);
    // gap helpers on nothing
    assert_eq!(difference(&[None, None], Some(0.5), Method::ToOverall), None);
    assert_eq!(ratio(&[Some(0.2)], Some(0.0), Method::ToOverall), Some(0.0));
}

#[test]
fn malformed_inputs_are_errors() {
    let y = [true, false];
    let p = [true, false];
    let err = fairness_report(&y, &p[..1], &[0, 0], &["a"], None, FairnessOptions::default());
    assert_eq!(err, Err(FairnessError::LengthMismatch { name: "predictions", got: 1, expected: 2 }));
    let err = fairness_report(&y, &p, &[0, 2], &["a", "b"], None, FairnessOptions::default());
    assert_eq!(err, Err(FairnessError::GroupOutOfRange { row: 1, code: 2, n_groups: 2 }));
    let err = fairness_report(&y, &p, &[0, 1], &["a", "b"], Some(&[1.0, -1.0]), FairnessOptions::default());
    assert_eq!(err, Err(FairnessError::BadWeight { row: 1, value: -1.0 }));
    assert!(fairness_report(&y, &p, &[0, 1], &["a", "b"], Some(&[1.0, f64::NAN]), FairnessOptions::default()).is_err());
}

#[test]
fn report_serializes_with_nulls_for_undefined_values() {
    let (y, p, g, names) = small();
    let r = fairness_report(&y, &p, &g, &names, None, FairnessOptions::default()).expect("valid");
    let json = serde_json::to_string(&r).expect("serializable");
    assert!(json.contains("\"true_positive_rate\":null"));
    assert!(json.contains("\"between_groups\""));
    let back: FairnessReport = serde_json::from_str(&json).expect("round trip");
    assert_eq!((back.options, &back.empty_groups, back.groups.len()), (r.options, &r.empty_groups, 3));
    assert!(close(back.demographic_parity.between_groups.ratio, 0.75));
}

#[test]
fn equalized_odds_keeps_the_defined_gap() {
    // every TPR is 0, so the TPR ratio is 0/0; the FPRs are 1/2 and 1
    let y = [true, false, false, true, false];
    let p = [false, true, false, false, true];
    let g = [0, 0, 0, 1, 1];
    let r = fairness_report(&y, &p, &g, &["a", "b"], None, FairnessOptions::default()).expect("valid");
    assert_eq!(r.true_positive_rate.between_groups, Gap { difference: Some(0.0), ratio: None });
    assert_eq!(r.equalized_odds.between_groups, Gap { difference: Some(0.5), ratio: Some(0.5) });
}

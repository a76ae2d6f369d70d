//! kiln-eval's fairness metrics and paired tests against fairlearn, statsmodels and scipy.
//!
//! The reference values come from `scripts/fixtures/eval_fairlearn.py` (see its header to
//! regenerate `tests/fixtures/fairlearn_compare.json`).

use std::collections::BTreeMap;

use kiln_eval::compare::{self, McNemarForm};
use kiln_eval::fairness::{self, EqualizedOddsAgg, FairnessOptions, FairnessReport, GroupRates, Method};
use serde::Deserialize;

const TOL: f64 = 1e-9;

#[derive(Deserialize)]
struct Fixture {
    fairness: Vec<FairnessCase>,
    mcnemar: Vec<McNemarCase>,
    mcnemar_tables: Vec<McNemarExpected>,
    delong: Vec<DeLongCase>,
    normal_sf: Vec<(f64, f64)>,
    chi2_sf: Vec<(f64, f64)>,
}

#[derive(Deserialize)]
struct FairnessCase {
    name: String,
    labels: Vec<u8>,
    predictions: Vec<u8>,
    groups: Vec<u32>,
    group_names: Vec<String>,
    weights: Option<Vec<f64>>,
    expected: FairnessExpected,
}

#[derive(Deserialize)]
struct FairnessExpected {
    dp_difference_between_groups: Option<f64>,
    dp_ratio_between_groups: Option<f64>,
    eo_difference_between_groups: Option<f64>,
    eo_ratio_between_groups: Option<f64>,
    dp_difference_to_overall: Option<f64>,
    dp_ratio_to_overall: Option<f64>,
    eo_difference_to_overall: Option<f64>,
    eo_ratio_to_overall: Option<f64>,
    metric_frame: MetricFrame,
}

/// fairlearn MetricFrame values keyed by metric ("selection_rate", "tpr", "fpr"), or by
/// "{metric}_{method}" for differences and ratios.
#[derive(Deserialize)]
struct MetricFrame {
    by_group: BTreeMap<String, BTreeMap<String, Option<f64>>>,
    overall: BTreeMap<String, Option<f64>>,
    difference: BTreeMap<String, Option<f64>>,
    ratio: BTreeMap<String, Option<f64>>,
}

#[derive(Deserialize)]
struct McNemarCase {
    name: String,
    labels: Vec<u8>,
    pred_a: Vec<u8>,
    pred_b: Vec<u8>,
    expected: McNemarExpected,
}

#[derive(Deserialize)]
struct McNemarExpected {
    b: u64,
    c: u64,
    exact: bool,
    statistic: f64,
    p_value: f64,
}

#[derive(Deserialize)]
struct DeLongCase {
    name: String,
    labels: Vec<u8>,
    score_a: Vec<f64>,
    score_b: Vec<f64>,
    expected: DeLongExpected,
}

#[derive(Deserialize)]
struct DeLongExpected {
    auc_a: f64,
    auc_b: f64,
    difference: f64,
    variance: f64,
    z: f64,
    p_value: f64,
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fairlearn_compare.json");
    let text = std::fs::read_to_string(path).expect("fixture file is readable");
    serde_json::from_str(&text).expect("fixture file parses")
}

fn bools(v: &[u8]) -> Vec<bool> {
    v.iter().map(|&x| x == 1).collect()
}

/// Equal within `TOL` absolutely (rates and gaps live in [0, 1]), or both undefined.
#[track_caller]
fn assert_abs(got: Option<f64>, want: Option<f64>, what: &str) {
    match (got, want) {
        (Some(g), Some(w)) => assert!((g - w).abs() <= TOL, "{what}: kiln {g}, reference {w}"),
        (None, None) => {}
        _ => panic!("{what}: kiln {got:?}, reference {want:?}"),
    }
}

/// Equal within `TOL` relative to the reference (p-values, variances, z).
#[track_caller]
fn assert_rel(got: f64, want: f64, tol: f64, what: &str) {
    let ok = if want == 0.0 { got == 0.0 } else { ((got - want) / want).abs() <= tol };
    assert!(ok, "{what}: kiln {got:e}, reference {want:e}");
}

fn rate_of(row: &GroupRates, metric: &str) -> Option<f64> {
    match metric {
        "selection_rate" => row.selection_rate,
        // fairlearn counts an undefined TPR/FPR as 0 (scikit-learn's normalized confusion matrix)
        "tpr" => Some(row.true_positive_rate.unwrap_or(0.0)),
        "fpr" => Some(row.false_positive_rate.unwrap_or(0.0)),
        other => panic!("unknown metric {other}"),
    }
}

fn gaps_of<'a>(report: &'a FairnessReport, metric: &str) -> &'a fairness::Gaps {
    match metric {
        "selection_rate" => &report.demographic_parity,
        "tpr" => &report.true_positive_rate,
        "fpr" => &report.false_positive_rate,
        other => panic!("unknown metric {other}"),
    }
}

#[test]
fn fairness_matches_fairlearn() {
    let fixture = fixture();
    assert!(fixture.fairness.len() >= 7);
    for case in &fixture.fairness {
        let (y, p) = (bools(&case.labels), bools(&case.predictions));
        let w = case.weights.as_deref();
        let r = fairness::fairness_report(&y, &p, &case.groups, &case.group_names, w, FairnessOptions::default())
            .expect("valid case");
        let e = &case.expected;
        let name = &case.name;
        let bg = r.demographic_parity.between_groups;
        let to = r.demographic_parity.to_overall;
        assert_abs(bg.difference, e.dp_difference_between_groups, &format!("{name} dp difference between"));
        assert_abs(bg.ratio, e.dp_ratio_between_groups, &format!("{name} dp ratio between"));
        assert_abs(to.difference, e.dp_difference_to_overall, &format!("{name} dp difference to overall"));
        assert_abs(to.ratio, e.dp_ratio_to_overall, &format!("{name} dp ratio to overall"));
        let bg = r.equalized_odds.between_groups;
        let to = r.equalized_odds.to_overall;
        assert_abs(bg.difference, e.eo_difference_between_groups, &format!("{name} eo difference between"));
        assert_abs(bg.ratio, e.eo_ratio_between_groups, &format!("{name} eo ratio between"));
        assert_abs(to.difference, e.eo_difference_to_overall, &format!("{name} eo difference to overall"));
        assert_abs(to.ratio, e.eo_ratio_to_overall, &format!("{name} eo ratio to overall"));

        let mf = &e.metric_frame;
        for (metric, by_group) in &mf.by_group {
            // fairlearn only sees the groups that occur
            let present: Vec<&str> = r.groups.iter().map(|g| g.name.as_str()).collect();
            assert_eq!(present, by_group.keys().map(String::as_str).collect::<Vec<_>>(), "{name} groups");
            for row in &r.groups {
                assert_abs(rate_of(row, metric), by_group[&row.name], &format!("{name} {metric} of {}", row.name));
            }
            assert_abs(rate_of(&r.overall, metric), mf.overall[metric], &format!("{name} overall {metric}"));
            for method in [Method::BetweenGroups, Method::ToOverall] {
                let key = match method {
                    Method::BetweenGroups => format!("{metric}_between_groups"),
                    Method::ToOverall => format!("{metric}_to_overall"),
                };
                let gap = gaps_of(&r, metric).get(method);
                assert_abs(gap.difference, mf.difference[&key], &format!("{name} difference {key}"));
                assert_abs(gap.ratio, mf.ratio[&key], &format!("{name} ratio {key}"));
            }
        }
        let n_groups = case.group_names.len();
        let eod = fairness::equalized_odds_difference(
            &y,
            &p,
            &case.groups,
            n_groups,
            w,
            Method::BetweenGroups,
            EqualizedOddsAgg::WorstCase,
        )
        .expect("valid case");
        assert_abs(eod, e.eo_difference_between_groups, &format!("{name} equalized_odds_difference"));
        let dpr = fairness::demographic_parity_ratio(&y, &p, &case.groups, n_groups, w, Method::ToOverall)
            .expect("valid case");
        assert_abs(dpr, e.dp_ratio_to_overall, &format!("{name} demographic_parity_ratio"));
    }
}

#[track_caller]
fn check_mcnemar(got: &compare::McNemar, want: &McNemarExpected, what: &str) {
    assert_eq!((got.b, got.c), (want.b, want.c), "{what}: counts");
    let form = if want.exact { McNemarForm::ExactBinomial } else { McNemarForm::ChiSquareCorrected };
    assert_eq!(got.form, form, "{what}: form");
    assert_rel(got.statistic, want.statistic, TOL, &format!("{what} statistic"));
    assert_rel(got.p_value, want.p_value, TOL, &format!("{what} p-value"));
}

#[test]
fn mcnemar_matches_statsmodels() {
    let fixture = fixture();
    for case in &fixture.mcnemar {
        let r = compare::mcnemar(&bools(&case.labels), &bools(&case.pred_a), &bools(&case.pred_b)).expect("valid");
        check_mcnemar(&r, &case.expected, &case.name);
    }
    let mut forms = [0, 0];
    for t in &fixture.mcnemar_tables {
        // the automatic form only: statsmodels' other form of the same table is not kiln's answer
        if t.exact == (t.b + t.c < 25) {
            check_mcnemar(&compare::mcnemar_from_counts(t.b, t.c), t, &format!("table b={} c={}", t.b, t.c));
            forms[usize::from(t.exact)] += 1;
        }
    }
    assert!(forms[0] >= 3 && forms[1] >= 5, "{forms:?}");
}

#[test]
fn delong_matches_the_textbook_form() {
    let fixture = fixture();
    for case in &fixture.delong {
        let r = compare::delong(&bools(&case.labels), &case.score_a, &case.score_b).expect("valid");
        let (e, name) = (&case.expected, &case.name);
        assert_rel(r.auc_a, e.auc_a, TOL, &format!("{name} auc_a"));
        assert_rel(r.auc_b, e.auc_b, TOL, &format!("{name} auc_b"));
        assert_rel(r.difference, e.difference, TOL, &format!("{name} difference"));
        assert_rel(r.variance.expect("defined"), e.variance, TOL, &format!("{name} variance"));
        assert_rel(r.z.expect("defined"), e.z, TOL, &format!("{name} z"));
        assert_rel(r.p_value.expect("defined"), e.p_value, TOL, &format!("{name} p-value"));
    }
}

#[test]
fn tails_match_scipy() {
    let fixture = fixture();
    for &(z, want) in &fixture.normal_sf {
        assert_rel(compare::normal_sf(z), want, 1e-12, &format!("norm.sf({z})"));
    }
    for &(x, want) in &fixture.chi2_sf {
        assert_rel(compare::chi2_sf_df1(x), want, 1e-12, &format!("chi2.sf({x}, 1)"));
    }
}

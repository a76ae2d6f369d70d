//! The monitoring pass on generated data where the truth is known: no drift on fresh samples
//! of the reference distribution (false alarms near the test's level), drift for a shifted
//! column only, for one segment only, for the scores only, and clear errors for bad inputs.

use kiln_core::bundle::{FeatureReference, REFERENCE_QUANTILES, mean_std, quantiles};
use kiln_core::preprocess::ColumnRef;
use kiln_core::rng::Rng;
use kiln_monitor::Error;
use kiln_monitor::check::{Current, GroupReference};
use kiln_monitor::config::{MonitorPlan, MonitoringConfig};
use kiln_monitor::monitor::{References, SlicingRows, Window, check_windows, findings};
use kiln_monitor::profile::{Profile, Reference};
use kiln_monitor::report::WindowResult;

/// Generated rows: three standard normal features, a categorical one, a segment (`b` for
/// about a tenth of the rows) and a score.
struct Rows {
    x: [Vec<Option<f64>>; 3],
    c: Vec<Option<&'static str>>,
    segment: Vec<bool>,
    score: Vec<f64>,
}

/// `shift` moves feature `column` by that many standard deviations on the rows `only_b`
/// selects (all rows when false).
fn rows(n: usize, seed: u64, shift: Option<(usize, f64, bool)>, score_shift: f64) -> Rows {
    let mut rng = Rng::new(seed);
    let mut out = Rows { x: [vec![], vec![], vec![]], c: vec![], segment: vec![], score: vec![] };
    for _ in 0..n {
        let b = rng.uniform() < 0.1;
        for (k, x) in out.x.iter_mut().enumerate() {
            let mut v = rng.normal();
            if let Some((column, by, only_b)) = shift
                && column == k
                && (b || !only_b)
            {
                v += by;
            }
            x.push(Some(v));
        }
        out.c.push(Some(["u", "v", "w"][rng.below(3) as usize]));
        out.segment.push(b);
        out.score.push(1.0 / (1.0 + (-(rng.normal() + score_shift)).exp()));
    }
    out
}

fn columns(r: &Rows) -> Vec<(&'static str, ColumnRef<'_>)> {
    vec![
        ("x0", ColumnRef::Numeric(&r.x[0])),
        ("x1", ColumnRef::Numeric(&r.x[1])),
        ("x2", ColumnRef::Numeric(&r.x[2])),
        ("c", ColumnRef::Categorical(&r.c)),
    ]
}

fn group_rows(r: &Rows, b: bool) -> Vec<u32> {
    (0..r.segment.len() as u32).filter(|&i| r.segment[i as usize] == b).collect()
}

fn slicing(r: &Rows) -> Vec<SlicingRows> {
    vec![SlicingRows {
        name: "g".into(),
        groups: vec![("a".into(), group_rows(r, false)), ("b".into(), group_rows(r, true))],
    }]
}

/// Exact references (the reference rows themselves), overall and per segment value.
fn data_references(r: &Rows) -> References {
    let group = |rows: Option<&[u32]>| GroupReference {
        features: columns(r).into_iter().map(|(n, c)| (n.to_string(), Reference::Data(Profile::of(c, rows)))).collect(),
        scores: Some(Reference::Data(Profile::of_scores(&r.score, rows))),
        performance: None,
    };
    let mut refs = References { overall: group(None), ..References::default() };
    for (value, rows) in &slicing(r)[0].groups {
        refs.groups.insert(("g".into(), value.clone()), group(Some(rows)));
    }
    refs
}

fn check(reference: &References, current: &Rows, plan: &MonitorPlan) -> Vec<WindowResult> {
    let cols = columns(current);
    let n = current.score.len() as u32;
    let window = Window { label: "all".into(), rows: (0..n).collect() };
    let current_view = Current { columns: &cols, scores: Some(&current.score) };
    check_windows(reference, &current_view, &[window], &slicing(current), plan).expect("checked")
}

fn drifted(w: &WindowResult, slice: &str, group: &str) -> Vec<String> {
    let g = w.groups.iter().find(|g| g.slice == slice && g.group == group).expect("group");
    g.features.iter().chain(&g.scores).filter(|f| f.result.drifted).map(|f| f.feature.clone()).collect()
}

fn plan(toml_text: &str) -> MonitorPlan {
    let config: MonitoringConfig = toml::from_str(toml_text).expect("config");
    config.plan().expect("plan")
}

#[test]
fn fresh_samples_drift_at_about_the_tests_level() {
    // KS at 0.05 on every feature: a fresh sample of the reference distribution is flagged in
    // about 5% of the windows. Over 200 windows the count is Binomial(200, 0.05): mean 10,
    // sd 3.08; 4.5 sd either side allows 0..=23 (a wrong level, such as 0.10 or 0.01, fails).
    let reference = rows(5000, 1, None, 0.0);
    let refs = data_references(&reference);
    let plan = plan("stattest = \"ks\"\nsegments = false\n");
    let mut alarms = 0;
    for seed in 0..200 {
        let current = rows(1000, 1000 + seed, None, 0.0);
        let w = &check(&refs, &current, &plan)[0];
        alarms += usize::from(drifted(w, "overall", "all").iter().any(|f| f == "x0"));
    }
    assert!((1..=23).contains(&alarms), "x0 flagged in {alarms} of 200 fresh windows at level 0.05");
}

#[test]
fn a_shifted_column_drifts_alone() {
    let reference = rows(20_000, 2, None, 0.0);
    let current = rows(5000, 3, Some((1, 0.5, false)), 0.0);
    let plan = MonitorPlan::default();
    let windows = check(&data_references(&reference), &current, &plan);
    assert_eq!(drifted(&windows[0], "overall", "all"), ["x1"]);
    let (found, drift) = findings(&windows, &plan);
    assert!(found.iter().any(|f| f.kind == "feature_drift" && f.message.contains("`x1`")), "{found:?}");
    // one feature of four is below Evidently's default drift share of 0.5: no dataset drift
    assert!(!drift, "{found:?}");
}

#[test]
fn a_shift_in_one_segment_is_found_there_only() {
    let reference = rows(40_000, 4, None, 0.0);
    // x2 moves by 0.8 sd for segment b (about 10% of rows): overall the move is about 0.08 sd
    let current = rows(20_000, 5, Some((2, 0.8, true)), 0.0);
    let plan = plan("drift_share = 0.25\n");
    let windows = check(&data_references(&reference), &current, &plan);
    let w = &windows[0];
    assert!(drifted(w, "overall", "all").is_empty(), "{:?}", drifted(w, "overall", "all"));
    assert!(drifted(w, "g", "a").is_empty());
    assert_eq!(drifted(w, "g", "b"), ["x2"]);
    let (found, drift) = findings(&windows, &plan);
    assert!(
        found.iter().any(|f| f.kind == "segment_drift" && f.message.contains("`x2` drifted only for g = b")),
        "{found:?}"
    );
    assert!(drift, "a quarter of segment b's features drifted: {found:?}");
}

#[test]
fn drift_in_the_scores_only() {
    let reference = rows(20_000, 6, None, 0.0);
    let current = rows(5000, 7, None, 0.6);
    let plan = MonitorPlan::default();
    let windows = check(&data_references(&reference), &current, &plan);
    assert_eq!(drifted(&windows[0], "overall", "all"), ["score"]);
    let (found, drift) = findings(&windows, &plan);
    assert!(drift && found.iter().any(|f| f.kind == "score_drift"), "{found:?}");
}

/// A bundle's sketch of a sample: quantiles, count, mean, std.
fn sketch(values: &[Option<f64>]) -> FeatureReference {
    let mut present: Vec<f64> = values.iter().flatten().copied().collect();
    present.sort_unstable_by(f64::total_cmp);
    let (mean, std) = mean_std(&present);
    FeatureReference::Numeric {
        name: String::new(),
        edges: Vec::new(),
        proportions: Vec::new(),
        missing_fraction: 0.0,
        quantiles: quantiles(&present, REFERENCE_QUANTILES),
        count: present.len() as u64,
        mean,
        std,
    }
}

#[test]
fn a_bundles_sketches_give_the_same_verdicts_as_the_data() {
    let reference = rows(20_000, 8, None, 0.0);
    let mut refs = data_references(&reference);
    for k in 0..3 {
        refs.overall.features[k].1 = Reference::from_bundle(&sketch(&reference.x[k])).expect("sketch");
    }
    let plan = MonitorPlan::default();
    let shifted = rows(5000, 9, Some((0, 0.5, false)), 0.0);
    assert_eq!(drifted(&check(&refs, &shifted, &plan)[0], "overall", "all"), ["x0"]);
    let fresh = rows(5000, 10, None, 0.0);
    assert!(drifted(&check(&refs, &fresh, &plan)[0], "overall", "all").is_empty());
}

#[test]
fn bad_inputs_are_clear_errors() {
    let reference = rows(2000, 11, None, 0.0);
    let refs = data_references(&reference);
    let current = rows(500, 12, None, 0.0);
    let cols = columns(&current);
    let view = Current { columns: &cols, scores: None };
    let plan = MonitorPlan::default();
    // an empty window
    let empty = Window { label: "none".into(), rows: Vec::new() };
    assert!(matches!(check_windows(&refs, &view, &[empty], &[], &plan), Err(Error::EmptyWindow)));
    // a column with no value at all
    let missing = vec![None; 500];
    let mut cols_missing = cols.clone();
    cols_missing[1] = ("x1", ColumnRef::Numeric(&missing));
    let window = Window { label: "all".into(), rows: (0..500).collect() };
    let err = check_windows(
        &refs,
        &Current { columns: &cols_missing, scores: None },
        std::slice::from_ref(&window),
        &[],
        &plan,
    )
    .expect_err("all missing");
    assert!(matches!(&err, Error::AllMissing { column, .. } if column == "x1"), "{err}");
    assert!(err.to_string().contains("skip = true"), "{err}");
    // a feature the rows lack
    let fewer: Vec<_> = cols.iter().filter(|(n, _)| *n != "c").cloned().collect();
    let err =
        check_windows(&refs, &Current { columns: &fewer, scores: None }, &[window], &[], &plan).expect_err("lacks c");
    assert!(matches!(&err, Error::UnknownFeature { column, .. } if column == "c"), "{err}");
    // a config key that does not fit names the key
    let err = toml::from_str::<MonitoringConfig>("stattest = \"nope\"").expect("parses").plan().expect_err("bad test");
    assert!(err.to_string().contains("[monitoring] stattest"), "{err}");
}

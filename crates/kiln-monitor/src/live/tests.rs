//! The live sketch on generated data: a reference fitted on training rows drawn from known
//! distributions (two segment groups whose `y` differ), then live rows drawn again from the
//! same distributions, or shifted in one column, in one group only, or in time.

use std::time::{Duration, Instant};

use kiln_core::bundle::{ReferenceDistributions, ScoreReference, SegmentReference, SliceSpec};
use kiln_core::columns::{Batch, Values};
use kiln_core::preprocess::{ColumnRef, PreprocessConfig, Preprocessor};
use kiln_core::rng::Rng;

use super::*;
use crate::stats::StatTest;

/// Generated rows: `sex` (F 40%), `x` ~ N(0, 1) (+ `shift_x` for the rows of `shifted`
/// sex), `y` uniform on [0, 10) for M and [2, 12) for F, `city` a/b/c (50/30/20%, 5%
/// missing); the score is the logistic of `x`.
struct Rows {
    sex: Vec<Option<String>>,
    x: Vec<Option<f64>>,
    y: Vec<Option<f64>>,
    city: Vec<Option<String>>,
}

fn draw(seed: u64, n: usize, shift_x: f64, shifted: Option<&str>) -> Rows {
    let mut rng = Rng::new(seed);
    let mut rows = Rows { sex: Vec::new(), x: Vec::new(), y: Vec::new(), city: Vec::new() };
    for _ in 0..n {
        let sex = if rng.uniform() < 0.4 { "F" } else { "M" };
        let shift = if shifted.is_none_or(|s| s == sex) { shift_x } else { 0.0 };
        let y = rng.uniform() * 10.0 + if sex == "F" { 2.0 } else { 0.0 };
        let u = rng.uniform();
        let city = if u < 0.05 {
            None
        } else {
            Some(
                if u < 0.5 {
                    "a"
                } else if u < 0.8 {
                    "b"
                } else {
                    "c"
                }
                .to_string(),
            )
        };
        rows.sex.push(Some(sex.into()));
        rows.x.push(Some(rng.normal() + shift));
        rows.y.push(Some(y));
        rows.city.push(city);
    }
    rows
}

fn scores(rows: &Rows) -> Vec<f64> {
    rows.x.iter().map(|x| 1.0 / (1.0 + (-x.unwrap_or(0.0)).exp())).collect()
}

impl Rows {
    fn batch(&self) -> Batch {
        Batch::new(vec![
            ("sex".into(), Values::Text(self.sex.clone())),
            ("x".into(), Values::Float(self.x.clone())),
            ("y".into(), Values::Float(self.y.clone())),
            ("city".into(), Values::Text(self.city.clone())),
        ])
    }
}

/// The reference of 20,000 training rows, with the groups of `sex` and the scores.
fn reference() -> ReferenceDistributions {
    let rows = draw(7, 20_000, 0.0, None);
    let sex: Vec<Option<&str>> = rows.sex.iter().map(|s| s.as_deref()).collect();
    let city: Vec<Option<&str>> = rows.city.iter().map(|s| s.as_deref()).collect();
    let columns = [
        ("x", ColumnRef::Numeric(&rows.x)),
        ("y", ColumnRef::Numeric(&rows.y)),
        ("sex", ColumnRef::Categorical(&sex)),
        ("city", ColumnRef::Categorical(&city)),
    ];
    let preprocessor = Preprocessor::fit(&PreprocessConfig::default(), &columns).expect("fit");
    let mut reference = ReferenceDistributions::fit(&preprocessor, &columns).expect("reference");
    let all_scores = scores(&rows);
    reference.scores = Some(ScoreReference::of_scores(&all_scores));
    reference.slicings = vec![SliceSpec { name: "sex".into(), by: vec!["sex".into()], bands: None, value: None }];
    for group in ["F", "M"] {
        let picked: Vec<u32> = (0..rows.sex.len() as u32).filter(|r| sex[*r as usize] == Some(group)).collect();
        let features = ReferenceDistributions::fit_rows(&preprocessor, &columns, &picked).expect("group");
        let group_scores: Vec<f64> = picked.iter().map(|r| all_scores[*r as usize]).collect();
        reference.segments.push(SegmentReference {
            slice: "sex".into(),
            group: group.into(),
            rows: picked.len() as u64,
            features,
            scores: Some(ScoreReference::of_scores(&group_scores)),
        });
    }
    reference
}

fn settings() -> LiveSettings {
    LiveSettings { window: Duration::from_secs(60), buckets: 6, min_rows: 1000, ..LiveSettings::default() }
}

fn feed(sketch: &LiveSketch, rows: &Rows, at: Instant) {
    // in batches of 100 rows, as a server scores them
    let batch = rows.batch();
    let all_scores = scores(rows);
    for start in (0..rows.x.len()).step_by(100) {
        let end = (start + 100).min(rows.x.len());
        let part = Batch::new(batch.columns.iter().map(|(n, v)| (n.clone(), slice(v, start..end))).collect());
        sketch.ingest(&part, Some(&all_scores[start..end]), at);
    }
}

fn slice(values: &Values, range: std::ops::Range<usize>) -> Values {
    match values {
        Values::Float(v) => Values::Float(v[range].to_vec()),
        Values::Text(v) => Values::Text(v[range].to_vec()),
        Values::Int(v) => Values::Int(v[range].to_vec()),
        Values::Bool(v) => Values::Bool(v[range].to_vec()),
    }
}

fn drifted(report: &GroupReport) -> Vec<&str> {
    report.features.iter().filter(|f| f.drifted).map(|f| f.feature.as_str()).collect()
}

#[test]
fn training_rows_fill_the_bins_in_the_reference_shares() {
    let reference = reference();
    let t0 = Instant::now();
    let sketch = LiveSketch::new(&reference, settings(), t0).expect("sketch");
    feed(&sketch, &draw(7, 20_000, 0.0, None), t0);
    for (slice, group) in [("overall", "all"), ("sex", "F"), ("sex", "M")] {
        for feature in ["x", "y", "score"] {
            let (shares, counts) = sketch.binned(t0, slice, group, feature).expect("kept");
            let total: u64 = counts.iter().sum();
            // each bin's share is read off the sketch within two of its 1/256 rank steps
            for (share, count) in shares.iter().zip(&counts) {
                let live = *count as f64 / total as f64;
                assert!((share - live).abs() <= 2.0 / 256.0 + 1e-12, "{group} {feature}: {share} vs {live}");
            }
        }
        // categories are counted exactly as the reference counted them
        let (shares, counts) = sketch.binned(t0, slice, group, "city").expect("kept");
        let total: u64 = counts.iter().sum();
        for (share, count) in shares.iter().zip(&counts) {
            assert!((share - *count as f64 / total as f64).abs() < 1e-12);
        }
    }
    // 32 bins of x and the missing code; F's y (on [2, 12)) is empty in the overall bins below 2
    assert_eq!(sketch.binned(t0, "overall", "all", "x").expect("x").0.len(), 33);
    let (shares, _) = sketch.binned(t0, "sex", "F", "y").expect("y");
    assert_eq!(shares[0], 0.0);
}

#[test]
fn a_fresh_sample_of_the_training_distribution_does_not_drift() {
    let reference = reference();
    let t0 = Instant::now();
    // the distances, at their default threshold 0.1 (the p-value tests alarm at their level:
    // see the next test)
    for statistic in [StatTest::Psi, StatTest::JensenShannon, StatTest::Hellinger] {
        let sketch = LiveSketch::new(&reference, LiveSettings { statistic, ..settings() }, t0).expect("sketch");
        feed(&sketch, &draw(11, 5_000, 0.0, None), t0);
        let report = sketch.report(t0);
        assert_eq!(report.groups.len(), 3);
        for group in &report.groups {
            assert!(group.rows >= 1000, "{group:?}");
            assert_eq!(group.features.len(), 4);
            assert!(drifted(group).is_empty(), "{statistic:?}: {group:?}");
            assert_eq!(group.drifted_share, Some(0.0));
            assert!(!group.score.as_ref().expect("score").drifted);
        }
    }
}

#[test]
fn the_p_value_tests_alarm_near_their_level_on_fresh_samples() {
    // 40 fresh samples of 2,000 rows: KS on x and chi-squared on city at p <= 0.05 alarm for
    // 2 samples on average (sd 1.4); more than 6 would happen once in 400 runs of an exact test
    let reference = reference();
    let t0 = Instant::now();
    for (statistic, feature) in [(StatTest::Ks, "x"), (StatTest::ChiSquare, "city")] {
        let mut alarms = 0;
        for seed in 100..140 {
            let sketch = LiveSketch::new(&reference, LiveSettings { statistic, ..settings() }, t0).expect("sketch");
            feed(&sketch, &draw(seed, 2_000, 0.0, None), t0);
            let overall = sketch.overall(t0);
            let verdict = overall.features.iter().find(|f| f.feature == feature).expect("judged");
            assert_eq!((verdict.test, verdict.threshold), (statistic, 0.05));
            alarms += usize::from(verdict.drifted);
        }
        assert!(alarms <= 6, "{statistic}: {alarms} alarms of 40");
    }
    // and both find a shift
    for statistic in [StatTest::Ks, StatTest::ChiSquare] {
        let sketch = LiveSketch::new(&reference, LiveSettings { statistic, ..settings() }, t0).expect("sketch");
        feed(&sketch, &draw(11, 2_000, 0.3, None), t0);
        assert!(drifted(&sketch.overall(t0)).contains(&"x"), "{statistic}");
    }
}

#[test]
fn a_shifted_column_drifts_alone_with_the_scores() {
    let t0 = Instant::now();
    let sketch = LiveSketch::new(&reference(), settings(), t0).expect("sketch");
    feed(&sketch, &draw(11, 5_000, 1.0, None), t0);
    let report = sketch.report(t0);
    for group in &report.groups {
        assert_eq!(drifted(group), ["x"], "{group:?}");
        assert_eq!(group.drifted_share, Some(0.25));
        // the score is the logistic of x: it moves with it
        assert!(group.score.as_ref().expect("score").drifted);
    }
}

#[test]
fn a_shift_in_one_group_drifts_that_group_only() {
    let t0 = Instant::now();
    let sketch = LiveSketch::new(&reference(), settings(), t0).expect("sketch");
    feed(&sketch, &draw(11, 6_000, 1.0, Some("F")), t0);
    let report = sketch.report(t0);
    let female = report.group("sex", "F").expect("F");
    let male = report.group("sex", "M").expect("M");
    assert_eq!(drifted(female), ["x"]);
    assert!(drifted(male).is_empty(), "{male:?}");
    assert!(!male.score.as_ref().expect("score").drifted);
    let x = |g: &GroupReport| g.features.iter().find(|f| f.feature == "x").expect("x").value;
    assert!(x(female) > 10.0 * x(male), "{} vs {}", x(female), x(male));
}

#[test]
fn the_window_forgets_old_buckets_and_judges_only_with_enough_rows() {
    let t0 = Instant::now();
    let sketch = LiveSketch::new(&reference(), settings(), t0).expect("sketch");
    // 500 rows: below min_rows (1000), nothing is judged
    feed(&sketch, &draw(11, 500, 3.0, None), t0);
    let overall = sketch.overall(t0);
    assert_eq!((overall.rows, overall.drifted_share), (500, None));
    assert!(overall.features.is_empty());
    feed(&sketch, &draw(12, 1_500, 3.0, None), t0 + Duration::from_secs(5));
    assert_eq!(drifted(&sketch.overall(t0 + Duration::from_secs(5))), ["x"]);
    // 60 s later the shifted buckets have left the window; fresh rows do not drift
    let later = t0 + Duration::from_secs(65);
    assert_eq!(sketch.overall(later).rows, 0);
    feed(&sketch, &draw(13, 2_000, 0.0, None), later);
    let overall = sketch.overall(later);
    assert_eq!(overall.rows, 2_000);
    assert_eq!(overall.drifted_share, Some(0.0), "{overall:?}");
}

#[test]
fn a_threshold_of_one_feature_overrides_the_default() {
    let t0 = Instant::now();
    let mut custom = settings();
    custom.thresholds.insert("x".into(), 100.0);
    let sketch = LiveSketch::new(&reference(), custom, t0).expect("sketch");
    feed(&sketch, &draw(11, 2_000, 1.0, None), t0);
    let overall = sketch.overall(t0);
    let x = overall.features.iter().find(|f| f.feature == "x").expect("x");
    assert_eq!((x.threshold, x.drifted), (100.0, false));
    assert!(x.value > settings().threshold());
}

#[test]
fn bad_settings_and_old_bundles_are_refused() {
    let t0 = Instant::now();
    let err = LiveSketch::new(&ReferenceDistributions::default(), settings(), t0).expect_err("no sketches");
    assert!(matches!(err, crate::Error::NoSketches), "{err}");
    let mut unknown = settings();
    unknown.thresholds.insert("height".into(), 0.2);
    let err = LiveSketch::new(&reference(), unknown, t0).expect_err("unknown feature");
    assert_eq!(
        err.to_string(),
        "unknown feature `height`\n\
         hint: monitoring.thresholds names a feature the model does not have: name one of its features"
    );
    let cases: [(LiveSettings, &str); 5] = [
        (
            LiveSettings { statistic: StatTest::Wasserstein, ..settings() },
            "monitoring.statistic: wasserstein is not computed from binned counts: use psi, jensenshannon, hellinger, chisquare, ks",
        ),
        (LiveSettings { buckets: 0, ..settings() }, "monitoring.buckets: 0 buckets: use 1 to 10000"),
        (LiveSettings { bins: 1, ..settings() }, "monitoring.bins: 1 bins: use 2 to 256"),
        (
            LiveSettings { window: Duration::ZERO, ..settings() },
            "monitoring.window_seconds: the window must be longer than 0 s",
        ),
        (
            LiveSettings { default_threshold: Some(f64::NAN), ..settings() },
            "monitoring.threshold: NaN is not a number >= 0",
        ),
    ];
    for (bad, message) in cases {
        assert_eq!(LiveSketch::new(&reference(), bad, t0).expect_err(message).to_string(), message);
    }
}

#[test]
fn rows_without_the_segment_column_count_overall_only() {
    let t0 = Instant::now();
    let sketch = LiveSketch::new(&reference(), settings(), t0).expect("sketch");
    let rows = draw(11, 300, 0.0, None);
    let mut batch = rows.batch();
    batch.columns.retain(|(name, _)| name != "sex");
    sketch.ingest(&batch, None, t0);
    let report = sketch.report(t0);
    let rows: Vec<u64> = report.groups.iter().map(|g| g.rows).collect();
    assert_eq!(rows, [300, 0, 0]);
    // no scores given: none counted
    assert_eq!(sketch.binned(t0, "overall", "all", "score").expect("score").1.iter().sum::<u64>(), 0);
}

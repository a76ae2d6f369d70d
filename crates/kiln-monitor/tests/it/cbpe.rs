//! Performance estimation without labels: the calibrator against scikit-learn's
//! `IsotonicRegression`, the realised ROC AUC against `roc_auc_score` and the estimates against
//! NannyML's CBPE (`tests/fixtures/cbpe.json`, written by `scripts/fixtures/cbpe.py`), then on
//! generated data whose true probabilities are known: the estimates follow the realised metrics,
//! including under covariate shift, and the intervals cover them at their stated rate.

use kiln_core::rng::Rng;
use kiln_monitor::Error;
use kiln_monitor::cbpe::{self, Calibrator, IntervalConfig, ScoredWindow};
use serde::Deserialize;

/// Tolerance against the Python references: `|actual - expected| <= 1e-9`.
const TOLERANCE: f64 = 1e-9;

#[derive(Deserialize)]
struct Fixture {
    isotonic: Vec<IsotonicCase>,
    roc_auc: Vec<RocAucCase>,
    nannyml: Vec<NannymlCase>,
}

#[derive(Deserialize)]
struct IsotonicCase {
    name: String,
    scores: Vec<f64>,
    labels: Vec<u8>,
    x_thresholds: Vec<f64>,
    y_thresholds: Vec<f64>,
    queries: Vec<f64>,
    predictions: Vec<f64>,
}

#[derive(Deserialize)]
struct RocAucCase {
    name: String,
    scores: Vec<f64>,
    labels: Vec<u8>,
    roc_auc: f64,
}

#[derive(Deserialize)]
struct NannymlCase {
    name: String,
    threshold: f64,
    reference_scores: Vec<f64>,
    reference_labels: Vec<u8>,
    chunks: Vec<NannymlChunk>,
}

#[derive(Deserialize)]
struct NannymlChunk {
    scores: Vec<f64>,
    estimated_roc_auc: f64,
    estimated_accuracy: f64,
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cbpe.json");
    let text = std::fs::read_to_string(path).expect("the fixture is committed");
    serde_json::from_str(&text).expect("the fixture is valid JSON")
}

fn booleans(labels: &[u8]) -> Vec<bool> {
    labels.iter().map(|&label| label == 1).collect()
}

fn assert_close(actual: f64, expected: f64, tolerance: f64, what: &str) {
    assert!((actual - expected).abs() <= tolerance, "{what}: {actual} vs {expected}");
}

#[test]
fn the_calibrator_is_scikit_learns_isotonic_regression() {
    for case in fixture().isotonic {
        let calibrator = Calibrator::fit(&case.scores, &booleans(&case.labels)).expect("valid reference");
        let (xs, ys) = calibrator.points();
        assert_eq!(xs.len(), case.x_thresholds.len(), "{}: number of thresholds", case.name);
        for (index, (x, expected)) in xs.iter().zip(&case.x_thresholds).enumerate() {
            assert_close(*x, *expected, 1e-12, &format!("{}: X_thresholds_[{index}]", case.name));
        }
        for (index, (y, expected)) in ys.iter().zip(&case.y_thresholds).enumerate() {
            assert_close(*y, *expected, 1e-12, &format!("{}: y_thresholds_[{index}]", case.name));
        }
        for (query, expected) in case.queries.iter().zip(&case.predictions) {
            assert_close(calibrator.predict(*query), *expected, 1e-12, &format!("{}: predict({query})", case.name));
        }
    }
}

#[test]
fn the_realised_roc_auc_is_scikit_learns() {
    for case in fixture().roc_auc {
        let auc = cbpe::roc_auc(&booleans(&case.labels), &case.scores).expect("valid columns").expect("both classes");
        assert_close(auc, case.roc_auc, TOLERANCE, &case.name);
    }
}

#[test]
fn the_estimates_are_nannymls() {
    for case in fixture().nannyml {
        let calibrator =
            Calibrator::fit(&case.reference_scores, &booleans(&case.reference_labels)).expect("valid reference");
        for (index, chunk) in case.chunks.iter().enumerate() {
            let window = ScoredWindow::new(&calibrator, &chunk.scores, case.threshold).expect("valid window");
            let what = format!("{} chunk {index}", case.name);
            let auc = window.estimated_roc_auc().expect("both classes expected");
            assert_close(auc, chunk.estimated_roc_auc, TOLERANCE, &format!("{what}: ROC AUC"));
            assert_close(
                window.estimated_accuracy(),
                chunk.estimated_accuracy,
                TOLERANCE,
                &format!("{what}: accuracy"),
            );
        }
    }
}

/// Rows of a known world: two features (the first with mean `mean` and standard deviation `sd`,
/// the second standard normal shifted by `-mean / 2`), a true probability from a fixed logistic
/// model of them (so covariate shift never changes it given the features), a label drawn from
/// it, and the model's score `p²`: a monotone distortion, so the scores rank well but are not
/// calibrated.
struct World {
    labels: Vec<bool>,
    scores: Vec<f64>,
}

fn world(rng: &mut Rng, n_rows: usize, mean: f64, sd: f64) -> World {
    let mut labels = Vec::with_capacity(n_rows);
    let mut scores = Vec::with_capacity(n_rows);
    for _ in 0..n_rows {
        let first = mean + sd * rng.normal();
        let second = -0.5 * mean + rng.normal();
        let probability = 1.0 / (1.0 + (-(1.5 * first - second + 0.2)).exp());
        labels.push(rng.uniform() < probability);
        scores.push(probability * probability);
    }
    World { labels, scores }
}

/// The model predicts positive at this score.
const THRESHOLD: f64 = 0.5;

fn realised_accuracy(world: &World) -> f64 {
    let hits = world.labels.iter().zip(&world.scores).filter(|&(&label, &score)| label == (score >= THRESHOLD)).count();
    hits as f64 / world.labels.len() as f64
}

fn realised_roc_auc(world: &World) -> f64 {
    cbpe::roc_auc(&world.labels, &world.scores).expect("valid columns").expect("both classes")
}

fn reference_calibrator(seed: u64, n_rows: usize) -> Calibrator {
    let reference = world(&mut Rng::new(seed), n_rows, 0.0, 1.0);
    Calibrator::fit(&reference.scores, &reference.labels).expect("valid reference")
}

#[test]
fn on_a_big_window_the_estimates_are_the_realised_metrics() {
    let calibrator = reference_calibrator(1, 50_000);
    let window = world(&mut Rng::new(2), 200_000, 0.0, 1.0);
    let config = IntervalConfig { level: 0.999, replicates: 200, seed: 3 };
    let estimate = cbpe::estimate_performance(&calibrator, &window.scores, THRESHOLD, &config).expect("valid window");
    let auc = estimate.roc_auc.expect("both classes expected");
    for (name, metric, realised) in
        [("accuracy", estimate.accuracy, realised_accuracy(&window)), ("ROC AUC", auc, realised_roc_auc(&window))]
    {
        assert!(metric.interval.contains(realised), "{name}: realised {realised} outside {metric:?}");
        let half_width = (metric.interval.upper - metric.interval.lower) / 2.0;
        assert!((metric.estimate - realised).abs() <= half_width, "{name}: estimate {metric:?}, realised {realised}");
        // On 200,000 rows the 99.9% range of the realised metric is narrow: the estimate is
        // within a percentage point of the truth.
        assert!(half_width < 0.01, "{name}: {metric:?}");
    }
}

#[test]
fn under_covariate_shift_the_estimates_follow_the_realised_change() {
    let calibrator = reference_calibrator(4, 50_000);
    let config = IntervalConfig { level: 0.999, replicates: 200, seed: 5 };
    let same = world(&mut Rng::new(6), 100_000, 0.0, 1.0);
    let shifted = world(&mut Rng::new(7), 100_000, 0.8, 0.5);
    let before = cbpe::estimate_performance(&calibrator, &same.scores, THRESHOLD, &config).expect("valid window");
    let after = cbpe::estimate_performance(&calibrator, &shifted.scores, THRESHOLD, &config).expect("valid window");
    let pairs = [
        ("accuracy", before.accuracy, after.accuracy, realised_accuracy(&same), realised_accuracy(&shifted)),
        (
            "ROC AUC",
            before.roc_auc.expect("both classes"),
            after.roc_auc.expect("both classes"),
            realised_roc_auc(&same),
            realised_roc_auc(&shifted),
        ),
    ];
    for (name, estimate_before, estimate_after, realised_before, realised_after) in pairs {
        let half_widths = (estimate_before.interval.upper - estimate_before.interval.lower) / 2.0
            + (estimate_after.interval.upper - estimate_after.interval.lower) / 2.0;
        let realised_change = realised_after - realised_before;
        let estimated_change = estimate_after.estimate - estimate_before.estimate;
        // The shift moves the metric by more than the windows' uncertainty ...
        assert!(realised_change.abs() > 2.0 * half_widths, "{name}: realised change {realised_change} too small");
        // ... and the estimate moves with it, within that uncertainty.
        assert!(
            (estimated_change - realised_change).abs() <= half_widths,
            "{name}: estimated change {estimated_change}, realised {realised_change}, tolerance {half_widths}"
        );
        assert!(
            estimate_after.interval.contains(realised_after),
            "{name}: {realised_after} outside {estimate_after:?}"
        );
    }
}

#[test]
fn the_intervals_cover_the_realised_metrics_at_their_level() {
    // 200 windows of 2,000 rows, a third each from the reference distribution and from two
    // covariate shifts, estimated with one calibrator fitted on 20,000 reference rows.
    const WINDOWS: usize = 200;
    const LEVEL: f64 = 0.95;
    let calibrator = reference_calibrator(10, 20_000);
    let shifts = [(0.0, 1.0), (0.8, 0.5), (-0.5, 0.6)];
    let (mut accuracy_covered, mut auc_covered) = (0, 0);
    for index in 0..WINDOWS {
        let (mean, sd) = shifts[index % shifts.len()];
        let window = world(&mut Rng::derive(11, index as u64), 2_000, mean, sd);
        let config = IntervalConfig { level: LEVEL, seed: index as u64, ..IntervalConfig::default() };
        let estimate =
            cbpe::estimate_performance(&calibrator, &window.scores, THRESHOLD, &config).expect("valid window");
        accuracy_covered += usize::from(estimate.accuracy.interval.contains(realised_accuracy(&window)));
        auc_covered +=
            usize::from(estimate.roc_auc.expect("both classes").interval.contains(realised_roc_auc(&window)));
    }
    // If the intervals hold, the number covered is Binomial(200, 0.95): mean 190, standard
    // deviation 3.08. Accept within 3 standard deviations (a false failure 1 time in 370).
    let expected = WINDOWS as f64 * LEVEL;
    let tolerance = 3.0 * (WINDOWS as f64 * LEVEL * (1.0 - LEVEL)).sqrt();
    for (name, covered) in [("accuracy", accuracy_covered), ("ROC AUC", auc_covered)] {
        assert!(
            (covered as f64 - expected).abs() <= tolerance,
            "{name}: {covered} of {WINDOWS} covered, expected {expected} ± {tolerance}"
        );
    }
}

#[test]
fn already_calibrated_scores_are_estimated_as_without_calibration() {
    // Scores that are the true probabilities: NannyML would skip calibration and estimate the
    // accuracy as the mean of p (predicted positive) or 1 - p. Always calibrating changes that
    // estimate by far less than the window's own uncertainty.
    let calibrated = |world: World| World { scores: world.scores.iter().map(|score| score.sqrt()).collect(), ..world };
    let reference = calibrated(world(&mut Rng::new(16), 50_000, 0.0, 1.0));
    let calibrator = Calibrator::fit(&reference.scores, &reference.labels).expect("valid reference");
    let window = calibrated(world(&mut Rng::new(17), 20_000, 0.8, 0.5));
    let estimate = cbpe::estimate_performance(&calibrator, &window.scores, THRESHOLD, &IntervalConfig::default())
        .expect("valid window");
    let uncalibrated: f64 = window.scores.iter().map(|&p| if p >= THRESHOLD { p } else { 1.0 - p }).sum::<f64>()
        / window.scores.len() as f64;
    let half_width = (estimate.accuracy.interval.upper - estimate.accuracy.interval.lower) / 2.0;
    let moved = (estimate.accuracy.estimate - uncalibrated).abs();
    assert!(moved < half_width / 2.0, "calibration moved the estimate by {moved}, half-width {half_width}");
}

#[test]
fn a_compressed_calibrator_estimates_almost_the_same() {
    let calibrator = reference_calibrator(12, 50_000);
    let small = calibrator.compress(32).expect("valid size");
    assert!(small.n_points() <= 32);
    let window = world(&mut Rng::new(13), 20_000, 0.8, 0.5);
    let full = ScoredWindow::new(&calibrator, &window.scores, THRESHOLD).expect("valid window");
    let compressed = ScoredWindow::new(&small, &window.scores, THRESHOLD).expect("valid window");
    // Every probability moves by at most the compression's shift, so the accuracy estimate (a
    // mean of probabilities or their complements) moves by at most as much.
    let shift = calibrator.max_abs_difference(&small);
    assert!(shift <= 1.0 / 16.0);
    assert!((full.estimated_accuracy() - compressed.estimated_accuracy()).abs() <= shift);
}

#[test]
fn bad_inputs_give_errors_that_say_what_to_fix() {
    let calibrator = reference_calibrator(14, 1_000);
    let config = IntervalConfig::default();
    let empty = cbpe::estimate_performance(&calibrator, &[], THRESHOLD, &config).expect_err("empty window");
    assert!(matches!(empty, Error::EmptyColumn { .. }));
    assert!(empty.to_string().contains("no rows") && empty.to_string().contains("hint:"), "{empty}");
    let nan = cbpe::estimate_performance(&calibrator, &[0.3, f64::NAN], THRESHOLD, &config).expect_err("NaN score");
    assert!(matches!(nan, Error::NonFiniteScore { row: 1, .. }), "{nan}");
    let one_class = Calibrator::fit(&[0.2, 0.4, 0.6], &[false, false, false]).expect_err("one class");
    assert!(one_class.to_string().contains("all 3 reference labels are negative"), "{one_class}");
    let level = IntervalConfig { level: 95.0, ..config };
    let bad_level = cbpe::estimate_performance(&calibrator, &[0.3], THRESHOLD, &level).expect_err("level out of range");
    assert!(bad_level.to_string().contains("`level` is 95"), "{bad_level}");
    let broken = r#"{"blocks":[{"score_min":0.5,"score_max":0.4,"probability":0.2,"weight":3}]}"#;
    let stored = serde_json::from_str::<Calibrator>(broken).expect_err("score_min above score_max");
    assert!(stored.to_string().contains("calibration is invalid"), "{stored}");
}

#[test]
fn a_window_of_one_row_has_an_accuracy_but_no_roc_auc() {
    let calibrator = reference_calibrator(15, 1_000);
    let estimate =
        cbpe::estimate_performance(&calibrator, &[0.9], THRESHOLD, &IntervalConfig::default()).expect("valid window");
    assert_eq!(estimate.n_rows, 1);
    assert!(estimate.roc_auc.is_none());
    assert!((estimate.accuracy.estimate - calibrator.predict(0.9)).abs() < 1e-15);
}

#[test]
fn a_window_of_one_repeated_score_ranks_nothing() {
    // Every row tied: the estimated curve is the diagonal and every replicate's pairs are all
    // ties, so both the estimate and the interval of the ROC AUC are exactly one half.
    let calibrator = reference_calibrator(18, 5_000);
    let scores = vec![0.4; 1_000];
    let estimate =
        cbpe::estimate_performance(&calibrator, &scores, THRESHOLD, &IntervalConfig::default()).expect("valid window");
    let auc = estimate.roc_auc.expect("a probability strictly between 0 and 1");
    // Exactly one half but for NannyML's rounding of the running sums to 5 decimals, which
    // bends the diagonal by at most 0.5e-5 over sums of about 300: a relative 1e-7 at most.
    assert!((auc.estimate - 0.5).abs() < 1e-7, "{auc:?}");
    assert_eq!((auc.interval.lower, auc.interval.upper), (0.5, 0.5));
    // Nothing is predicted positive at 0.4 < 0.5: the accuracy is the share of negatives.
    assert!((estimate.accuracy.estimate - (1.0 - calibrator.predict(0.4))).abs() < 1e-12);
}

//! Drift statistics against scipy and Evidently (fixture from `scripts/fixtures/drift.py`),
//! the sketch bounds on generated data, and bad inputs.

use std::collections::BTreeMap;
use std::path::Path;

use kiln_core::bundle::quantiles;
use kiln_core::rng::Rng;
use kiln_monitor::Error;
use kiln_monitor::stats::divergence::{hellinger_numeric, jensenshannon_numeric, psi_numeric};
use kiln_monitor::stats::kolmogorov::kstwo_sf;
use kiln_monitor::stats::ks::ks_2samp;
use kiln_monitor::stats::special::{erfc, gamma_q, normal_cdf};
use kiln_monitor::stats::wasserstein::wasserstein_distance;
use kiln_monitor::stats::{
    AlignedCounts, ColumnOptions, Inputs, Sample, Sketch, StatTest, binning, dataset_drift, test_column,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    numeric: Vec<NumericCase>,
    categorical: Vec<CategoricalCase>,
    special: Special,
}

#[derive(Deserialize)]
struct Expected {
    /// None where scipy's chisquare has no degrees of freedom (NaN); kiln reports p = 1.
    score: Option<f64>,
    drifted: bool,
    threshold: f64,
}

/// A sample as the fixture gives it: its values, or a seed and recipe (`seeded` in the script).
#[derive(Deserialize)]
#[serde(untagged)]
enum Values {
    Stored(Vec<f64>),
    Seeded { seed: u64, n: usize, kind: String, shift: f64, scale: f64 },
}

impl Values {
    /// The sorted values, drawn from kiln's generator with the script's exact arithmetic.
    fn sorted(&self) -> Vec<f64> {
        let mut values = match self {
            Values::Stored(values) => values.clone(),
            Values::Seeded { seed, n, kind, shift, scale } => {
                let mut rng = Rng::new(*seed);
                (0..*n)
                    .map(|_| match kind.as_str() {
                        "sum4" => {
                            let total = rng.uniform() + rng.uniform() + rng.uniform() + rng.uniform();
                            ((total - 2.0) * scale * 100.0 + shift * 100.0).floor() / 100.0
                        }
                        "product2" => (rng.uniform() * rng.uniform() * scale * 100.0 + shift * 100.0).floor() / 100.0,
                        "integers" => (rng.uniform() * scale).floor() + shift,
                        other => panic!("unknown recipe {other} in the fixture"),
                    })
                    .collect()
            }
        };
        values.sort_by(f64::total_cmp);
        values
    }
}

#[derive(Deserialize)]
struct NumericCase {
    name: String,
    reference: Values,
    current: Values,
    ks_statistic: f64,
    ks_p_value: f64,
    wasserstein: f64,
    default_test: String,
    evidently: BTreeMap<String, Expected>,
}

#[derive(Deserialize)]
struct CategoricalCase {
    name: String,
    reference: BTreeMap<String, u64>,
    current: BTreeMap<String, u64>,
    default_test: String,
    evidently: BTreeMap<String, Expected>,
}

#[derive(Deserialize)]
struct Special {
    kstwo_sf: Vec<(u64, f64, f64)>,
    gammaincc: Vec<(f64, f64, f64)>,
    erfc: Vec<(f64, f64)>,
    ndtr: Vec<(f64, f64)>,
    quantiles: Vec<QuantileCase>,
}

#[derive(Deserialize)]
struct QuantileCase {
    values: Vec<f64>,
    m: usize,
    expected: Vec<f64>,
}

fn fixture() -> Fixture {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/drift.json");
    let text = std::fs::read_to_string(&path).expect("the drift fixture is committed");
    serde_json::from_str(&text).expect("the drift fixture parses")
}

/// Within 1e-9 absolute, or 1e-9 relative for values below 1e-3 (tiny p-values).
fn assert_close(found: f64, expected: f64, what: &str) {
    let ok = if expected.is_infinite() {
        found == expected
    } else if expected.abs() < 1e-3 {
        (found - expected).abs() <= 1e-9 * expected.abs() || (found - expected).abs() <= 1e-300
    } else {
        (found - expected).abs() <= 1e-9
    };
    assert!(ok, "{what}: found {found:e}, expected {expected:e}");
}

#[test]
fn numeric_statistics_equal_scipy_and_evidently() {
    for case in fixture().numeric {
        let (reference_values, current_values) = (case.reference.sorted(), case.current.sorted());
        let (reference, current) = (Sample::Sorted(&reference_values), Sample::Sorted(&current_values));
        let ks = ks_2samp(&reference, &current);
        assert_close(ks.statistic, case.ks_statistic, &format!("{} ks statistic", case.name));
        assert_close(ks.p_value, case.ks_p_value, &format!("{} ks p-value", case.name));
        assert_close(
            wasserstein_distance(&reference, &current),
            case.wasserstein,
            &format!("{} wasserstein", case.name),
        );
        let inputs = Inputs::Numeric { reference, current };
        assert_eq!(inputs.default_test().name(), case.default_test, "{} default test", case.name);
        for (name, expected) in &case.evidently {
            let test: StatTest = name.parse().expect("fixture names are kiln's");
            let result = test_column(&inputs, &case.name, ColumnOptions { test: Some(test), threshold: None })
                .expect("valid inputs");
            assert_close(result.score, expected.score.unwrap_or(1.0), &format!("{} {name}", case.name));
            assert_eq!(result.drifted, expected.drifted, "{} {name} drifted", case.name);
            assert_eq!(result.threshold, expected.threshold, "{} {name} threshold", case.name);
        }
    }
}

#[test]
fn categorical_statistics_equal_evidently() {
    for case in fixture().categorical {
        let counts = AlignedCounts::from_maps(&case.reference, &case.current);
        let inputs = Inputs::Categorical(&counts);
        assert_eq!(inputs.default_test().name(), case.default_test, "{} default test", case.name);
        for (name, expected) in &case.evidently {
            let test: StatTest = name.parse().expect("fixture names are kiln's");
            let result = test_column(&inputs, &case.name, ColumnOptions { test: Some(test), threshold: None })
                .expect("valid inputs");
            assert_close(result.score, expected.score.unwrap_or(1.0), &format!("{} {name}", case.name));
            assert_eq!(result.drifted, expected.drifted, "{} {name} drifted", case.name);
            assert_eq!(result.threshold, expected.threshold, "{} {name} threshold", case.name);
        }
    }
}

#[test]
fn special_functions_equal_scipy() {
    let special = fixture().special;
    for (n, x, expected) in special.kstwo_sf {
        assert_close(kstwo_sf(n, x), expected, &format!("kstwo.sf({x}, {n})"));
    }
    for (a, x, expected) in special.gammaincc {
        assert_close(gamma_q(a, x), expected, &format!("gammaincc({a}, {x})"));
    }
    for (x, expected) in special.erfc {
        assert_close(erfc(x), expected, &format!("erfc({x})"));
    }
    for (z, expected) in special.ndtr {
        assert_close(normal_cdf(z), expected, &format!("ndtr({z})"));
    }
    // The bundle's sketch (kiln_core::bundle::quantiles) against np.quantile: the bounds
    // assume numpy's linear quantiles.
    for case in special.quantiles {
        let found = quantiles(&case.values, case.m - 1);
        assert_eq!(found.len(), case.expected.len());
        for (f, e) in found.iter().zip(&case.expected) {
            assert!((f - e).abs() <= 1e-12 * e.abs().max(1.0), "np.quantile of {} values: {f} {e}", case.values.len());
        }
    }
}

fn population_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (mean, (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt())
}

fn sorted_normal(rng: &mut Rng, n: usize, shift: f64, scale: f64) -> Vec<f64> {
    let mut values: Vec<f64> = (0..n).map(|_| shift + scale * rng.normal()).collect();
    values.sort_by(f64::total_cmp);
    values
}

#[test]
fn sketch_statistics_stay_within_their_stated_bounds() {
    let mut rng = Rng::new(15);
    for (n_ref, n_cur, m, shift) in [(20_000, 5_000, 201, 0.0), (5_000, 30_000, 101, 0.3), (50_000, 800, 257, -0.2)] {
        let reference = sorted_normal(&mut rng, n_ref, 0.0, 1.0);
        let current = sorted_normal(&mut rng, n_cur, shift, 1.2);
        let points = quantiles(&reference, m - 1);
        let (mean, std) = population_std(&reference);
        let sketch = Sample::Sketch(Sketch { quantiles: &points, count: n_ref as u64, mean, std });
        let (raw, cur) = (Sample::Sorted(&reference), Sample::Sorted(&current));
        let cdf_bound = 1.0 / (m - 1) as f64 + 1.0 / n_ref as f64;

        let (ks_raw, ks_sketch) = (ks_2samp(&raw, &cur), ks_2samp(&sketch, &cur));
        assert!((ks_raw.statistic - ks_sketch.statistic).abs() <= cdf_bound, "ks {n_ref} {m}");

        let span = reference[n_ref - 1] - reference[0];
        let (w_raw, w_sketch) = (wasserstein_distance(&raw, &cur), wasserstein_distance(&sketch, &cur));
        assert!((w_raw - w_sketch).abs() <= cdf_bound * span, "wasserstein {w_raw} {w_sketch}");

        let (shares_raw, _) = binning::numeric_shares(&raw, &cur);
        let (shares_sketch, _) = binning::numeric_shares(&sketch, &cur);
        assert_eq!(shares_raw.len(), shares_sketch.len(), "same edges from min, max and count");
        for (a, b) in shares_raw.iter().zip(&shares_sketch) {
            assert!((a - b).abs() <= 2.0 * cdf_bound, "share {a} {b}");
        }
        let total_variation = shares_raw.len() as f64 * cdf_bound;
        let (js_raw, js_sketch) = (jensenshannon_numeric(&raw, &cur), jensenshannon_numeric(&sketch, &cur));
        assert!((js_raw - js_sketch).abs() <= (std::f64::consts::LN_2 * total_variation).sqrt(), "js");
        // Unrounded normal draws: all values distinct, so both use the same edges.
        let (h_raw, h_sketch) = (hellinger_numeric(&raw, &cur), hellinger_numeric(&sketch, &cur));
        assert!((h_raw - h_sketch).abs() <= total_variation.sqrt(), "hellinger {h_raw} {h_sketch}");
        // Two sketches: each side adds its own CDF bound.
        let current_points = quantiles(&current, m - 1);
        let (cur_mean, cur_std) = population_std(&current);
        let cur_sketch =
            Sample::Sketch(Sketch { quantiles: &current_points, count: n_cur as u64, mean: cur_mean, std: cur_std });
        let both = ks_2samp(&sketch, &cur_sketch).statistic;
        let both_bound = cdf_bound + 1.0 / (m - 1) as f64 + 1.0 / n_cur as f64;
        assert!((ks_raw.statistic - both).abs() <= both_bound, "ks of two sketches");
        let (psi_raw, psi_sketch) = (psi_numeric(&raw, &cur), psi_numeric(&sketch, &cur));
        assert!((psi_raw - psi_sketch).abs() <= 0.02 + 0.05 * psi_raw, "psi {psi_raw} {psi_sketch}");
    }
}

#[test]
fn bad_inputs_give_errors() {
    let empty: [f64; 0] = [];
    let values = [1.0, 2.0, 3.0];
    let with_nan = [1.0, f64::NAN];
    let unsorted = [2.0, 1.0];
    let run = |reference: &[f64], current: &[f64]| {
        let inputs = Inputs::Numeric { reference: Sample::Sorted(reference), current: Sample::Sorted(current) };
        test_column(&inputs, "age", ColumnOptions { test: Some(StatTest::Ks), threshold: None })
    };
    assert!(matches!(run(&empty, &values), Err(Error::EmptySample { side: "reference", .. })));
    assert!(matches!(run(&values, &empty), Err(Error::EmptySample { side: "current", .. })));
    assert!(matches!(run(&values, &with_nan), Err(Error::NonFinite { index: 1, .. })));
    assert!(matches!(run(&unsorted, &values), Err(Error::Unsorted { index: 1, .. })));

    let points = [0.0, 1.0, 2.0];
    let bad_sketches = [
        (Sketch { quantiles: &points[..1], count: 10, mean: 0.0, std: 1.0 }, "quantiles"),
        (Sketch { quantiles: &points, count: 10, mean: f64::NAN, std: 1.0 }, "mean"),
        (Sketch { quantiles: &[2.0, 1.0], count: 10, mean: 0.0, std: 1.0 }, "sorted"),
    ];
    for (sketch, what) in bad_sketches {
        let inputs = Inputs::Numeric { reference: Sample::Sketch(sketch), current: Sample::Sorted(&values) };
        let result = test_column(&inputs, "age", ColumnOptions::default());
        assert!(matches!(result, Err(Error::InvalidSketch { .. } | Error::Unsorted { .. })), "{what}");
    }
    let empty_sketch = Sketch { quantiles: &points, count: 0, mean: 0.0, std: 1.0 };
    let inputs = Inputs::Numeric { reference: Sample::Sketch(empty_sketch), current: Sample::Sorted(&values) };
    assert!(matches!(test_column(&inputs, "age", ColumnOptions::default()), Err(Error::EmptySample { .. })));

    let error = "kolmogorov".parse::<StatTest>().expect_err("not a test name");
    assert!(error.to_string().contains("ks, wasserstein, psi, jensenshannon, chisquare, hellinger, z"), "{error}");

    let counts = AlignedCounts::from_maps(&BTreeMap::from([("a", 3u64)]), &BTreeMap::new());
    let inputs = Inputs::Categorical(&counts);
    let options = ColumnOptions { test: Some(StatTest::Psi), threshold: None };
    assert!(matches!(test_column(&inputs, "sex", options), Err(Error::EmptySample { side: "current", .. })));
    let ks_on_categories = ColumnOptions { test: Some(StatTest::Ks), threshold: None };
    let both = AlignedCounts::from_maps(&BTreeMap::from([("a", 3u64)]), &BTreeMap::from([("b", 2u64)]));
    assert!(matches!(
        test_column(&Inputs::Categorical(&both), "sex", ks_on_categories),
        Err(Error::TestNotForColumn { test: "ks", .. })
    ));
    let negative = ColumnOptions { test: Some(StatTest::Psi), threshold: Some(-0.1) };
    assert!(matches!(test_column(&Inputs::Categorical(&both), "sex", negative), Err(Error::InvalidThreshold { .. })));
    assert!(matches!(dataset_drift(&[], 0.5), Err(Error::NoColumns)));
}

#[test]
fn thresholds_and_dataset_share_follow_evidently_rules() {
    let reference: Vec<f64> = (0..200).map(|i| i as f64).collect();
    let current: Vec<f64> = (0..200).map(|i| i as f64 + 20.0).collect();
    let inputs = Inputs::Numeric { reference: Sample::Sorted(&reference), current: Sample::Sorted(&current) };
    let default = test_column(&inputs, "x", ColumnOptions::default()).expect("valid");
    assert_eq!(default.test, StatTest::Ks, "200 reference rows, many values: ks");
    // Wasserstein = 20, reference std = sqrt((200^2 - 1) / 12) = 57.73...: normed 0.3464.
    let strict = ColumnOptions { test: Some(StatTest::Wasserstein), threshold: Some(0.5) };
    let loose = ColumnOptions { test: Some(StatTest::Wasserstein), threshold: Some(0.3) };
    let strict = test_column(&inputs, "x", strict).expect("valid");
    let loose = test_column(&inputs, "x", loose).expect("valid");
    assert!((strict.score - 20.0 / (39_999f64 / 12.0).sqrt()).abs() < 1e-12);
    assert!(!strict.drifted && loose.drifted);
    let share = dataset_drift([&strict, &loose], 0.5).expect("two columns");
    assert_eq!((share.n_columns, share.n_drifted, share.share, share.drifted), (2, 1, 0.5, true));
    let share = dataset_drift([&strict, &loose], 0.6).expect("two columns");
    assert!(!share.drifted);
}

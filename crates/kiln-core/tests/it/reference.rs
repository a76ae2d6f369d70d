//! Reference distributions on small data worked out by hand (and checked with
//! `numpy.quantile(x, numpy.linspace(0, 1, 11))` and `numpy.histogram(x, bins=edges)`).

use kiln_core::Error;
use kiln_core::bundle::{FeatureReference, ReferenceDistributions};
use kiln_core::preprocess::{ColumnRef, PreprocessConfig, Preprocessor};

fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
    }
}

fn numeric(reference: &ReferenceDistributions, name: &str) -> (Vec<f64>, Vec<f64>, f64) {
    match reference.get(name) {
        Some(FeatureReference::Numeric { edges, proportions, missing_fraction, .. }) => {
            (edges.clone(), proportions.clone(), *missing_fraction)
        }
        other => panic!("{name} is not numeric: {other:?}"),
    }
}

#[test]
fn numeric_quantile_bins_by_hand() {
    // x: 1..=11 plus a missing value and a NaN, 13 rows. Eleven present values: the k/10
    // quantile sits at position 10 k / 10 = k, so the edges are the values 1..=11 and each
    // bin [i, i + 1) holds one value, except the last, closed, which holds 10 and 11.
    let mut x: Vec<Option<f64>> = (1..=11).map(|v| Some(f64::from(v))).collect();
    x.extend([None, Some(f64::NAN)]);
    // z: eight zeros then 1..=5, 13 rows. Positions 12 k / 10 = 0, 1.2, ..., 7.2, 8.4, 9.6,
    // 10.8, 12: quantiles 0 (six times), 0.2, 1.4, 2.6, 3.8, 5. Deduplicated edges
    // [0, 0.2, 1.4, 2.6, 3.8, 5]; bins hold {0 x8}, {1}, {2}, {3}, {4, 5}.
    let z: Vec<Option<f64>> = [0.0; 8].into_iter().chain([1.0, 2.0, 3.0, 4.0, 5.0]).map(Some).collect();
    let columns = [("x", ColumnRef::Numeric(&x)), ("z", ColumnRef::Numeric(&z))];
    let preprocessor = Preprocessor::fit(&PreprocessConfig::default(), &columns).expect("fit");
    let reference = ReferenceDistributions::fit(&preprocessor, &columns).expect("reference");

    let (edges, proportions, missing) = numeric(&reference, "x");
    assert_close(&edges, &(1..=11).map(f64::from).collect::<Vec<_>>());
    let mut want = vec![1.0 / 11.0; 9];
    want.push(2.0 / 11.0);
    assert_close(&proportions, &want);
    assert_close(&[missing], &[2.0 / 13.0]);

    let (edges, proportions, missing) = numeric(&reference, "z");
    assert_close(&edges, &[0.0, 0.2, 1.4, 2.6, 3.8, 5.0]);
    assert_close(&proportions, &[8.0 / 13.0, 1.0 / 13.0, 1.0 / 13.0, 1.0 / 13.0, 2.0 / 13.0]);
    assert_eq!(missing, 0.0);
    assert_eq!(reference.features.iter().map(FeatureReference::name).collect::<Vec<_>>(), ["x", "z"]);
}

#[test]
fn constant_and_all_missing_numeric_columns() {
    let constant = [Some(4.0), Some(4.0), None];
    let empty: [Option<f64>; 3] = [None, None, Some(f64::INFINITY)];
    let columns = [("c", ColumnRef::Numeric(&constant)), ("e", ColumnRef::Numeric(&empty))];
    let preprocessor = Preprocessor::fit(&PreprocessConfig::default(), &columns).expect("fit");
    let reference = ReferenceDistributions::fit(&preprocessor, &columns).expect("reference");
    let (edges, proportions, missing) = numeric(&reference, "c");
    assert_eq!((edges, proportions), (vec![4.0, 4.0], vec![1.0]));
    assert_close(&[missing], &[1.0 / 3.0]);
    let (edges, proportions, missing) = numeric(&reference, "e");
    assert!(edges.is_empty() && proportions.is_empty());
    assert_eq!(missing, 1.0);
}

#[test]
fn categorical_proportions_over_the_vocabulary_by_hand() {
    // a x4, b x3, c x1, missing x2 with min_frequency 2: vocabulary
    // [__other__, a, b, __missing__] (c is rare, so folded into __other__).
    let train = [Some("a"), Some("b"), Some("a"), Some("c"), None, Some("a"), Some("b"), None, Some("b"), Some("a")];
    let config = PreprocessConfig { min_frequency: 2, ..PreprocessConfig::default() };
    let preprocessor = Preprocessor::fit(&config, &[("city", ColumnRef::Categorical(&train))]).expect("fit");
    let reference =
        ReferenceDistributions::fit(&preprocessor, &[("city", ColumnRef::Categorical(&train))]).expect("reference");
    let Some(FeatureReference::Categorical { categories, proportions, .. }) = reference.get("city") else {
        panic!("city is not categorical")
    };
    assert_eq!(categories, &["__other__", "a", "b", "__missing__"]);
    assert_close(proportions, &[0.1, 0.4, 0.3, 0.2]);

    // Other data through the same vocabulary: the unseen `z` goes to __other__.
    let new = [Some("z"), Some("a"), None, Some("a")];
    let reference =
        ReferenceDistributions::fit(&preprocessor, &[("city", ColumnRef::Categorical(&new))]).expect("reference");
    let Some(FeatureReference::Categorical { proportions, .. }) = reference.get("city") else { panic!("categorical") };
    assert_close(proportions, &[0.25, 0.5, 0.0, 0.25]);
}

#[test]
fn missing_without_a_missing_category_counts_as_other() {
    let train = [Some("a"), Some("a"), Some("b")];
    let config = PreprocessConfig { min_frequency: 1, ..PreprocessConfig::default() };
    let preprocessor = Preprocessor::fit(&config, &[("k", ColumnRef::Categorical(&train))]).expect("fit");
    let new = [None, Some("b")];
    let reference =
        ReferenceDistributions::fit(&preprocessor, &[("k", ColumnRef::Categorical(&new))]).expect("reference");
    let Some(FeatureReference::Categorical { categories, proportions, .. }) = reference.get("k") else {
        panic!("categorical")
    };
    assert_eq!(categories, &["__other__", "a", "b"]);
    assert_close(proportions, &[0.5, 0.0, 0.5]);
}

#[test]
fn fit_errors_name_the_column() {
    let x = [Some(1.0), Some(2.0)];
    let k = [Some("a"), Some("b")];
    let columns = [("x", ColumnRef::Numeric(&x)), ("k", ColumnRef::Categorical(&k))];
    let preprocessor = Preprocessor::fit(&PreprocessConfig::default(), &columns).expect("fit");

    let err = ReferenceDistributions::fit(&preprocessor, &columns[..1]).expect_err("k missing");
    assert!(matches!(&err, Error::MissingColumn { column } if column == "k"), "{err:?}");

    let swapped = [("x", ColumnRef::Categorical(&k)), ("k", ColumnRef::Categorical(&k))];
    let err = ReferenceDistributions::fit(&preprocessor, &swapped).expect_err("x is not numeric");
    assert!(matches!(&err, Error::ColumnKind { column, expected: "numeric" } if column == "x"), "{err:?}");

    let short = [Some("a")];
    let ragged = [("x", ColumnRef::Numeric(&x)), ("k", ColumnRef::Categorical(&short))];
    let err = ReferenceDistributions::fit(&preprocessor, &ragged).expect_err("ragged");
    assert!(matches!(&err, Error::LengthMismatch { column, expected: 2, found: 1 } if column == "k"), "{err:?}");
}

#[test]
fn reference_survives_json() {
    let (_, reference) = crate::common::fit_preprocessor();
    let text = serde_json::to_string(&reference).expect("json");
    assert!(text.contains(r#""kind":"numeric""#) && text.contains(r#""kind":"categorical""#), "{text}");
    let back: ReferenceDistributions = serde_json::from_str(&text).expect("parse");
    assert_eq!(back, reference);
}

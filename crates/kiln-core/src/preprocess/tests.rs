//! Preprocessor tests with values worked out by hand.

use super::*;

fn config() -> PreprocessConfig {
    PreprocessConfig { min_frequency: 2, ..PreprocessConfig::default() }
}

#[test]
fn numeric_standardization_imputation_and_indicator() {
    // Present values 1, 2, 3, 6: mean 3, population variance (4+1+0+9)/4 = 3.5.
    let age = [Some(1.0), Some(2.0), None, Some(3.0), Some(6.0)];
    let p = Preprocessor::fit(&config(), &[("age", ColumnRef::Numeric(&age))]).expect("fit");
    let state = &p.numeric[0];
    assert_eq!(state.center, 3.0);
    assert!((state.scale - 3.5f64.sqrt()).abs() < 1e-12);
    assert!(state.indicator);
    assert_eq!(p.dense_names(), ["age", "age__missing"]);

    let out = p.transform(&[("age", ColumnRef::Numeric(&[Some(6.0), None, Some(f64::NAN)]))]).expect("transform");
    assert_eq!(out.n_dense, 2);
    let z = (3.0 / 3.5f64.sqrt()) as f32;
    assert_eq!(out.dense, vec![z, 0.0, 0.0, 1.0, 0.0, 1.0]);
}

#[test]
fn median_imputation_and_no_indicator_when_complete() {
    let x = [Some(1.0), Some(10.0), Some(2.0)];
    let cfg = PreprocessConfig { impute: Impute::Median, scale: Scale::None, ..config() };
    let p = Preprocessor::fit(&cfg, &[("x", ColumnRef::Numeric(&x))]).expect("fit");
    assert_eq!(p.numeric[0].fill, 2.0);
    assert!(!p.numeric[0].indicator);
    let out = p.transform(&[("x", ColumnRef::Numeric(&[None]))]).expect("transform");
    assert_eq!(out.dense, vec![2.0]);
}

#[test]
fn categorical_vocabulary_rare_folding_and_unknown_bucket() {
    // a: 3, b: 2, c: 1 (rare at min_frequency 2), missing: 2.
    let v = [Some("a"), Some("b"), Some("a"), Some("c"), None, Some("a"), Some("b"), None];
    let p = Preprocessor::fit(&config(), &[("k", ColumnRef::Categorical(&v))]).expect("fit");
    let state = &p.categorical[0];
    assert_eq!(state.vocabulary, [OTHER_CATEGORY, "a", MISSING_CATEGORY, "b"]);
    assert_eq!(state.counts, [1, 3, 2, 2]);
    assert!(state.missing_seen);

    let input = [Some("b"), Some("c"), Some("never-seen"), None];
    let out = p.transform(&[("k", ColumnRef::Categorical(&input))]).expect("transform");
    assert_eq!(out.n_dense, 4);
    #[rustfmt::skip]
    let expected = vec![
        0.0, 0.0, 0.0, 1.0, // b
        1.0, 0.0, 0.0, 0.0, // c was rare: other
        1.0, 0.0, 0.0, 0.0, // unseen: other
        0.0, 0.0, 1.0, 0.0, // missing
    ];
    assert_eq!(out.dense, expected);
}

#[test]
fn index_encoding_and_max_categories() {
    let v = [Some("x"), Some("y"), Some("y"), Some("z"), Some("z"), Some("z")];
    let cfg = PreprocessConfig { encoding: Encoding::Index, min_frequency: 1, max_categories: Some(2), ..config() };
    let p = Preprocessor::fit(&cfg, &[("k", ColumnRef::Categorical(&v))]).expect("fit");
    assert_eq!(p.categorical[0].vocabulary, [OTHER_CATEGORY, "z", "y"]);
    assert_eq!(p.cardinalities(), [3]);
    let out = p.transform(&[("k", ColumnRef::Categorical(&[Some("y"), Some("x"), None]))]).expect("transform");
    assert_eq!(out.n_dense, 0);
    assert_eq!(out.codes, vec![2, 0, 0]);
}

#[test]
fn json_round_trip_gives_identical_transform() {
    let num = [Some(1.0), None, Some(4.0)];
    let cat = [Some("a"), Some("a"), Some("b")];
    let cols = [("n", ColumnRef::Numeric(&num)), ("c", ColumnRef::Categorical(&cat))];
    let cfg = PreprocessConfig { min_frequency: 1, ..config() };
    let p = Preprocessor::fit(&cfg, &cols).expect("fit");
    let back = Preprocessor::from_json(&p.to_json()).expect("parse");
    assert_eq!(back, p);
    assert_eq!(back.transform(&cols).expect("t"), p.transform(&cols).expect("t"));
}

#[test]
fn transform_errors_name_the_column() {
    let num = [Some(1.0)];
    let p = Preprocessor::fit(&config(), &[("n", ColumnRef::Numeric(&num))]).expect("fit");
    let err = p.transform(&[("other", ColumnRef::Numeric(&num))]).expect_err("missing column");
    assert!(matches!(&err, Error::MissingColumn { column } if column == "n"), "{err}");
    let cat = [Some("a")];
    let err = p.transform(&[("n", ColumnRef::Categorical(&cat))]).expect_err("wrong kind");
    assert!(matches!(err, Error::ColumnKind { .. }));
    let two = [Some(1.0), Some(2.0)];
    let err = Preprocessor::fit(&config(), &[("a", ColumnRef::Numeric(&num)), ("b", ColumnRef::Numeric(&two))])
        .expect_err("length");
    assert!(matches!(err, Error::LengthMismatch { expected: 1, found: 2, .. }));
}

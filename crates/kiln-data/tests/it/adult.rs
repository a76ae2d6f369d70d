//! The shipped Adult data through the whole data layer.

use kiln_core::schema::Role;
use kiln_data::config::Check;
use kiln_data::load::{Source, load};
use kiln_data::split::{Part, assign};

use crate::common::adult_plan;

#[test]
fn adult_loads_with_declared_types_mapped_labels_and_missing_values() {
    let plan = adult_plan();
    let train = load(&plan, Source::Train, 5).expect("train loads");
    let test = load(&plan, Source::Test, 5).expect("test loads");
    assert_eq!(train.n_rows(), 32_561);
    assert_eq!(test.n_rows(), 16_281, "the comment line is skipped");
    assert!(train.findings.is_empty() && test.findings.is_empty());
    // 14 columns kept (no drop), income labels mapped to the two classes.
    assert_eq!(train.df.width(), 15);
    let labels = test.df.column("income").expect("income").as_materialized_series().str().expect("text").clone();
    let positives = labels.iter().filter(|v| *v == Some(">50K")).count();
    assert_eq!(positives, 3_846, "adult.test has 3,846 positives");
    // "?" is missing after trimming: workclass has 1,836 missing in adult.data.
    assert_eq!(train.df.column("workclass").expect("col").null_count(), 1_836);
    assert_eq!(train.df.column("age").expect("col").dtype(), &polars::prelude::DataType::Int64);
    assert_eq!(train.schema.column("sex").map(|c| c.role), Some(Role::Categorical));
}

#[test]
fn adult_validates_with_only_known_findings() {
    let plan = adult_plan();
    let train = load(&plan, Source::Train, 5).expect("train");
    let test = load(&plan, Source::Test, 5).expect("test");
    let report = kiln_data::validate::validate("adult", &plan.validation, &train, Some(&test)).expect("validate");
    assert!(report.passed(), "{:#?}", report.findings);
    // adult.data holds 24 rows that repeat an earlier row: under the 0.2% cap, so no finding.
    assert!(report.findings.iter().all(|f| f.check != Check::Duplicates));
}

#[test]
fn adult_describe_matches_independent_counts() {
    let plan = adult_plan();
    let train = load(&plan, Source::Train, 5).expect("train");
    let d = kiln_data::describe::describe(&train, 3).expect("describe");
    let age = d.columns.iter().find(|c| c.name == "age").expect("age");
    let n = age.numeric.as_ref().expect("numeric");
    // Reference values computed independently with Python (csv + statistics modules).
    assert_eq!((n.min, n.max, n.p50), (17.0, 90.0, 37.0));
    assert!((n.mean - 38.58164675532078).abs() < 1e-9, "{}", n.mean);
    let sex = d.columns.iter().find(|c| c.name == "sex").expect("sex");
    assert_eq!(sex.distinct, 2);
    assert_eq!(sex.top[0].value, "Male");
    assert_eq!(sex.top[0].count, 21_790);
    assert_eq!(d.labels.iter().map(|l| l.count).collect::<Vec<_>>(), [24_720, 7_841]);
}

#[test]
fn adult_fixed_split_carves_a_stratified_validation_set() {
    let plan = adult_plan();
    let train = load(&plan, Source::Train, 5).expect("train");
    let split = assign(&plan.split, plan.split_seed, &train, 16_281).expect("split");
    assert_eq!(split.count(Part::Test), 16_281);
    assert_eq!(split.count(Part::Validation), 2_472 + 784);
    assert_eq!(split.count(Part::Train), 32_561 - 3_256);
    let again = assign(&plan.split, plan.split_seed, &train, 16_281).expect("split");
    assert_eq!(split.hash(), again.hash());
}

#[test]
fn adult_preprocessor_fits_on_train_and_encodes_test() {
    let plan = adult_plan();
    let train = load(&plan, Source::Train, 5).expect("train");
    let test = load(&plan, Source::Test, 5).expect("test");
    let pre = kiln_data::fit::fit_preprocessor(&plan.preprocess, &train.df, &train.schema).expect("fit");
    assert_eq!(pre.n_rows_fitted, 32_561);
    let age = &pre.numeric[0];
    assert!((age.center - 38.58164675532078).abs() < 1e-9);
    // Population std of age in adult.data (ddof = 0), computed independently in Python.
    assert!((age.scale - 13.640223092304081).abs() < 1e-9, "{}", age.scale);
    let encoded = kiln_data::fit::encode(&pre, &test.df, &test.schema).expect("encode test");
    assert_eq!(encoded.n_rows, 16_281);
    assert_eq!(encoded.dense.len(), 16_281 * pre.n_dense());
    // Every row has exactly one hot entry per categorical column.
    let numeric = pre.numeric.len() + pre.numeric.iter().filter(|n| n.indicator).count();
    for row in encoded.dense.chunks(pre.n_dense()).take(500) {
        let hot: f32 = row[numeric..].iter().sum();
        assert_eq!(hot, pre.categorical.len() as f32);
    }
}

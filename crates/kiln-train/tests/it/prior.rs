//! The prior baseline, checked by hand.

use kiln_core::schema::{DType, Role, Task};
use kiln_train::Error;
use kiln_train::baselines::prior::PriorModel;
use polars::prelude::{NamedFrom, Series};

use crate::common::{column, frame, schema};

#[test]
fn binary_prior_is_the_positive_rate() {
    let schema = schema(
        Task::Binary,
        vec![column("x", DType::Float, Role::Numeric), column("y", DType::String, Role::Target)],
        &["no", "yes"],
    );
    // 3 of 8 rows are positive: 0.375.
    let labels = ["no", "yes", "no", "no", "yes", "no", "yes", "no"];
    let train = frame(vec![Series::new("x".into(), &[1.0; 8]), Series::new("y".into(), &labels)]);
    let model = PriorModel::fit(&train, &schema).expect("fit");
    assert_eq!(model.row, [0.375]);
    assert_eq!(model.n_rows_fitted, 8);
    let test = frame(vec![Series::new("x".into(), &[2.0, 3.0])]);
    let scores = model.predict(&test);
    assert_eq!((scores.n_rows, scores.n_outputs, scores.values.clone()), (2, 1, vec![0.375, 0.375]));

    let loaded = PriorModel::from_bytes(&model.to_bytes().expect("save")).expect("load");
    assert_eq!(loaded, model);
    assert_eq!(loaded.predict(&test), scores);
}

#[test]
fn multiclass_prior_is_the_class_frequencies_in_schema_order() {
    let schema = schema(Task::Multiclass, vec![column("y", DType::String, Role::Target)], &["a", "b", "c", "d"]);
    // a: 1, b: 2, c: 2, d: 0 of 5 rows.
    let train = frame(vec![Series::new("y".into(), &["c", "b", "a", "b", "c"])]);
    let model = PriorModel::fit(&train, &schema).expect("fit");
    assert_eq!(model.row, [0.2, 0.4, 0.4, 0.0]);
    let scores = model.predict(&train);
    assert_eq!(scores.n_outputs, 4);
    assert_eq!(scores.row(4), [0.2, 0.4, 0.4, 0.0]);
}

#[test]
fn regression_prior_is_the_mean() {
    let schema = schema(Task::Regression, vec![column("price", DType::Float, Role::Target)], &[]);
    let train = frame(vec![Series::new("price".into(), &[1.0, 2.0, 4.0, 9.0])]);
    let model = PriorModel::fit(&train, &schema).expect("fit");
    assert_eq!(model.row, [4.0]);
    let loaded = PriorModel::from_bytes(&model.to_bytes().expect("save")).expect("load");
    assert_eq!(loaded.predict(&train), model.predict(&train));
}

#[test]
fn bad_targets_are_errors_naming_the_row() {
    let binary = schema(Task::Binary, vec![column("y", DType::String, Role::Target)], &["no", "yes"]);
    let missing = frame(vec![Series::new("y".into(), &[Some("no"), None])]);
    let error = PriorModel::fit(&missing, &binary).expect_err("missing");
    assert!(matches!(&error, Error::MissingTarget { column, row: 1 } if column == "y"), "{error:?}");
    let unknown = frame(vec![Series::new("y".into(), &["no", "maybe"])]);
    let error = PriorModel::fit(&unknown, &binary).expect_err("unknown class");
    assert!(matches!(&error, Error::UnknownClass { value, row: 1, .. } if value == "maybe"), "{error:?}");
    assert!(error.to_string().contains("hint:"));
    let empty = frame(vec![Series::new("y".into(), Vec::<&str>::new())]);
    assert!(matches!(PriorModel::fit(&empty, &binary), Err(Error::NoTrainingRows)));
    let regression = schema(Task::Regression, vec![column("v", DType::Float, Role::Target)], &[]);
    let nan = frame(vec![Series::new("v".into(), &[1.0, f64::NAN])]);
    assert!(matches!(PriorModel::fit(&nan, &regression), Err(Error::NonFiniteTarget { row: 1, .. })));
    assert!(matches!(PriorModel::from_bytes(b"{\"format\": \"other\"}"), Err(Error::Deserialize { .. })));
}

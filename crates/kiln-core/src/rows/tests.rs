//! The row check on crafted columns: each kind of problem with its column and rows, and the
//! notes for missing values and unseen categories.

use super::*;
use crate::preprocess::{ColumnRef, PreprocessConfig};
use crate::schema::{Column, Task};

fn column(name: &str, dtype: DType, role: Role) -> Column {
    Column { name: name.into(), dtype, role, segment: false, protected: false, pii: false }
}

/// Features `age` (int), `score` (float), `city` (string); an id, a target and a dropped
/// column. The preprocessor knows cities `a` and `b` (seen 10 times each).
fn model_schema() -> (Schema, Preprocessor) {
    let schema = Schema {
        task: Task::Binary,
        columns: vec![
            column("id", DType::Int, Role::Id),
            column("age", DType::Int, Role::Numeric),
            column("score", DType::Float, Role::Numeric),
            column("city", DType::String, Role::Categorical),
            column("note", DType::String, Role::Drop),
            column("y", DType::String, Role::Target),
        ],
        target: "y".into(),
        classes: vec!["no".into(), "yes".into()],
    };
    let age: Vec<Option<f64>> = (0..20).map(|i| Some(f64::from(i))).collect();
    let city: Vec<Option<&str>> = (0..20).map(|i| Some(if i % 2 == 0 { "a" } else { "b" })).collect();
    let preprocessor = Preprocessor::fit(
        &PreprocessConfig::default(),
        &[
            ("age", ColumnRef::Numeric(&age)),
            ("score", ColumnRef::Numeric(&age)),
            ("city", ColumnRef::Categorical(&city)),
        ],
    )
    .expect("fit");
    (schema, preprocessor)
}

fn text(values: &[Option<&str>]) -> Values {
    Values::Text(values.iter().map(|v| v.map(str::to_string)).collect())
}

#[test]
fn good_rows_pass_with_notes_for_missing_values_and_unseen_categories() {
    let (schema, preprocessor) = model_schema();
    let batch = Batch::new(vec![
        ("id".into(), Values::Int(vec![Some(1), Some(2), Some(3)])),
        // A whole float in an int column is an int.
        ("age".into(), Values::Float(vec![Some(30.0), None, Some(41.0)])),
        ("score".into(), Values::Int(vec![Some(1), Some(2), Some(3)])),
        ("city".into(), text(&[Some("a"), Some("zz"), Some("zz")])),
        ("note".into(), Values::Bool(vec![Some(true), None, None])),
    ]);
    let report = check(&schema, &preprocessor, &batch);
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.n_rows, 3);
    let age = ColumnNote { column: "age".into(), missing: 1, unseen: 0, unseen_values: vec![] };
    let city = ColumnNote { column: "city".into(), missing: 0, unseen: 2, unseen_values: vec!["zz".into()] };
    assert_eq!(report.notes, [age, city]);
    assert_eq!(report.notes[1].to_string(), "column `city`: 2 unseen categor(ies), e.g. zz");
    assert!(report.into_result().is_ok());
}

#[test]
fn every_problem_is_reported_with_its_column_and_rows() {
    let (schema, preprocessor) = model_schema();
    let batch = Batch::new(vec![
        ("id".into(), Values::Int(vec![Some(1), Some(2), Some(3), Some(4)])),
        // Row 2 is not a whole number.
        ("age".into(), Values::Float(vec![Some(30.0), Some(30.5), None, Some(40.0)])),
        // Rows 1 and 4 are not finite.
        ("score".into(), Values::Float(vec![Some(f64::NAN), Some(1.0), Some(2.0), Some(f64::INFINITY)])),
        // `city` is absent; `colour` is not in the schema; `y` is one row short.
        ("colour".into(), text(&[Some("red"), None, None, None])),
        ("y".into(), text(&[Some("no"), Some("yes"), Some("no")])),
    ]);
    let report = check(&schema, &preprocessor, &batch);
    let problem = |column: &str, kind: ProblemKind, count: usize, rows: Vec<usize>| Problem {
        column: column.into(),
        kind,
        count,
        rows,
    };
    assert_eq!(
        report.problems,
        [
            problem("city", ProblemKind::MissingColumn { role: Role::Categorical }, 0, vec![]),
            problem("age", ProblemKind::WrongType { expected: DType::Int, found: DType::Float }, 1, vec![2]),
            problem("score", ProblemKind::NonFinite, 2, vec![1, 4]),
            problem("colour", ProblemKind::ExtraColumn, 0, vec![]),
            problem("y", ProblemKind::Length { expected: 4, found: 3 }, 0, vec![]),
        ]
    );
    let messages: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "column `city` is missing (the model reads it as a categorical feature)",
            "column `age`: 1 value(s) are float where int is declared (row 2)",
            "column `score`: 2 value(s) are NaN or infinite (row 1, 4)",
            "column `colour` is not in the model's schema",
            "column `y` has 3 row(s), the first column has 4",
        ]
    );
    let err = report.clone().into_result().expect_err("problems");
    assert!(matches!(&err, Error::InvalidRows(r) if **r == report), "{err:?}");
    assert!(err.to_string().starts_with("5 problem(s) in 4 row(s):\n  column `city` is missing"), "{err}");
    // The report is what a server sends back.
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(
        json["problems"][1],
        serde_json::json!({"column": "age", "problem": "wrong_type", "expected": "int", "found": "float", "count": 1, "rows": [2]})
    );
}

#[test]
fn a_whole_column_of_the_wrong_type_lists_its_first_rows_and_counts_them_all() {
    let (schema, preprocessor) = model_schema();
    let n = 25;
    let batch = Batch::new(vec![
        ("age".into(), Values::Text((0..n).map(|i| (i != 3).then(|| "old".to_string())).collect())),
        ("score".into(), Values::Float(vec![Some(1.0); n])),
        ("city".into(), Values::Int(vec![Some(7); n])),
    ]);
    let report = check(&schema, &preprocessor, &batch);
    assert_eq!(report.problems.len(), 2, "{report}");
    let age = &report.problems[0];
    assert_eq!(age.kind, ProblemKind::WrongType { expected: DType::Int, found: DType::String });
    assert_eq!((age.count, age.rows.clone()), (24, vec![1, 2, 3, 5, 6, 7, 8, 9, 10, 11]), "row 4 is missing");
    assert!(age.to_string().ends_with("(row 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, ...)"), "{age}");
    assert_eq!(report.problems[1].kind, ProblemKind::WrongType { expected: DType::String, found: DType::Int });
    assert_eq!(report.problems[1].count, n);
}

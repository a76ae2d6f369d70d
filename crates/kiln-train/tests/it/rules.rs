//! The rules baseline on a small table, checked by hand.

use kiln_core::schema::{DType, Role, Schema, Task};
use kiln_train::Error;
use kiln_train::baselines::rules::RulesModel;
use kiln_train::config::{ModelSpec, ModelsSection};
use polars::prelude::{DataFrame, NamedFrom, Series};

use crate::common::{column, frame, schema};

fn table_schema(task: Task) -> Schema {
    let classes: &[&str] = if task == Task::Binary { &["no", "yes"] } else { &[] };
    schema(
        task,
        vec![
            column("age", DType::Int, Role::Numeric),
            column("hours", DType::Float, Role::Numeric),
            column("job", DType::String, Role::Categorical),
            column("member", DType::Bool, Role::Categorical),
            column("y", if task == Task::Binary { DType::String } else { DType::Float }, Role::Target),
        ],
        classes,
    )
}

/// Six rows, with missing values in every column.
fn table() -> DataFrame {
    frame(vec![
        Series::new("age".into(), &[Some(25i64), Some(52), None, Some(40), Some(67), Some(33)]),
        Series::new("hours".into(), &[Some(40.0), Some(60.0), Some(20.0), None, Some(f64::NAN), Some(45.0)]),
        Series::new("job".into(), &[Some("tech"), Some("sales"), Some("tech"), None, Some("admin"), Some("sales")]),
        Series::new("member".into(), &[Some(true), Some(false), None, Some(true), Some(false), Some(true)]),
    ])
}

fn model(task: Task, rules: &str) -> RulesModel {
    let schema = table_schema(task);
    let plan = toml::from_str::<ModelsSection>(rules).expect("parse").validate(&schema).expect("valid");
    let ModelSpec::Rules(rule_set) = plan.models[0].spec.clone() else { panic!("rules") };
    RulesModel::new(rule_set, &schema)
}

const RULES: &str = r#"
[[models]]
kind = "rules"
default = { score = 0.05, label = "everyone else" }

[[models.rules]]
when = [{ column = "age", op = ">=", value = 50 }, { column = "job", op = "!=", value = "admin" }]
score = 0.9

[[models.rules]]
when = [{ column = "hours", op = "missing" }]
score = 0.5

[[models.rules]]
when = [{ column = "job", op = "in", value = ["tech", "sales"] }, { column = "member", op = "==", value = true }]
score = 0.4

[[models.rules]]
when = [{ column = "job", op = "not_in", value = ["tech"] }]
score = 0.2
"#;

#[test]
fn first_matching_rule_wins_and_missing_never_compares() {
    let model = model(Task::Binary, RULES);
    // Row by row:
    // 0: 25, 40h, tech, member: rule 0 no (age); rule 1 no; rule 2 yes -> 0.4.
    // 1: 52, 60h, sales, not member: rule 0 yes -> 0.9.
    // 2: age missing, 20h, tech, member missing: rule 0 no (missing age never >= 50); rule 2 no
    //    (missing member never == true); rule 3 no (tech) -> default 0.05.
    // 3: 40, hours missing, job missing, member: rule 0 no; rule 1 yes -> 0.5.
    // 4: 67, NaN hours, admin: rule 0 no (job == admin); rule 1 yes (NaN is missing) -> 0.5.
    // 5: 33, 45h, sales, member: rule 0 no; rule 2 yes -> 0.4.
    let df = table();
    assert_eq!(model.matched(&df).expect("match"), [Some(2), Some(0), None, Some(1), Some(1), Some(2)]);
    let scores = model.predict(&df).expect("predict");
    assert_eq!(scores.values, [0.4, 0.9, 0.05, 0.5, 0.5, 0.4]);
    assert_eq!(scores.task, Task::Binary);

    let bytes = model.to_bytes().expect("save");
    let loaded = RulesModel::from_bytes(&bytes).expect("load");
    assert_eq!(loaded, model);
    assert_eq!(loaded.predict(&df).expect("predict"), scores);
}

#[test]
fn negations_skip_missing_values_and_missing_false_means_present() {
    let rules = r#"
[[models]]
kind = "rules"
default = { score = 0.0 }

[[models.rules]]
when = [{ column = "job", op = "not_in", value = ["tech", "sales"] }]
score = 0.3

[[models.rules]]
when = [{ column = "age", op = "!=", value = 40 }, { column = "hours", op = "missing", value = false }]
score = 0.6
"#;
    let model = model(Task::Binary, rules);
    // job not_in: only row 4 (admin); row 3 (missing job) does not match.
    // age != 40 with hours present: rows 0, 1, 5 (row 2: age missing; row 3: age 40).
    assert_eq!(model.predict(&table()).expect("predict").values, [0.6, 0.6, 0.0, 0.0, 0.3, 0.6]);
}

#[test]
fn regression_rules_predict_values() {
    let rules = r#"
[[models]]
kind = "rules"
name = "hand"
default = { score = 100.0 }

[[models.rules]]
when = [{ column = "hours", op = ">", value = 42.5 }]
score = 250.0

[[models.rules]]
when = [{ column = "member", op = "==", value = false }]
score = -10.0
"#;
    let model = model(Task::Regression, rules);
    assert_eq!(model.predict(&table()).expect("predict").values, [100.0, 250.0, 100.0, 100.0, -10.0, 250.0]);
}

#[test]
fn a_table_without_a_rule_column_is_an_error() {
    let model = model(Task::Binary, RULES);
    let df = frame(vec![Series::new("age".into(), &[30i64])]);
    let error = model.predict(&df).expect_err("no hours column");
    assert!(matches!(&error, Error::MissingColumn { column, .. } if column == "job" || column == "hours"), "{error:?}");
    assert!(matches!(RulesModel::from_bytes(b"not json"), Err(Error::Deserialize { .. })));
}

//! Requests read into typed columns against a schema: both protocols, every kind of mistake
//! reported with its column and rows.

use kiln_core::columns::Values;
use kiln_core::rows::ProblemKind;
use kiln_core::schema::{DType, Schema};
use kiln_serve::protocol::{json_body, row_predictions, rows_request, v2_outputs, v2_request};
use serde_json::json;

fn schema() -> Schema {
    serde_json::from_value(json!({
        "task": "binary",
        "target": "income",
        "classes": ["<=50K", ">50K"],
        "columns": [
            { "name": "age", "dtype": "int", "role": "numeric" },
            { "name": "hours", "dtype": "float", "role": "numeric" },
            { "name": "sex", "dtype": "string", "role": "categorical" },
            { "name": "income", "dtype": "string", "role": "target" },
        ],
    }))
    .expect("schema")
}

#[test]
fn rows_are_read_in_the_schema_types_with_missing_keys_as_missing_values() {
    let body = json!({ "instances": [
        { "age": 39, "hours": 40, "sex": "Male" },
        { "age": 50.0, "sex": null },
        { "hours": 12.5, "age": 28, "sex": "Female" },
    ]});
    let parsed = rows_request(&body, &schema(), 100).expect("parsed");
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    let b = &parsed.batch;
    assert_eq!(b.names().collect::<Vec<_>>(), ["age", "hours", "sex"]);
    assert_eq!(b.get("age"), Some(&Values::Int(vec![Some(39), Some(50), Some(28)])));
    assert_eq!(b.get("hours"), Some(&Values::Float(vec![Some(40.0), None, Some(12.5)])));
    assert_eq!(b.get("sex"), Some(&Values::Text(vec![Some("Male".into()), None, Some("Female".into())])));
}

#[test]
fn values_of_the_wrong_type_are_problems_naming_column_and_rows() {
    let body = json!({ "instances": [
        { "age": "old", "hours": 40, "sex": "Male" },
        { "age": 39.5, "hours": "NaN", "sex": 1 },
        { "age": 40, "hours": true, "sex": "Female" },
    ]});
    let parsed = rows_request(&body, &schema(), 100).expect("parsed");
    let found: Vec<(&str, ProblemKind, usize, Vec<usize>)> =
        parsed.problems.iter().map(|p| (p.column.as_str(), p.kind.clone(), p.count, p.rows.clone())).collect();
    let wrong = |expected, found| ProblemKind::WrongType { expected, found };
    assert_eq!(
        found,
        [
            ("age", wrong(DType::Int, DType::String), 2, vec![1, 2]),
            ("hours", wrong(DType::Float, DType::Bool), 1, vec![3]),
            ("sex", wrong(DType::String, DType::Int), 1, vec![2]),
        ]
    );
    // "NaN" is read as a number, for the row check to refuse as non-finite
    let Some(Values::Float(hours)) = parsed.batch.get("hours") else { panic!("hours") };
    assert!(hours[1].is_some_and(f64::is_nan));
}

#[test]
fn v2_inputs_are_columns_with_shapes_and_datatypes_checked() {
    let body = json!({ "id": "r1", "inputs": [
        { "name": "age", "shape": [2], "datatype": "INT64", "data": [39, 50] },
        { "name": "hours", "shape": [2, 1], "datatype": "FP64", "data": [[40.0], [null]] },
        { "name": "sex", "shape": [2], "datatype": "BYTES", "data": ["Male", "Female"] },
    ]});
    let parsed = v2_request(&body, &schema(), 100).expect("parsed");
    assert_eq!(parsed.id.as_deref(), Some("r1"));
    assert_eq!(parsed.batch.get("hours"), Some(&Values::Float(vec![Some(40.0), None])));
    assert_eq!(parsed.batch.get("age"), Some(&Values::Int(vec![Some(39), Some(50)])));

    let bad =
        |inputs: serde_json::Value| v2_request(&json!({ "inputs": inputs }), &schema(), 100).expect_err("refused");
    let e = bad(json!([{ "name": "age", "shape": [3], "datatype": "INT64", "data": [1, 2] }]));
    assert_eq!((e.status.as_u16(), e.body.message.as_str()), (400, "input `age` has shape [3] but 2 data element(s)"));
    let e = bad(json!([{ "name": "age", "shape": [2], "datatype": "INT64", "data": [1, "x"] }]));
    assert_eq!(e.body.message, "input `age` declares INT64, but data element 2 is \"x\"");
    let e = bad(json!([{ "name": "age", "shape": [1], "datatype": "COMPLEX", "data": [1] }]));
    assert!(e.body.message.contains("`COMPLEX`"), "{}", e.body.message);
    let e = bad(json!([{ "name": "age", "shape": [1, 2], "datatype": "INT64", "data": [1, 2] }]));
    assert!(e.body.message.contains("[rows] or [rows, 1]"), "{}", e.body.message);
    // a declared BYTES column for an int feature: the row check's wrong type
    let parsed = v2_request(
        &json!({ "inputs": [{ "name": "age", "shape": [1], "datatype": "BYTES", "data": ["39"] }] }),
        &schema(),
        100,
    )
    .expect("parsed");
    assert_eq!(parsed.problems[0].kind, ProblemKind::WrongType { expected: DType::Int, found: DType::String });
}

#[test]
fn too_many_rows_and_bad_json_are_refused_in_kiln_terms() {
    let rows: Vec<_> = (0..11).map(|i| json!({ "age": i })).collect();
    let e = rows_request(&json!({ "instances": rows }), &schema(), 10).expect_err("too many");
    assert_eq!(e.status.as_u16(), 413);
    assert_eq!(e.body.message, "the request holds 11 rows; this server scores at most 10 per request");
    let e = json_body(b"{\"instances\": [").expect_err("eof");
    assert_eq!(e.body.message, "the request body is not valid JSON: it ends too early at line 1 column 15");
    let e = json_body(b"{\"a\" 1}").expect_err("syntax");
    assert_eq!(e.body.message, "the request body is not valid JSON: it has a syntax error at line 1 column 6");
    let e = rows_request(&json!({ "rows": [] }), &schema(), 10).expect_err("shape");
    assert_eq!(e.body.message, "the body has no `instances` array");
    let e = rows_request(&json!({ "instances": [1] }), &schema(), 10).expect_err("shape");
    assert_eq!(e.body.message, "instance 1 is not a JSON object");
}

#[test]
fn outputs_are_written_as_v2_tensors_and_as_row_objects() {
    let outputs = kiln_core::columns::Batch::new(vec![
        ("p_>50K".into(), Values::Float(vec![Some(0.25), Some(0.75)])),
        ("predicted".into(), Values::Text(vec![Some("<=50K".into()), Some(">50K".into())])),
    ]);
    assert_eq!(
        serde_json::Value::Array(v2_outputs(&outputs)),
        json!([
            { "name": "p_>50K", "shape": [2], "datatype": "FP64", "data": [0.25, 0.75] },
            { "name": "predicted", "shape": [2], "datatype": "BYTES", "data": ["<=50K", ">50K"] },
        ])
    );
    assert_eq!(
        serde_json::Value::Array(row_predictions(&outputs)),
        json!([{ "p_>50K": 0.25, "predicted": "<=50K" }, { "p_>50K": 0.75, "predicted": ">50K" }])
    );
}

#[test]
fn floats_read_from_json_keep_every_bit() {
    // values of every magnitude, written as serde_json writes them (shortest round-trip text)
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let values: Vec<f64> = (0..2000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let v = f64::from_bits(state >> 2);
            if v.is_finite() { v } else { 0.1 }
        })
        .chain([0.1 + 0.2, 1.0 / 3.0, f64::MIN_POSITIVE, f64::MAX, 5e-324])
        .collect();
    let body = format!(
        "{{\"inputs\": [{{\"name\": \"hours\", \"shape\": [{}], \"datatype\": \"FP64\", \"data\": {}}}]}}",
        values.len(),
        serde_json::to_string(&values).expect("json")
    );
    let parsed = v2_request(&json_body(body.as_bytes()).expect("json"), &schema(), 10_000).expect("parsed");
    let Some(Values::Float(read)) = parsed.batch.get("hours") else { panic!("hours") };
    let same = read.iter().zip(&values).all(|(a, b)| a.map(f64::to_bits) == Some(b.to_bits()));
    assert!(same, "a float lost bits on the way through JSON");
}

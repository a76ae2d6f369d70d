//! Reading files into kiln-core's plain columns, with a config's plan or a bundle's schema,
//! writing output columns back, and kiln's own message (file, line, fix) for each file polars
//! would refuse with its own words.

use std::path::Path;

use kiln_core::columns::{Batch, Values};
use kiln_core::rows::ProblemKind;
use kiln_core::schema::{DType, Schema};
use kiln_data::Error;
use kiln_data::batch::{Reading, read_batch, write_batch};

use crate::common::{adult_plan, plan_from, repo, small_config, write};

/// Words of polars' own messages that must never reach a user.
const POLARS_WORDS: [&str; 5] = ["Schema", "truncate_ragged_lines", "polars", "ComputeError", "out of specification"];

fn assert_kiln_message(err: &Error, path: &Path, line: Option<u64>) {
    let text = format!("{err}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    if let Some(line) = line {
        assert!(text.contains(&format!("line {line}")), "{text}");
    }
    assert!(text.contains("hint:"), "{text}");
    assert!(!POLARS_WORDS.iter().any(|w| text.contains(w)), "{text}");
    assert!(std::error::Error::source(err).is_none(), "no polars source behind {text}");
}

fn small_schema(dir: &Path) -> Schema {
    let text = small_config(dir, false);
    let plan = plan_from(&dir.join("cfg.toml"), &text).expect("plan");
    plan.schema(&["x".into(), "c".into(), "y".into()]).expect("schema")
}

#[test]
fn the_raw_adult_test_file_reads_with_its_config_into_plain_columns() {
    let plan = adult_plan();
    let path = repo().join("datasets/adult/adult.test");
    let read = read_batch(&path, Reading::Plan(&plan)).expect("adult.test with its config");
    assert!(read.problems.is_empty(), "{:?}", read.problems);
    assert_eq!(read.batch.n_rows(), 16_281);
    // The first data row (after the comment line), trimmed, with `?` missing and the label
    // mapped: 25, Private, 226802, 11th, ... <=50K.
    assert_eq!(read.batch.get("age").map(|v| v.dtype()), Some(DType::Int));
    let Some(Values::Int(age)) = read.batch.get("age") else { panic!("age") };
    assert_eq!(age[..3], [Some(25), Some(38), Some(28)]);
    let Some(Values::Text(income)) = read.batch.get("income") else { panic!("income") };
    assert_eq!(income[0].as_deref(), Some("<=50K"), "`<=50K.` is mapped");
    let Some(Values::Text(workclass)) = read.batch.get("workclass") else { panic!("workclass") };
    assert_eq!(workclass.iter().filter(|v| v.is_none()).count(), 963, "`?` is missing");
}

#[test]
fn the_raw_adult_test_file_without_its_config_names_the_missing_header() {
    let plan = adult_plan();
    let schema = plan.schema(plan.names.as_ref().expect("names")).expect("schema");
    let path = repo().join("datasets/adult/adult.test");
    let err = read_batch(&path, Reading::Schema(&schema)).expect_err("no header");
    assert!(matches!(&err, Error::NoHeader { first, .. } if first == "|1x3 Cross validator"), "{err:?}");
    assert_kiln_message(&err, &path, Some(1));
    assert!(err.to_string().contains("this file has no header row; pass --config"), "{err}");
}

#[test]
fn a_ragged_csv_read_with_a_schema_names_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = small_schema(dir.path());
    for (body, line, found) in
        [("x,c,y\n1,a,no\n2,b,yes,extra\n3,a,no\n", 3, 4), ("x,c,y\n1,a,no\n2,b,yes\n3,a\n", 4, 2)]
    {
        let path = write(dir.path(), "rows.csv", body.as_bytes());
        let err = read_batch(&path, Reading::Schema(&schema)).expect_err("ragged");
        assert!(
            matches!(err, Error::Ragged { line: l, expected: 3, found: f, .. } if l == line && f == found),
            "{err:?}"
        );
        assert_kiln_message(&err, &path, Some(line));
    }
}

#[test]
fn bad_quoting_and_bytes_read_with_a_schema_name_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = small_schema(dir.path());
    let path = write(dir.path(), "quote.csv", b"x,c,y\n1,a,no\n2,\"b,yes\n3,a,no\n");
    let err = read_batch(&path, Reading::Schema(&schema)).expect_err("quote");
    assert!(matches!(err, Error::BadQuoting { line: 3, .. } | Error::Ragged { line: 3, .. }), "{err:?}");
    assert_kiln_message(&err, &path, Some(3));
    let path = write(dir.path(), "bytes.csv", b"x,c,y\n1,a,no\n2,\xff\xfe,yes\n");
    let err = read_batch(&path, Reading::Schema(&schema)).expect_err("utf-8");
    assert!(matches!(err, Error::NotUtf8 { line: 3, .. }), "{err:?}");
    assert_kiln_message(&err, &path, Some(3));
}

#[test]
fn a_file_named_parquet_that_is_not_parquet_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = small_schema(dir.path());
    let path = write(dir.path(), "rows.parquet", b"x,c,y\n1,a,no\n");
    let err = read_batch(&path, Reading::Schema(&schema)).expect_err("not parquet");
    assert!(matches!(err, Error::NotParquet { .. }), "{err:?}");
    assert_kiln_message(&err, &path, None);
    // The same through a plan.
    let text = small_config(dir.path(), false);
    let plan = plan_from(&dir.path().join("cfg.toml"), &text).expect("plan");
    let err = read_batch(&path, Reading::Plan(&plan)).expect_err("not parquet");
    assert!(matches!(err, Error::NotParquet { .. }), "{err:?}");
}

#[test]
fn cells_of_the_wrong_type_are_row_problems_and_written_columns_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = small_schema(dir.path());
    let path = write(dir.path(), "rows.csv", b"x,c,y\n1.5,a,no\nbig,b,yes\n3,,no\n");
    let read = read_batch(&path, Reading::Schema(&schema)).expect("read");
    assert_eq!(read.problems.len(), 1, "{:?}", read.problems);
    let problem = &read.problems[0];
    assert_eq!(problem.kind, ProblemKind::WrongType { expected: DType::Float, found: DType::String });
    assert_eq!((problem.column.as_str(), problem.count, problem.rows.clone()), ("x", 1, vec![2]));
    assert_eq!(read.batch.get("x"), Some(&Values::Float(vec![Some(1.5), None, Some(3.0)])));
    assert_eq!(read.batch.get("c"), Some(&Values::Text(vec![Some("a".into()), Some("b".into()), None])));

    let out = Batch::new(vec![
        ("id".into(), Values::Int(vec![Some(1), None])),
        ("p_yes".into(), Values::Float(vec![Some(0.25), Some(0.75)])),
        ("predicted".into(), Values::Text(vec![Some("no".into()), Some("yes".into())])),
        ("flag".into(), Values::Bool(vec![Some(true), None])),
    ]);
    let csv = dir.path().join("out/preds.csv");
    write_batch(&csv, &out).expect("csv");
    assert_eq!(std::fs::read_to_string(&csv).expect("csv"), "id,p_yes,predicted,flag\n1,0.25,no,true\n,0.75,yes,\n");
    let parquet = dir.path().join("preds.parquet");
    write_batch(&parquet, &out).expect("parquet");
    use polars::prelude::SerReader;
    let file = std::fs::File::open(&parquet).expect("open");
    let back = polars::prelude::ParquetReader::new(file).finish().expect("parquet");
    assert_eq!(back.get_column_names(), ["id", "p_yes", "predicted", "flag"]);
    let id: Vec<Option<i64>> = back.column("id").expect("id").i64().expect("i64").iter().collect();
    let p: Vec<Option<f64>> = back.column("p_yes").expect("p").f64().expect("f64").iter().collect();
    let flag: Vec<Option<bool>> = back.column("flag").expect("flag").bool().expect("bool").iter().collect();
    assert_eq!((id, p, flag), (vec![Some(1), None], vec![Some(0.25), Some(0.75)], vec![Some(true), None]));
    let uneven = Batch::new(vec![("a".into(), Values::Int(vec![Some(1)])), ("b".into(), Values::Int(vec![]))]);
    let err = write_batch(&dir.path().join("u.csv"), &uneven).expect_err("uneven");
    assert!(matches!(err, Error::UnevenColumns { found: 0, expected: 1, .. }), "{err:?}");
    assert!(!dir.path().join("u.csv").exists());
}

//! Bad input never panics: each case is a clear error (or a validation finding) that names
//! the file, the column and the row.

use kiln_data::Error;
use kiln_data::config::Check;
use kiln_data::load::{Source, load};

use crate::common::{plan_from, small_config, write};

fn setup(train: &[u8]) -> (tempfile::TempDir, kiln_data::plan::DataPlan) {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = small_config(dir.path(), false);
    write(dir.path(), "train.csv", train);
    let plan = plan_from(&dir.path().join("cfg.toml"), &text).expect("plan");
    (dir, plan)
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = small_config(dir.path(), false);
    let plan = plan_from(&dir.path().join("cfg.toml"), &text).expect("plan");
    let err = load(&plan, Source::Train, 5).expect_err("missing");
    assert!(matches!(&err, Error::FileNotFound { path, .. } if path.ends_with("train.csv")), "{err}");
    assert!(err.to_string().contains("train.csv"));
}

#[test]
fn empty_file() {
    let (_d, plan) = setup(b"");
    let err = load(&plan, Source::Train, 5).expect_err("empty");
    assert!(matches!(err, Error::EmptyFile { .. }), "{err}");
}

#[test]
fn header_only() {
    let (_d, plan) = setup(b"x,c,y\n");
    let err = load(&plan, Source::Train, 5).expect_err("no rows");
    assert!(matches!(err, Error::NoRows { .. }), "{err}");
}

#[test]
fn ragged_rows_name_the_line() {
    for body in [&b"x,c,y\n1,a,no\n2,b,yes,extra\n3,a,no\n"[..], &b"x,c,y\n1,a,no\n2,b\n3,a,no\n"[..]] {
        let (_d, plan) = setup(body);
        let err = load(&plan, Source::Train, 5).expect_err("ragged");
        match &err {
            Error::Ragged { line, expected, .. } => assert_eq!((*line, *expected), (3, 3), "{err}"),
            other => panic!("expected Ragged, got {other}"),
        }
        assert!(err.to_string().contains("line 3"));
    }
}

#[test]
fn bad_quoting_names_the_line() {
    let (_d, plan) = setup(b"x,c,y\n1,a,no\n2,\"b,yes\n3,a,no\n4,b,yes\n");
    let err = load(&plan, Source::Train, 5).expect_err("bad quote");
    assert!(matches!(err, Error::BadQuoting { line: 3, .. } | Error::Ragged { line: 3, .. }), "{err}");
}

#[test]
fn non_utf8_bytes_name_the_line() {
    let (_d, plan) = setup(b"x,c,y\n1,a,no\n2,caf\xe9,yes\n");
    let err = load(&plan, Source::Train, 5).expect_err("latin1");
    assert!(matches!(err, Error::NotUtf8 { line: 3, .. }), "{err}");
    assert!(err.to_string().contains("UTF-8"));
}

#[test]
fn text_in_a_numeric_column_is_a_type_finding_with_rows() {
    let (_d, plan) = setup(b"x,c,y\n1,a,no\nabc,b,yes\n3,a,no\n4.5,b,yes\nx9,a,no\n");
    let table = load(&plan, Source::Train, 5).expect("loads, with findings");
    let f = &table.findings[0];
    assert_eq!((f.check, f.column.as_deref(), f.count), (Check::Type, Some("x"), 2));
    assert_eq!(f.examples, [2, 5]);
    assert_eq!(f.values, ["abc", "x9"]);
    let err = table.ensure_parsed().expect_err("other commands refuse it");
    assert!(err.to_string().contains("train.csv") && err.to_string().contains("`x`"), "{err}");
}

#[test]
fn nan_inf_label_and_range_failures_are_all_reported() {
    let (_d, plan) = setup(b"x,c,y\n1,a,no\nNaN,b,yes\ninf,a,no\n500,z,maybe\n2,b,\n");
    let train = load(&plan, Source::Train, 5).expect("loads");
    let report = kiln_data::validate::validate("cfg", &plan.validation, &train, None).expect("validate");
    assert!(!report.passed());
    let find = |check: Check| report.findings.iter().filter(|f| f.check == check).collect::<Vec<_>>();
    let non_finite = find(Check::NonFinite);
    assert_eq!((non_finite[0].count, non_finite[0].examples.clone()), (2, vec![2, 3]));
    let range = find(Check::Range);
    assert_eq!((range[0].count, range[0].examples.clone()), (1, vec![4]));
    let allowed = find(Check::Allowed);
    assert_eq!((allowed[0].column.as_deref(), allowed[0].examples.clone()), (Some("c"), vec![4]));
    let labels = find(Check::Label);
    assert_eq!(labels.len(), 2, "one outside the classes, one missing: {labels:?}");
    assert!(labels.iter().any(|f| f.message.contains("\"maybe\"") && f.examples == [4]));
    assert!(labels.iter().any(|f| f.message.contains("missing") && f.examples == [5]));
}

#[test]
fn unknown_column_in_the_file_header() {
    let (_d, plan) = setup(b"x,c,y,surprise\n1,a,no,1\n");
    let err = load(&plan, Source::Train, 5).expect_err("unknown column");
    assert!(matches!(&err, Error::NoRole { column, .. } if column == "surprise"), "{err}");
    let (_d, plan) = setup(b"x,y\n1,no\n");
    let err = load(&plan, Source::Train, 5).expect_err("missing column");
    assert!(matches!(&err, Error::UnknownColumn { column, .. } if column == "c"), "{err}");
}

#[test]
fn parquet_with_a_wrong_column_type_is_a_type_finding() {
    use polars::prelude::{DataFrame, IntoColumn, NewChunkedArray, StringChunked};
    let dir = tempfile::tempdir().expect("tempdir");
    let text = small_config(dir.path(), false).replace("train = \"train.csv\"", "train = \"train.parquet\"");
    let cols = vec![
        StringChunked::from_iter_values("x".into(), ["1", "two"].into_iter()).into_column(),
        StringChunked::from_iter_values("c".into(), ["a", "b"].into_iter()).into_column(),
        StringChunked::from_iter_values("y".into(), ["no", "yes"].into_iter()).into_column(),
    ];
    let mut df = DataFrame::new_infer_height(cols).expect("df");
    let path = dir.path().join("train.parquet");
    kiln_data::write::write_table(&path, kiln_data::config::FileFormat::Parquet, &mut df).expect("write");
    let plan = plan_from(&dir.path().join("cfg.toml"), &text).expect("plan");
    let table = load(&plan, Source::Train, 5).expect("loads");
    assert_eq!(table.findings.len(), 1);
    assert_eq!((table.findings[0].column.as_deref(), table.findings[0].examples.clone()), (Some("x"), vec![2]));
}

#[test]
fn a_failed_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("out.json");
    std::fs::write(&target, "old contents").expect("seed");
    let result = kiln_data::write::atomic_write(&target, |file| {
        use std::io::Write;
        file.write_all(b"partial").expect("write");
        Err(Error::NoRows { path: target.clone() })
    });
    assert!(result.is_err());
    assert_eq!(std::fs::read_to_string(&target).expect("still there"), "old contents");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
}

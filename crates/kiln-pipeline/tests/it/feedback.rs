//! The feedback join on a real prediction log (written by kiln-log's `PredictionLog`): each
//! logged row comes back once per version and route with its request id, row, time, latency,
//! score and inputs as appended, and with the label stored for its key.

use std::path::Path;
use std::sync::Arc;

use kiln_core::columns::{Batch, Values};
use kiln_log::{Entry, LogSettings, PredictionLog, Route};
use kiln_pipeline::feedback::{LogQuery, labelled_rows};
use polars::prelude::{Column, DataFrame, Int64Chunked, IntoColumn, NewChunkedArray, StringChunked, UInt32Chunked};

/// The first request's time: 2026-12-06T08:15:00Z.
pub(crate) const T0: i64 = 1_796_544_900_000;
/// Requests of version 1 (primary); request 3 has three rows, the others one.
pub(crate) const REQUESTS: usize = 10;

/// The row count of request `i`.
pub(crate) fn rows_of(i: usize) -> usize {
    if i == 3 { 3 } else { 1 }
}

/// Request `i` of `version` on `route`: inputs `age` (20 + i + row), `workclass`, `customer`
/// (`c-<i>-<row>`) and, in version 2 only, `hours`; score `p_>50K` = i / 10 + row / 100.
pub(crate) fn entry(i: usize, version: i64, route: Route) -> Entry {
    let n = rows_of(i);
    let mut inputs = vec![
        ("age".to_string(), Values::Int((0..n).map(|r| Some(20 + (i + r) as i64)).collect())),
        ("workclass".to_string(), Values::Text((0..n).map(|r| Some(format!("w{}", (i + r) % 3))).collect())),
        ("customer".to_string(), Values::Text((0..n).map(|r| Some(format!("c-{i}-{r}"))).collect())),
    ];
    if version == 2 {
        inputs.push(("hours".to_string(), Values::Float((0..n).map(|_| Some(40.5)).collect())));
    }
    let p: Vec<Option<f64>> = (0..n).map(|r| Some(i as f64 / 10.0 + r as f64 / 100.0)).collect();
    let predicted: Vec<Option<String>> =
        p.iter().map(|p| Some(if p.unwrap_or(0.0) >= 0.5 { ">50K" } else { "<=50K" }.to_string())).collect();
    Entry {
        request_id: format!("req-{i:03}"),
        time_ms: T0 + i as i64 * 60_000,
        model: "adult".into(),
        version,
        route,
        latency_ms: 1.0 + i as f64,
        inputs: Arc::new(Batch::new(inputs)),
        outputs: Batch::new(vec![("p_>50K".into(), Values::Float(p)), ("predicted".into(), Values::Text(predicted))]),
    }
}

/// A log of `adult`: requests 0..10 answered by v1 (primary), requests 0..5 also scored by v2
/// (shadow).
pub(crate) fn write_log(dir: &Path) {
    let log = PredictionLog::start(LogSettings::new(dir)).expect("start the log");
    for i in 0..REQUESTS {
        log.append(entry(i, 1, Route::Primary));
        if i < 5 {
            log.append(entry(i, 2, Route::Shadow));
        }
    }
    let stats = log.close().expect("close the log");
    assert_eq!(stats.rows_written, 12 + 7);
}

/// A label store file written with polars (not through `ingest`), as the store's columns are
/// documented.
fn write_store_file(path: &Path, keys: &[(&str, Option<u32>, &str, i64)]) {
    let columns: Vec<Column> = vec![
        StringChunked::from_iter_values("request_id".into(), keys.iter().map(|k| k.0)).into_column(),
        UInt32Chunked::from_iter_options("row".into(), keys.iter().map(|k| k.1)).into_column(),
        StringChunked::from_iter_values("label".into(), keys.iter().map(|k| k.2)).into_column(),
        Int64Chunked::from_vec("labelled_at".into(), keys.iter().map(|k| k.3).collect()).into_column(),
        Int64Chunked::from_vec("ingested_at".into(), vec![T0; keys.len()]).into_column(),
        StringChunked::from_iter_values("source".into(), keys.iter().map(|_| "hand.csv")).into_column(),
        StringChunked::from_iter_values("source_sha256".into(), keys.iter().map(|_| "0")).into_column(),
    ];
    let mut df = DataFrame::new_infer_height(columns).expect("frame");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("labels folder");
    kiln_data::write::write_table(path, kiln_data::config::FileFormat::Parquet, &mut df).expect("write");
}

fn query<'a>(dir: &'a Path) -> LogQuery<'a> {
    LogQuery {
        log_dir: dir,
        model: "adult",
        versions: None,
        routes: &[],
        since_ms: None,
        until_ms: None,
        labelled_only: false,
    }
}

#[test]
fn every_logged_row_comes_back_with_the_label_stored_for_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_log(dir.path());
    let labels = dir.path().join("adult/labels");
    // request 1 row 0; request 3 every row, but row 2 its own label (in a later file)
    write_store_file(
        &labels.join("20261206T090000Z-0001.parquet"),
        &[("req-001", Some(0), ">50K", T0 + 5), ("req-003", None, "<=50K", T0 + 9)],
    );
    write_store_file(&labels.join("20261206T091500Z-0002.parquet"), &[("req-003", Some(2), ">50K", T0 + 7)]);

    let all = labelled_rows(&query(dir.path()), "p_>50K").expect("join");
    assert_eq!(all.len(), 19);
    assert_eq!(all.label_files.len(), 2);
    assert_eq!(all.segments.len(), 2, "one finished segment per version");
    // version 1's 12 rows in log order, then version 2's 7
    let mut expected_keys = Vec::new();
    for (version, n) in [(1, REQUESTS), (2, 5)] {
        for i in 0..n {
            for r in 0..rows_of(i) {
                expected_keys.push((version, format!("req-{i:03}"), r as u32, i));
            }
        }
    }
    for (k, (version, id, row, i)) in expected_keys.iter().enumerate() {
        assert_eq!((all.versions[k], &all.request_ids[k], all.rows[k]), (*version, id, *row));
        assert_eq!(all.routes[k], if *version == 1 { "primary" } else { "shadow" });
        assert_eq!(all.times_ms[k], T0 + *i as i64 * 60_000);
        assert_eq!(all.latency_ms[k], 1.0 + *i as f64);
        assert_eq!(all.scores[k], *i as f64 / 10.0 + f64::from(*row) / 100.0);
        let (label, at) = match (id.as_str(), row) {
            ("req-001", 0) => (Some(">50K"), Some(T0 + 5)),
            ("req-003", 2) => (Some(">50K"), Some(T0 + 7)),
            ("req-003", _) => (Some("<=50K"), Some(T0 + 9)),
            _ => (None, None),
        };
        assert_eq!((all.labels[k].as_deref(), all.labelled_at_ms[k]), (label, at), "{id} row {row}");
    }
    assert_eq!(all.n_labelled(), 8);
    // inputs as logged; `hours` only in version 2, missing in version 1's rows
    let Some(Values::Int(age)) = all.inputs.get("age") else { panic!("age is ints") };
    let expected_age: Vec<Option<i64>> =
        expected_keys.iter().map(|(_, _, r, i)| Some(20 + (*i + *r as usize) as i64)).collect();
    assert_eq!(age, &expected_age);
    let Some(Values::Float(hours)) = all.inputs.get("hours") else { panic!("hours is floats") };
    assert_eq!(hours.iter().filter(|h| h.is_none()).count(), 12);
    assert!(hours[12..].iter().all(|h| *h == Some(40.5)));
    let Some(Values::Text(customer)) = all.inputs.get("customer") else { panic!("customer is text") };
    assert_eq!(customer[4].as_deref(), Some("c-3-1"));
}

#[test]
fn the_query_selects_versions_routes_times_and_labelled_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_log(dir.path());
    write_store_file(
        &dir.path().join("adult/labels/20261206T090000Z-0001.parquet"),
        &[("req-001", Some(0), ">50K", T0), ("req-003", None, "<=50K", T0), ("req-008", Some(0), "<=50K", T0)],
    );
    let base = query(dir.path());
    let count = |q: LogQuery<'_>| labelled_rows(&q, "p_>50K").expect("join").len();
    assert_eq!(count(LogQuery { versions: Some(&[2]), ..base }), 7);
    assert_eq!(count(LogQuery { versions: Some(&[1, 2, 7]), ..base }), 19, "a version that logged nothing adds none");
    assert_eq!(count(LogQuery { routes: &["primary"], ..base }), 12);
    assert_eq!(count(LogQuery { routes: &["canary"], ..base }), 0);
    // requests 2 and 3 (since inclusive, until exclusive): 1 + 3 rows in each version
    assert_eq!(count(LogQuery { since_ms: Some(T0 + 120_000), until_ms: Some(T0 + 240_000), ..base }), 8);
    let labelled = labelled_rows(&LogQuery { labelled_only: true, ..base }, "p_>50K").expect("join");
    assert_eq!(labelled.len(), 1 + 3 + 1 + 1 + 3);
    assert!(labelled.labels.iter().all(Option::is_some));
    assert_eq!(labelled.inputs.n_rows(), labelled.len());
    // a score column that was not logged reads as NaN
    assert!(labelled_rows(&base, "p_1").expect("join").scores.iter().all(|s| s.is_nan()));
}

#[test]
fn a_model_without_a_log_folder_is_named_in_the_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_log(dir.path());
    let error = labelled_rows(&LogQuery { model: "titanic", ..query(dir.path()) }, "p_1").expect_err("no such model");
    let text = error.to_string();
    assert!(text.contains("model `titanic`") && text.contains("hint:"), "{text}");
}

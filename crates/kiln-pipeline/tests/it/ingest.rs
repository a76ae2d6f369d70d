//! `ingest` on real CSV and Parquet label files against a real prediction log: every refusal
//! reason with its file row, the accepted labels read back through `labelled_rows`, idempotent
//! re-ingests, late labels picked up once their predictions are logged, `strict`, joins on a
//! logged id column, and the audit events.

use std::path::Path;

use kiln_log::{LogSettings, PredictionLog, Route};
use kiln_pipeline::feedback::{IngestOptions, IngestReport, LogQuery, Reason, ingest, labelled_rows};
use kiln_track::{AuditAction, AuditFilter, Store};
use polars::prelude::{Column, DataFrame, Int64Chunked, IntoColumn, NewChunkedArray, StringChunked};

use crate::feedback::{T0, entry, write_log};

fn options<'a>(labels: &'a Path, log: &'a Path) -> IngestOptions<'a> {
    IngestOptions {
        labels,
        log_dir: log,
        model: "adult",
        id_column: None,
        label_column: None,
        time_column: None,
        strict: false,
    }
}

/// The label of each labelled (version, request id, row) of the log, with its time.
fn stored(log: &Path) -> Vec<(i64, String, u32, String, i64)> {
    let query = LogQuery {
        log_dir: log,
        model: "adult",
        versions: None,
        routes: &[],
        since_ms: None,
        until_ms: None,
        labelled_only: true,
    };
    let rows = labelled_rows(&query, "p_>50K").expect("join");
    (0..rows.len())
        .map(|i| {
            let label = rows.labels[i].clone().expect("labelled");
            let at = rows.labelled_at_ms[i].expect("time");
            (rows.versions[i], rows.request_ids[i].clone(), rows.rows[i], label, at)
        })
        .collect()
}

fn reasons(report: &IngestReport) -> Vec<(usize, Reason)> {
    report.refused.iter().map(|r| (r.file_row, r.reason)).collect()
}

fn count(report: &IngestReport, what: &str) -> usize {
    report.counts.get(what).copied().unwrap_or(0)
}

const EVERY_REASON: &str = "request_id,row,label,labelled_at
req-000,,>50K,2026-12-06T09:00:00Z
req-003,1,<=50K,1796545000000
req-003,,>50K,
req-999,,>50K,
,,>50K,
req-004,,,
req-005,,>50K,yesterday
req-006,0,>50K,
req-006,0,<=50K,
req-007,0,<=50K,2026-12-06T09:00:00Z
req-007,0,<=50K,
req-003,5,>50K,
";

#[test]
fn each_refused_row_is_reported_with_its_reason_and_the_rest_is_stored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log");
    write_log(&log);
    let store = Store::open(&dir.path().join("kiln.db")).expect("store");
    let labels = dir.path().join("labels.csv");
    std::fs::write(&labels, EVERY_REASON).expect("write labels");

    let report = ingest(&options(&labels, &log), &store).expect("ingest");
    use Reason::*;
    assert_eq!(
        reasons(&report),
        [
            (3, Ambiguous),
            (4, UnknownId),
            (5, Missing),
            (6, Missing),
            (7, BadTime),
            (8, Conflict),
            (9, Conflict),
            (12, UnknownId)
        ]
    );
    assert_eq!((report.rows, report.accepted, report.already_known, report.stored), (12, 3, 1, 3));
    assert_eq!((count(&report, "unknown_id"), count(&report, "missing"), count(&report, "conflict")), (2, 2, 2));
    assert_eq!(report.key, "request_id + row");
    assert!(report.merged);
    // 09:00Z is 45 minutes after T0 (08:15Z)
    let at9 = T0 + 45 * 60_000;
    let expected = vec![
        (1, "req-000".to_string(), 0, ">50K".to_string(), at9),
        (1, "req-003".into(), 1, "<=50K".into(), 1_796_545_000_000),
        (1, "req-007".into(), 0, "<=50K".into(), at9),
        (2, "req-000".into(), 0, ">50K".into(), at9),
        (2, "req-003".into(), 1, "<=50K".into(), 1_796_545_000_000),
    ];
    assert_eq!(stored(&log), expected);
    // the refused rows beside the store, reason first
    let refused = std::fs::read_to_string(report.refused_file.as_ref().expect("refused file")).expect("read");
    let lines: Vec<&str> = refused.lines().collect();
    assert_eq!(lines[0], "reason,file_row,key,label,detail");
    assert_eq!(lines.len(), 9);
    assert!(lines[1].starts_with("ambiguous,3,req-003,>50K,"), "{}", lines[1]);
    assert!(lines[8].starts_with("unknown_id,12,req-003 row 5,>50K,"), "{}", lines[8]);

    // the same file again: nothing new is stored, the same rows are refused
    let again = ingest(&options(&labels, &log), &store).expect("ingest again");
    assert_eq!((again.accepted, again.already_known, again.stored), (0, 4, 0));
    assert_eq!(reasons(&again), reasons(&report));
    assert!(again.store_file.is_none());
    assert_eq!(stored(&log), expected);
    assert_eq!(
        std::fs::read_dir(log.join("adult/labels"))
            .expect("labels")
            .filter(|e| { e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "parquet")) })
            .count(),
        1
    );

    // each ingest is an audit event of the model with its counts; the chain stays valid
    let events = store
        .audit_log(&AuditFilter { action: Some(AuditAction::FeedbackIngest), ..AuditFilter::default() })
        .expect("audit");
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].target, "adult");
    assert_eq!(events[1].details["counts"]["accepted"], 3);
    assert_eq!(events[1].details["counts"]["conflict"], 2);
    assert_eq!(events[1].details["sha256"], kiln_track::sha256_file(&labels).expect("sha"));
    assert!(store.verify_audit().expect("verify").ok);
}

/// A Parquet label file with `request_id`, `label` and an Int64 `labelled_at`.
fn parquet_labels(path: &Path, rows: &[(&str, &str, i64)]) {
    let columns: Vec<Column> = vec![
        StringChunked::from_iter_values("request_id".into(), rows.iter().map(|r| r.0)).into_column(),
        StringChunked::from_iter_values("label".into(), rows.iter().map(|r| r.1)).into_column(),
        Int64Chunked::from_vec("labelled_at".into(), rows.iter().map(|r| r.2).collect()).into_column(),
    ];
    let mut df = DataFrame::new_infer_height(columns).expect("frame");
    kiln_data::write::write_table(path, kiln_data::config::FileFormat::Parquet, &mut df).expect("write");
}

#[test]
fn a_label_that_contradicts_the_store_is_refused_and_strict_merges_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log");
    write_log(&log);
    let store = Store::open(&dir.path().join("kiln.db")).expect("store");
    let first = dir.path().join("first.parquet");
    parquet_labels(&first, &[("req-000", ">50K", T0 + 1_000)]);
    assert_eq!(ingest(&options(&first, &log), &store).expect("ingest").accepted, 1);

    let second = dir.path().join("second.parquet");
    // out of order: labelled before the first file's label
    parquet_labels(&second, &[("req-001", ">50K", T0 + 10), ("req-000", "<=50K", T0 + 20)]);
    let strict = ingest(&IngestOptions { strict: true, ..options(&second, &log) }, &store).expect("strict");
    assert_eq!(reasons(&strict), [(2, Reason::Conflict)]);
    assert!(strict.refused[0].detail.contains("`>50K`"), "{}", strict.refused[0].detail);
    assert!(!strict.merged && strict.store_file.is_none() && strict.stored == 0);
    assert_eq!(stored(&log).len(), 2, "req-000 in both versions only");

    let merged = ingest(&options(&second, &log), &store).expect("ingest");
    assert!(merged.merged);
    assert_eq!((merged.accepted, merged.stored), (1, 1));
    let labels: Vec<(String, String, i64)> =
        stored(&log).into_iter().filter(|r| r.0 == 1).map(|r| (r.1, r.3, r.4)).collect();
    assert_eq!(labels, [("req-000".into(), ">50K".into(), T0 + 1_000), ("req-001".into(), ">50K".into(), T0 + 10)]);
}

#[test]
fn a_label_for_a_prediction_logged_later_is_taken_when_ingested_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log");
    write_log(&log);
    let store = Store::open(&dir.path().join("kiln.db")).expect("store");
    let labels = dir.path().join("late.csv");
    std::fs::write(&labels, "request_id,label\nreq-012,<=50K\nreq-002,>50K\n").expect("write");
    let early = ingest(&options(&labels, &log), &store).expect("ingest");
    assert_eq!(reasons(&early), [(1, Reason::UnknownId)]);
    assert_eq!(early.accepted, 1);

    let later = PredictionLog::start(LogSettings::new(&log)).expect("start again");
    later.append(entry(12, 1, Route::Primary));
    later.close().expect("close");
    let after = ingest(&options(&labels, &log), &store).expect("ingest again");
    assert!(after.refused.is_empty(), "{:?}", after.refused);
    assert_eq!((after.accepted, after.already_known), (1, 1));
    let ids: Vec<String> = stored(&log).into_iter().filter(|r| r.0 == 1).map(|r| r.1).collect();
    assert_eq!(ids, ["req-002", "req-012"]);
}

#[test]
fn an_id_column_labels_every_logged_row_carrying_the_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log");
    write_log(&log);
    let store = Store::open(&dir.path().join("kiln.db")).expect("store");
    let labels = dir.path().join("by-customer.csv");
    std::fs::write(&labels, "customer,outcome,when\nc-3-2,>50K,2026-12-06\nc-99-0,>50K,\nc-8-0,<=50K,\n")
        .expect("write");
    let opts = IngestOptions {
        id_column: Some("customer"),
        label_column: Some("outcome"),
        time_column: Some("when"),
        ..options(&labels, &log)
    };
    let report = ingest(&opts, &store).expect("ingest");
    assert_eq!(reasons(&report), [(2, Reason::UnknownId)]);
    // c-3-2 was logged by both versions under one key: one stored label labels both rows
    assert_eq!((report.accepted, report.stored), (2, 2));
    let midnight = T0 - (8 * 60 + 15) * 60_000;
    let labelled: Vec<(i64, String, u32, String)> = stored(&log).into_iter().map(|r| (r.0, r.1, r.2, r.3)).collect();
    assert_eq!(
        labelled,
        [
            (1, "req-003".into(), 2, ">50K".into()),
            (1, "req-008".into(), 0, "<=50K".into()),
            (2, "req-003".into(), 2, ">50K".into())
        ]
    );
    assert_eq!(stored(&log)[0].4, midnight);

    // a column the log does not have, a label column the file does not have
    let accounts = dir.path().join("by-account.csv");
    std::fs::write(&accounts, "account,outcome\na-1,>50K\n").expect("write");
    let missing =
        ingest(&IngestOptions { id_column: Some("account"), labels: &accounts, time_column: None, ..opts }, &store)
            .expect_err("no such column");
    assert!(missing.to_string().contains("no input column `account`"), "{missing}");
    let no_label = ingest(&IngestOptions { label_column: None, ..opts }, &store).expect_err("no label column");
    let text = no_label.to_string();
    assert!(text.contains("no column `label`") && text.contains("customer, outcome, when"), "{text}");
}

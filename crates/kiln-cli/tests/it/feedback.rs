//! `kiln feedback ingest` end to end: a model trained on `kiln data synth` rows is served by a
//! real kiln-serve on loopback with a prediction log; the rows' true labels come back as CSV
//! and Parquet label files; refused rows give exit 1 and are listed in the JSON, `--strict`
//! merges nothing, a re-ingest is idempotent; then `kiln monitor --log` shows the realised
//! ROC AUC of each labelled window, equal to one computed by hand from the served scores.

use std::path::Path;

use kiln_core::columns::{Batch, Values};
use kiln_data::batch::{Reading, read_batch};
use kiln_serve::config::ModelSettings;
use kiln_serve::source::Source;
use serde_json::Value;

use crate::kiln_at;
use crate::monitor::{rows, trained};
use crate::serve::{client, instances, loopback, runtime};

/// Rows per request, and requests sent.
const PER_REQUEST: usize = 100;
const REQUESTS: usize = 20;

/// Serve `synth@v1` with a prediction log in `log`, send the inputs of `batch` as requests
/// `q-00`, `q-01`, ... of 100 rows; the `p_yes` of every row, in order.
fn serve_and_send(store: &str, log: &Path, batch: &Batch) -> Vec<f64> {
    let mut serve =
        loopback(vec![ModelSettings::single("synth".into(), Source::Version { name: "synth".into(), version: 1 })]);
    serve.store = store.into();
    serve.log = Some(kiln_serve::predlog::LogSettings::new(log.to_path_buf()));
    let rt = runtime();
    let _in_runtime = rt.enter();
    let server = rt.block_on(kiln_serve::start(serve)).expect("server");
    let url = format!("http://{}/v1/models/synth:predict", server.addr());
    let client = client();
    let mut scores = Vec::new();
    for k in 0..REQUESTS {
        let body = instances(batch, k * PER_REQUEST..(k + 1) * PER_REQUEST);
        let send = client.post(&url).header("x-request-id", format!("q-{k:02}")).json(&body).send();
        let response = rt.block_on(send).expect("send");
        assert!(response.status().is_success(), "{}", response.status());
        let answer: Value = rt.block_on(response.json()).expect("json");
        let predictions = answer["predictions"].as_array().expect("predictions");
        scores.extend(predictions.iter().map(|p| p["p_yes"].as_f64().expect("p_yes")));
    }
    rt.block_on(server.shutdown()).expect("shutdown");
    scores
}

/// ROC AUC by the Mann-Whitney statistic (ties count one half).
fn auc(scores: &[f64], positive: &[bool]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (s, p) in scores.iter().zip(positive) {
        for (t, q) in scores.iter().zip(positive) {
            if *p && !*q {
                pairs += 1.0;
                wins += if s > t {
                    1.0
                } else if s == t {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    wins / pairs
}

fn ingest(store: &str, args: &[&str]) -> (i32, Value, String) {
    let mut full = vec!["-q", "feedback", "ingest", "--model", "synth", "--format", "json"];
    full.extend_from_slice(args);
    let (code, out, err) = kiln_at(store, &full);
    (code, serde_json::from_str(&out).unwrap_or(Value::Null), err)
}

/// The realised ROC AUC of window `w`'s overall group, if any.
fn realised_auc(report: &Value, w: usize) -> Option<f64> {
    let groups = report["windows"][w]["groups"].as_array().expect("groups");
    let overall = groups.iter().find(|g| g["slice"] == "overall").expect("overall group");
    let realised = overall["realised"].as_array()?;
    realised.iter().find(|m| m["metric"] == "roc_auc").and_then(|m| m["value"].as_f64())
}

#[test]
fn labels_of_served_predictions_are_ingested_and_give_realised_metrics_per_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, config, _) = trained(dir.path());
    let fresh = rows(dir.path(), &store, "fresh.parquet", PER_REQUEST * REQUESTS, 7, 0.0);
    let plan = kiln_cli::run_config::load(&config).expect("config").plan;
    let batch = read_batch(&fresh, Reading::Plan(&plan)).expect("rows").batch;
    let Some(Values::Text(truth)) = batch.get("label") else { panic!("the synth target is text") };
    let truth: Vec<String> = truth.iter().map(|t| t.clone().expect("a label")).collect();
    let inputs = Batch::new(batch.columns.iter().filter(|(n, _)| n != "label").cloned().collect());
    let log_dir = dir.path().join("log");
    let scores = serve_and_send(&store, &log_dir, &inputs);
    let log = log_dir.display().to_string();

    // the true labels of requests q-00..q-09 (1000 rows), and five rows that are refused
    let mut csv = String::from("request_id,row,label,labelled_at\n");
    for (i, label) in truth.iter().enumerate().take(10 * PER_REQUEST) {
        csv.push_str(&format!("q-{:02},{},{label},2026-12-06T10:00:00Z\n", i / PER_REQUEST, i % PER_REQUEST));
    }
    csv.push_str("q-99,0,yes,\nq-10,0,maybe,\nq-10,,yes,\nq-11,0,yes,\nq-11,0,no,\n");
    let labels = dir.path().join("labels.csv");
    std::fs::write(&labels, csv).expect("write labels");
    let labels = labels.display().to_string();
    let (code, report, err) = ingest(&store, &["--labels", &labels, "--log", &log]);
    assert_eq!(code, 1, "some rows were refused\n{err}");
    assert_eq!(report["counts"]["accepted"], 1000, "{report:#}");
    for (reason, n) in [("unknown_id", 1), ("outside_domain", 1), ("ambiguous", 1), ("conflict", 2)] {
        assert_eq!(report["counts"][reason], n, "{reason}: {report:#}");
    }
    assert_eq!(report["refused"][1]["file_row"], 1002);
    assert!(report["refused"][1]["detail"].as_str().expect("detail").contains("classes: no, yes"), "{report:#}");
    assert_eq!(report["label_column"], "label", "the target's name from the served bundle");
    let refused_file = report["refused_file"].as_str().expect("refused file");
    assert!(std::fs::read_to_string(refused_file).expect("refused").starts_with("reason,"));
    // again: nothing new
    let (code, again, _) = ingest(&store, &["--labels", &labels, "--log", &log]);
    assert_eq!(
        (code, &again["accepted"], &again["already_known"], &again["stored"]),
        (1, &0.into(), &1000.into(), &0.into())
    );

    // the table output: the counts, then the refused rows
    let (code, table, _) =
        kiln_at(&store, &["-q", "feedback", "ingest", "--labels", &labels, "--log", &log, "--model", "synth"]);
    assert_eq!(code, 1);
    assert!(table.contains("5 row(s) refused, the rest merged") && table.contains("already_known"), "{table}");
    assert!(table.contains("refused rows (also in") && table.contains("q-10 row 0"), "{table}");

    // --strict: one refused row keeps the whole Parquet file out; a clean one goes in (exit 0)
    let labels_of = |k: usize, extra: Option<&str>| {
        let mut ids: Vec<Option<String>> = (0..PER_REQUEST).map(|_| Some(format!("q-{k:02}"))).collect();
        let mut rows: Vec<Option<i64>> = (0..PER_REQUEST as i64).map(Some).collect();
        let mut label: Vec<Option<String>> =
            (0..PER_REQUEST).map(|r| Some(truth[k * PER_REQUEST + r].clone())).collect();
        if let Some(id) = extra {
            ids.push(Some(id.into()));
            rows.push(Some(0));
            label.push(Some("yes".into()));
        }
        let path = dir.path().join(format!("q{k}-{}.parquet", ids.len()));
        let columns = vec![
            ("request_id".to_string(), Values::Text(ids)),
            ("row".to_string(), Values::Int(rows)),
            ("label".to_string(), Values::Text(label)),
        ];
        kiln_data::batch::write_batch(&path, &Batch::new(columns)).expect("write parquet");
        path.display().to_string()
    };
    let (code, strict, _) = ingest(&store, &["--labels", &labels_of(12, Some("q-77")), "--log", &log, "--strict"]);
    assert_eq!((code, &strict["merged"], &strict["stored"]), (1, &false.into(), &0.into()), "{strict:#}");
    let (code, clean, err) = ingest(&store, &["--labels", &labels_of(12, None), "--log", &log, "--strict"]);
    assert_eq!((code, &clean["accepted"]), (0, &100.into()), "{err}");

    // every ingest is in the audit log
    let events = kiln_track::Store::open(Path::new(&store))
        .expect("store")
        .audit_log(&kiln_track::AuditFilter {
            action: Some(kiln_track::AuditAction::FeedbackIngest),
            ..kiln_track::AuditFilter::default()
        })
        .expect("audit");
    assert_eq!(events.len(), 5);
    assert!(events.iter().all(|e| e.target == "synth"));

    // monitor the log in windows of 500 rows: rows 0-999 are labelled (two windows with a
    // realised ROC AUC), rows 1200-1299 too few (min_rows 300), rows 1500-1999 not at all
    let windowed = dir.path().join("windowed.toml");
    let text = std::fs::read_to_string(&config)
        .expect("config")
        .replace("[monitoring]\n", "[monitoring]\nwindow = { rows = 500 }\n");
    std::fs::write(&windowed, text).expect("write config");
    let out = dir.path().join("m").display().to_string();
    let args = ["-q", "monitor", "--format", "json", "--model", "synth@v1", "--log", &log, "--config"];
    let mut args: Vec<&str> = args.to_vec();
    let windowed = windowed.display().to_string();
    args.extend([windowed.as_str(), "--out", &out]);
    let (code, monitored, err) = kiln_at(&store, &args);
    assert!(code == 0 || code == 1, "{err}");
    let monitored: Value = serde_json::from_str(&monitored).expect("monitor json");
    assert!(
        monitored["current"]["name"].as_str().expect("name").contains("1100 labelled rows"),
        "{}",
        monitored["current"]
    );
    for w in 0..2 {
        let rows = w * 500..(w + 1) * 500;
        let positive: Vec<bool> = truth[rows.clone()].iter().map(|t| t == "yes").collect();
        let expected = auc(&scores[rows], &positive);
        let found = realised_auc(&monitored, w).expect("a realised ROC AUC");
        assert!((found - expected).abs() < 1e-9, "window {w}: {found} against {expected} by hand");
    }
    assert_eq!(realised_auc(&monitored, 2), None);
    assert_eq!(realised_auc(&monitored, 3), None);
}

#[test]
fn a_missing_label_file_or_log_is_an_error_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let log = dir.path().join("log");
    std::fs::create_dir_all(log.join("synth/v1")).expect("log folder");
    let log = log.display().to_string();
    let missing = dir.path().join("nope.csv").display().to_string();
    let (code, out, err) = ingest(&store, &["--labels", &missing, "--log", &log]);
    assert_eq!((code, out), (2, Value::Null));
    assert!(err.contains("nope.csv"), "{err}");
    let labels = dir.path().join("l.csv");
    std::fs::write(&labels, "request_id,label\nq-1,yes\n").expect("write");
    let labels = labels.display().to_string();
    let (code, _, err) =
        kiln_at(&store, &["feedback", "ingest", "--labels", &labels, "--log", &log, "--model", "other"]);
    assert_eq!(code, 2);
    assert!(err.contains("no prediction log for model `other`") && err.contains("hint:"), "{err}");
    let garbled = dir.path().join("g.parquet");
    std::fs::write(&garbled, "request_id,label\nq-1,yes\n").expect("write");
    let garbled = garbled.display().to_string();
    let (code, _, err) = ingest(&store, &["--labels", &garbled, "--log", &log]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read the label file") && err.contains("g.parquet"), "{err}");
    let (code, _, err) = kiln_at(&store, &["feedback", "ingest", "--labels", &labels, "--log", &log]);
    assert_eq!(code, 2, "--model is required");
    assert!(err.contains("--model"), "{err}");
}

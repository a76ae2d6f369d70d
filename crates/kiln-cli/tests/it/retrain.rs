//! `kiln retrain` and `kiln lineage` end to end in process: a small Adult project run with
//! `kiln run` and promoted to `champion`, a real prediction log of its answers and their labels
//! in the label store; the retraining passes and moves `challenger`; lineage goes back through
//! it to the original data; a second retraining while one holds the lock exits 2 naming the
//! holder; too few new labels exits 0 and says why.

use std::path::Path;
use std::sync::Arc;

use kiln_core::columns::{Batch, Values};
use kiln_serve::predlog::{Entry, LogSettings, PredictionLog, Route};
use kiln_track::{Promotion, Store};
use polars::prelude::{Column, DataFrame, Int64Chunked, IntoColumn, NewChunkedArray, StringChunked, UInt32Chunked};

use crate::{kiln_at, repo};

const NAMES: [&str; 15] = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
];
const INTS: [&str; 6] = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"];
const LOGGED: usize = 1000;

fn lines(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo(&format!("datasets/adult/{file}"))).expect("adult");
    text.lines().filter(|l| !l.starts_with('|') && !l.trim().is_empty()).map(str::to_string).collect()
}

/// The project: 3,000 training and 1,500 test rows, a prior and a small GBDT, one gate.
fn write_project(dir: &Path) {
    std::fs::write(dir.join("train.data"), lines("adult.data")[..3000].join("\n") + "\n").expect("train");
    std::fs::write(dir.join("test.data"), lines("adult.test")[..1500].join("\n") + "\n").expect("test");
    let names = NAMES.map(|n| format!("\"{n}\"")).join(", ");
    let ints = INTS.map(|n| format!("{n} = \"int\"")).join("\n");
    let config = format!(
        r#"[project]
name = "adult"
task = "binary"

[data]
train = "train.data"
test = "test.data"
format = "csv"
header = false
trim_whitespace = true
missing = ["?"]
map.income = {{ "<=50K." = "<=50K", ">50K." = ">50K" }}

[columns]
names = [{names}]
target = "income"
classes = ["<=50K", ">50K"]
positive = ">50K"
numeric = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
categorical = ["workclass", "education", "marital_status", "occupation", "relationship", "native_country", "race", "sex"]
segment = ["sex"]

[columns.types]
{ints}

[validation]
min_rows = 1000
max_missing = 0.1

[split]
method = "fixed"
validation_fraction = 0.1

[[models]]
kind = "prior"

[[models]]
kind = "gbdt"
name = "gbdt"
num_iterations = 30

[evaluation]
ci = {{ method = "bootstrap", replicates = 200, level = 0.95, seed = 7 }}

[[acceptance.metrics]]
metric = "roc_auc"
min = 0.8

[retrain]
judge_share = 0.3
min_judge_rows = 200
margin = 0.05
"#
    );
    std::fs::write(dir.join("adult.toml"), config).expect("config");
}

/// `LOGGED` requests (Adult test rows after the first 1,500) answered by v1, and their true
/// labels in the label store.
fn write_log_and_labels(log: &Path) {
    let rows = &lines("adult.test")[1500..1500 + LOGGED];
    let t0 = kiln_track::now_ms() - 86_400_000;
    let writer = PredictionLog::start(LogSettings::new(log)).expect("log");
    for (i, line) in rows.iter().enumerate() {
        let fields: Vec<&str> = line.split(", ").map(str::trim).collect();
        let columns = NAMES[..14]
            .iter()
            .zip(&fields)
            .map(|(name, v)| {
                let values = if INTS.contains(name) {
                    Values::Int(vec![Some(v.parse().expect("int"))])
                } else {
                    Values::Text(vec![(*v != "?").then(|| v.to_string())])
                };
                (name.to_string(), values)
            })
            .collect();
        writer.append(Entry {
            request_id: format!("r{i:04}"),
            time_ms: t0 + i as i64 * 1_000,
            model: "adult".into(),
            version: 1,
            route: Route::Primary,
            latency_ms: 1.0,
            inputs: Arc::new(Batch::new(columns)),
            outputs: Batch::new(vec![("p_>50K".into(), Values::Float(vec![Some(0.5)]))]),
        });
    }
    writer.close().expect("close");
    let ids: Vec<String> = (0..LOGGED).map(|i| format!("r{i:04}")).collect();
    let labels: Vec<String> =
        rows.iter().map(|l| l.rsplit(", ").next().expect("label").trim_end_matches('.').to_string()).collect();
    let now = kiln_track::now_ms() + 1_000;
    let mut df = DataFrame::new_infer_height(vec![
        StringChunked::from_iter_values("request_id".into(), ids.iter().map(String::as_str)).into_column(),
        UInt32Chunked::from_iter_options("row".into(), (0..LOGGED).map(|_| Some(0))).into_column(),
        StringChunked::from_iter_values("label".into(), labels.iter().map(String::as_str)).into_column(),
        Int64Chunked::from_vec("labelled_at".into(), vec![now; LOGGED]).into_column(),
        Int64Chunked::from_vec("ingested_at".into(), vec![now; LOGGED]).into_column(),
        StringChunked::from_iter_values("source".into(), ids.iter().map(|_| "outcomes.csv")).into_column(),
        StringChunked::from_iter_values("source_sha256".into(), ids.iter().map(|_| "0")).into_column(),
    ] as Vec<Column>)
    .expect("labels");
    let path = log.join("adult/labels/20261206T120000Z-0001.parquet");
    std::fs::create_dir_all(path.parent().expect("folder")).expect("folder");
    kiln_data::write::write_table(&path, kiln_data::config::FileFormat::Parquet, &mut df).expect("write");
}

#[test]
fn kiln_retrain_passes_moves_challenger_and_lineage_goes_back_through_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write_project(root);
    let store_path = root.join(".kiln/kiln.db");
    let store = store_path.display().to_string();
    let config = root.join("adult.toml").display().to_string();
    let bundle = root.join("champion.safetensors").display().to_string();
    let out = root.join("champion-report").display().to_string();
    let (code, _, err) = kiln_at(&store, &["-q", "run", &config, "--bundle", &bundle, "--out", &out]);
    assert_eq!(code, 0, "{err}");
    let promotion = Promotion { name: "adult", version: 1, alias: "champion", actor: "test", force: None };
    Store::open(&store_path).expect("store").promote(&promotion).expect("promote");
    let log = root.join("log");
    write_log_and_labels(&log);
    let log = log.display().to_string();
    let retrain = ["-q", "retrain", &config, "--model", "adult@champion", "--log", &log];

    // too few new labels: exit 0, says why
    let (code, stdout, err) = kiln_at(&store, &[&retrain[..], &["--if-new-labels", "5000"]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("not triggered") && stdout.contains("1000 new label(s)"), "{stdout}");

    // another retraining holds the lock: exit 2, naming it
    let held = Store::open(&store_path).expect("store").lock("retrain-adult").expect("lock").expect("free");
    let (code, _, err) = kiln_at(&store, &retrain);
    assert_eq!(code, 2);
    assert!(err.contains("already running") && err.contains(&format!("process {}", std::process::id())), "{err}");
    drop(held);

    let (code, stdout, err) = kiln_at(&store, &[&retrain[..], &["--format", "json"]].concat());
    assert_eq!(code, 0, "{err}\n{stdout}");
    let result: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(result["status"], "passed");
    assert_eq!((result["version"].as_i64(), result["aliased"].as_bool()), (Some(2), Some(true)));
    assert_eq!(result["dataset"]["rows_added"], 700);
    assert_eq!(result["dataset"]["judge_rows"], 300);
    assert_eq!(result["verdict"]["tests"][0]["slicing"], "overall");

    let (code, stdout, err) = kiln_at(&store, &["lineage", "adult@challenger"]);
    assert_eq!(code, 0, "{err}");
    for expected in
        ["adult@v2", "retrained from", "adult@v1", "log segment", "label file", "original data", "train.data"]
    {
        assert!(stdout.contains(expected), "{expected} in\n{stdout}");
    }
    let (code, stdout, _) = kiln_at(&store, &["lineage", "adult@challenger", "--format", "json"]);
    assert_eq!(code, 0);
    let lineage: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(lineage["retrain"]["parent"], "adult@v1");
    assert_eq!(lineage["parent"]["model_version"]["version"], 1);
    assert!(lineage["parent"]["parent"].is_null());
}

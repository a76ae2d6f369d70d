//! `kiln runs export --mlflow`: a `kiln run` on the shipped Adult data exported into a real
//! `mlflow server` and read back with MLflow's own client (run, params, metric series, tags,
//! report files and bundle, the registered version with its alias), exported again without a
//! duplicate, and a server that is not there failing with exit 2 and a hint.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::kiln_at;
use crate::mlflow_server::{MlflowServer, free_port, mlflow_ready, read_back};
use crate::predict::adult_config;

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).expect("json")
}

#[test]
fn a_kiln_run_on_adult_arrives_in_mlflow_whole_and_only_once() {
    if !mlflow_ready() {
        return;
    }
    let server = MlflowServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let config = adult_config(dir.path(), "adult", "[[models]]\nkind = \"gbdt\"\nnum_iterations = 20\n", "");
    let (report, bundle) = (dir.path().join("report"), dir.path().join("adult.safetensors"));
    let path = |p: &std::path::Path| p.display().to_string();
    let args = ["-q", "run", &path(&config), "--out", &path(&report), "--bundle", &path(&bundle)];
    let (code, out, err) = kiln_at(&store, &args);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = kiln_at(&store, &["-q", "models", "promote", "adult", "1"]);
    assert_eq!(code, 0, "{err}");
    let runs = json_of(&kiln_at(&store, &["runs", "list", "--format", "json"]).1);
    let id = runs[0]["id"].as_str().expect("run id").to_string();
    let shown = json_of(&kiln_at(&store, &["runs", "show", &id, "--format", "json"]).1);

    let args = ["-q", "runs", "export", "--mlflow", &server.url, "--format", "json"];
    let (code, out, err) = kiln_at(&store, &args);
    assert_eq!(code, 0, "{err}\n{}", server.log());
    let exported = json_of(&out);
    assert_eq!(exported["runs"][0]["action"], "created");
    assert_eq!(exported["model_versions"][0]["action"], "created");

    let back = read_back(&server.url);
    let runs = back["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(back["experiments"]["adult"], run["experiment_id"]);
    assert_eq!(run["status"], "FINISHED");
    assert_eq!(run["tags"]["kiln.run_id"], id.as_str());
    for (tag, field) in
        [("kiln.data_hash", "data_hash"), ("kiln.schema_hash", "schema_hash"), ("kiln.split_hash", "split_hash")]
    {
        assert!(shown["data"][field].is_string(), "{field}");
        assert_eq!(run["tags"][tag], shown["data"][field], "{tag}");
    }
    assert_eq!(run["tags"]["kiln.config_hash"], shown["config_hash"]);
    assert_eq!(run["tags"]["kiln.seed"], "42");
    assert_eq!(run["tags"]["kiln.device"], shown["device"]);
    assert_eq!(run["params"], shown["params"]);
    let start = run["start_time"].as_i64().expect("start");
    let metrics = shown["metrics"].as_object().expect("metrics");
    assert!(!metrics.is_empty());
    assert_eq!(run["metrics"].as_object().expect("metrics").len(), metrics.len());
    for (key, series) in metrics {
        let expected: Vec<Value> =
            series.as_array().expect("series").iter().map(|p| json!([p["step"], p["value"], start])).collect();
        assert_eq!(run["metrics"][key].as_array().expect(key), &expected, "{key}");
    }

    // Every file the run recorded is in MLflow with the same content; the bundle in `bundle/`.
    let uploaded: BTreeMap<String, Value> = serde_json::from_value(run["artifacts"].clone()).expect("artifacts");
    let recorded = shown["artifacts"].as_array().expect("artifacts");
    assert!(recorded.len() >= 2, "the report files and the bundle: {recorded:?}");
    for artifact in recorded {
        let name = std::path::Path::new(artifact["path"].as_str().expect("path")).file_name().expect("name");
        let name = name.to_string_lossy();
        let at = if name == "adult.safetensors" { format!("bundle/{name}") } else { name.to_string() };
        assert_eq!(uploaded.get(&at), Some(&artifact["sha256"]), "{at} in {uploaded:?}");
    }
    assert_eq!(uploaded.len(), recorded.len() + 1, "the files and the resolved config");

    let model = &back["models"]["adult"];
    assert_eq!(model["aliases"], json!({ "champion": "1" }));
    let version = &model["versions"][0];
    assert_eq!(version["run_id"], run["run_id"]);
    assert_eq!(version["tags"]["kiln.version"], "1");
    assert_eq!(version["tags"]["kiln.bundle_sha256"], uploaded["bundle/adult.safetensors"]);
    assert_eq!(version["tags"]["kiln.gate_passed"], "true");

    // Again, as a table: the run and version are updated, MLflow holds the same as before.
    let (code, out, err) = kiln_at(&store, &["-q", "runs", "export", "--mlflow", &server.url, &id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(&format!("1 runs exported to {}", server.url)), "{out}");
    assert!(out.contains("updated") && !out.contains("created"), "{out}");
    assert_eq!(read_back(&server.url), back);
}

#[test]
fn an_export_to_a_server_that_is_not_there_exits_2_with_the_url_and_a_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let store_handle = kiln_track::Store::open(std::path::Path::new(&store)).expect("store");
    kiln_track::synth::fill_store(&store_handle, 2, 1).expect("runs");
    let url = format!("http://127.0.0.1:{}", free_port());
    let (code, out, err) = kiln_at(&store, &["-q", "runs", "export", "--mlflow", &url]);
    assert_eq!(code, 2, "{out}");
    assert!(err.starts_with(&format!("error: cannot reach the MLflow tracking server at {url}")), "{err}");
    assert!(err.contains("\nhint: check that `mlflow server` is running"), "{err}");
    let (code, _, err) = kiln_at(&store, &["-q", "runs", "export", "--mlflow", "https://mlflow.example"]);
    assert_eq!(code, 2);
    assert!(err.contains("https://mlflow.example is not an MLflow tracking server URL"), "{err}");
}

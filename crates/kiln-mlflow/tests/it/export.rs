//! A store of synthetic runs plus one run with real files, a NaN metric point and two registered
//! versions with aliases, exported to a real MLflow server and read back with MLflow's client.

use std::collections::BTreeMap;
use std::path::Path;

use kiln_mlflow::{Action, ArtifactOutcome, MlflowClient, export};
use kiln_track::{DataVersions, GitInfo, NewModelVersion, NewRun, Promotion, RunDetail, RunStatus, Store};
use serde_json::{Value, json};

use crate::server::{MlflowServer, mlflow_ready, read_back};

/// The synthetic runs plus a run of project `churn` with real files: a report, a bundle
/// registered as v1 (gate passed, `champion`) and v2 (gate failed, `challenger` by force), a
/// file changed since and a file removed since.
fn populated_store(dir: &Path) -> Store {
    let store = Store::open(&dir.join("kiln.db")).expect("store");
    kiln_track::synth::fill_store(&store, 12, 7).expect("synthetic runs");
    let params: BTreeMap<String, String> =
        [("model.gbdt", "gbdt"), ("split.method", "stratified")].map(|(k, v)| (k.into(), v.into())).into();
    let run = store
        .start_run(&NewRun {
            name: "churn".into(),
            command: "train".into(),
            config: "[project]\nname = \"churn\"\nseed = 42\n".into(),
            params,
            data: DataVersions {
                data_hash: Some("d".repeat(64)),
                schema_hash: Some("5".repeat(64)),
                split_hash: Some("f".repeat(64)),
            },
            git: Some(GitInfo { commit: "0123456789abcdef0123456789abcdef01234567".into(), dirty: true }),
            seed: Some(42),
            device: Some("cpu".into()),
            kiln_version: "0.1.0".into(),
        })
        .expect("start run");
    run.log_metrics(&[("train_loss", 0, 0.75), ("train_loss", 1, 0.5), ("train_loss", 2, f64::NAN), ("auc", 0, 0.875)])
        .expect("metrics");
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        run.log_artifact(&path).expect("artifact");
        path
    };
    write("report.html", "<html>a report</html>");
    let bundle = write("churn.safetensors", "not really tensors, but bytes all the same");
    let changed = write("notes.md", "before");
    std::fs::write(&changed, "after").expect("change");
    std::fs::remove_file(write("gone.json", "{}")).expect("remove");
    let run_id = run.id().clone();
    for passed in [true, false] {
        store
            .register_model(&NewModelVersion {
                name: "churn".into(),
                run_id: run_id.clone(),
                bundle_path: bundle.display().to_string(),
                bundle_sha256: kiln_track::sha256_file(&bundle).expect("sha"),
                passed,
                verdict: json!({ "passed": passed, "checks": [{ "metric": "auc", "min": 0.8 }] }),
                actor: "ci".into(),
            })
            .expect("register");
    }
    promote(&store, 1, "champion", None);
    promote(&store, 2, "challenger", Some("a shadow trial"));
    run.finish(RunStatus::Finished).expect("finish");
    store
}

fn promote(store: &Store, version: i64, alias: &str, force: Option<&str>) {
    store.promote(&Promotion { name: "churn", version, alias, actor: "ci", force }).expect("promote");
}

fn all_runs(store: &Store) -> Vec<RunDetail> {
    let runs = store.list_runs(&kiln_track::RunFilter::default()).expect("runs");
    runs.iter().map(|run| store.show_run(run.id.as_str()).expect("run")).collect()
}

/// The one MLflow run tagged with `detail`'s kiln id.
fn mlflow_run<'a>(back: &'a Value, detail: &RunDetail) -> &'a Value {
    let found: Vec<&Value> = back["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter(|r| r["tags"]["kiln.run_id"] == detail.id.as_str())
        .collect();
    assert_eq!(found.len(), 1, "MLflow runs of {}", detail.id);
    found[0]
}

fn expected_tags(detail: &RunDetail) -> BTreeMap<&'static str, Option<String>> {
    let git = detail.git.as_ref();
    BTreeMap::from([
        ("kiln.run_id", Some(detail.id.to_string())),
        ("kiln.command", Some(detail.command.clone())),
        ("kiln.status", Some(detail.status.as_str().to_string())),
        ("kiln.config_hash", Some(detail.config_hash.clone())),
        ("kiln.kiln_version", Some(detail.kiln_version.clone())),
        ("kiln.data_hash", detail.data.data_hash.clone()),
        ("kiln.schema_hash", detail.data.schema_hash.clone()),
        ("kiln.split_hash", detail.data.split_hash.clone()),
        ("kiln.git_commit", git.map(|g| g.commit.clone())),
        ("kiln.git_dirty", git.map(|g| g.dirty.to_string())),
        ("mlflow.source.git.commit", git.map(|g| g.commit.clone())),
        ("kiln.device", detail.device.clone()),
        ("kiln.seed", detail.seed.map(|s| s.to_string())),
        ("kiln.error", detail.error.clone()),
    ])
}

/// Every run of the store is in MLflow with the same record.
fn assert_runs_equal(store: &Store, back: &Value) {
    let details = all_runs(store);
    assert_eq!(back["runs"].as_array().expect("runs").len(), details.len(), "one MLflow run per kiln run");
    for detail in &details {
        let run = mlflow_run(back, detail);
        let id = detail.id.as_str();
        assert_eq!(back["experiments"][&detail.name], run["experiment_id"], "{id}: experiment of its project");
        assert_eq!(run["run_name"], id);
        let status = match detail.status {
            RunStatus::Running => "RUNNING",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Interrupted => "KILLED",
        };
        assert_eq!(run["status"], status, "{id}");
        let start = run["start_time"].as_i64().expect("start");
        assert_eq!(kiln_track::format_rfc3339(start), detail.started_at, "{id}");
        let end = run["end_time"].as_i64().map(kiln_track::format_rfc3339);
        assert_eq!(end, detail.ended_at, "{id}");
        let params: BTreeMap<String, String> = serde_json::from_value(run["params"].clone()).expect("params");
        assert_eq!(params, detail.params, "{id}");
        for (key, value) in expected_tags(detail) {
            assert_eq!(run["tags"][key].as_str(), value.as_deref(), "{id}: tag {key}");
        }
        let metrics = run["metrics"].as_object().expect("metrics");
        assert_eq!(metrics.len(), detail.metrics.len(), "{id}: metric keys");
        for (key, series) in &detail.metrics {
            let expected: Vec<Value> = series
                .iter()
                .map(|p| json!([p.step, if p.value.is_nan() { json!("NaN") } else { json!(p.value) }, start]))
                .collect();
            assert_eq!(metrics[key].as_array().expect("history"), &expected, "{id}: {key}");
        }
    }
}

#[test]
fn an_export_holds_every_run_and_version_and_exporting_again_duplicates_nothing() {
    if !mlflow_ready() {
        return;
    }
    let server = MlflowServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = populated_store(dir.path());
    let client = MlflowClient::new(&server.url).expect("client");

    let report = export(&store, &client, &[]).expect("export");
    assert_eq!(report.runs.len(), 13);
    assert!(report.runs.iter().all(|r| r.action == Action::Created), "{report:?}");
    let back = read_back(&server.url);
    assert_runs_equal(&store, &back);
    let experiments: Vec<&String> = back["experiments"].as_object().expect("experiments").keys().collect();
    assert_eq!(experiments, ["Default", "churn", "churn-gbdt", "churn-linear", "churn-mlp", "churn-rules"]);

    // The run with real files: its config and the files still as recorded are uploaded.
    let churn = all_runs(&store).into_iter().find(|d| d.name == "churn").expect("churn run");
    let run = mlflow_run(&back, &churn);
    let file = |name: &str| kiln_track::sha256_file(&dir.path().join(name)).expect("sha");
    let expected = json!({
        "kiln/config.toml": kiln_track::sha256_hex(churn.config.as_bytes()),
        "report.html": file("report.html"),
        "bundle/churn.safetensors": file("churn.safetensors"),
    });
    assert_eq!(run["artifacts"], expected);
    let exported = report.runs.iter().find(|r| r.run_id == churn.id.as_str()).expect("exported churn");
    let outcomes: BTreeMap<&str, ArtifactOutcome> =
        exported.artifacts.iter().map(|a| (a.destination.as_str(), a.outcome)).collect();
    assert_eq!(outcomes["notes.md"], ArtifactOutcome::Changed);
    assert_eq!(outcomes["gone.json"], ArtifactOutcome::Missing);
    // The synthetic runs' files never existed here: reported missing, nothing uploaded.
    for synthetic in report.runs.iter().filter(|r| r.experiment != "churn") {
        assert!(synthetic.artifacts[1..].iter().all(|a| a.outcome == ArtifactOutcome::Missing), "{synthetic:?}");
    }

    // Both versions, with kiln's tags and aliases, registered from the run's bundle folder.
    let model = &back["models"]["churn"];
    assert_eq!(model["aliases"], json!({ "champion": "1", "challenger": "2" }));
    let versions = model["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2);
    for (version, passed) in versions.iter().zip(["true", "false"]) {
        let number = version["version"].as_str().expect("number");
        let kiln = store.model_version("churn", number.parse().expect("int")).expect("kiln version");
        assert_eq!(version["run_id"], run["run_id"]);
        assert!(version["source"].as_str().expect("source").ends_with("/bundle"), "{version}");
        assert_eq!(version["tags"]["kiln.version"], number);
        assert_eq!(version["tags"]["kiln.run_id"], churn.id.as_str());
        assert_eq!(version["tags"]["kiln.bundle_sha256"], kiln.bundle_sha256.as_str());
        assert_eq!(version["tags"]["kiln.bundle_sha256"], run["artifacts"]["bundle/churn.safetensors"]);
        assert_eq!(version["tags"]["kiln.gate_passed"], passed);
        let verdict: Value =
            serde_json::from_str(version["tags"]["kiln.verdict"].as_str().expect("verdict")).expect("json");
        assert_eq!(verdict, kiln.verdict);
    }

    // Again: everything found and updated, nothing added, MLflow's record unchanged.
    let again = export(&store, &client, &[]).expect("export again");
    assert!(again.runs.iter().all(|r| r.action == Action::Updated), "{again:?}");
    assert!(again.model_versions.iter().all(|v| v.action == Action::Updated), "{again:?}");
    assert_eq!(read_back(&server.url), back);

    // An alias moved in kiln moves in MLflow when the run is exported again (by id prefix).
    promote(&store, 2, "champion", Some("the shadow trial went well"));
    let prefix = &churn.id.as_str()[..churn.id.as_str().len() - 2];
    let moved = export(&store, &client, &[prefix.to_string()]).expect("export one run");
    assert_eq!(moved.runs.len(), 1);
    let after = read_back(&server.url);
    assert_eq!(after["models"]["churn"]["aliases"], json!({ "champion": "2", "challenger": "2" }));
    assert_eq!(after["runs"], back["runs"]);
}

#[test]
fn a_server_without_the_artifact_proxy_gets_everything_but_the_files() {
    if !mlflow_ready() {
        return;
    }
    let server = MlflowServer::start_serving(false);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = populated_store(dir.path());
    let client = MlflowClient::new(&server.url).expect("client");
    let report = export(&store, &client, &[]).expect("export");
    for run in &report.runs {
        let present = |a: &&kiln_mlflow::ArtifactExport| a.outcome != ArtifactOutcome::Missing;
        assert!(
            run.artifacts
                .iter()
                .filter(present)
                .all(|a| a.outcome == ArtifactOutcome::NotProxied || a.outcome == ArtifactOutcome::Changed),
            "{run:?}"
        );
    }
    let back = read_back(&server.url);
    assert_runs_equal(&store, &back);
    assert_eq!(back["models"]["churn"]["aliases"], json!({ "champion": "1", "challenger": "2" }));
}

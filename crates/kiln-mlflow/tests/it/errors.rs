//! Failures name the server and say what to check: nothing listening, a server that is not
//! MLflow, a deleted experiment, MLflow refusing a request, and a run the store does not hold.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kiln_mlflow::{Error, MlflowClient, export};
use kiln_track::Store;

use crate::server::{MlflowServer, free_port, http_get, mlflow_ready};

fn store_with_runs(dir: &std::path::Path, n_runs: usize) -> Store {
    let store = Store::open(&dir.join("kiln.db")).expect("store");
    kiln_track::synth::fill_store(&store, n_runs, 3).expect("synthetic runs");
    store
}

#[test]
fn nothing_listening_is_unreachable_and_names_the_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_runs(dir.path(), 1);
    let url = format!("http://127.0.0.1:{}", free_port());
    let error = export(&store, &MlflowClient::new(&url).expect("client"), &[]).expect_err("nothing listens");
    assert!(matches!(error, Error::Unreachable { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.starts_with(&format!("cannot reach the MLflow tracking server at {url}")), "{text}");
    assert!(text.contains("hint: check that `mlflow server` is running"), "{text}");
}

/// `python3 -m http.server` in a temporary folder: a real HTTP server that is not MLflow.
struct StaticServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl StaticServer {
    fn start() -> StaticServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server");
        let server = StaticServer { child, port, _dir: dir };
        for _ in 0..200 {
            if http_get(port, "/").is_some() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("python3 -m http.server did not answer on port {port}");
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_server_that_is_not_mlflow_is_named_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_runs(dir.path(), 1);
    let server = StaticServer::start();
    let url = format!("http://127.0.0.1:{}", server.port);
    let error = export(&store, &MlflowClient::new(&url).expect("client"), &[]).expect_err("not MLflow");
    match &error {
        Error::NotMlflow { status, endpoint, .. } => {
            assert_eq!(*status, 404);
            assert_eq!(endpoint, "experiments/get-by-name");
        }
        other => panic!("{other:?}"),
    }
    let text = error.to_string();
    assert!(text.starts_with(&format!("{url} did not answer experiments/get-by-name as an MLflow")), "{text}");
    assert!(text.contains("hint: check that the URL is the tracking server's own address"), "{text}");
}

#[test]
fn a_run_the_store_does_not_hold_is_a_store_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_runs(dir.path(), 1);
    let client = MlflowClient::new("http://127.0.0.1:9").expect("client");
    let error = export(&store, &client, &["no-such-run".to_string()]).expect_err("unknown run");
    assert!(matches!(error, Error::Store(_)), "{error:?}");
}

#[test]
fn a_deleted_experiment_and_mlflow_refusing_a_request_are_reported_with_the_url() {
    if !mlflow_ready() {
        return;
    }
    let server = MlflowServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_runs(dir.path(), 1);
    let detail = store.show_run(store.list_runs(&Default::default()).expect("runs")[0].id.as_str()).expect("run");
    let (key, value) = detail.params.iter().next().expect("a parameter");
    let python = |script: String| {
        let status = Command::new("python3").args(["-c", &script]).status().expect("python3");
        assert!(status.success(), "{script}");
    };
    // The project's experiment was deleted in MLflow: it takes no runs until restored.
    python(format!(
        "import mlflow\nc = mlflow.MlflowClient('{url}')\nc.delete_experiment(c.create_experiment('{name}'))\n",
        url = server.url,
        name = detail.name,
    ));
    let client = MlflowClient::new(&server.url).expect("client");
    let error = export(&store, &client, &[]).expect_err("deleted experiment");
    assert!(matches!(error, Error::DeletedExperiment { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "the experiment {:?} on the MLflow tracking server at {} is deleted",
            detail.name, server.url
        )),
        "{text}"
    );
    assert!(text.contains("hint: restore it (`mlflow experiments restore --experiment-id "), "{text}");
    // Someone logged the run into MLflow before, with another value for one of its parameters:
    // MLflow never changes a logged parameter.
    python(format!(
        "import mlflow\nc = mlflow.MlflowClient('{url}')\ne = c.get_experiment_by_name('{name}').experiment_id\n\
         c.restore_experiment(e)\nr = c.create_run(e, tags={{'kiln.run_id': '{id}'}})\n\
         c.log_param(r.info.run_id, '{key}', '{value}-other')\n",
        url = server.url,
        name = detail.name,
        id = detail.id,
    ));
    let error = export(&store, &client, &[]).expect_err("refused");
    match &error {
        Error::Refused { code, status, .. } => {
            assert_eq!(code, "INVALID_PARAMETER_VALUE");
            assert_eq!(*status, 400);
        }
        other => panic!("{other:?}\n{}", server.log()),
    }
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("the MLflow tracking server at {} refused to log parameters", server.url)),
        "{text}"
    );
    assert!(text.contains("hint: the MLflow run or model already holds a different value"), "{text}");
}

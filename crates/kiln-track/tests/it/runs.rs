//! Recording runs: everything `start_run` takes comes back from `show_run`, series keep their
//! steps, and a run that is dropped, failed or left by a dead process is marked, never lost.

use kiln_track::{Error, GitInfo, RunFilter, RunId, RunStatus, Store, sha256_file, sha256_hex};

use crate::support::{Backend, new_run, on_both_backends, raw, temp_store};

fn a_run_records_everything_it_is_given(backend: Backend) {
    let (dir, store) = temp_store(backend);
    let mut new = new_run("churn", &[("lr", "0.1"), ("depth", "6")], "abc123");
    new.git = Some(GitInfo { commit: "f".repeat(40), dirty: true });
    let run = store.start_run(&new).expect("start");
    let id = run.id().clone();
    run.log_metric("loss", 0, 0.9).expect("log");
    run.log_metrics(&[("loss", 2, 0.5), ("loss", 1, 0.7), ("auc", 0, 0.8), ("auc", 1, 0.85)]).expect("batch");
    // A late write of an earlier step does not change the latest value.
    store.log_metric(&id, "loss", 1, 0.65).expect("overwrite step 1");
    store.log_metric(&id, "grad_norm", 0, f64::NAN).expect("nan");
    let artifact_path = dir.path().join("model.bin");
    std::fs::write(&artifact_path, b"weights").expect("write");
    let artifact = run.log_artifact(&artifact_path).expect("artifact");
    assert_eq!(artifact.sha256, sha256_hex(b"weights"));
    assert_eq!(artifact.sha256, sha256_file(&artifact_path).expect("hash"));
    assert_eq!(artifact.size_bytes, Some(7));

    let live = store.show_run(id.as_str()).expect("show live");
    assert_eq!(live.status, RunStatus::Running);
    assert_eq!(live.ended_at, None);
    run.finish(RunStatus::Finished).expect("finish");

    let detail = store.show_run(id.as_str()).expect("show");
    assert_eq!(detail.name, "churn");
    assert_eq!(detail.command, "train");
    assert_eq!(detail.status, RunStatus::Finished);
    assert!(detail.ended_at.is_some() && detail.duration_ms.is_some());
    assert_eq!(detail.config, new.config);
    assert_eq!(detail.config_hash, sha256_hex(new.config.as_bytes()));
    assert_eq!(detail.params, new.params);
    assert_eq!(detail.data, new.data);
    assert_eq!(detail.git, new.git);
    assert_eq!(detail.seed, Some(42));
    assert_eq!(detail.device.as_deref(), Some("cpu"));
    assert_eq!(detail.kiln_version, "0.1.0");
    assert_eq!(detail.pid, i64::from(std::process::id()));
    assert!(!detail.host.is_empty());
    let loss: Vec<(u64, f64)> = detail.metrics["loss"].iter().map(|point| (point.step, point.value)).collect();
    assert_eq!(loss, vec![(0, 0.9), (1, 0.65), (2, 0.5)]);
    assert_eq!(detail.final_metrics["loss"], 0.5);
    assert_eq!(detail.final_metrics["auc"], 0.85);
    assert!(detail.final_metrics["grad_norm"].is_nan());
    assert_eq!(detail.artifacts, vec![artifact]);
    // The whole detail serializes (NaN becomes null).
    let json = serde_json::to_value(&detail).expect("json");
    assert_eq!(json["status"], "finished");
    assert!(json["final_metrics"]["grad_norm"].is_null());
}

fn run_ids_are_unique_and_sortable(backend: Backend) {
    let (_dir, store) = temp_store(backend);
    let mut ids = Vec::new();
    for _ in 0..20 {
        let run = store.start_run(&new_run("a", &[], "d")).expect("start");
        ids.push(run.id().clone());
        run.finish(RunStatus::Finished).expect("finish");
    }
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), 20);
    // Ids start with a UTC timestamp: sorting by id sorts by millisecond of start.
    let stamps: Vec<&str> = ids.iter().map(|id| &id.as_str()[..18]).collect();
    let mut sorted = stamps.clone();
    sorted.sort_unstable();
    assert_eq!(stamps, sorted);
}

fn failed_and_dropped_runs_are_marked(backend: Backend) {
    let (_dir, store) = temp_store(backend);
    let failed = store.start_run(&new_run("a", &[], "d")).expect("start");
    let failed_id = failed.id().clone();
    store.fail_run(failed, "out of memory on cuda:0").expect("fail");
    let detail = store.show_run(failed_id.as_str()).expect("show");
    assert_eq!(detail.status, RunStatus::Failed);
    assert_eq!(detail.error.as_deref(), Some("out of memory on cuda:0"));

    let dropped = store.start_run(&new_run("b", &[], "d")).expect("start");
    let dropped_id = dropped.id().clone();
    drop(dropped);
    assert_eq!(store.show_run(dropped_id.as_str()).expect("show").status, RunStatus::Interrupted);
}

#[test]
fn the_lock_file_lives_as_long_as_the_run() {
    let (dir, store) = temp_store(Backend::Sqlite);
    let run = store.start_run(&new_run("a", &[], "d")).expect("start");
    let lock = dir.path().join(format!(".kiln/locks/{}.lock", run.id()));
    assert!(lock.exists());
    run.finish(RunStatus::Finished).expect("finish");
    assert!(!lock.exists());
}

fn open_marks_dead_runs_interrupted_and_leaves_live_ones(backend: Backend) {
    let (dir, store) = temp_store(backend);
    let path = dir.store_path();
    let lock_file = dir.path().join(".kiln/locks/20200101-000000000-dead00.lock");
    // A live run: its handle (and lock) is kept by this process.
    let live = store.start_run(&new_run("live", &[], "d")).expect("start");
    // A dead run: a `running` row whose process is gone (no lock holder).
    raw(&path)
        .execute(
            "INSERT INTO runs (id, name, command, status, config, config_hash, kiln_version, pid,
                host, started_ms)
             VALUES ('20200101-000000000-dead00', 'dead', 'train', 'running', '', '', '0.1.0',
                999999, 'gone-host', 0)",
        )
        .expect("insert a dead run");
    let reopened = Store::open(&path).expect("reopen");
    let dead = reopened.show_run("20200101-000000000-dead00").expect("show");
    assert_eq!(dead.status, RunStatus::Interrupted);
    assert!(dead.ended_at.is_some());
    assert!(dead.error.as_deref().unwrap_or("").contains("999999"), "{:?}", dead.error);
    assert_eq!(reopened.show_run(live.id().as_str()).expect("show").status, RunStatus::Running);
    assert!(!lock_file.exists());
    live.finish(RunStatus::Finished).expect("finish");
}

fn logging_to_an_unknown_run_names_it(backend: Backend) {
    let (_dir, store) = temp_store(backend);
    let err = store.log_metric(&RunId::new("nope"), "auc", 0, 0.5).expect_err("unknown");
    assert!(matches!(&err, Error::RunNotFound { id } if id == "nope"), "{err:?}");
    assert_eq!(err.to_string(), "no run with id nope");
    assert!(store.list_runs(&RunFilter::default()).expect("list").is_empty());
}

fn a_run_marked_interrupted_elsewhere_cannot_be_finished(backend: Backend) {
    let (dir, store) = temp_store(backend);
    let run = store.start_run(&new_run("a", &[], "d")).expect("start");
    raw(&dir.store_path()).execute("UPDATE runs SET status = 'interrupted'").expect("update");
    let err = run.finish(RunStatus::Finished).expect_err("already ended");
    assert!(matches!(&err, Error::RunEnded { status, .. } if status == "interrupted"), "{err:?}");
}

fn an_interrupted_run_resumes_under_its_id_and_a_finished_one_does_not(backend: Backend) {
    let (_dir, store) = temp_store(backend);
    let run = store.start_run(&new_run("a", &[], "d")).expect("start");
    let id = run.id().clone();
    run.log_metric("loss", 1, 0.5).expect("log");
    drop(run);
    assert_eq!(store.show_run(id.as_str()).expect("show").status, RunStatus::Interrupted);

    let resumed = store.resume_run(&id).expect("resume");
    let running = store.show_run(id.as_str()).expect("show");
    assert_eq!((running.status, running.ended_at, running.error), (RunStatus::Running, None, None));
    assert_eq!(running.metrics["loss"].len(), 1, "what the run recorded stays");
    let err = store.resume_run(&id).expect_err("locked by the live handle");
    assert!(matches!(&err, Error::RunBusy { .. }), "{err:?}");
    resumed.finish(RunStatus::Finished).expect("finish");
    assert_eq!(store.show_run(id.as_str()).expect("show").status, RunStatus::Finished);

    let err = store.resume_run(&id).expect_err("finished");
    assert!(matches!(&err, Error::RunNotResumable { status, .. } if status == "finished"), "{err:?}");
    let err = store.resume_run(&RunId::new("nope")).expect_err("unknown");
    assert!(matches!(&err, Error::RunNotFound { .. }), "{err:?}");
}

on_both_backends!(
    a_run_records_everything_it_is_given,
    run_ids_are_unique_and_sortable,
    failed_and_dropped_runs_are_marked,
    open_marks_dead_runs_interrupted_and_leaves_live_ones,
    logging_to_an_unknown_run_names_it,
    a_run_marked_interrupted_elsewhere_cannot_be_finished,
    an_interrupted_run_resumes_under_its_id_and_a_finished_one_does_not,
);

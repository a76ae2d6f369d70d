//! Faults with real processes: several processes recording into one store at once lose
//! nothing and keep the audit chain linear; a process killed with SIGKILL mid-recording leaves
//! a sound store whose run is marked `interrupted` at the next open.
//!
//! Children are this test binary run again with `--exact <child test>`; the child tests do
//! nothing unless `KILN_TRACK_CHILD_STORE` is set.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kiln_track::{AuditAction, AuditFilter, NewAuditEvent, NewModelVersion, RunFilter, RunStatus, Store};

use crate::support::{Backend, Fixture, new_run, on_both_backends};

const STORE_ENV: &str = "KILN_TRACK_CHILD_STORE";
const TAG_ENV: &str = "KILN_TRACK_CHILD_TAG";
const RUNS_PER_WRITER: usize = 200;
const N_WRITERS: usize = 3;
const REGISTER_EVERY: usize = 50;

fn spawn_child(test_name: &str, store: &Path, tag: &str) -> Child {
    Command::new(std::env::current_exe().expect("test binary path"))
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(STORE_ENV, store)
        .env(TAG_ENV, tag)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child test process")
}

/// Child body: records `RUNS_PER_WRITER` runs, each with metrics and an audit event, and
/// registers a model version now and then.
#[test]
fn child_writer() {
    let (Ok(path), Ok(tag)) = (std::env::var(STORE_ENV), std::env::var(TAG_ENV)) else {
        return;
    };
    let store = Store::open(Path::new(&path)).expect("child opens the store");
    for index in 0..RUNS_PER_WRITER {
        let index_text = index.to_string();
        let run = store.start_run(&new_run(&tag, &[("writer", &tag), ("index", &index_text)], "d")).expect("start");
        let points: Vec<(&str, u64, f64)> = (0..5).map(|step| ("loss", step, 1.0 / (step + 1) as f64)).collect();
        run.log_metrics(&points).expect("log batch");
        run.log_metric("auc", 0, index as f64 / RUNS_PER_WRITER as f64).expect("log one");
        store
            .append_audit(&NewAuditEvent {
                actor: tag.clone(),
                action: AuditAction::Train,
                target: run.id().to_string(),
                reason: None,
                details: serde_json::json!({ "index": index }),
            })
            .expect("audit");
        if index % REGISTER_EVERY == 0 {
            store
                .register_model(&NewModelVersion {
                    name: "shared".to_owned(),
                    run_id: run.id().clone(),
                    bundle_path: format!("{tag}-{index}.safetensors"),
                    bundle_sha256: "a".repeat(64),
                    passed: true,
                    verdict: serde_json::json!({ "passed": true }),
                    actor: tag.clone(),
                })
                .expect("register");
        }
        run.finish(RunStatus::Finished).expect("finish");
    }
}

fn concurrent_processes_lose_nothing(backend: Backend) {
    let fixture = Fixture::new(backend);
    let path = fixture.store_path();
    let store = Store::open(&path).expect("open");
    let children: Vec<Child> =
        (0..N_WRITERS).map(|writer| spawn_child("faults::child_writer", &path, &format!("writer{writer}"))).collect();
    for child in children {
        let output = child.wait_with_output().expect("wait");
        assert!(
            output.status.success(),
            "child failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let runs = store.list_runs(&RunFilter::default()).expect("list");
    assert_eq!(runs.len(), N_WRITERS * RUNS_PER_WRITER);
    assert!(runs.iter().all(|run| run.status == RunStatus::Finished));
    for writer in 0..N_WRITERS {
        let tag = format!("writer{writer}");
        let mine = store
            .list_runs(&RunFilter {
                params: vec![format!("writer={tag}").parse().expect("param")],
                ..RunFilter::default()
            })
            .expect("list");
        assert_eq!(mine.len(), RUNS_PER_WRITER, "{tag}");
        assert!(mine.iter().all(|run| run.metrics.len() == 2 && run.metrics["loss"] == 0.2));
    }
    let some_run = store.show_run(runs[17].id.as_str()).expect("show");
    assert_eq!(some_run.metrics["loss"].len(), 5);

    let events = store.audit_log(&AuditFilter::default()).expect("audit");
    let n_registered = N_WRITERS * RUNS_PER_WRITER.div_ceil(REGISTER_EVERY);
    assert_eq!(events.len(), N_WRITERS * RUNS_PER_WRITER + n_registered);
    let report = store.verify_audit().expect("verify");
    assert!(report.ok, "{report:?}");
    assert_eq!(report.n_events, events.len());

    // Versions were numbered without gaps or duplicates across processes.
    let versions: Vec<i64> =
        store.model_versions("shared").expect("versions").iter().map(|version| version.version).collect();
    assert_eq!(versions, (1..=i64::try_from(n_registered).expect("small")).collect::<Vec<_>>());
    assert!(store.integrity_check().expect("integrity").is_empty());
}

/// Child body: starts one run, says so, then records until it is killed.
#[test]
fn child_recorder_until_killed() {
    let (Ok(path), Ok(tag)) = (std::env::var(STORE_ENV), std::env::var(TAG_ENV)) else {
        return;
    };
    let store = Store::open(Path::new(&path)).expect("child opens the store");
    let run = store.start_run(&new_run(&tag, &[("role", "victim")], "d")).expect("start");
    for step in 0_u64.. {
        let points: Vec<(&str, u64, f64)> =
            ["loss", "auc", "f1", "ece"].into_iter().map(|key| (key, step, step as f64 * 0.001)).collect();
        run.log_metrics(&points).expect("log");
        store
            .append_audit(&NewAuditEvent {
                actor: tag.clone(),
                action: AuditAction::Evaluate,
                target: run.id().to_string(),
                reason: None,
                details: serde_json::json!({ "step": step }),
            })
            .expect("audit");
    }
}

fn a_killed_process_leaves_a_sound_store_and_an_interrupted_run(backend: Backend) {
    let dir = Fixture::new(backend);
    let path = dir.store_path();
    let store = Store::open(&path).expect("open");
    let mut child = spawn_child("faults::child_recorder_until_killed", &path, "victim");

    // Wait until the child is well into recording.
    let deadline = Instant::now() + Duration::from_secs(60);
    let victim = loop {
        let running =
            store.list_runs(&RunFilter { status: Some(RunStatus::Running), ..RunFilter::default() }).expect("list");
        let events = store.audit_log(&AuditFilter { limit: Some(1), ..AuditFilter::default() }).expect("audit");
        if let (Some(run), Some(last)) = (running.first(), events.first())
            && last.seq >= 200
        {
            break run.id.clone();
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            let output = child.wait_with_output().expect("output");
            panic!("child exited early with {status}: {}", String::from_utf8_lossy(&output.stderr));
        }
        assert!(Instant::now() < deadline, "child did not start recording in time");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Still alive: a reopen must not mark it.
    let reopened_while_alive = Store::open(&path).expect("reopen");
    assert_eq!(reopened_while_alive.show_run(victim.as_str()).expect("show").status, RunStatus::Running);
    drop(reopened_while_alive);

    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap");
    assert!(!status.success());
    drop(store);

    let store = Store::open(&path).expect("reopen after the kill");
    assert!(store.integrity_check().expect("integrity").is_empty());
    let run = store.show_run(victim.as_str()).expect("show");
    assert_eq!(run.status, RunStatus::Interrupted);
    assert!(run.ended_at.is_some());
    assert!(run.metrics["loss"].len() >= 200);
    let report = store.verify_audit().expect("verify");
    assert!(report.ok, "{report:?}");
    assert!(report.n_events >= 200);
    assert!(!dir.path().join(format!(".kiln/locks/{victim}.lock")).exists());
}

on_both_backends!(concurrent_processes_lose_nothing, a_killed_process_leaves_a_sound_store_and_an_interrupted_run);

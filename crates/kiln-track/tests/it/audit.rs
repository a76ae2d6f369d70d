//! The audit log: appends chain by hash, triggers refuse edits, and `verify_audit` names every
//! edited, inserted or deleted row when the file is tampered with behind the triggers' back.

use std::path::PathBuf;

use kiln_track::{AuditAction, AuditFilter, GENESIS_HASH, NewAuditEvent, Store, Tamper, default_actor};

use crate::support::{Backend, Fixture, Raw, on_both_backends, raw, temp_store};

fn event(actor: &str, action: AuditAction, target: &str) -> NewAuditEvent {
    NewAuditEvent {
        actor: actor.to_owned(),
        action,
        target: target.to_owned(),
        reason: None,
        details: serde_json::json!({ "z": 1, "a": [1, 2, 3] }),
    }
}

/// A store with `n` events, and the path of its file.
fn store_with_events(backend: Backend, n: usize) -> (Fixture, Store, PathBuf) {
    let (dir, store) = temp_store(backend);
    let actions = [AuditAction::DataRead, AuditAction::Train, AuditAction::Evaluate];
    for index in 0..n {
        store.append_audit(&event("ana", actions[index % 3], &format!("target-{index}"))).expect("append");
    }
    let path = dir.store_path();
    (dir, store, path)
}

/// A raw connection with the append-only triggers dropped, as an attacker would.
fn tamperer(path: &std::path::Path) -> Raw {
    let mut conn = raw(path);
    conn.drop_audit_triggers();
    conn
}

fn events_chain_by_hash_and_filter(backend: Backend) {
    let (_dir, store, _path) = store_with_events(backend, 6);
    store
        .append_audit(&NewAuditEvent {
            reason: Some("release".to_owned()),
            ..event("bo", AuditAction::Export, "bundle.safetensors")
        })
        .expect("append");
    let all = store.audit_log(&AuditFilter::default()).expect("log");
    assert_eq!(all.len(), 7);
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(all[6].prev_hash, GENESIS_HASH);
    for pair in all.windows(2) {
        assert_eq!(pair[0].prev_hash, pair[1].hash, "each row links to the one before");
    }
    assert_eq!(all[0].reason.as_deref(), Some("release"));
    assert_eq!(all[0].details, serde_json::json!({ "a": [1, 2, 3], "z": 1 }));
    assert!(all[0].at.ends_with('Z'));

    let trains =
        store.audit_log(&AuditFilter { action: Some(AuditAction::Train), ..AuditFilter::default() }).expect("log");
    assert_eq!(trains.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![5, 2]);
    let by_bo = store.audit_log(&AuditFilter { actor: Some("bo".to_owned()), ..AuditFilter::default() }).expect("log");
    assert_eq!(by_bo.len(), 1);
    let by_target =
        store.audit_log(&AuditFilter { target: Some("target-3".to_owned()), ..AuditFilter::default() }).expect("log");
    assert_eq!(by_target[0].seq, 4);
    let limited = store.audit_log(&AuditFilter { limit: Some(2), ..AuditFilter::default() }).expect("log");
    assert_eq!(limited.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![7, 6]);

    let report = store.verify_audit().expect("verify");
    assert!(report.ok, "{report:?}");
    assert_eq!((report.n_events, report.head_seq), (7, Some(7)));
    assert_eq!(report.head_hash.as_deref(), Some(all[0].hash.as_str()));
    assert!(!default_actor().is_empty());
    assert_eq!("forced_override".parse::<AuditAction>().expect("parse"), AuditAction::ForcedOverride);
    assert_eq!("feedback_ingest".parse::<AuditAction>().expect("parse"), AuditAction::FeedbackIngest);
    for action in AuditAction::ALL {
        assert_eq!(action.as_str().parse::<AuditAction>().expect("every action parses"), action);
    }
}

/// Child body: checks that `default_actor` reads `KILN_ACTOR` first.
#[test]
fn child_reads_actor() {
    if std::env::var_os("KILN_TRACK_CHILD_ACTOR").is_none() {
        return;
    }
    assert_eq!(default_actor(), "zoe");
}

#[test]
fn the_actor_comes_from_kiln_actor_first() {
    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "audit::child_reads_actor", "--test-threads=1"])
        .env("KILN_TRACK_CHILD_ACTOR", "1")
        .env(kiln_track::ACTOR_ENV, "zoe")
        .env("USER", "someone-else")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("spawn");
    assert!(status.success());
}

fn triggers_refuse_update_and_delete(backend: Backend) {
    let (_dir, store, path) = store_with_events(backend, 3);
    let mut conn = raw(&path);
    let update = conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2");
    assert!(update.expect_err("append-only").contains("append-only"));
    assert!(conn.execute("DELETE FROM audit WHERE seq = 3").is_err());
    if backend == Backend::Postgres {
        let truncate = conn.execute("TRUNCATE audit");
        assert!(truncate.expect_err("append-only").contains("append-only"));
    }
    assert!(store.verify_audit().expect("verify").ok);
}

fn an_edited_row_is_named(backend: Backend) {
    let (_dir, store, path) = store_with_events(backend, 10);
    tamperer(&path).execute("UPDATE audit SET actor = 'mallory' WHERE seq = 4").expect("tamper");
    let report = store.verify_audit().expect("verify");
    assert!(!report.ok);
    assert_eq!(report.issues, vec![Tamper::Edited { seq: 4 }]);
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["issues"][0]["kind"], "edited");
}

fn a_deleted_row_is_named(backend: Backend) {
    let (_dir, store, path) = store_with_events(backend, 10);
    tamperer(&path).execute("DELETE FROM audit WHERE seq IN (5, 6)").expect("tamper");
    let report = store.verify_audit().expect("verify");
    assert_eq!(report.issues, vec![Tamper::Deleted { first_seq: 5, last_seq: 6 }]);
}

fn a_truncated_tail_is_named(backend: Backend) {
    let (_dir, store, path) = store_with_events(backend, 10);
    tamperer(&path).execute("DELETE FROM audit WHERE seq >= 9").expect("tamper");
    let report = store.verify_audit().expect("verify");
    assert_eq!(report.issues, vec![Tamper::Deleted { first_seq: 9, last_seq: 10 }]);
}

fn an_inserted_row_is_named(backend: Backend) {
    let (_dir, store, path) = store_with_events(backend, 8);
    let mut conn = tamperer(&path);
    let prev_hash = conn.text("SELECT hash FROM audit WHERE seq = 4");
    // Make room at seq 5 by renumbering the rows after it, then slip a forged row in.
    conn.batch(
        "UPDATE audit SET seq = -seq - 1 WHERE seq >= 5;
         UPDATE audit SET seq = -seq WHERE seq < 0;",
    )
    .expect("renumber");
    conn.execute(&format!(
        "INSERT INTO audit (seq, at_ms, actor, action, target, reason, details, prev_hash, hash)
         VALUES (5, 0, 'mallory', 'promote', 'churn@v9', NULL, '{{}}', '{prev_hash}', '{}')",
        "f".repeat(64)
    ))
    .expect("insert");
    let report = store.verify_audit().expect("verify");
    assert_eq!(report.issues, vec![Tamper::Inserted { seq: 5 }]);
}

fn a_row_appended_behind_the_store_is_named(backend: Backend) {
    let (_dir, store, path) = store_with_events(backend, 5);
    let mut conn = raw(&path);
    let prev_hash = conn.text("SELECT hash FROM audit WHERE seq = 5");
    conn.execute(&format!(
        "INSERT INTO audit (seq, at_ms, actor, action, target, reason, details, prev_hash, hash)
         VALUES (6, 0, 'mallory', 'promote', 'churn@v9', NULL, '{{}}', '{prev_hash}', '{}')",
        "e".repeat(64)
    ))
    .expect("insert");
    let report = store.verify_audit().expect("verify");
    assert_eq!(report.issues, vec![Tamper::Inserted { seq: 6 }]);
}

on_both_backends!(
    events_chain_by_hash_and_filter,
    triggers_refuse_update_and_delete,
    an_edited_row_is_named,
    a_deleted_row_is_named,
    a_truncated_tail_is_named,
    an_inserted_row_is_named,
    a_row_appended_behind_the_store_is_named,
);

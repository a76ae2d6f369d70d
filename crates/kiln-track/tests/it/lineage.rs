//! Lineage from an alias, a version or a run back to its data hashes and the audit events that
//! touched any link of the chain.

use kiln_track::{AuditAction, Error, NewAuditEvent, NewModelVersion, Promotion, RunStatus};

use crate::support::{new_run, temp_store};

#[test]
fn lineage_follows_alias_to_version_to_run_to_data() {
    let (_dir, store) = temp_store();
    store
        .append_audit(&NewAuditEvent {
            actor: "ana".to_owned(),
            action: AuditAction::Snapshot,
            target: "datahash1".to_owned(),
            reason: None,
            details: serde_json::json!({ "rows": 1000 }),
        })
        .expect("audit");
    let run = store.start_run(&new_run("churn", &[("lr", "0.1")], "datahash1")).expect("start");
    let run_id = run.id().clone();
    run.finish(RunStatus::Finished).expect("finish");
    store
        .register_model(&NewModelVersion {
            name: "churn".to_owned(),
            run_id: run_id.clone(),
            bundle_path: "b.safetensors".to_owned(),
            bundle_sha256: "c".repeat(64),
            passed: true,
            verdict: serde_json::json!({ "passed": true }),
            actor: "ana".to_owned(),
        })
        .expect("register");
    store
        .promote(&Promotion { name: "churn", version: 1, alias: "champion", actor: "ana", force: None })
        .expect("promote");

    let lineage = store.lineage("churn@champion").expect("lineage");
    assert_eq!(lineage.target, "churn@champion");
    let alias_move = lineage.alias_move.as_ref().expect("alias move");
    assert_eq!((alias_move.alias.as_str(), alias_move.to_version), ("champion", 1));
    let version = lineage.model_version.as_ref().expect("version");
    assert_eq!(version.version, 1);
    assert_eq!(version.run_id, run_id);
    assert_eq!(lineage.run.id, run_id);
    assert_eq!(lineage.data.data_hash.as_deref(), Some("datahash1"));
    assert_eq!(lineage.data.schema_hash.as_deref(), Some("schema-of-datahash1"));
    assert_eq!(lineage.data.split_hash.as_deref(), Some("split-of-datahash1"));
    let actions: Vec<&str> = lineage.events.iter().map(|event| event.action.as_str()).collect();
    assert_eq!(actions, vec!["snapshot", "register", "promote"]);
    let json = serde_json::to_value(&lineage).expect("json");
    assert_eq!(json["run"]["id"], run_id.as_str());

    for target in ["churn@v1", "churn:1"] {
        let lineage = store.lineage(target).expect(target);
        assert_eq!(lineage.target, "churn@v1");
        assert!(lineage.alias_move.is_none());
        assert_eq!(lineage.run.id, run_id);
    }
    let by_run = store.lineage(&run_id.as_str()[..run_id.as_str().len() - 2]).expect("run prefix");
    assert!(by_run.model_version.is_none());
    assert_eq!(by_run.run.id, run_id);
    assert_eq!(by_run.data.data_hash.as_deref(), Some("datahash1"));

    assert!(matches!(store.lineage("churn@v7"), Err(Error::VersionNotFound { .. })));
    assert!(matches!(store.lineage("churn@nobody"), Err(Error::AliasNotFound { .. })));
    assert!(matches!(store.lineage("churn:x"), Err(Error::ParseTarget { .. })));
    assert!(matches!(store.lineage("no-such-run"), Err(Error::RunNotFound { .. })));
}

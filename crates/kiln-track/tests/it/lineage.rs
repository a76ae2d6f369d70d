//! Lineage from an alias, a version or a run back to its data hashes and the audit events that
//! touched any link of the chain.

use kiln_track::{AuditAction, Error, NewAuditEvent, NewModelVersion, Promotion, RunStatus};

use crate::support::{Backend, new_run, on_both_backends, temp_store};

fn lineage_follows_alias_to_version_to_run_to_data(backend: Backend) {
    let (_dir, store) = temp_store(backend);
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

fn lineage_goes_through_each_retraining_back_to_the_original_data(backend: Backend) {
    let (dir, store) = temp_store(backend);
    let register = |run_id: &kiln_track::RunId| {
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
            .expect("register")
            .version
    };
    let first = store.start_run(&new_run("churn", &[], "original")).expect("start");
    let first_id = first.id().clone();
    first.finish(RunStatus::Finished).expect("finish");
    assert_eq!(register(&first_id), 1);
    // two retrainings, each naming the version it retrained and its dataset manifest
    let manifest = dir.path().join("ds-2.json");
    std::fs::write(&manifest, r#"{"format":"kiln.dataset.v1","segments":["a.arrows"]}"#).expect("manifest");
    let manifest = manifest.display().to_string();
    let mut ids = vec![first_id];
    for (parent, data) in [("churn@v1", "ds-2"), ("churn@v2", "ds-3")] {
        let params = [
            ("retrain.parent", parent),
            ("retrain.dataset", data),
            ("retrain.dataset_hash", data),
            ("retrain.manifest", manifest.as_str()),
        ];
        let run = store.start_run(&new_run("churn", &params, data)).expect("start");
        ids.push(run.id().clone());
        run.finish(RunStatus::Finished).expect("finish");
        register(ids.last().expect("an id"));
    }
    store
        .promote(&Promotion { name: "churn", version: 3, alias: "champion", actor: "ana", force: None })
        .expect("promote");

    let lineage = store.lineage("churn@champion").expect("lineage");
    let mut chain = Vec::new();
    let mut link = Some(&lineage);
    while let Some(l) = link {
        chain.push((
            l.model_version.as_ref().map(|v| v.version),
            l.run.id.clone(),
            l.data.data_hash.clone(),
            l.retrain.as_ref().map(|r| r.parent.clone()),
        ));
        link = l.parent.as_deref();
    }
    let expected: Vec<_> = [(3, "ds-3", Some("churn@v2")), (2, "ds-2", Some("churn@v1")), (1, "original", None)]
        .into_iter()
        .zip(ids.iter().rev())
        .map(|((v, data, parent), id)| (Some(v), id.clone(), Some(data.to_owned()), parent.map(str::to_owned)))
        .collect();
    assert_eq!(chain, expected);
    let retrain = lineage.retrain.as_ref().expect("a retrained version");
    assert_eq!(retrain.dataset.as_deref(), Some("ds-3"));
    assert_eq!(retrain.manifest.as_ref().expect("manifest read")["segments"][0], "a.arrows");
    let json = serde_json::to_value(&lineage).expect("json");
    assert_eq!(json["parent"]["parent"]["data"]["data_hash"], "original");
    assert!(json["parent"]["parent"]["parent"].is_null());
}

on_both_backends!(
    lineage_follows_alias_to_version_to_run_to_data,
    lineage_goes_through_each_retraining_back_to_the_original_data,
);

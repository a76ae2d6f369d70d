//! The model registry: numbered immutable versions, gated promotion, forced overrides that are
//! audited, rollback and alias history.

use kiln_track::{AuditAction, AuditFilter, Error, NewModelVersion, Promotion, RunId, RunStatus, Store};

use crate::support::{Backend, new_run, on_both_backends, raw, temp_store};

fn finished_run(store: &Store) -> RunId {
    let run = store.start_run(&new_run("churn", &[], "d1")).expect("start");
    let id = run.id().clone();
    run.finish(RunStatus::Finished).expect("finish");
    id
}

fn register(store: &Store, name: &str, passed: bool) -> i64 {
    let run_id = finished_run(store);
    store
        .register_model(&NewModelVersion {
            name: name.to_owned(),
            run_id,
            bundle_path: format!("bundles/{name}.safetensors"),
            bundle_sha256: "b".repeat(64),
            passed,
            verdict: serde_json::json!({ "passed": passed, "gates": [{ "metric": "auc", "min": 0.9 }] }),
            actor: "ana".to_owned(),
        })
        .expect("register")
        .version
}

fn promote<'a>(name: &'a str, version: i64, alias: &'a str, force: Option<&'a str>) -> Promotion<'a> {
    Promotion { name, version, alias, actor: "ana", force }
}

fn versions_count_up_per_model_and_are_immutable(backend: Backend) {
    let (dir, store) = temp_store(backend);
    assert_eq!(register(&store, "churn", true), 1);
    assert_eq!(register(&store, "churn", false), 2);
    assert_eq!(register(&store, "fraud", true), 1);
    let versions = store.model_versions("churn").expect("versions");
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), vec![1, 2]);
    assert!(versions[0].passed && !versions[1].passed);
    assert_eq!(versions[0].verdict["gates"][0]["metric"], "auc");
    assert_eq!(versions[0].bundle_sha256, "b".repeat(64));

    let mut conn = raw(&dir.store_path());
    let update = conn.execute("UPDATE model_versions SET passed = 1 WHERE version = 2");
    assert!(update.expect_err("versions are immutable").contains("immutable"));
    let delete = conn.execute("DELETE FROM model_versions");
    assert!(delete.is_err(), "versions are never deleted");
    assert!(!store.model_version("churn", 2).expect("v2").passed);
}

fn registering_needs_a_known_run_and_a_clean_name(backend: Backend) {
    let (_dir, store) = temp_store(backend);
    let mut new = NewModelVersion {
        name: "churn".to_owned(),
        run_id: RunId::new("missing"),
        bundle_path: "b".to_owned(),
        bundle_sha256: "c".to_owned(),
        passed: true,
        verdict: serde_json::json!({}),
        actor: "ana".to_owned(),
    };
    assert!(matches!(store.register_model(&new), Err(Error::RunNotFound { .. })));
    new.run_id = finished_run(&store);
    new.name = "churn@champion".to_owned();
    assert!(matches!(store.register_model(&new), Err(Error::InvalidName { .. })));
    assert!(store.list_models().expect("list").is_empty());
}

fn promotion_is_gated_by_the_verdict_and_overrides_are_audited(backend: Backend) {
    let (_dir, store) = temp_store(backend);
    register(&store, "churn", true);
    register(&store, "churn", false);

    let first = store.promote(&promote("churn", 1, "champion", None)).expect("promote v1");
    assert_eq!((first.from_version, first.to_version, first.forced), (None, 1, false));

    let err = store.promote(&promote("churn", 2, "champion", None)).expect_err("gate");
    assert!(err.is_gate_refusal());
    assert!(err.to_string().contains("churn v2"), "{err}");
    assert!(matches!(store.promote(&promote("churn", 2, "champion", Some("  "))), Err(Error::MissingReason { .. })));
    assert_eq!(store.resolve_alias("churn", "champion").expect("alias").version, 1);

    let forced = store.promote(&promote("churn", 2, "champion", Some("hotfix for incident 42"))).expect("forced");
    assert!(forced.forced);
    assert_eq!(forced.reason.as_deref(), Some("hotfix for incident 42"));
    assert_eq!(store.resolve_alias("churn", "champion").expect("alias").version, 2);

    let overrides = store
        .audit_log(&AuditFilter { action: Some(AuditAction::ForcedOverride), ..AuditFilter::default() })
        .expect("audit");
    assert_eq!(overrides.len(), 1);
    assert_eq!(overrides[0].target, "churn@v2");
    assert_eq!(overrides[0].actor, "ana");
    assert_eq!(overrides[0].reason.as_deref(), Some("hotfix for incident 42"));
    assert_eq!(overrides[0].details["verdict"]["passed"], false);
    let promotions =
        store.audit_log(&AuditFilter { action: Some(AuditAction::Promote), ..AuditFilter::default() }).expect("audit");
    assert_eq!(promotions.len(), 2);

    assert!(matches!(
        store.promote(&promote("churn", 9, "champion", None)),
        Err(Error::VersionNotFound { version: 9, .. })
    ));
    assert!(matches!(store.promote(&promote("nope", 1, "champion", None)), Err(Error::ModelNotFound { .. })));
    assert!(matches!(store.promote(&promote("churn", 1, "v2", None)), Err(Error::InvalidName { .. })));
}

fn rollback_walks_back_and_history_keeps_every_move(backend: Backend) {
    let (_dir, store) = temp_store(backend);
    for _ in 0..3 {
        register(&store, "churn", true);
    }
    assert!(matches!(store.rollback("churn", "champion", "bo"), Err(Error::AliasNotFound { .. })));
    for version in 1..=3 {
        store.promote(&promote("churn", version, "champion", None)).expect("promote");
    }
    store.promote(&promote("churn", 1, "challenger", None)).expect("challenger");
    // Promoting the holder again changes nothing.
    let again = store.promote(&promote("churn", 3, "champion", None)).expect("no-op");
    assert_eq!(again.to_version, 3);

    let back = store.rollback("churn", "champion", "bo").expect("rollback");
    assert_eq!((back.from_version, back.to_version, back.action.as_str()), (Some(3), 2, "rollback"));
    assert_eq!(back.actor, "bo");
    let back = store.rollback("churn", "champion", "bo").expect("rollback");
    assert_eq!(back.to_version, 1);
    assert!(matches!(store.rollback("churn", "champion", "bo"), Err(Error::NothingToRollBack { .. })));
    assert_eq!(store.resolve_alias("churn", "champion").expect("alias").version, 1);
    assert_eq!(store.resolve_alias("churn", "challenger").expect("alias").version, 1);

    let champion = store.alias_history("churn", Some("champion")).expect("history");
    let moves: Vec<(Option<i64>, i64, &str)> =
        champion.iter().map(|m| (m.from_version, m.to_version, m.action.as_str())).collect();
    assert_eq!(
        moves,
        vec![
            (None, 1, "promote"),
            (Some(1), 2, "promote"),
            (Some(2), 3, "promote"),
            (Some(3), 2, "rollback"),
            (Some(2), 1, "rollback"),
        ]
    );
    assert!(champion.iter().all(|m| !m.at.is_empty()));
    assert_eq!(store.alias_history("churn", None).expect("all").len(), 6);
    let rollbacks =
        store.audit_log(&AuditFilter { action: Some(AuditAction::Rollback), ..AuditFilter::default() }).expect("audit");
    assert_eq!(rollbacks.len(), 2);
    assert_eq!(rollbacks[0].target, "churn@v1", "newest first");

    let models = store.list_models().expect("models");
    assert_eq!(models.len(), 1);
    assert_eq!((models[0].n_versions, models[0].latest_version), (3, 3));
    assert_eq!(models[0].aliases.get("champion"), Some(&1));
    assert_eq!(models[0].aliases.get("challenger"), Some(&1));
    let v1 = store.model_version("churn", 1).expect("v1");
    assert_eq!(v1.aliases, vec!["challenger".to_owned(), "champion".to_owned()]);
}

fn a_promotion_because_of_a_verdict_keeps_its_reason_and_figures(backend: Backend) {
    let (_dir, store) = temp_store(backend);
    let run = store.start_run(&crate::support::new_run("churn", &[], "d")).expect("start");
    let run_id = run.id().clone();
    run.finish(kiln_track::RunStatus::Finished).expect("finish");
    store
        .register_model(&kiln_track::NewModelVersion {
            name: "churn".to_owned(),
            run_id,
            bundle_path: "b.safetensors".to_owned(),
            bundle_sha256: "c".repeat(64),
            passed: true,
            verdict: serde_json::json!({ "passed": true }),
            actor: "ana".to_owned(),
        })
        .expect("register");
    let promotion = kiln_track::Promotion { name: "churn", version: 1, alias: "challenger", actor: "ana", force: None };
    let figures = serde_json::json!({ "roc_auc": { "lower": -0.002 } });
    let moved = store.promote_because(&promotion, Some(("retrain: passed", figures.clone()))).expect("promote");
    assert_eq!(
        (moved.alias.as_str(), moved.to_version, moved.reason.as_deref()),
        ("challenger", 1, Some("retrain: passed"))
    );
    let events = store.audit_log(&kiln_track::AuditFilter::default()).expect("audit");
    let promote = events.iter().find(|e| e.action == "promote").expect("a promote event");
    assert_eq!(promote.reason.as_deref(), Some("retrain: passed"));
    assert_eq!(promote.details["figures"], figures);
    assert!(store.verify_audit().expect("verify").ok);
}

on_both_backends!(
    versions_count_up_per_model_and_are_immutable,
    registering_needs_a_known_run_and_a_clean_name,
    promotion_is_gated_by_the_verdict_and_overrides_are_audited,
    rollback_walks_back_and_history_keeps_every_move,
    a_promotion_because_of_a_verdict_keeps_its_reason_and_figures,
);

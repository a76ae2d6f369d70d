//! Copying a store between backends: a store with runs, metrics (a NaN among them), artifacts,
//! models, aliases moved and rolled back, a rollout and its audit events goes SQLite →
//! PostgreSQL → SQLite row for row, hashes included; the copies answer every query as the
//! original does; a non-empty target is refused.

use kiln_track::{AuditFilter, Error, NewModelVersion, NewRollout, Promotion, RunFilter, RunStatus, Store};

use crate::support::{Backend, Fixture, new_run, postgres_available};

fn filled(store: &Store) {
    let mut versions = Vec::new();
    for (index, auc) in [0.81, 0.86, 0.9].into_iter().enumerate() {
        let run = store.start_run(&new_run("churn", &[("lr", &format!("0.{index}"))], "d1")).expect("start");
        run.log_metrics(&[("auc", 0, auc - 0.1), ("auc", 1, auc), ("loss", 0, f64::NAN)]).expect("metrics");
        store.record_artifact(run.id(), "bundle.safetensors", &"a".repeat(64), Some(1234)).expect("artifact");
        let id = run.id().clone();
        run.finish(RunStatus::Finished).expect("finish");
        let version = store
            .register_model(&NewModelVersion {
                name: "churn".to_owned(),
                run_id: id,
                bundle_path: format!("bundles/churn-{index}.safetensors"),
                bundle_sha256: "b".repeat(64),
                passed: true,
                verdict: serde_json::json!({ "passed": true }),
                actor: "ana".to_owned(),
            })
            .expect("register");
        versions.push(version.version);
    }
    let promote = |version| Promotion { name: "churn", version, alias: "champion", actor: "ana", force: None };
    store.promote(&promote(versions[0])).expect("promote");
    store.promote(&promote(versions[1])).expect("promote");
    store.rollback("churn", "champion", "bo").expect("rollback");
    store
        .start_rollout(&NewRollout {
            name: "churn",
            challenger_version: versions[2],
            plan: serde_json::json!({ "steps": [0.1, 0.5] }),
            actor: "ana",
            force: None,
        })
        .expect("rollout");
    let failed = store.start_run(&new_run("churn", &[], "d2")).expect("start");
    failed.fail("diverged").expect("fail");
}

fn same_answers(a: &Store, b: &Store) {
    let runs_a = a.list_runs(&RunFilter::default()).expect("list");
    let runs_b = b.list_runs(&RunFilter::default()).expect("list");
    assert_eq!(runs_a.len(), runs_b.len());
    assert!(runs_a.len() >= 4);
    for (x, y) in runs_a.iter().zip(&runs_b) {
        let (x, y) = (a.show_run(x.id.as_str()).expect("show"), b.show_run(y.id.as_str()).expect("show"));
        assert_eq!(format!("{x:?}"), format!("{y:?}"), "NaN-aware comparison through Debug");
    }
    let finished = runs_b.iter().filter(|run| run.status == RunStatus::Finished && run.name == "churn");
    assert!(finished.clone().count() >= 3);
    assert!(finished.into_iter().all(|run| run.metrics.get("loss").is_some_and(|v| v.is_nan())), "NaN kept");
    assert_eq!(a.model_versions("churn").expect("versions"), b.model_versions("churn").expect("versions"));
    assert_eq!(a.alias_history("churn", None).expect("history"), b.alias_history("churn", None).expect("history"));
    assert_eq!(a.rollouts("churn").expect("rollouts"), b.rollouts("churn").expect("rollouts"));
    assert_eq!(a.audit_log(&AuditFilter::default()).expect("log"), b.audit_log(&AuditFilter::default()).expect("log"));
}

#[test]
fn a_store_goes_to_postgres_and_back_row_for_row() {
    if !postgres_available() {
        return;
    }
    let source_place = Fixture::new(Backend::Sqlite);
    let source = source_place.open();
    filled(&source);
    let pg_place = Fixture::new(Backend::Postgres);
    let pg = pg_place.open();
    let report = source.copy_into(&pg).expect("copy to PostgreSQL");
    assert_eq!(report.audit_events, source.verify_audit().expect("verify").n_events);
    assert_eq!(report.audit_head_hash, source.verify_audit().expect("verify").head_hash);
    let rows = |table: &str| report.tables.iter().find(|count| count.table == table).expect("table").rows;
    assert_eq!((rows("runs"), rows("model_versions"), rows("alias_history"), rows("rollouts")), (4, 3, 3, 1));
    same_answers(&source, &pg);

    // Generated keys go on past the copied ones.
    let next = pg.start_run(&new_run("next", &[], "d3")).expect("a new run after the copy");
    next.finish(RunStatus::Finished).expect("finish");
    let back_place = Fixture::new(Backend::Sqlite);
    let back = back_place.open();
    let report = pg.copy_into(&back).expect("copy back to SQLite");
    assert!(back.verify_audit().expect("verify").ok);
    assert_eq!(report.tables.iter().find(|c| c.table == "runs").expect("runs").rows, 5);
    same_answers(&pg, &back);

    let err = source.copy_into(&pg).expect_err("not empty");
    assert!(matches!(&err, Error::TargetNotEmpty { .. }), "{err:?}");
}

#[test]
fn a_non_empty_sqlite_target_is_refused() {
    let a = Fixture::new(Backend::Sqlite);
    let b = Fixture::new(Backend::Sqlite);
    let (source, target) = (a.open(), b.open());
    filled(&source);
    target.start_run(&new_run("x", &[], "d")).expect("start").finish(RunStatus::Finished).expect("finish");
    let err = source.copy_into(&target).expect_err("not empty");
    assert!(err.to_string().contains("1 rows in runs"), "{err}");
    let report = target.copy_into(&Fixture::new(Backend::Sqlite).open()).expect("into an empty one");
    assert_eq!(report.tables[0].rows, 1);
}

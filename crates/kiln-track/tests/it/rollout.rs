//! Gradual rollouts on a real store: start in shadow, step through the canary, promote (the
//! champion alias moves in the same transaction) or roll back (it stays); compare-and-set
//! refuses a move from a stale read, including one from a second store handle; one active
//! rollout per model; every move audited with its reason and figures, the chain valid.

use kiln_track::{
    AuditAction, AuditFilter, Error, NewModelVersion, NewRollout, Promotion, RolloutMove, RolloutPhase, RunStatus,
    Store,
};
use serde_json::json;

use crate::support::{Backend, new_run, on_both_backends, temp_store};

fn register(store: &Store, passed: bool) -> i64 {
    let run = store.start_run(&new_run("adult", &[], "d1")).expect("start");
    let run_id = run.id().clone();
    run.finish(RunStatus::Finished).expect("finish");
    let new = NewModelVersion {
        name: "adult".to_owned(),
        run_id,
        bundle_path: "bundles/adult.safetensors".to_owned(),
        bundle_sha256: "b".repeat(64),
        passed,
        verdict: json!({ "passed": passed }),
        actor: "ana".to_owned(),
    };
    store.register_model(&new).expect("register").version
}

/// v1 champion, v2 challenger.
fn champion_and_challenger(store: &Store) -> (i64, i64) {
    let v1 = register(store, true);
    let v2 = register(store, true);
    let promotion = Promotion { name: "adult", version: v1, alias: "champion", actor: "ana", force: None };
    store.promote(&promotion).expect("promote");
    (v1, v2)
}

fn start(store: &Store, version: i64) -> Result<kiln_track::Rollout, Error> {
    let plan = json!({ "steps": [10, 50, 100] });
    store.start_rollout(&NewRollout { name: "adult", challenger_version: version, plan, actor: "ctl", force: None })
}

fn step<'a>(id: i64, from: (RolloutPhase, i64), to: (RolloutPhase, i64, f64), reason: &'a str) -> RolloutMove<'a> {
    RolloutMove {
        id,
        from_phase: from.0,
        from_step: from.1,
        to_phase: to.0,
        step: to.1,
        share: to.2,
        reason,
        figures: json!({ "requests": 250, "error_rate": 0.0 }),
        actor: "ctl",
    }
}

/// The rollout actions of the audit log, oldest first.
fn actions(store: &Store) -> Vec<String> {
    let mut events = store.audit_log(&AuditFilter::default()).expect("audit");
    events.reverse();
    events.into_iter().map(|e| e.action).filter(|a| a.starts_with("rollout_")).collect()
}

fn a_rollout_steps_through_the_canary_and_promotion_moves_the_champion(backend: Backend) {
    let (_dir, store) = temp_store(backend);
    let (v1, v2) = champion_and_challenger(&store);
    let started = start(&store, v2).expect("start");
    assert_eq!((started.phase, started.step, started.share), (RolloutPhase::Shadow, 0, 0.0));
    assert_eq!((started.champion_version, started.challenger_version), (v1, v2));
    assert_eq!(store.active_rollout("adult").expect("active").map(|r| r.id), Some(started.id));
    let id = started.id;

    let canary =
        store.advance_rollout(&step(id, (RolloutPhase::Shadow, 0), (RolloutPhase::Canary, 1, 0.1), "shadow ok"));
    let canary = canary.expect("to canary");
    assert_eq!((canary.phase, canary.step, canary.share), (RolloutPhase::Canary, 1, 0.1));
    assert_eq!(canary.figures["requests"], 250);
    let half = step(id, (RolloutPhase::Canary, 1), (RolloutPhase::Canary, 2, 0.5), "10 % ok");
    store.advance_rollout(&half).expect("to 50 %");
    // the champion has not moved yet
    assert_eq!(store.resolve_alias("adult", "champion").expect("alias").version, v1);

    let done = store
        .finish_rollout(&step(id, (RolloutPhase::Canary, 2), (RolloutPhase::Promoted, 0, 0.0), "every step passed"))
        .expect("promote");
    assert_eq!((done.phase, done.share), (RolloutPhase::Promoted, 1.0));
    assert!(done.ended_ms.is_some());
    assert_eq!(store.resolve_alias("adult", "champion").expect("alias").version, v2);
    assert_eq!(store.active_rollout("adult").expect("active"), None);
    let last_move = store.alias_history("adult", Some("champion")).expect("history").pop().expect("a move");
    assert_eq!((last_move.from_version, last_move.to_version), (Some(v1), v2));
    assert_eq!(last_move.reason.as_deref(), Some("every step passed"));

    // a finished rollout moves no more
    let again = store.finish_rollout(&step(id, (RolloutPhase::Canary, 2), (RolloutPhase::RolledBack, 0, 0.0), "late"));
    assert!(matches!(again, Err(Error::RolloutMoved { found_phase, .. }) if found_phase == "promoted"));

    assert_eq!(actions(&store), ["rollout_start", "rollout_step", "rollout_step", "rollout_promote"]);
    let promote =
        &store.audit_log(&AuditFilter { action: Some(AuditAction::RolloutPromote), ..AuditFilter::default() });
    let promote = &promote.as_ref().expect("audit")[0];
    assert_eq!(promote.target, format!("adult@v{v2}"));
    assert_eq!(promote.reason.as_deref(), Some("every step passed"));
    assert_eq!(
        (promote.details["from_version"].as_i64(), promote.details["to_version"].as_i64()),
        (Some(v1), Some(v2))
    );
    assert_eq!(promote.details["figures"]["error_rate"], 0.0);
    let report = store.verify_audit().expect("verify");
    assert!(report.ok, "{report:?}");
}

fn a_rollback_leaves_the_champion_and_a_new_rollout_may_start(backend: Backend) {
    let (_dir, store) = temp_store(backend);
    let (v1, v2) = champion_and_challenger(&store);
    let id = start(&store, v2).expect("start").id;
    store
        .advance_rollout(&step(id, (RolloutPhase::Shadow, 0), (RolloutPhase::Canary, 1, 0.1), "shadow ok"))
        .expect("canary");
    let back = store
        .finish_rollout(&step(id, (RolloutPhase::Canary, 1), (RolloutPhase::RolledBack, 0, 0.0), "error rate 0.4"))
        .expect("roll back");
    assert_eq!(
        (back.phase, back.share, back.reason.as_deref()),
        (RolloutPhase::RolledBack, 0.0, Some("error rate 0.4"))
    );
    assert_eq!(store.resolve_alias("adult", "champion").expect("alias").version, v1);
    let second = start(&store, v2).expect("a second rollout after the first ended");
    assert_ne!(second.id, id);
    let aborted = store
        .finish_rollout(&step(second.id, (RolloutPhase::Shadow, 0), (RolloutPhase::Aborted, 0, 0.0), "operator"))
        .expect("abort");
    assert_eq!(aborted.phase, RolloutPhase::Aborted);
    let all = store.rollouts("adult").expect("list");
    assert_eq!(all.iter().map(|r| r.phase).collect::<Vec<_>>(), [RolloutPhase::RolledBack, RolloutPhase::Aborted]);
    assert_eq!(
        actions(&store),
        ["rollout_start", "rollout_step", "rollout_rollback", "rollout_start", "rollout_rollback"]
    );
    assert!(store.verify_audit().expect("verify").ok);
}

fn compare_and_set_refuses_a_stale_move_from_another_handle(backend: Backend) {
    let (dir, store) = temp_store(backend);
    let (_, v2) = champion_and_challenger(&store);
    let id = start(&store, v2).expect("start").id;
    let other = Store::open(&dir.store_path()).expect("second handle");
    // both read shadow step 0; the other handle moves first
    let to_canary = step(id, (RolloutPhase::Shadow, 0), (RolloutPhase::Canary, 1, 0.1), "shadow ok");
    other.advance_rollout(&to_canary).expect("first move");
    let stale = store.advance_rollout(&to_canary);
    assert!(
        matches!(&stale, Err(Error::RolloutMoved { expected_phase, found_phase, found_step: 1, .. })
            if expected_phase == "shadow" && found_phase == "canary"),
        "{stale:?}"
    );
    let stale_finish =
        store.finish_rollout(&step(id, (RolloutPhase::Shadow, 0), (RolloutPhase::Promoted, 0, 0.0), "stale"));
    assert!(matches!(stale_finish, Err(Error::RolloutMoved { .. })));
    // the refused moves wrote nothing: one step event, the champion unmoved
    assert_eq!(actions(&store), ["rollout_start", "rollout_step"]);
    assert_eq!(store.resolve_alias("adult", "champion").expect("alias").version, 1);
    assert!(store.verify_audit().expect("verify").ok);
}

fn bad_rollouts_are_refused_with_what_to_do(backend: Backend) {
    let (_dir, store) = temp_store(backend);
    let (v1, v2) = champion_and_challenger(&store);
    let failed = register(&store, false);
    assert!(matches!(start(&store, v1), Err(Error::InvalidRollout { .. })));
    assert!(matches!(start(&store, 99), Err(Error::VersionNotFound { version: 99, .. })));
    assert!(matches!(start(&store, failed), Err(Error::GateNotPassed { .. })));
    let id = start(&store, v2).expect("start").id;
    let busy = start(&store, v2).expect_err("one active rollout");
    assert!(matches!(busy, Error::RolloutActive { id: active, .. } if active == id));
    assert!(busy.to_string().contains("kiln rollout abort adult"), "{busy}");
    // backwards, a share above 1, no reason
    let backwards = step(id, (RolloutPhase::Shadow, 0), (RolloutPhase::Shadow, 0, 0.0), "again");
    assert!(matches!(store.advance_rollout(&backwards), Err(Error::InvalidRollout { .. })));
    let too_much = step(id, (RolloutPhase::Shadow, 0), (RolloutPhase::Canary, 1, 1.5), "more");
    assert!(matches!(store.advance_rollout(&too_much), Err(Error::InvalidRollout { .. })));
    let silent = step(id, (RolloutPhase::Shadow, 0), (RolloutPhase::Canary, 1, 0.1), " ");
    assert!(matches!(store.advance_rollout(&silent), Err(Error::InvalidRollout { .. })));
    let not_an_end = step(id, (RolloutPhase::Shadow, 0), (RolloutPhase::Canary, 1, 0.1), "x");
    assert!(matches!(store.finish_rollout(&not_an_end), Err(Error::InvalidRollout { .. })));
    assert!(matches!(store.rollout(id + 40), Err(Error::RolloutNotFound { .. })));
    assert_eq!(store.rollout(id).expect("read").phase, RolloutPhase::Shadow);
    // a forced start of the version that failed its gate, once this rollout is aborted
    let abort = step(id, (RolloutPhase::Shadow, 0), (RolloutPhase::Aborted, 0, 0.0), "make way");
    store.finish_rollout(&abort).expect("abort");
    let forced =
        NewRollout { name: "adult", challenger_version: failed, plan: json!({}), actor: "ana", force: Some("drill") };
    assert_eq!(store.start_rollout(&forced).expect("forced").challenger_version, failed);
    let overrides =
        store.audit_log(&AuditFilter { action: Some(AuditAction::ForcedOverride), ..AuditFilter::default() });
    assert_eq!(overrides.expect("audit").len(), 1);
    assert!(store.verify_audit().expect("verify").ok);
}

on_both_backends!(
    a_rollout_steps_through_the_canary_and_promotion_moves_the_champion,
    a_rollback_leaves_the_champion_and_a_new_rollout_may_start,
    compare_and_set_refuses_a_stale_move_from_another_handle,
    bad_rollouts_are_refused_with_what_to_do,
);

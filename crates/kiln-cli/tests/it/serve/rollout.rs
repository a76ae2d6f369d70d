//! Rollout over real HTTP: a traffic split kept sticky by a header, a shadow whose outputs go
//! to the prediction log and never to the client, a canary whose share grows in steps, and
//! the registry's rollout (`kiln rollout`) followed as another store handle moves it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kiln_serve::config::{Canary, ModelSettings, RouteSettings, Sticky};
use kiln_serve::source::Source;
use serde_json::Value;

use super::{adult_test_rows, client, instances, logged_rows, loopback, runtime};
use crate::kiln_at;
use crate::predict::{adult_config, adult_rules};

/// Register three versions of `adult` with `kiln train`: GBDTs of 5 and 8 rounds, the rules.
fn register(dir: &std::path::Path) -> (String, std::path::PathBuf) {
    let store = dir.join("kiln.db").display().to_string();
    let mut config = None;
    for (name, model) in [
        ("g5", "[[models]]\nkind = \"gbdt\"\nnum_iterations = 5\n".to_string()),
        ("g8", "[[models]]\nkind = \"gbdt\"\nnum_iterations = 8\n".to_string()),
        ("rules", adult_rules()),
    ] {
        let path = adult_config(dir, name, &model, "");
        let bundle = dir.join(format!("{name}.safetensors")).display().to_string();
        let (code, _, err) = kiln_at(&store, &["-q", "train", &path.display().to_string(), "--out", &bundle]);
        assert_eq!(code, 0, "{err}");
        config = Some(path);
    }
    (store, config.expect("config"))
}

fn version(v: i64) -> Source {
    Source::Version { name: "adult".into(), version: v }
}

#[test]
fn a_sticky_split_keeps_users_on_one_version_and_the_shadow_is_only_logged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, config) = register(dir.path());
    let rows = adult_test_rows(&config);
    let mut model = ModelSettings::single("adult".into(), version(1));
    model.routes.push(RouteSettings { source: version(2), weight: 1.0 });
    model.sticky = Some(Sticky::Header("x-user-id".into()));
    model.shadow = Some(version(3));
    let mut serve = loopback(vec![model]);
    serve.store = store.into();
    let log_dir = dir.path().join("log");
    serve.log = Some(kiln_serve::predlog::LogSettings::new(log_dir.clone()));
    let rt = runtime();
    let _in_runtime = rt.enter();
    let server = rt.block_on(kiln_serve::start(serve)).expect("server");
    let url = format!("http://{}/v1/models/adult:predict", server.addr());
    let client = client();
    let mut seen: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for round in 0..2 {
        for user in 0..20 {
            let body = instances(&rows, user * 2..user * 2 + 2);
            let request = client.post(&url).header("x-user-id", format!("user-{user}")).json(&body).send();
            let answer: Value = rt.block_on(rt.block_on(request).expect("send").json()).expect("json");
            assert_eq!(answer["route"], "primary", "round {round}: {answer}");
            seen.entry(format!("user-{user}")).or_default().push(answer["version"].as_i64().expect("version"));
        }
    }
    assert!(seen.values().all(|v| v[0] == v[1]), "a user changed version: {seen:?}");
    let versions: std::collections::BTreeSet<i64> = seen.values().map(|v| v[0]).collect();
    assert_eq!(versions.into_iter().collect::<Vec<_>>(), [1, 2], "{seen:?}");
    rt.block_on(server.shutdown()).expect("shutdown");
    // 40 requests of 2 rows answered, and the same rows scored by the shadow (version 3)
    let logged = logged_rows(&log_dir);
    let count = |route: &str, version: Option<i64>| {
        logged.iter().filter(|r| r.route == route && version.is_none_or(|v| r.version == v)).count()
    };
    assert_eq!(count("primary", None), 80);
    assert_eq!(count("shadow", Some(3)), 80);
    assert_eq!(logged.len(), 160);
}

#[test]
fn a_split_sticky_by_a_column_keeps_each_value_on_one_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, config) = register(dir.path());
    let rows = adult_test_rows(&config);
    let mut model = ModelSettings::single("adult".into(), version(1));
    model.routes.push(RouteSettings { source: version(2), weight: 1.0 });
    model.sticky = Some(Sticky::Column("fnlwgt".into()));
    let mut serve = loopback(vec![model]);
    serve.store = store.into();
    let rt = runtime();
    let _in_runtime = rt.enter();
    let server = rt.block_on(kiln_serve::start(serve)).expect("server");
    let url = format!("http://{}/v1/models/adult:predict", server.addr());
    let client = client();
    let mut seen: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
    for _ in 0..2 {
        for row in 0..30 {
            let (status, answer, _) = rt.block_on(super::post(&client, &url, &instances(&rows, row..row + 1)));
            assert_eq!(status, 200, "{answer}");
            seen.entry(row).or_default().push(answer["version"].as_i64().expect("version"));
        }
    }
    assert!(seen.values().all(|v| v[0] == v[1]), "a value changed version: {seen:?}");
    let versions: std::collections::BTreeSet<i64> = seen.values().map(|v| v[0]).collect();
    assert_eq!(versions.len(), 2, "{seen:?}");
    rt.block_on(server.shutdown()).expect("shutdown");
}

#[test]
fn a_canary_takes_its_share_in_steps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, config) = register(dir.path());
    let rows = adult_test_rows(&config);
    let mut model = ModelSettings::single("adult".into(), version(1));
    model.canary = Some(Canary { source: version(2), steps: vec![0.0, 100.0], step_seconds: 3.0 });
    let mut serve = loopback(vec![model]);
    serve.store = store.into();
    let rt = runtime();
    let _in_runtime = rt.enter();
    let started = Instant::now();
    let server = rt.block_on(kiln_serve::start(serve)).expect("server");
    let url = format!("http://{}/v1/models/adult:predict", server.addr());
    let client = client();
    let ask = || -> (i64, String) {
        let answer: Value = rt
            .block_on(rt.block_on(client.post(&url).json(&instances(&rows, 0..1)).send()).expect("send").json())
            .expect("json");
        (answer["version"].as_i64().expect("version"), answer["route"].as_str().expect("route").to_owned())
    };
    // step 0: the canary has 0 %
    assert!(started.elapsed() < Duration::from_secs(3), "the server took too long to start for this test");
    for _ in 0..10 {
        assert_eq!(ask(), (1, "primary".into()));
    }
    // step 1 (from 3 s): 100 %
    std::thread::sleep(Duration::from_secs(3).saturating_sub(started.elapsed()) + Duration::from_millis(200));
    for _ in 0..10 {
        assert_eq!(ask(), (2, "canary".into()));
    }
    rt.block_on(server.shutdown()).expect("shutdown");
}

/// The routes of `adult` as the server lists them: (role, version).
fn routes(rt: &tokio::runtime::Runtime, client: &reqwest::Client, base: &str) -> Vec<(String, i64)> {
    let (_, metadata) = rt.block_on(super::get(client, &format!("{base}/v2/models/adult")));
    let metadata: Value = serde_json::from_str(&metadata).expect("json");
    let routes = metadata["parameters"]["routes"].as_array().expect("routes").iter();
    routes.map(|r| (r["role"].as_str().expect("role").to_owned(), r["version"].as_i64().expect("version"))).collect()
}

#[test]
fn the_server_follows_a_rollout_moved_from_another_store_handle() {
    use kiln_track::{NewRollout, RolloutMove, RolloutPhase, Store};
    let dir = tempfile::tempdir().expect("tempdir");
    let (store_path, config) = register(dir.path());
    let args = ["-q", "models", "promote", "adult", "1", "--force", "--reason", "serving test"];
    let (code, _, err) = kiln_at(&store_path, &args);
    assert_eq!(code, 0, "{err}");
    let rows = adult_test_rows(&config);
    let mut model =
        ModelSettings::single("adult".into(), Source::Alias { name: "adult".into(), alias: "champion".into() });
    model.sticky = Some(Sticky::Header("x-user-id".into()));
    let mut serve = loopback(vec![model]);
    serve.store = store_path.clone().into();
    // a long poll: every move below is picked up by POST /admin/reload, so nothing waits on time
    serve.poll_ms = 600_000;
    let log_dir = dir.path().join("log");
    serve.log = Some(kiln_serve::predlog::LogSettings::new(log_dir.clone()));
    let rt = runtime();
    let _in_runtime = rt.enter();
    let server = rt.block_on(kiln_serve::start(serve)).expect("server");
    let base = format!("http://{}", server.addr());
    let client = client();
    let reload = || {
        let response = rt.block_on(client.post(format!("{base}/admin/reload")).send()).expect("reload");
        assert_eq!(response.status().as_u16(), 200);
    };
    let ask = |user: usize| -> (i64, String) {
        let request =
            client.post(format!("{base}/v1/models/adult:predict")).header("x-user-id", format!("user-{user}"));
        let answer: Value = rt
            .block_on(rt.block_on(request.json(&instances(&rows, user..user + 1)).send()).expect("send").json())
            .expect("json");
        (answer["version"].as_i64().expect("version"), answer["route"].as_str().expect("route").to_owned())
    };

    // the controller's own handle on the store, as another process would hold it
    let store = Store::open(std::path::Path::new(&store_path)).expect("store");
    let plan = serde_json::json!({ "steps": [50, 100] });
    let started = NewRollout { name: "adult", challenger_version: 2, plan, actor: "test", force: Some("serving test") };
    let id = store.start_rollout(&started).expect("start").id;
    reload();
    assert_eq!(routes(&rt, &client, &base), [("primary".into(), 1), ("shadow".into(), 2)]);
    for user in 0..10 {
        assert_eq!(ask(user), (1, "primary".into()), "in shadow only the champion answers");
    }
    let moved = |from: (RolloutPhase, i64), to: (RolloutPhase, i64, f64)| RolloutMove {
        id,
        from_phase: from.0,
        from_step: from.1,
        to_phase: to.0,
        step: to.1,
        share: to.2,
        reason: "test",
        figures: serde_json::json!({}),
        actor: "test",
    };
    store.advance_rollout(&moved((RolloutPhase::Shadow, 0), (RolloutPhase::Canary, 1, 0.5))).expect("canary");
    reload();
    assert_eq!(routes(&rt, &client, &base), [("primary".into(), 1), ("canary".into(), 2)]);
    let first: Vec<(i64, String)> = (0..40).map(ask).collect();
    let on_canary = first.iter().filter(|(v, r)| (*v, r.as_str()) == (2, "canary")).count();
    assert!((5..=35).contains(&on_canary), "half the users or so on the canary: {first:?}");
    assert!(first.iter().all(|a| *a == (2, "canary".into()) || *a == (1, "primary".into())), "{first:?}");
    store.advance_rollout(&moved((RolloutPhase::Canary, 1), (RolloutPhase::Canary, 2, 1.0))).expect("100 %");
    reload();
    let second: Vec<(i64, String)> = (0..40).map(ask).collect();
    assert!(second.iter().all(|a| *a == (2, "canary".into())), "{second:?}");

    // promotion: the alias moves, the primary serves v2, the rollout's route is gone
    store.finish_rollout(&moved((RolloutPhase::Canary, 2), (RolloutPhase::Promoted, 2, 1.0))).expect("promote");
    reload();
    assert_eq!(routes(&rt, &client, &base), [("primary".into(), 2)]);
    assert_eq!(ask(0), (2, "primary".into()));

    // a second rollout, rolled back: its route is dropped, v2 serves on
    let again = NewRollout {
        name: "adult",
        challenger_version: 3,
        plan: serde_json::json!({}),
        actor: "test",
        force: Some("drill"),
    };
    let id = store.start_rollout(&again).expect("start").id;
    reload();
    assert_eq!(routes(&rt, &client, &base), [("primary".into(), 2), ("shadow".into(), 3)]);
    let back = RolloutMove { id, ..moved((RolloutPhase::Shadow, 0), (RolloutPhase::RolledBack, 0, 0.0)) };
    store.finish_rollout(&back).expect("roll back");
    reload();
    assert_eq!(routes(&rt, &client, &base), [("primary".into(), 2)]);
    let (_, metrics) = rt.block_on(super::get(&client, &format!("{base}/metrics")));
    let outcome = |route: &str, version: i64| {
        let prefix = format!(
            "kiln_serve_route_outcomes_total{{model=\"adult\",source=\"adult@v{version}\",version=\"{version}\",route=\"{route}\",outcome=\"ok\"}}"
        );
        super::metric(&metrics, &prefix)
    };
    assert_eq!(outcome("canary", 2), Some((on_canary + 40) as f64), "{metrics}");
    rt.block_on(server.shutdown()).expect("shutdown");
    let logged = logged_rows(&log_dir);
    let count = |route: &str, version: i64| logged.iter().filter(|r| r.route == route && r.version == version).count();
    // each request had one row: 10 in shadow (copied to v2), 40 at 50 %, 40 at 100 %, 1 after
    assert_eq!(count("shadow", 2), 10);
    assert_eq!(count("canary", 2), on_canary + 40);
    assert_eq!(count("primary", 1), 10 + 40 - on_canary);
    assert_eq!(count("primary", 2), 1);
}

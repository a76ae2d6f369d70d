//! Models served from the registry: an alias moved by `kiln models promote` or `rollback` is
//! followed within the poll interval without a restart and without failing requests in
//! flight; a version whose bundle fails its SHA-256 check leaves the old one serving; the
//! run's rules baseline is the fallback.

use std::time::{Duration, Instant};

use kiln_serve::source::Source;
use serde_json::Value;

use super::{adult_test_rows, client, get, instances, loopback, metric, post, runtime};
use crate::kiln_at;
use crate::predict::{adult_config, adult_rules};

const EVALUATION: &str = "[evaluation]\nci = { method = \"bootstrap\", replicates = 20 }\n";

/// `kiln run` with rules and a GBDT of `rounds` rounds (the rules are the fallback of the
/// chosen model); the registered version.
pub(super) fn run(store: &str, dir: &std::path::Path, rounds: u32) -> i64 {
    let models =
        format!("{}\n[[models]]\nkind = \"gbdt\"\nname = \"gbdt\"\nnum_iterations = {rounds}\n", adult_rules());
    let config = adult_config(dir, &format!("run{rounds}"), &models, EVALUATION);
    let bundle = dir.join(format!("gbdt{rounds}.safetensors")).display().to_string();
    let report = dir.join(format!("report{rounds}")).display().to_string();
    let args = ["-q", "run", &config.display().to_string(), "--bundle", &bundle, "--out", &report];
    let (code, _, err) = kiln_at(store, &args);
    assert_eq!(code, 0, "{err}");
    let (code, models, err) = kiln_at(store, &["models", "list", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let models: Value = serde_json::from_str(&models).expect("json");
    let adult = models.as_array().and_then(|m| m.iter().find(|m| m["name"] == "adult")).expect("adult registered");
    adult["latest_version"].as_i64().expect("version")
}

pub(super) fn promote(store: &str, version: i64) {
    let args = ["-q", "models", "promote", "adult", &version.to_string(), "--force", "--reason", "serving test"];
    let (code, _, err) = kiln_at(store, &args);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn the_server_follows_alias_moves_refuses_a_changed_bundle_and_falls_back_to_the_runs_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let v1 = run(&store, dir.path(), 10);
    promote(&store, v1);
    let mut model = kiln_serve::config::ModelSettings::single(
        "adult".into(),
        Source::Alias { name: "adult".into(), alias: "champion".into() },
    );
    model.breaker.min_requests = 1;
    let mut config = loopback(vec![model]);
    config.store = store.clone().into();
    config.poll_ms = 100;
    let rt = runtime();
    let _in_runtime = rt.enter();
    let server = rt.block_on(kiln_serve::start(config)).expect("server");
    let base = format!("http://{}", server.addr());
    let client = client();
    let rows = adult_test_rows(&adult_config(dir.path(), "rows", &adult_rules(), ""));
    let body = instances(&rows, 0..3);
    let version = || {
        let (status, answer, _) = rt.block_on(post(&client, &format!("{base}/v1/models/adult:predict"), &body));
        assert_eq!(status, 200, "{answer}");
        answer["version"].as_i64().expect("version")
    };
    assert_eq!(version(), v1);
    let (_, metadata) = rt.block_on(get(&client, &format!("{base}/v2/models/adult")));
    let metadata: Value = serde_json::from_str(&metadata).expect("json");
    let routes = metadata["parameters"]["routes"].as_array().expect("routes");
    assert_eq!(routes[0]["source"], "adult@champion");
    assert_eq!((&routes[1]["role"], &routes[1]["kind"]), (&"fallback".into(), &"rules".into()), "{metadata}");

    // promote a second version while requests are in flight: none fails, and the new one
    // answers within the poll interval (100 ms) plus its load time
    let v2 = run(&store, dir.path(), 12);
    let moved = Instant::now();
    promote(&store, v2);
    let seen = wait_for(&version, v2);
    assert!(moved.elapsed() < Duration::from_secs(5), "{:?}", moved.elapsed());
    assert_eq!(seen, v2);
    let (_, text) = rt.block_on(get(&client, &format!("{base}/metrics")));
    assert_eq!(
        metric(&text, "kiln_serve_reloads_total{model=\"adult\",source=\"adult@champion\",outcome=\"loaded\"}"),
        Some(1.0)
    );

    // roll back: v1 again
    let (code, _, err) = kiln_at(&store, &["-q", "models", "rollback", "adult"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(wait_for(&version, v1), v1);

    // a version whose bundle changed after it was registered: refused, v1 serves on
    let v3 = run(&store, dir.path(), 14);
    let bundle = dir.path().join("gbdt14.safetensors");
    let mut bytes = std::fs::read(&bundle).expect("bundle");
    bytes.push(b' ');
    std::fs::write(&bundle, bytes).expect("write");
    promote(&store, v3);
    let failed = "kiln_serve_reloads_total{model=\"adult\",source=\"adult@champion\",outcome=\"failed\"}";
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while Instant::now() < deadline && metric(&text, failed).is_none() {
        std::thread::sleep(Duration::from_millis(50));
        text = rt.block_on(get(&client, &format!("{base}/metrics"))).1;
    }
    assert_eq!(metric(&text, failed), Some(1.0), "{text}");
    assert_eq!(version(), v1);
    rt.block_on(server.shutdown()).expect("shutdown");
}

/// Ask for the serving version until it is `expected` (at most 10 s, every 20 ms); the last
/// version seen.
fn wait_for(version: &dyn Fn() -> i64, expected: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = version();
    while seen != expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        seen = version();
    }
    seen
}

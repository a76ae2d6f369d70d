//! `kiln rollout` against a real server following the registry, with Adult bundles trained by
//! `kiln run`: a healthy challenger goes shadow → canary steps → champion, a controller that
//! stopped is picked up at the recorded step by the next one, and a broken challenger (faults
//! injected into its version only) is rolled back from shadow and from canary while the
//! champion answers every request; a controller killed (as `kill -9` would) before or after a
//! move leaves the rollout where the store says. The audit chain verifies after each.

use std::path::Path;
use std::time::{Duration, Instant};

use kiln_serve::config::{ModelSettings, Sticky};
use kiln_serve::source::Source;
use serde_json::{Value, json};

use super::registry::run;
use super::{adult_test_rows, client, get, instances, logged_rows, loopback, metric, runtime};
use crate::kiln_at;
use crate::predict::{adult_config, adult_rules};

/// A config whose `[rollout]` plan has small minimums: 20 shadowed requests, then 50 % and
/// 100 % with 20 requests each. Latency and the metric are given wide limits: on a shared
/// test machine the shadow's latency is noise, and the decisions on them are unit-tested.
fn rollout_config(dir: &Path) -> String {
    let plan = "[rollout]\nshadow_requests = 20\nsteps = [50, 100]\nmin_requests = 20\n\
                max_latency_ratio = 100.0\nmax_metric_drop = 0.5\ninterval = \"100ms\"\nstep_timeout = \"10m\"\n";
    adult_config(dir, "rollout", &adult_rules(), plan).display().to_string()
}

/// The store with v1 (`champion`) and v2 (`challenger`), and the rollout config.
fn champion_and_challenger(dir: &Path) -> (String, String) {
    let store = dir.join("kiln.db").display().to_string();
    let v1 = run(&store, dir, 10);
    let v2 = run(&store, dir, 12);
    assert_eq!((v1, v2), (1, 2));
    for (version, alias) in [("1", "champion"), ("2", "challenger")] {
        let args = ["-q", "models", "promote", "adult", version, "--alias", alias, "--force", "--reason", "test"];
        let (code, _, err) = kiln_at(&store, &args);
        assert_eq!(code, 0, "{err}");
    }
    (store, rollout_config(dir))
}

/// A server following `adult@champion` with a prediction log flushed row by row.
struct Serving {
    rt: tokio::runtime::Runtime,
    server: Option<kiln_serve::Server>,
    base: String,
    client: reqwest::Client,
    rows: kiln_core::columns::Batch,
    log: std::path::PathBuf,
}

impl Serving {
    fn start(dir: &Path, store: &str, config: &str, poll_ms: u64) -> Self {
        let source = Source::Alias { name: "adult".into(), alias: "champion".into() };
        let mut model = ModelSettings::single("adult".into(), source);
        model.sticky = Some(Sticky::Header("x-user-id".into()));
        let mut serve = loopback(vec![model]);
        serve.store = store.into();
        serve.poll_ms = poll_ms;
        let log = dir.join("log");
        let mut settings = kiln_serve::predlog::LogSettings::new(log.clone());
        (settings.flush_rows, settings.flush_interval_ms) = (1, 20);
        serve.log = Some(settings);
        let rt = runtime();
        let server = rt.block_on(kiln_serve::start(serve)).expect("server");
        let base = format!("http://{}", server.addr());
        let rows = adult_test_rows(Path::new(config));
        Self { rt, server: Some(server), base, client: client(), rows, log }
    }

    /// Ask as user `user` (two rows); (version, route). Every answer is a 200.
    fn ask(&self, user: usize) -> (i64, String) {
        let _in_runtime = self.rt.enter();
        let request = self.client.post(format!("{}/v1/models/adult:predict", self.base));
        let request = request.header("x-user-id", format!("user-{user}")).json(&instances(&self.rows, user..user + 2));
        let response = self.rt.block_on(request.send()).expect("send");
        assert_eq!(response.status().as_u16(), 200, "the champion (or its fallback) answers every request");
        let answer: Value = self.rt.block_on(response.json()).expect("json");
        (answer["version"].as_i64().expect("version"), answer["route"].as_str().expect("route").to_owned())
    }

    fn reload(&self) {
        let _in_runtime = self.rt.enter();
        let response =
            self.rt.block_on(self.client.post(format!("{}/admin/reload", self.base)).send()).expect("reload");
        assert_eq!(response.status().as_u16(), 200);
    }

    fn faults(&self, settings: Value) {
        let _in_runtime = self.rt.enter();
        let url = format!("{}/admin/models/adult/faults", self.base);
        let response = self.rt.block_on(self.client.put(url).json(&settings).send()).expect("faults");
        assert_eq!(response.status().as_u16(), 200);
    }

    fn metrics(&self) -> String {
        let _in_runtime = self.rt.enter();
        self.rt.block_on(get(&self.client, &format!("{}/metrics", self.base))).1
    }

    /// The challenger's scoring calls on `route` with `outcome`, as counted by the server.
    fn outcomes(&self, route: &str, outcome: &str) -> f64 {
        let series = format!(
            "kiln_serve_route_outcomes_total{{model=\"adult\",source=\"adult@v2\",version=\"2\",route=\"{route}\",outcome=\"{outcome}\"}}"
        );
        metric(&self.metrics(), &series).unwrap_or(0.0)
    }

    /// Wait (at most 10 s) until the challenger's `route` calls reach `count` and the log holds
    /// `rows` rows, so that an evaluation sees every request sent.
    fn settle(&self, route: &str, count: f64, rows: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let done = || {
            self.outcomes(route, "ok") + self.outcomes(route, "failed") >= count && logged_rows(&self.log).len() >= rows
        };
        while !done() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(done(), "{route}: {} calls, {} rows", self.outcomes(route, "ok"), logged_rows(&self.log).len());
    }

    fn stop(mut self) {
        let server = self.server.take().expect("server");
        self.rt.block_on(server.shutdown()).expect("shutdown");
    }
}

/// `kiln rollout step`; (exit code, the JSON answer).
fn step(store: &str, config: &str, log: &Path, base: &str) -> (i32, Value) {
    let log = log.display().to_string();
    let args =
        ["-q", "rollout", "step", "adult", "--config", config, "--log", &log, "--server", base, "--format", "json"];
    let (code, out, err) = kiln_at(store, &args);
    assert!(code == 0 || code == 1, "{err}");
    (code, serde_json::from_str(&out).expect("json"))
}

/// `kiln rollout step` as a real process told to die at failpoint `point` as `kill -9` would;
/// checks that it died there.
fn killed_step(store: &str, config: &str, log: &Path, base: &str, point: &str) {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["--store", store, "-q", "rollout", "step", "adult", "--config", config, "--server", base, "--log"])
        .arg(log)
        .env("KILN_FAILPOINT", point)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("kiln");
    assert_eq!(status.code(), None, "killed at {point}: {status:?}");
}

/// The rollout as `kiln rollout status` shows it.
fn status(store: &str) -> Value {
    let (code, out, err) = kiln_at(store, &["-q", "rollout", "status", "adult", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).expect("json")
}

/// The rollout events of the audit log, oldest first, and whether the chain verifies.
fn audit(store: &str) -> Vec<Value> {
    let (code, _, err) = kiln_at(store, &["-q", "audit", "verify"]);
    assert_eq!(code, 0, "the audit chain verifies: {err}");
    let (code, out, err) = kiln_at(store, &["-q", "audit", "log", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let mut events: Vec<Value> = serde_json::from_str(&out).expect("json");
    events.retain(|e| e["action"].as_str().is_some_and(|a| a.starts_with("rollout_")));
    events.reverse();
    events
}

fn actions(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["action"].as_str().expect("action")).collect()
}

#[test]
fn a_healthy_challenger_is_promoted_and_a_restarted_controller_goes_on_from_the_recorded_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, config) = champion_and_challenger(dir.path());
    let serving = Serving::start(dir.path(), &store, &config, 600_000);
    let (code, out, err) =
        kiln_at(&store, &["-q", "rollout", "start", "adult", "--config", &config, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let started: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (&started["phase"], &started["challenger_version"], &started["champion_version"]),
        (&json!("shadow"), &json!(2), &json!(1))
    );
    serving.reload();

    // no traffic yet: the shadow waits
    let (code, waited) = step(&store, &config, &serving.log, &serving.base);
    assert_eq!((code, &waited["decision"]["decision"]), (0, &json!("wait")), "{waited}");
    assert_eq!(waited["decision"]["reason"], "shadow: 0 of 20 requests, 0 of 0 labels");

    // 20 requests shadowed: the first canary step
    for user in 0..20 {
        assert_eq!(serving.ask(user), (1, "primary".into()));
    }
    serving.settle("shadow", 20.0, 80);
    // a controller killed after deciding, before moving: nothing moved, the chain is whole
    killed_step(&store, &config, &serving.log, &serving.base, "rollout-decided");
    assert_eq!((&status(&store)["phase"], audit(&store).len()), (&json!("shadow"), 1));
    let (code, moved) = step(&store, &config, &serving.log, &serving.base);
    assert_eq!((code, &moved["decision"]["decision"]), (0, &json!("advance")), "{moved}");
    assert_eq!(
        (&moved["rollout"]["phase"], &moved["rollout"]["step"], &moved["rollout"]["share"]),
        (&json!("canary"), &json!(1), &json!(0.5))
    );
    let figures = &moved["figures"];
    assert_eq!(
        (&figures["challenger"]["requests"], &figures["challenger"]["failed"]),
        (&json!(20), &json!(0)),
        "{figures}"
    );
    // both versions scored the same 40 rows; the metric is estimated from each calibration
    assert_eq!((&figures["champion"]["rows"], &figures["challenger"]["rows"]), (&json!(40), &json!(40)), "{figures}");
    assert_eq!(figures["metric_source"], "estimated", "{figures}");
    let auc = figures["challenger"]["metric"].as_f64().expect("estimated roc_auc");
    assert!((0.5..=1.0).contains(&auc), "{auc}");

    // that controller stops here; a new one is started with `kiln rollout run` and goes on
    // from canary step 1 while traffic flows, to promotion
    let log = serving.log.display().to_string();
    let controller = {
        let (store, config, base) = (store.clone(), config.clone(), serving.base.clone());
        std::thread::spawn(move || {
            let args =
                ["rollout", "run", "adult", "--config", &config, "--log", &log, "--server", &base, "--timeout", "2m"];
            kiln_at(&store, &args)
        })
    };
    // the server follows the store by itself now (every 100 ms) through a reload per batch
    let mut answered = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !controller.is_finished() && answered.len() < 5000 && Instant::now() < deadline {
        serving.reload();
        answered.extend((0..20).map(|user| serving.ask(user)));
    }
    let (code, out, err) = controller.join().expect("controller");
    assert_eq!(code, 0, "promoted: {out}\n{err}");
    assert!(err.contains("canary step 2 (100 %)"), "{err}");
    assert!(answered.iter().any(|a| *a == (2, "canary".into())), "the challenger answered its share");

    // promoted: the champion alias is v2, and the server serves it
    serving.reload();
    assert_eq!(serving.ask(0), (2, "primary".into()));
    let (code, status, _) = kiln_at(&store, &["-q", "rollout", "status", "adult", "--format", "json"]);
    assert_eq!(code, 0);
    let status: Value = serde_json::from_str(&status).expect("json");
    assert_eq!((&status["phase"], &status["share"]), (&json!("promoted"), &json!(1.0)));
    let events = audit(&store);
    assert_eq!(actions(&events), ["rollout_start", "rollout_step", "rollout_step", "rollout_promote"]);
    // the second controller went on from canary step 1: it made the last two moves only
    let (first, second) = (&events[1]["details"], &events[2]["details"]);
    assert_eq!(
        (&first["from_phase"], &first["phase"], &first["step"]),
        (&json!("shadow"), &json!("canary"), &json!(1))
    );
    assert_eq!(
        (&second["from_phase"], &second["from_step"], &second["step"]),
        (&json!("canary"), &json!(1), &json!(2))
    );
    let promote = &events[3];
    assert_eq!(
        (&promote["target"], &promote["details"]["from_version"], &promote["details"]["to_version"]),
        (&json!("adult@v2"), &json!(1), &json!(2))
    );
    assert!(promote["reason"].as_str().expect("reason").starts_with("canary step 2 (100 %) passed"), "{promote}");
    assert!(promote["details"]["figures"]["challenger"]["requests"].as_u64().expect("requests") >= 20);
    serving.stop();
}

#[test]
fn a_broken_challenger_is_rolled_back_from_shadow_and_from_canary_and_the_champion_serves_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, config) = champion_and_challenger(dir.path());
    let serving = Serving::start(dir.path(), &store, &config, 600_000);
    let start = || {
        let (code, _, err) = kiln_at(&store, &["-q", "rollout", "start", "adult", "--config", &config]);
        assert_eq!(code, 0, "{err}");
        serving.reload();
    };

    // shadow: every scoring of v2 fails; the champion answers every request
    serving.faults(json!({ "fail": true, "version": 2 }));
    start();
    for user in 0..20 {
        assert_eq!(serving.ask(user), (1, "primary".into()));
    }
    serving.settle("shadow", 20.0, 40);
    let (code, back) = step(&store, &config, &serving.log, &serving.base);
    assert_eq!((code, &back["rollout"]["phase"]), (1, &json!("rolled_back")), "{back}");
    assert_eq!(back["decision"]["reason"], "shadow: error rate 1.0000 (20 of 20 calls failed) is above 0.02");
    serving.reload();
    assert_eq!(serving.ask(0), (1, "primary".into()));

    // canary: a healthy shadow, then v2 fails at 50 %
    serving.faults(json!({}));
    start();
    for user in 0..20 {
        serving.ask(user);
    }
    // the server counts the new rollout's route from zero
    serving.settle("shadow", 20.0, 120);
    let (code, moved) = step(&store, &config, &serving.log, &serving.base);
    assert_eq!((code, &moved["rollout"]["phase"]), (0, &json!("canary")), "{moved}");
    serving.reload();
    serving.faults(json!({ "fail": true, "version": 2 }));
    let answers: Vec<(i64, String)> = (0..40).map(|user| serving.ask(user)).collect();
    // the champion answered its share; the failed canary calls went to the champion's fallback
    assert!(answers.iter().all(|(v, r)| *v == 1 && (r == "primary" || r == "fallback")), "{answers:?}");
    assert!(answers.iter().any(|(_, r)| r == "fallback"), "{answers:?}");
    let failed = serving.outcomes("canary", "failed");
    assert!(failed > 0.0);
    // the controller that rolls it back is killed right after the move: the move stands
    killed_step(&store, &config, &serving.log, &serving.base, "rollout-moved");
    let back = status(&store);
    assert_eq!(back["phase"], "rolled_back", "{back}");
    let reason = back["reason"].as_str().expect("reason");
    assert!(reason.starts_with("canary step 1 (50 %): "), "{reason}");
    assert!(reason.contains("breaker opened") || reason.contains("error rate"), "{reason}");
    serving.reload();
    assert_eq!(serving.ask(0), (1, "primary".into()));

    let (code, models, _) = kiln_at(&store, &["-q", "models", "list", "--format", "json"]);
    assert_eq!(code, 0);
    let models: Value = serde_json::from_str(&models).expect("json");
    assert_eq!(models[0]["aliases"]["champion"], 1, "the champion never moved");
    refusals(&store, dir.path(), &serving);
    let events = audit(&store);
    assert_eq!(
        actions(&events),
        [
            "rollout_start",
            "rollout_rollback",
            "rollout_start",
            "rollout_step",
            "rollout_rollback",
            "rollout_start",
            "rollout_rollback"
        ]
    );
    assert_eq!(events[1]["details"]["figures"]["challenger"]["failed"], 20);
    assert_eq!(events[6]["reason"], "operator stop");
    serving.stop();
}

/// Mistakes answered with exit 2 and what to do; an abort.
fn refusals(store: &str, dir: &Path, serving: &Serving) {
    let config = rollout_config(dir);
    let expect_error = |args: &[&str], words: &str| {
        let (code, _, err) = kiln_at(store, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(words), "{args:?}: {err}");
    };
    expect_error(&["rollout", "abort", "adult", "--reason", "x"], "has no active rollout");
    expect_error(&["rollout", "status", "fraud"], "no model named fraud");
    let bad = adult_config(dir, "bad", &adult_rules(), "[rollout]\nsteps = [50, 10]\n").display().to_string();
    expect_error(&["rollout", "start", "adult", "--config", &bad], "[rollout] steps: 10 does not follow 50");
    let unknown = adult_config(dir, "unknown", &adult_rules(), "[rollout]\nstep = [50]\n").display().to_string();
    expect_error(&["rollout", "start", "adult", "--config", &unknown], "step");
    expect_error(&["rollout", "start", "adult", "--version", "1", "--config", &config], "v1 is the champion already");
    let (code, _, err) = kiln_at(store, &["-q", "rollout", "start", "adult", "--config", &config]);
    assert_eq!(code, 0, "{err}");
    expect_error(&["rollout", "start", "adult", "--config", &config], "already has an active rollout");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let log = serving.log.display().to_string();
    let nowhere = format!("http://{closed}");
    expect_error(&["rollout", "step", "adult", "--log", &log, "--server", &nowhere], "--server http://HOST:PORT");
    let other = adult_config(dir, "other", &adult_rules(), "[rollout]\nshadow_requests = 5\n").display().to_string();
    let args = ["rollout", "step", "adult", "--config", &other, "--log", &log, "--server", &serving.base];
    expect_error(&args, "was started with another [rollout] plan");
    let (code, out, err) =
        kiln_at(store, &["rollout", "abort", "adult", "--reason", "operator stop", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let aborted: Value = serde_json::from_str(&out).expect("json");
    assert_eq!((&aborted["phase"], &aborted["reason"]), (&json!("aborted"), &json!("operator stop")));
    // a cron step after the end reports it: exit 1 for a rollout that did not promote
    let (code, out, _) =
        kiln_at(store, &["rollout", "step", "adult", "--log", &log, "--server", &serving.base, "--format", "json"]);
    assert_eq!(code, 1);
    let ended: Value = serde_json::from_str(&out).expect("json");
    assert_eq!((&ended["state"], &ended["rollout"]["phase"]), (&json!("ended"), &json!("aborted")));
}

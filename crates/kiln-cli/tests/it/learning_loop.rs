//! The learning loop end to end with real processes: `scripts/loop-demo.sh` run with this
//! build's `kiln` (a server, the traffic script, feedback ingestion, monitoring, two
//! retrainings, two rollouts and a gated run, each its own process), then every decision it
//! recorded under its `out` folder checked.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::repo;

fn read(out: &Path, name: &str) -> Value {
    let path = out.join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

/// `adult`'s entry of a `kiln models list --format json` file.
fn adult(out: &Path, name: &str) -> Value {
    let models = read(out, name);
    models.as_array().and_then(|m| m.iter().find(|m| m["name"] == "adult")).cloned().expect("model adult listed")
}

/// Every `traffic-PREFIX*.json` of a round.
fn traffic(out: &Path, prefix: &str) -> Vec<Value> {
    let mut files: Vec<String> = std::fs::read_dir(out)
        .expect("out folder")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&format!("traffic-{prefix}")))
        .collect();
    files.sort();
    files.iter().map(|f| read(out, f)).collect()
}

#[test]
fn the_loop_retrains_on_drift_promotes_a_good_challenger_and_stops_two_broken_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path().join("loop");
    let run = Command::new("bash")
        .arg(repo("scripts/loop-demo.sh"))
        .env("KILN_BIN", env!("CARGO_BIN_EXE_kiln"))
        .env("LOOP_DIR", &work)
        .env_remove("KILN_STORE")
        .env_remove("KILN_FAILPOINT")
        .output()
        .expect("bash scripts/loop-demo.sh");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "loop-demo failed: {:?}\n{stderr}", run.status);
    let out = work.join("out");

    // 1. the first run's model is the champion
    assert_eq!(adult(&out, "models-start.json")["aliases"]["champion"], 1);

    // 2. the unseen traffic is answered by it, and every label comes back
    let first = &traffic(&out, "r1")[0];
    assert_eq!(first["answered"], 4000, "{first}");
    assert_eq!(first["versions"]["1"], 4000, "{first}");
    let ingest = read(&out, "ingest-r1.json");
    assert_eq!(ingest["accepted"], 4000, "{ingest}");
    assert_eq!(ingest["refused"].as_array().map(Vec::len), Some(0), "{ingest}");

    // 3. the shifted traffic drifts; the retraining it triggers passes against the champion
    assert_eq!(read(&out, "monitor.json")["drift"], true);
    let retrain = read(&out, "retrain-1.json");
    assert_eq!(retrain["status"], "passed", "{retrain}");
    assert_eq!(retrain["version"], 2);
    assert_eq!(retrain["aliased"], true);
    assert_eq!(retrain["drift"], true);
    let tests = retrain["verdict"]["tests"].as_array().expect("paired tests");
    assert!(tests.iter().any(|t| t["slicing"] == "overall" && t["status"] == "pass"), "{tests:?}");
    assert!(tests.iter().any(|t| t["slicing"] == "sex"), "per-segment tests: {tests:?}");

    // 4. the rollout walks shadow and both canary steps and promotes it
    let rollout = read(&out, "rollout-1.json");
    assert_eq!(rollout["phase"], "promoted", "{rollout}");
    assert_eq!(rollout["challenger_version"], 2);
    assert_eq!(rollout["step"], 2, "both canary steps: {rollout}");
    assert_eq!(adult(&out, "models-promoted.json")["aliases"]["champion"], 2);
    let during: Vec<Value> = traffic(&out, "r2-");
    assert!(!during.is_empty());
    assert!(during.iter().all(|t| t["failed"] == 0), "{during:?}");

    // 5a. shuffled labels: the gates refuse it, nothing is registered
    assert_eq!(adult(&out, "models-after-shuffled.json")["latest_version"], 2);

    // 5b. a challenger failing live is rolled back; the champion answers every request
    let retrain = read(&out, "retrain-2.json");
    assert_eq!(retrain["status"], "passed", "{retrain}");
    assert_eq!(retrain["version"], 3);
    let rollout = read(&out, "rollout-2.json");
    assert_eq!(rollout["phase"], "rolled_back", "{rollout}");
    assert_eq!(rollout["challenger_version"], 3);
    assert!(rollout["reason"].as_str().is_some_and(|r| r.contains("error rate")), "{rollout}");
    let end = adult(&out, "models-end.json");
    assert_eq!(end["aliases"]["champion"], 2, "{end}");
    for round in traffic(&out, "r4-") {
        assert_eq!(round["failed"], 0, "{round}");
        let versions = round["versions"].as_object().expect("versions");
        assert_eq!(versions.keys().collect::<Vec<_>>(), ["2"], "only the champion answered: {round}");
        assert_eq!(round["routes"]["primary"], round["answered"], "{round}");
    }

    // 6. lineage back through the retraining to the original data; the audit chain holds
    let lineage = read(&out, "lineage.json");
    assert_eq!(lineage["model_version"]["version"], 2, "{lineage}");
    assert_eq!(lineage["parent"]["model_version"]["version"], 1, "{lineage}");
    assert!(lineage["retrain"].is_object(), "{lineage}");
    assert!(lineage["parent"]["parent"].is_null(), "v1 came from the original data: {lineage}");
    assert_eq!(read(&out, "audit-verify.json")["ok"], true);
}

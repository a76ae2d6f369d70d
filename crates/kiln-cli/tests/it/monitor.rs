//! `kiln monitor` end to end on generated data where the truth is known: a model trained on
//! `kiln data synth` rows, then fresh rows (no drift, exit 0) and `--shift`ed rows (drift,
//! exit 1), from a file and from the prediction log of a real server on loopback; reports
//! whose size does not grow with the rows; clear errors for bad inputs.

use std::path::{Path, PathBuf};

use kiln_data::batch::{Reading, read_batch};
use kiln_serve::config::ModelSettings;
use kiln_serve::source::Source;
use serde_json::Value;

use crate::kiln_at;
use crate::serve::{client, instances, loopback, runtime};

/// A store with a gradient-boosted model trained on 8,000 synthetic rows, registered as
/// `synth` version 1; returns (store, config, bundle).
pub(crate) fn trained(dir: &Path) -> (String, PathBuf, PathBuf) {
    let store = dir.join("kiln.db").display().to_string();
    let train = dir.join("train.parquet");
    let (code, _, err) = kiln_at(
        &store,
        &["-q", "data", "synth", "--rows", "8000", "--seed", "1", "--out", &train.display().to_string()],
    );
    assert_eq!(code, 0, "{err}");
    let config = dir.join("train.toml");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str("\n[[models]]\nkind = \"prior\"\n\n[[models]]\nkind = \"gbdt\"\nnum_iterations = 30\n");
    text.push_str("\n[evaluation]\nmin_slice_size = 100\n\n[monitoring]\nmin_rows = 300\n");
    std::fs::write(&config, text).expect("write config");
    let bundle = dir.join("synth.safetensors");
    let (code, _, err) =
        kiln_at(&store, &["-q", "train", &config.display().to_string(), "--out", &bundle.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    (store, config, bundle)
}

/// Synthetic rows of the same generator (seed, shift) written to `name`.
pub(crate) fn rows(dir: &Path, store: &str, name: &str, n: usize, seed: u64, shift: f64) -> PathBuf {
    let path = dir.join(name);
    let args =
        ["-q", "data", "synth", "--rows", &n.to_string(), "--seed", &seed.to_string(), "--shift", &shift.to_string()];
    let mut args: Vec<&str> = args.to_vec();
    let out = path.display().to_string();
    args.extend(["--no-config", "--out", &out]);
    let (code, _, err) = kiln_at(store, &args);
    assert_eq!(code, 0, "{err}");
    path
}

fn monitor(store: &str, args: &[&str]) -> (i32, Value, String) {
    let mut full = vec!["-q", "monitor", "--format", "json"];
    full.extend_from_slice(args);
    let (code, out, err) = kiln_at(store, &full);
    let json = serde_json::from_str(&out).unwrap_or(Value::Null);
    (code, json, err)
}

fn overall(report: &Value) -> &Value {
    &report["windows"][0]["groups"][0]
}

#[test]
fn fresh_rows_pass_and_shifted_rows_drift() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, config, bundle) = trained(dir.path());
    let (b, c) = (bundle.display().to_string(), config.display().to_string());

    let fresh = rows(dir.path(), &store, "fresh.parquet", 4000, 2, 0.0);
    let out = dir.path().join("m-fresh").display().to_string();
    let (code, report, err) =
        monitor(&store, &["--bundle", &b, "--config", &c, "--data", &fresh.display().to_string(), "--out", &out]);
    assert_eq!(code, 0, "fresh rows drifted: {err}\n{:#}", report["findings"]);
    assert_eq!(report["drift"], false);
    assert_eq!(overall(&report)["dataset"]["n_drifted"], 0, "{:#}", overall(&report));
    // the estimated ROC AUC of the unlabelled rows is close to the realised one from the labels
    let metric = |kind: &str| {
        overall(&report)[kind]
            .as_array()
            .expect(kind)
            .iter()
            .find(|m| m["metric"] == "roc_auc")
            .cloned()
            .expect("roc_auc")
    };
    let (estimated, realised) = (metric("estimated"), metric("realised"));
    let (e, r) = (estimated["value"].as_f64().expect("e"), realised["value"].as_f64().expect("r"));
    assert!((e - r).abs() < 0.03, "estimated {e} vs realised {r}");
    assert!(estimated["low"].as_f64() <= Some(r) && Some(r) <= estimated["high"].as_f64(), "{estimated} {realised}");
    // every slicing group of the segment columns was checked
    let groups = report["windows"][0]["groups"].as_array().expect("groups");
    assert!(
        groups.iter().any(|g| g["slice"] == "cohort" && g["group"] == "B" && g["dataset"].is_object()),
        "{groups:?}"
    );

    let shifted = rows(dir.path(), &store, "shifted.parquet", 4000, 3, 1.0);
    let out = dir.path().join("m-shift").display().to_string();
    let (code, report, err) =
        monitor(&store, &["--bundle", &b, "--config", &c, "--data", &shifted.display().to_string(), "--out", &out]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(report["drift"], true);
    let drifted: Vec<&str> = overall(&report)["features"]
        .as_array()
        .expect("features")
        .iter()
        .filter(|f| f["drifted"] == true)
        .map(|f| f["feature"].as_str().expect("name"))
        .collect();
    for feature in ["age", "income", "score_a"] {
        assert!(drifted.contains(&feature), "{feature} did not drift: {drifted:?}");
    }
    assert_eq!(overall(&report)["scores"]["drifted"], true);
    let kinds: Vec<&str> =
        report["findings"].as_array().expect("findings").iter().map(|f| f["kind"].as_str().expect("kind")).collect();
    assert!(kinds.contains(&"dataset_drift") && kinds.contains(&"score_drift"), "{kinds:?}");
    // the flat checks name every test
    assert!(report["checks"].as_array().expect("checks").iter().any(|c| c["feature"] == "age" && c["drifted"] == true));
    let html = std::fs::read_to_string(Path::new(&out).join("report.html")).expect("html");
    assert!(html.contains("<svg") && html.contains("age"), "the HTML report plots the drifted features");
}

#[test]
fn the_report_does_not_grow_with_the_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, config, bundle) = trained(dir.path());
    let mut sizes = Vec::new();
    // every group is judged at both sizes (min_rows 50): only the rows per group differ
    let text = std::fs::read_to_string(&config).expect("config").replace("min_rows = 300", "min_rows = 50");
    std::fs::write(&config, text).expect("config");
    for (name, n) in [("small.parquet", 6000), ("large.parquet", 60_000)] {
        let data = rows(dir.path(), &store, name, n, 4, 0.5);
        let out = dir.path().join(name).with_extension("report");
        let args = ["--bundle", &bundle.display().to_string(), "--config", &config.display().to_string()];
        let (code, _, err) = monitor(
            &store,
            &[&args[..], &["--data", &data.display().to_string(), "--out", &out.display().to_string()]].concat(),
        );
        assert!(code <= 1, "{err}");
        let size = |f: &str| std::fs::metadata(out.join(f)).expect(f).len() as f64;
        sizes.push((size("report.html"), size("report.json")));
    }
    let (small, large) = (sizes[0], sizes[1]);
    // ten times the rows: the same groups, a few more histogram bins (Sturges: log2 of the rows)
    assert!(large.0 < small.0 * 1.25 && large.1 < small.1 * 1.25, "{sizes:?}");
}

#[test]
fn the_prediction_log_of_a_served_model_is_monitored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, config, _) = trained(dir.path());
    let shifted = rows(dir.path(), &store, "shifted.parquet", 2000, 5, 1.0);
    let plan = kiln_cli::run_config::load(&config).expect("config").plan;
    let batch = read_batch(&shifted, Reading::Plan(&plan)).expect("rows").batch;

    let mut serve =
        loopback(vec![ModelSettings::single("synth".into(), Source::Version { name: "synth".into(), version: 1 })]);
    serve.store = store.clone().into();
    let log_dir = dir.path().join("log");
    serve.log = Some(kiln_serve::predlog::LogSettings::new(log_dir.clone()));
    let rt = runtime();
    let _in_runtime = rt.enter();
    let server = rt.block_on(kiln_serve::start(serve)).expect("server");
    let url = format!("http://{}/v1/models/synth:predict", server.addr());
    let client = client();
    for start in (0..2000).step_by(100) {
        let response =
            rt.block_on(client.post(&url).json(&instances(&batch, start..start + 100)).send()).expect("send");
        assert!(response.status().is_success(), "{}", response.status());
    }
    rt.block_on(server.shutdown()).expect("shutdown");

    let log = log_dir.display().to_string();
    let out = dir.path().join("m-log").display().to_string();
    let (code, report, err) = monitor(&store, &["--model", "synth@v1", "--log", &log, "--since", "1h", "--out", &out]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(report["current"]["kind"], "log");
    assert_eq!(report["current"]["rows"], 2000);
    assert_eq!(overall(&report)["scores"]["drifted"], true, "{:#}", overall(&report)["scores"]);
    // a version the registry does not have
    let (code, _, err) = monitor(&store, &["--model", "synth@v9", "--log", &log, "--out", &out]);
    assert_eq!(code, 2, "an unknown version is an error");
    assert!(err.contains("synth"), "{err}");
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, config, bundle) = trained(dir.path());
    let b = bundle.display().to_string();
    // rows without a feature the model needs
    let lacking = dir.path().join("lacking.csv");
    std::fs::write(&lacking, "id,age\n1,30\n2,40\n").expect("csv");
    let (code, _, err) = monitor(&store, &["--bundle", &b, "--data", &lacking.display().to_string()]);
    assert_eq!(code, 2);
    assert!(err.contains("income") && err.contains("lacking.csv"), "{err}");
    // a [monitoring] key that does not fit
    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(&config)
        .expect("config")
        .replace("min_rows = 300", "min_rows = 300\nstattest = \"nope\"");
    std::fs::write(&bad, text).expect("bad config");
    let fresh = rows(dir.path(), &store, "fresh.parquet", 500, 6, 0.0);
    let (code, _, err) = monitor(
        &store,
        &["--bundle", &b, "--config", &bad.display().to_string(), "--data", &fresh.display().to_string()],
    );
    assert_eq!(code, 2);
    assert!(err.contains("[monitoring] stattest") && err.contains("nope"), "{err}");
    // nothing to compare against
    let (code, _, err) = monitor(&store, &["--data", &fresh.display().to_string()]);
    assert_eq!(code, 2);
    assert!(err.contains("--bundle"), "{err}");
}

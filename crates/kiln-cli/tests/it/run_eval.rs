//! `kiln run`, `kiln compare` and `kiln eval`: the whole path on the shipped Adult config and
//! on generated data, the report folder, the verdict stored with the model version and used by
//! `kiln models promote`, and exit code 1 when no model passes its gates.

use std::path::Path;

use crate::{kiln_at, repo};

/// `[evaluation]` for the generated data: slices by cohort, cohort × region and age bands.
const EVALUATION: &str = "[evaluation]\nmin_slice_size = 50\nci = { method = \"bootstrap\", replicates = 200 }\n\n\
     [[evaluation.slices]]\nby = [\"cohort\"]\n\n[[evaluation.slices]]\nby = [\"cohort\", \"region\"]\n\n\
     [[evaluation.slices]]\nby = [\"age\"]\nbands = [30, 50]\n\n";

/// Generated data (`kiln data synth`) with a config that trains a prior, a linear model and
/// a GBDT, followed by `sections` (`[evaluation]`, `[acceptance]`).
fn synth_project(dir: &Path, store: &str, sections: &str) -> String {
    let data = dir.join("s.csv");
    let (code, _, err) =
        kiln_at(store, &["-q", "data", "synth", "--rows", "4000", "--out", &data.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    let config = dir.join("s.toml");
    let base = std::fs::read_to_string(&config).expect("config");
    let extra = format!(
        "\n[[models]]\nkind = \"prior\"\n\n[[models]]\nkind = \"linear\"\nepochs = 5\n\n[[models]]\nkind = \"gbdt\"\n\
         num_iterations = 40\n\n{sections}"
    );
    std::fs::write(&config, format!("{base}{extra}")).expect("write config");
    config.display().to_string()
}

#[test]
fn run_on_adult_exports_the_best_passing_model_and_its_verdict_gates_promotion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let report_dir = dir.path().join("report");
    let bundle = dir.path().join("adult.safetensors");
    let (code, out, err) = kiln_at(
        &store,
        &[
            "-q",
            "run",
            &repo("configs/adult.toml"),
            "--out",
            &report_dir.display().to_string(),
            "--bundle",
            &bundle.display().to_string(),
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let result: serde_json::Value = serde_json::from_str(&out).expect("json");
    let report = &result["report"];
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["n_rows"], 16281);
    // GBDT is the best model and passes every gate; the baselines fail the floors.
    assert_eq!(report["chosen"], "gbdt", "{}", report["verdicts"]);
    let verdicts = report["verdicts"].as_array().expect("verdicts");
    let verdict = |name: &str| verdicts.iter().find(|v| v["model"] == name).expect("verdict");
    assert_eq!(verdict("gbdt")["passed"], true);
    assert_eq!(verdict("rules")["passed"], false);
    let failure = verdict("rules")["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["status"] == "fail" && c["slice"] == "overall")
        .expect("rules fails the overall floor");
    assert_eq!(failure["decided_by"], "ci_lower");
    assert!(failure["decided_value"].as_f64().expect("bound") < 0.88);
    // The GBDT's overall ROC AUC is the 0.927 of the training tests, with an interval.
    let models = report["models"].as_array().expect("models");
    let gbdt = models.iter().find(|m| m["name"] == "gbdt").expect("gbdt");
    let auc = &gbdt["slicings"][0]["slices"][0]["metrics"]["roc_auc"];
    let (value, lo, hi) = (auc["value"].as_f64(), auc["ci"]["lo"].as_f64(), auc["ci"]["hi"].as_f64());
    let (value, lo, hi) = (value.expect("auc"), lo.expect("lo"), hi.expect("hi"));
    assert!(value > 0.925 && lo < value && value < hi && hi - lo < 0.02, "{auc}");
    // Slicings: overall, sex, race, sex × race, age band; fairness on both protected columns.
    let names: Vec<&str> =
        gbdt["slicings"].as_array().expect("slicings").iter().map(|s| s["name"].as_str().unwrap_or("")).collect();
    assert_eq!(names, ["overall", "sex", "race", "sex × race", "age band"]);
    assert_eq!(gbdt["fairness"].as_array().map(Vec::len), Some(2));
    // Every non-baseline model is compared with the rules baseline.
    let comparisons = report["comparisons"].as_array().expect("comparisons");
    assert!(comparisons.iter().all(|c| c["baseline"] == "rules" && c["delong_p"].as_f64().is_some_and(|p| p < 1e-6)));
    // Cost columns: latency per row and per batch of 1024, training time.
    assert!(gbdt["cost"]["latency_p95_ms"].as_f64().is_some_and(|v| v > 0.0));
    assert!(gbdt["cost"]["batch_latency_p95_ms"].as_f64().is_some_and(|v| v > 0.0));

    // The report folder: JSON equal to the printed report, Markdown, one self-contained HTML.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("report.json")).expect("report.json"))
            .expect("json");
    assert_eq!(&json, report);
    let html = std::fs::read_to_string(report_dir.join("report.html")).expect("report.html");
    // Offline: SVG namespaces are the only addresses; nothing is fetched.
    assert!(html.contains("<svg") && !html.contains("<link") && !html.contains(" src=") && !html.contains("url(http"));
    assert!(std::fs::read_to_string(report_dir.join("report.md")).expect("report.md").contains("gbdt"));

    // The exported bundle is registered with its passing verdict, so promotion is allowed.
    assert!(bundle.exists());
    let version = result["version"].as_i64().expect("version").to_string();
    let (code, _, err) = kiln_at(&store, &["models", "promote", "adult", &version, "--alias", "champion"]);
    assert_eq!(code, 0, "{err}");

    // `kiln eval` of that bundle on the test file gives the same overall ROC AUC.
    let eval_dir = dir.path().join("eval");
    let (code, out, err) = kiln_at(
        &store,
        &[
            "-q",
            "eval",
            "--bundle",
            &bundle.display().to_string(),
            "--data",
            &repo("datasets/adult/adult.test"),
            "--config",
            &repo("configs/adult.toml"),
            "--out",
            &eval_dir.display().to_string(),
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let eval: serde_json::Value = serde_json::from_str(&out).expect("json");
    let again = eval["models"][0]["slicings"][0]["slices"][0]["metrics"]["roc_auc"]["value"].as_f64();
    assert_eq!(again, Some(value));
    assert!(eval_dir.join("report.html").exists());
}

#[test]
fn run_exits_1_and_exports_nothing_when_no_model_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let config = synth_project(
        dir.path(),
        &store,
        &format!(
            "{EVALUATION}[acceptance]\n[[acceptance.metrics]]\nmetric = \"roc_auc\"\nmin = 0.999\nslices = \"all\"\n"
        ),
    );
    let bundle = dir.path().join("none.safetensors");
    let (code, out, err) = kiln_at(
        &store,
        &[
            "-q",
            "run",
            &config,
            "--bundle",
            &bundle.display().to_string(),
            "--out",
            &dir.path().join("r").display().to_string(),
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("no model passed the gates"), "{out}");
    assert!(out.contains("roc_auc") && out.contains("CI lower bound"), "{out}");
    assert!(!bundle.exists());
    let (_, models, _) = kiln_at(&store, &["models", "list", "--format", "json"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&models).expect("json"), serde_json::json!([]));
    // The run is recorded, finished, with its report as artifacts and each model's verdict.
    let (_, runs, _) = kiln_at(&store, &["runs", "list", "--format", "json"]);
    let runs: serde_json::Value = serde_json::from_str(&runs).expect("json");
    let run = runs.as_array().and_then(|r| r.iter().find(|r| r["command"] == "run")).expect("run recorded");
    assert_eq!(run["status"], "finished");

    // `kiln train` registers its export as not evaluated: promotion is refused (exit 1)
    // unless forced with a reason, and the override is recorded.
    let (code, _, err) = kiln_at(&store, &["-q", "train", &config, "--out", &bundle.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = kiln_at(&store, &["models", "promote", "synth", "1", "--alias", "champion"]);
    assert_eq!(code, 1, "{out}");
    let (code, _, err) =
        kiln_at(&store, &["models", "promote", "synth", "v1", "--force", "--reason", "demo for the board"]);
    assert_eq!(code, 0, "{err}");
    let (_, log, _) = kiln_at(&store, &["audit", "log", "--format", "json"]);
    assert!(log.contains("forced_override") && log.contains("demo for the board"), "{log}");
}

#[test]
fn compare_puts_every_model_side_by_side_and_registers_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let config = synth_project(
        dir.path(),
        &store,
        &format!("{EVALUATION}[acceptance.baseline]\nmetric = \"roc_auc\"\nmin_lift = 0.05\n"),
    );
    let report_dir = dir.path().join("cmp");
    let (code, out, err) =
        kiln_at(&store, &["-q", "compare", &config, "--out", &report_dir.display().to_string(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let result: serde_json::Value = serde_json::from_str(&out).expect("json");
    let report = &result["report"];
    assert_eq!(report["models"].as_array().map(Vec::len), Some(3));
    assert!(result["bundle"].is_null());
    // Both learned models are compared with the prior, the only baseline.
    let comparisons = report["comparisons"].as_array().expect("comparisons");
    assert_eq!(comparisons.len(), 2);
    assert!(comparisons.iter().all(|c| c["baseline"] == "prior"));
    // The cross of cohort and region, and the age bands, are there.
    let slicings = report["models"][2]["slicings"].as_array().expect("slicings");
    assert!(slicings.iter().any(|s| s["name"] == "cohort × region"));
    assert!(slicings.iter().any(|s| s["name"] == "age" && s["slices"][0]["value"] == "< 30"));
    let (_, models, _) = kiln_at(&store, &["models", "list", "--format", "json"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&models).expect("json"), serde_json::json!([]));
    assert!(report_dir.join("report.html").exists());
}

#[test]
fn bad_evaluation_settings_are_config_errors_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let cases = [
        ("[evaluation]\nmetrics = [\"auroc\"]\n", "unknown metric `auroc`"),
        ("[[evaluation.slices]]\nby = [\"zipcode\"]\n", "unknown column `zipcode`"),
        ("[[evaluation.slices]]\nby = [\"region\"]\nbands = [1, 2]\n", "`bands` needs a numeric column"),
        ("[acceptance]\n[[acceptance.metrics]]\nmetric = \"roc_auc\"\n", "set `min`"),
        (
            "[acceptance]\n[[acceptance.metrics]]\nmetric = \"roc_auc\"\nmin = 0.5\nslices = [\"regoin\"]\n",
            "`regoin`, which is not a slicing",
        ),
        (
            "[acceptance]\n[[acceptance.fairness]]\nmetric = \"equalized_odds_difference\"\ncolumn = \"region\"\nmax = 0.1\n",
            "not in [columns] protected",
        ),
    ];
    for (i, (section, expected)) in cases.iter().enumerate() {
        let sub = dir.path().join(format!("case{i}"));
        std::fs::create_dir_all(&sub).expect("mkdir");
        let config = synth_project(&sub, &store, section);
        let (code, _, err) = kiln_at(&store, &["-q", "compare", &config]);
        assert_eq!(code, 2, "case {i}: {err}");
        assert!(err.contains(expected) && err.contains("s.toml"), "case {i}: {err}");
    }
}

//! `kiln train` on the shipped Adult config, then `kiln predict` with the exported bundle.

use std::path::Path;

use crate::{kiln_at, repo};

/// `kiln predict` with `bundle` on `data`, written to `out`; must succeed.
fn predict(store: &str, bundle: &str, data: &Path, out: &Path) {
    let (data, out) = (data.display().to_string(), out.display().to_string());
    let (code, _, err) = kiln_at(store, &["-q", "predict", "--bundle", bundle, "--data", &data, "--out", &out]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn train_exports_the_best_model_and_predict_reproduces_its_test_score() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let bundle = dir.path().join("adult.safetensors").display().to_string();
    let config = repo("configs/adult.toml");
    let (code, out, err) = kiln_at(&store, &["-q", "train", &config, "--out", &bundle, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let result: serde_json::Value = serde_json::from_str(&out).expect("json");
    let models = result["models"].as_array().expect("models");
    let names: Vec<&str> = models.iter().filter_map(|m| m["name"].as_str()).collect();
    assert_eq!(names, ["prior", "rules", "linear", "gbdt", "mlp", "resnet"]);
    let exported: Vec<&str> =
        models.iter().filter(|m| m["exported"] == true).filter_map(|m| m["name"].as_str()).collect();
    assert_eq!(exported, ["gbdt"]);
    let test_auc = |i: usize| models[i]["test"]["value"].as_f64().expect("test auc");
    let gbdt_test = test_auc(3);
    // The quality floors on adult.test (fixed test file, seed 42).
    assert!(gbdt_test >= 0.925, "GBDT ROC AUC on adult.test {gbdt_test}");
    assert!(test_auc(2) >= 0.903, "linear ROC AUC {}", test_auc(2));
    assert!(test_auc(4) >= 0.905, "MLP ROC AUC {}", test_auc(4));
    assert!(test_auc(1) > 0.8, "the rules baseline {}", test_auc(1));
    assert!(test_auc(5) > test_auc(4), "ResNet {} must beat the MLP {}", test_auc(5), test_auc(4));
    assert!((models[0]["test"]["value"].as_f64().expect("prior auc") - 0.5).abs() < 1e-12);
    assert_eq!(result["version"], 1);

    // The run and the registered version are in the store, with the bundle as an artifact.
    let (code, out, _) = kiln_at(&store, &["runs", "show", result["run_id"].as_str().expect("id"), "--format", "json"]);
    assert_eq!(code, 0);
    let run: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(run["status"], "finished");
    assert_eq!(run["artifacts"][0]["sha256"], result["bundle_sha256"]);

    // Score the test split from the bundle alone and recompute the AUC independently.
    let splits = dir.path().join("splits");
    let (code, _, err) = kiln_at(&store, &["-q", "data", "split", &config, "--out", &splits.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    let preds = dir.path().join("preds.parquet");
    let test = splits.join("test.parquet");
    predict(&store, &bundle, &test, &preds);
    use polars::prelude::SerReader;
    let read = |p: &std::path::Path| {
        polars::prelude::ParquetReader::new(std::fs::File::open(p).expect("open")).finish().expect("parquet")
    };
    let (preds, test) = (read(&preds), read(&test));
    assert_eq!(preds.height(), 16_281);
    let p: Vec<f64> =
        preds.column("p_>50K").expect("p").as_materialized_series().f64().expect("f64").iter().flatten().collect();
    let labels: Vec<bool> = test
        .column("income")
        .expect("income")
        .as_materialized_series()
        .str()
        .expect("str")
        .iter()
        .map(|v| v == Some(">50K"))
        .collect();
    let auc = kiln_eval::metrics::binary::roc_auc(&labels, &p, None).expect("auc");
    assert!((auc - gbdt_test).abs() < 1e-12, "predict {auc} vs train {gbdt_test}");
}

#[test]
fn a_zero_embedding_width_is_a_clear_error_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(repo("configs/adult.toml"))
        .expect("adult.toml")
        .replace("../datasets/", &format!("{}/", repo("datasets")))
        .replace("embedding_dim = 8", "embedding_dim = 0");
    let config = dir.path().join("adult.toml");
    std::fs::write(&config, text).expect("write");
    let store = dir.path().join("kiln.db").display().to_string();
    let (code, _, err) = kiln_at(&store, &["-q", "train", &config.display().to_string()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("models[5].embedding_dim") && err.contains("hint:"), "{err}");
    let (_, runs, _) = kiln_at(&store, &["runs", "list", "--format", "json"]);
    assert_eq!(runs.trim(), "[]", "refused before any run was started");
}

#[test]
fn training_on_data_that_fails_validation_exits_1_and_trains_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("s.csv");
    let store = dir.path().join("kiln.db").display().to_string();
    let (code, _, err) =
        kiln_at(&store, &["-q", "data", "synth", "--rows", "2000", "--out", &data.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    let config = dir.path().join("s.toml");
    let text = std::fs::read_to_string(&config).expect("config").replace("min = 18", "min = 30")
        + "\n[[models]]\nkind = \"prior\"\n";
    std::fs::write(&config, text).expect("write");
    let (code, out, _) = kiln_at(&store, &["-q", "train", &config.display().to_string()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("training refused") && out.contains("age"), "{out}");
    let (_, runs, _) = kiln_at(&store, &["runs", "list", "--format", "json"]);
    assert_eq!(runs.trim(), "[]", "no run was started");
}

/// The MLP (layer norm, batch norm), the ResNet (one-hot inputs, categorical embeddings), the
/// linear model and the gradient-boosted trees, exported and reproduced outside kiln from the
/// bundle alone (numpy + safetensors: `scripts/bundle_check.py`), from raw rows, to 1e-5.
#[test]
fn bundles_are_reproduced_by_the_python_script() {
    let python_ready = crate::python_can_check_bundles();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let text = std::fs::read_to_string(repo("configs/adult.toml")).expect("adult.toml");
    let data_part = &text[..text.find("[[models]]").expect("models")];
    let data_part = data_part.replace("../datasets/", &format!("{}/", repo("datasets")));
    let splits = dir.path().join("splits");
    let mut raw_csv = None;
    // Each model, and what the script must print of its architecture.
    for (model, architecture) in [
        (
            "[[models]]\nkind = \"mlp\"\nhidden = [64, 64]\nnorm = \"layer\"\nresidual = true\nactivation = \"gelu\"\nepochs = 3\n",
            "\"norm\": \"layer_norm\"",
        ),
        ("[[models]]\nkind = \"mlp\"\nhidden = [64, 32]\nnorm = \"batch\"\nepochs = 3\n", "\"norm\": \"batch_norm\""),
        ("[[models]]\nkind = \"resnet\"\nd_block = 32\nn_blocks = 2\nepochs = 2\n", "\"cardinalities\": []"),
        (
            "[[models]]\nkind = \"resnet\"\nd_block = 32\nembedding_dim = 4\nepochs = 2\n",
            "\"d_embedding\": 4, \"d_hidden\": 64",
        ),
        ("[[models]]\nkind = \"linear\"\nepochs = 3\n", "\"kind\": \"linear\""),
        ("[[models]]\nkind = \"gbdt\"\nnum_iterations = 40\n", "\"format\": \"kiln.trees.v1\""),
        (
            "[[models]]\nkind = \"gbdt\"\nnum_iterations = 20\ncategorical = \"native\"\n",
            "\"format\": \"kiln.trees.v1\"",
        ),
    ] {
        let config = dir.path().join("adult.toml");
        std::fs::write(&config, format!("{data_part}\n{model}")).expect("config");
        let config = config.display().to_string();
        let bundle = dir.path().join("model.safetensors").display().to_string();
        let (code, _, err) = kiln_at(&store, &["-q", "train", &config, "--out", &bundle]);
        assert_eq!(code, 0, "{err}");
        let raw = match &raw_csv {
            Some(path) => std::path::PathBuf::clone(path),
            None => {
                let (code, _, err) =
                    kiln_at(&store, &["-q", "data", "split", &config, "--out", &splits.display().to_string()]);
                assert_eq!(code, 0, "{err}");
                use polars::prelude::SerReader;
                let file = std::fs::File::open(splits.join("test.parquet")).expect("open");
                let mut df = polars::prelude::ParquetReader::new(file).finish().expect("parquet");
                let path = dir.path().join("test.csv");
                kiln_data::write::write_table(&path, kiln_data::config::FileFormat::Csv, &mut df).expect("csv");
                raw_csv = Some(path.clone());
                path
            }
        };
        let preds = dir.path().join("preds.csv");
        predict(&store, &bundle, &raw, &preds);
        if !python_ready {
            continue;
        }
        let check = std::process::Command::new("python3")
            .arg(repo("scripts/bundle_check.py"))
            .args([&bundle, "--data", &raw.display().to_string(), "--predictions", &preds.display().to_string()])
            .args(["--columns", "p_>50K", "--tolerance", "1e-5"])
            .output()
            .expect("run bundle_check.py");
        let stdout = String::from_utf8_lossy(&check.stdout);
        assert!(check.status.success(), "{stdout}{}", String::from_utf8_lossy(&check.stderr));
        assert!(stdout.contains("ok: 16281 rows"), "{stdout}");
        assert!(stdout.contains(architecture), "{architecture} in {stdout}");
    }
}

//! `scripts/bundle_check.py` reproduces, from the bundle alone, the predictions of every model
//! kind it supports (MLP, ResNet with embeddings, gradient-boosted trees) on multiclass and
//! regression tasks too (the Adult test in `train_predict.rs` covers binary; kiln-core's
//! `python_check.rs` the linear head on all three tasks): softmax over several outputs, trees
//! cycling over outputs, and the identity link, on generated rows with missing values.

use std::fmt::Write as _;
use std::path::Path;

use kiln_core::rng::Rng;

use crate::{kiln_at, repo};

/// 600 rows: two numbers (`x2` missing in about 5%), a five-valued category, and a
/// multiclass label and a regression target that depend on all three.
fn write_data(path: &Path) {
    let mut rng = Rng::new(17);
    let mut text = String::from("x1,x2,c,label,y\n");
    for _ in 0..600 {
        let (x1, x2) = (rng.normal(), rng.normal());
        let c = rng.below(5);
        let score = x1 + 0.5 * x2 + 0.4 * c as f64 + 0.5 * rng.normal();
        let label = if score < 0.0 {
            "lo"
        } else if score < 1.2 {
            "mid"
        } else {
            "hi"
        };
        let x2_text = if rng.uniform() < 0.05 { String::new() } else { format!("{x2:.5}") };
        writeln!(text, "{x1:.5},{x2_text},{},{label},{:.5}", ["a", "b", "c", "d", "e"][c as usize], 3.0 * score)
            .expect("write to a string");
    }
    std::fs::write(path, text).expect("write data");
}

fn config_text(task: &str, model: &str) -> String {
    let (target, other, classes) = match task {
        "multiclass" => ("label", "y", "classes = [\"lo\", \"mid\", \"hi\"]\n"),
        _ => ("y", "label", ""),
    };
    format!(
        "[project]\nname = \"t\"\ntask = \"{task}\"\n\n[data]\ntrain = \"data.csv\"\n\n[columns]\ntarget = \"{target}\"\n\
         {classes}numeric = [\"x1\", \"x2\"]\ncategorical = [\"c\"]\ndrop = [\"{other}\"]\n\n\
         [split]\nmethod = \"random\"\ntest_fraction = 0.25\nvalidation_fraction = 0.1\n\n\
         [preprocess]\nmin_frequency = 1\n\n{model}"
    )
}

#[test]
fn multiclass_and_regression_bundles_are_reproduced_by_the_python_script() {
    let python_ready = crate::python_can_check_bundles();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let data = dir.path().join("data.csv");
    write_data(&data);
    let models = [
        ("[[models]]\nkind = \"mlp\"\nhidden = [16, 16]\nnorm = \"batch\"\nepochs = 3\n", "\"kind\": \"mlp\""),
        ("[[models]]\nkind = \"resnet\"\nd_block = 16\nembedding_dim = 4\nepochs = 2\n", "\"d_embedding\": 4"),
        ("[[models]]\nkind = \"gbdt\"\nnum_iterations = 15\n", "\"format\": \"kiln.trees.v1\""),
    ];
    for (task, columns) in [("multiclass", "p_lo,p_mid,p_hi"), ("regression", "predicted")] {
        for (model, architecture) in models {
            let config = dir.path().join("t.toml");
            std::fs::write(&config, config_text(task, model)).expect("config");
            let bundle = dir.path().join("model.safetensors").display().to_string();
            let (code, _, err) = kiln_at(&store, &["-q", "train", &config.display().to_string(), "--out", &bundle]);
            assert_eq!(code, 0, "{task} {model}: {err}");
            let preds = dir.path().join("preds.csv").display().to_string();
            let data_arg = data.display().to_string();
            let (code, _, err) =
                kiln_at(&store, &["-q", "predict", "--bundle", &bundle, "--data", &data_arg, "--out", &preds]);
            assert_eq!(code, 0, "{task} {model}: {err}");
            if !python_ready {
                continue;
            }
            let check = std::process::Command::new("python3")
                .arg(repo("scripts/bundle_check.py"))
                .args([&bundle, "--data", &data_arg, "--predictions", &preds, "--columns", columns])
                .args(["--tolerance", "1e-5"])
                .output()
                .expect("run bundle_check.py");
            let stdout = String::from_utf8_lossy(&check.stdout);
            assert!(check.status.success(), "{task} {model}: {stdout}{}", String::from_utf8_lossy(&check.stderr));
            let outputs = if task == "multiclass" { 3 } else { 1 };
            assert!(stdout.contains(&format!("ok: 600 rows x {outputs} outputs agree")), "{task}: {stdout}");
            assert!(stdout.contains(architecture), "{architecture} in {stdout}");
        }
    }
}

//! The bundle opens outside kiln: `scripts/bundle_check.py` (numpy + safetensors) reads a
//! Linear bundle and reproduces predictions computed here by hand. Runs only where python3
//! has both packages; elsewhere it says it skipped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use kiln_core::bundle::{Architecture, Bundle, TensorData};
use kiln_core::schema::Task;

use crate::common::manifest;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bundle_check.py")
}

#[allow(clippy::print_stderr, reason = "a skipped check says so in the test output")]
fn python_ready() -> bool {
    let ready = Command::new("python3")
        .args(["-c", "import numpy, safetensors"])
        .output()
        .is_ok_and(|out| out.status.success());
    // CI sets KILN_REQUIRE_PYTHON so that the check can never be skipped there.
    assert!(
        ready || std::env::var_os("KILN_REQUIRE_PYTHON").is_none(),
        "KILN_REQUIRE_PYTHON is set but python3 cannot import numpy and safetensors"
    );
    if !ready {
        eprintln!("skip: python3 with numpy and safetensors not found; bundle_check.py not run");
    }
    ready
}

/// Encoded features: three inputs, four rows.
const FEATURES: [[f64; 3]; 4] = [[1.0, 2.0, 0.5], [0.0, 0.0, 0.0], [-1.5, 0.25, 3.0], [10.0, -4.0, -2.0]];

fn linear(task: Task, weight: &[f32], bias: &[f32]) -> Bundle {
    let n_outputs = bias.len();
    let architecture = Architecture::Linear { n_inputs: 3, n_outputs };
    let tensors = BTreeMap::from([
        ("linear.weight".to_string(), TensorData::from_f32(vec![n_outputs, 3], weight)),
        ("linear.bias".to_string(), TensorData::from_f32(vec![n_outputs], bias)),
    ]);
    Bundle::new(manifest(task, architecture), tensors)
}

/// `x · weightᵀ + bias` per row, in f64 from the f32 weights.
fn logits(weight: &[f32], bias: &[f32]) -> Vec<Vec<f64>> {
    FEATURES
        .iter()
        .map(|x| {
            bias.iter()
                .enumerate()
                .map(|(o, b)| f64::from(*b) + (0..3).map(|i| x[i] * f64::from(weight[o * 3 + i])).sum::<f64>())
                .collect()
        })
        .collect()
}

fn softmax(row: &[f64]) -> Vec<f64> {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = row.iter().map(|z| (z - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.iter().map(|e| e / total).collect()
}

fn write_csv(path: &Path, header: &[String], rows: &[Vec<f64>]) {
    let mut text = header.join(",");
    text.push('\n');
    for row in rows {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:?}")).collect();
        writeln!(text, "{}", cells.join(",")).expect("write to a string");
    }
    std::fs::write(path, text).expect("write csv");
}

/// Write the bundle, features and predictions, run the script, return (exit code, stdout).
fn check(dir: &Path, bundle: &Bundle, predictions: &[Vec<f64>]) -> (i32, String) {
    let bundle_path = dir.join("model.safetensors");
    bundle.write(&bundle_path).expect("write bundle");
    // An id column first, to show that only f0..f2 are read.
    let features: Vec<Vec<f64>> = FEATURES
        .iter()
        .enumerate()
        .map(|(i, x)| std::iter::once(i as f64).chain(x.iter().copied()).collect())
        .collect();
    let header = ["row_id", "f0", "f1", "f2"].map(String::from);
    write_csv(&dir.join("features.csv"), &header, &features);
    let columns: Vec<String> = (0..predictions[0].len()).map(|k| format!("p{k}")).collect();
    write_csv(&dir.join("predictions.csv"), &columns, predictions);
    let out = Command::new("python3")
        .arg(script())
        .arg(&bundle_path)
        .arg("--features")
        .arg(dir.join("features.csv"))
        .arg("--predictions")
        .arg(dir.join("predictions.csv"))
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

#[test]
fn binary_sigmoid_matches() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (weight, bias) = ([0.5, -1.0, 2.0], [0.25]);
    let expected: Vec<Vec<f64>> = logits(&weight, &bias).iter().map(|z| vec![1.0 / (1.0 + (-z[0]).exp())]).collect();
    // Row 0 by hand: 0.5 - 2 + 1 + 0.25 = -0.25, sigmoid(-0.25) = 0.43782349911420193.
    assert!((expected[0][0] - 0.437_823_499_114_201_93).abs() < 1e-15);
    let (code, output) = check(dir.path(), &linear(Task::Binary, &weight, &bias), &expected);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains(r#"architecture: {"kind": "linear", "n_inputs": 3, "n_outputs": 1}"#), "{output}");
    assert!(output.contains("tensor linear.weight float32 [1, 3]"), "{output}");
    assert!(output.contains("ok: 4 rows x 1 outputs agree"), "{output}");
}

#[test]
fn multiclass_softmax_matches() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let weight = [0.1, 0.2, 0.3, -0.5, 0.0, 1.5, 2.0, -1.0, 0.25];
    let bias = [0.0, 1.0, -1.0];
    let expected: Vec<Vec<f64>> = logits(&weight, &bias).iter().map(|z| softmax(z)).collect();
    // Row 1 is all zeros: logits = bias, softmax(0, 1, -1) = (1, e, 1/e) / (1 + e + 1/e).
    let e = std::f64::consts::E;
    assert!((expected[1][1] - e / (1.0 + e + 1.0 / e)).abs() < 1e-15);
    let (code, output) = check(dir.path(), &linear(Task::Multiclass, &weight, &bias), &expected);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("ok: 4 rows x 3 outputs agree"), "{output}");
}

#[test]
fn regression_identity_matches() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (weight, bias) = ([1.0, 1.0, 1.0], [-0.5]);
    let expected = logits(&weight, &bias);
    // Row 3 by hand: 10 - 4 - 2 - 0.5 = 3.5.
    assert_eq!(expected[3], [3.5]);
    let (code, output) = check(dir.path(), &linear(Task::Regression, &weight, &bias), &expected);
    assert_eq!(code, 0, "{output}");
}

#[test]
fn mismatch_exits_one() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (weight, bias) = ([1.0, 1.0, 1.0], [-0.5]);
    let mut wrong = logits(&weight, &bias);
    wrong[2][0] += 1e-4;
    let (code, output) = check(dir.path(), &linear(Task::Regression, &weight, &bias), &wrong);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("mismatch: row 2 column p0"), "{output}");
}

#[test]
fn summary_of_any_bundle() {
    if !python_ready() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("gbdt.safetensors");
    let arch = Architecture::Gbdt { library: "lightgbm".into(), n_outputs: 1, format: "kiln.trees.v1".into() };
    crate::common::bundle(arch).write(&path).expect("write");
    let out = Command::new("python3").arg(script()).arg(&path).output().expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("format: kiln.bundle.v1  task: binary"), "{stdout}");
    assert!(stdout.contains("tensor gbdt.threshold float64 [5]"), "{stdout}");
    assert!(stdout.contains("tensor preprocess.numeric.center float32 [2]"), "{stdout}");
}

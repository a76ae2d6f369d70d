//! Unit tests of the bundle file format on in-memory bytes; files on disk are tested in
//! `tests/it/bundle_*.rs`.

use std::collections::HashMap;

use super::*;
use crate::preprocess::{ColumnRef, PreprocessConfig};
use crate::schema::{Column, DType, Role, Schema, Task};

fn manifest(architecture: Architecture) -> Manifest {
    let x = [Some(1.0), Some(3.0)];
    let preprocessor =
        Preprocessor::fit(&PreprocessConfig::default(), &[("x", ColumnRef::Numeric(&x))]).expect("fit preprocessor");
    let schema = Schema {
        task: Task::Regression,
        columns: vec![
            Column {
                name: "x".into(),
                dtype: DType::Float,
                role: Role::Numeric,
                segment: false,
                protected: false,
                pii: false,
            },
            Column {
                name: "y".into(),
                dtype: DType::Float,
                role: Role::Target,
                segment: false,
                protected: false,
                pii: false,
            },
        ],
        target: "y".into(),
        classes: vec![],
    };
    let reference = ReferenceDistributions::fit(&preprocessor, &[("x", ColumnRef::Numeric(&x))]).expect("reference");
    Manifest {
        format_version: FORMAT_VERSION.into(),
        task: Task::Regression,
        schema,
        preprocessor,
        architecture,
        hyperparameters: serde_json::json!({}),
        data: DataHashes { data_hash: "d".into(), schema_hash: "s".into(), split_hash: "p".into() },
        metrics: BTreeMap::from([("rmse".to_string(), 0.5)]),
        reference,
        git_commit: None,
        git_dirty: false,
        kiln_version: KILN_VERSION.into(),
        created_at: "2025-01-02T03:04:05Z".into(),
        device: "cpu".into(),
        decision_threshold: None,
    }
}

fn linear() -> Bundle {
    let tensors = BTreeMap::from([
        ("linear.weight".to_string(), TensorData::from_f32(vec![1, 1], &[2.0])),
        ("linear.bias".to_string(), TensorData::from_f32(vec![1], &[0.5])),
    ]);
    Bundle::new(manifest(Architecture::Linear { n_inputs: 1, n_outputs: 1 }), tensors)
}

#[test]
fn new_adds_the_preprocessor_state() {
    let bundle = linear();
    // x = 1, 3: mean 2, population std 1.
    let center = bundle.tensor(PREPROCESS_CENTER).expect("center").to_f32().expect("f32");
    let scale = bundle.tensor(PREPROCESS_SCALE).expect("scale").to_f32().expect("f32");
    let fill = bundle.tensor(PREPROCESS_FILL).expect("fill").to_f32().expect("f32");
    assert_eq!((center, scale, fill), (vec![2.0], vec![1.0], vec![2.0]));
}

#[test]
fn bytes_round_trip_and_are_deterministic() {
    let bundle = linear();
    let path = Path::new("memory.safetensors");
    let bytes = bundle.to_bytes(path).expect("encode");
    assert_eq!(bytes, linear().to_bytes(path).expect("encode again"));
    let back = Bundle::from_bytes(&bytes, path).expect("decode");
    assert_eq!(back, bundle);
    assert_eq!(back.to_bytes(path).expect("re-encode"), bytes);
}

#[test]
fn header_holds_only_the_manifest_key() {
    let bytes = linear().to_bytes(Path::new("m")).expect("encode");
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).expect("header");
    let metadata = header.metadata().as_ref().expect("metadata");
    assert_eq!(metadata.keys().collect::<Vec<_>>(), [MANIFEST_KEY]);
    let json: serde_json::Value = serde_json::from_str(&metadata[MANIFEST_KEY]).expect("manifest json");
    assert_eq!(json["format_version"], FORMAT_VERSION);
    assert_eq!(json["architecture"]["kind"], "linear");
    assert_eq!(json["data"]["split_hash"], "p");
}

#[test]
fn nan_metric_is_written_as_null_and_read_as_nan() {
    let mut bundle = linear();
    bundle.manifest.metrics.insert("auc".into(), f64::NAN);
    let bytes = bundle.to_bytes(Path::new("m")).expect("encode");
    let back = Bundle::from_bytes(&bytes, Path::new("m")).expect("decode");
    assert!(back.manifest.metrics["auc"].is_nan());
    assert_eq!(back.manifest.metrics["rmse"], 0.5);
}

#[test]
fn manifest_without_version_is_a_parse_error() {
    let with_header = |text: &str| {
        let metadata = HashMap::from([(MANIFEST_KEY.to_string(), text.to_string())]);
        safetensors::serialize(linear().tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(metadata)).expect("raw")
    };
    let path = Path::new("b.safetensors");
    let err = Bundle::from_bytes(&with_header(r#"{"task": "binary"}"#), path).expect_err("no version");
    assert!(matches!(err, Error::ParseHeader { .. }), "{err:?}");
    let err = Bundle::from_bytes(&with_header(r#"{"format_version": "kiln.bundle.v9"}"#), path).expect_err("v9");
    assert!(
        matches!(&err, Error::UnsupportedFormatVersion { found, newer: true, .. } if found == "kiln.bundle.v9"),
        "{err:?}"
    );
}

#[test]
fn a_bundle_is_a_container_of_the_bundle_format() {
    let bytes = linear().to_bytes(Path::new("m")).expect("encode");
    let (manifest, tensors) = container::from_bytes::<Manifest>(&bytes, Path::new("m")).expect("container");
    assert_eq!(Bundle { manifest, tensors }, linear());
    assert_eq!(FORMAT_VERSION, "kiln.bundle.v1");
    assert_eq!(MANIFEST_KEY, "kiln.manifest");
}

#[test]
fn inconsistent_tensor_bytes_are_refused_before_encoding() {
    let mut bundle = linear();
    bundle.tensors.insert("extra".into(), TensorData::from_f32(vec![3], &[1.0]));
    let err = bundle.to_bytes(Path::new("out.safetensors")).expect_err("short buffer");
    assert!(matches!(&err, Error::TensorSize { tensor, expected: 12, found: 4, .. } if tensor == "extra"), "{err:?}");
    assert_eq!(err.to_string(), "tensor `extra` for out.safetensors has 4 bytes, but shape [3] of F32 needs 12");
}

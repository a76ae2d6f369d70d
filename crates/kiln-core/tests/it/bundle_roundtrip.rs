//! Bundles through real files: every architecture and tensor dtype comes back equal, output
//! is byte-identical for the same bundle, and the file is an ordinary safetensors file.

use std::collections::BTreeMap;

use kiln_core::bundle::{
    Bundle, MANIFEST_KEY, PREPROCESS_CENTER, PREPROCESS_FILL, PREPROCESS_SCALE, TensorData, TensorDtype,
};
use kiln_core::schema::Task;

use crate::common::{all_architectures, bundle, file_names, linear_bundle, manifest, model_tensors};

#[test]
fn every_architecture_round_trips_through_a_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    for architecture in all_architectures() {
        let kind = architecture.kind();
        let original = bundle(architecture);
        let path = dir.path().join(format!("{kind}.safetensors"));
        original.write(&path).expect(kind);
        let back = Bundle::read(&path).expect(kind);
        assert_eq!(back, original, "{kind}");
        assert_eq!(back.manifest.architecture.kind(), kind);
    }
}

#[test]
fn every_task_round_trips() {
    let dir = tempfile::tempdir().expect("temp dir");
    for task in [Task::Binary, Task::Multiclass, Task::Regression] {
        let architecture = kiln_core::bundle::Architecture::Linear { n_inputs: 7, n_outputs: 3 };
        let original = Bundle::new(manifest(task, architecture.clone()), model_tensors(&architecture));
        let path = dir.path().join(format!("{}.safetensors", task.as_str()));
        original.write(&path).expect("write");
        assert_eq!(Bundle::read(&path).expect("read").manifest.task, task);
    }
}

#[test]
fn every_tensor_dtype_round_trips() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut original = linear_bundle();
    let extras = [
        ("extra.f32", TensorData::from_f32(vec![2, 3], &[0.0, -1.5, f32::MIN_POSITIVE, f32::MAX, f32::INFINITY, -0.0])),
        ("extra.u8", TensorData::from_bytes(vec![0, 1, 254, 255])),
        ("extra.i64", TensorData::from_i64(vec![3, 1], &[i64::MIN, 0, i64::MAX])),
        ("extra.scalar", TensorData::from_f32(vec![], &[42.0])),
        ("extra.empty", TensorData::from_f32(vec![0, 4], &[])),
    ];
    for (name, tensor) in extras.clone() {
        original.tensors.insert(name.to_string(), tensor);
    }
    let path = dir.path().join("dtypes.safetensors");
    original.write(&path).expect("write");
    let back = Bundle::read(&path).expect("read");
    assert_eq!(back, original);
    let f32s = back.tensor("extra.f32").expect("f32 tensor").to_f32().expect("f32");
    assert_eq!(f32s[4], f32::INFINITY);
    assert!(f32s[5].is_sign_negative());
    assert_eq!(back.tensor("extra.u8").expect("u8").dtype, TensorDtype::U8);
    assert_eq!(back.tensor("extra.i64").expect("i64").to_i64().expect("i64"), [i64::MIN, 0, i64::MAX]);
    assert_eq!(back.tensor("extra.scalar").expect("scalar").shape, Vec::<usize>::new());
    assert_eq!(back.tensor("extra.empty").expect("empty").shape, [0, 4]);
}

#[test]
fn same_bundle_gives_identical_bytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b, c) =
        (dir.path().join("a.safetensors"), dir.path().join("b.safetensors"), dir.path().join("c.safetensors"));
    linear_bundle().write(&a).expect("write a");
    linear_bundle().write(&b).expect("write b");
    Bundle::read(&a).expect("read a").write(&c).expect("write c");
    let bytes = std::fs::read(&a).expect("a");
    assert_eq!(bytes, std::fs::read(&b).expect("b"));
    assert_eq!(bytes, std::fs::read(&c).expect("c"), "read then write changes nothing");
    assert_eq!(Bundle::content_hash(&a).expect("hash a"), Bundle::content_hash(&c).expect("hash c"));
}

#[test]
fn content_hash_is_the_core_hash_of_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("m.safetensors");
    linear_bundle().write(&path).expect("write");
    let bytes = std::fs::read(&path).expect("bytes");
    let hash = Bundle::content_hash(&path).expect("hash");
    assert_eq!(hash, kiln_core::hash::content_hash(&[&bytes]));
    assert_eq!(hash.len(), 64);

    let mut other = linear_bundle();
    other.manifest.created_at = "2025-06-02T12:00:00Z".into();
    other.write(&path).expect("overwrite");
    assert_ne!(Bundle::content_hash(&path).expect("hash"), hash);
}

#[test]
fn file_is_plain_safetensors_with_the_manifest_and_preprocessor_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("m.safetensors");
    let original = linear_bundle();
    original.write(&path).expect("write");
    let bytes = std::fs::read(&path).expect("bytes");
    let file = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    let mut names = file.names();
    names.sort_unstable();
    assert_eq!(names, ["linear.bias", "linear.weight", PREPROCESS_CENTER, PREPROCESS_FILL, PREPROCESS_SCALE]);
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).expect("header");
    let manifest: serde_json::Value =
        serde_json::from_str(&header.metadata().as_ref().expect("metadata")[MANIFEST_KEY]).expect("manifest json");
    for key in [
        "format_version",
        "task",
        "schema",
        "preprocessor",
        "architecture",
        "hyperparameters",
        "data",
        "metrics",
        "reference",
        "git_commit",
        "git_dirty",
        "kiln_version",
        "created_at",
        "device",
    ] {
        assert!(manifest.get(key).is_some(), "manifest lacks {key}");
    }
    // age: 20, 30, 50 present: mean 100/3, filled with the mean; hours: 40, 40, 10, 30: mean 30,
    // population std sqrt((100 + 100 + 400 + 0) / 4) = sqrt(150).
    let center = file.tensor(PREPROCESS_CENTER).expect("center");
    let center: Vec<f32> =
        center.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    assert_eq!(center, [(100.0f64 / 3.0) as f32, 30.0]);
    let scale = original.tensor(PREPROCESS_SCALE).expect("scale").to_f32().expect("f32");
    assert_eq!(scale[1], 150f64.sqrt() as f32);
    assert_eq!(original.tensor(PREPROCESS_FILL).expect("fill").to_f32().expect("f32"), center);
}

#[test]
fn written_file_is_0644_and_no_temp_file_remains() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested/models/m.safetensors");
    linear_bundle().write(&path).expect("write creates parent folders");
    assert_eq!(file_names(path.parent().expect("parent")), ["m.safetensors"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }
}

#[test]
fn overwriting_replaces_the_bundle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("m.safetensors");
    linear_bundle().write(&path).expect("first write");
    let mut second = linear_bundle();
    second.manifest.metrics = BTreeMap::from([("accuracy".to_string(), 0.5)]);
    second.write(&path).expect("second write");
    assert_eq!(Bundle::read(&path).expect("read").manifest.metrics["accuracy"], 0.5);
    assert_eq!(file_names(dir.path()), ["m.safetensors"]);
}

//! Every way a bundle file can be wrong gives its own error variant, naming the path and,
//! where there is one, the tensor; and a failed write leaves nothing behind.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use kiln_core::Error;
use kiln_core::bundle::{Bundle, FORMAT_VERSION, MANIFEST_KEY, TensorData, TensorDtype};

use crate::common::{file_names, linear_bundle};

/// Write tensors and metadata as a safetensors file without any of `Bundle::write`'s checks.
fn write_raw(path: &Path, tensors: &BTreeMap<String, TensorData>, metadata: Option<HashMap<String, String>>) {
    let bytes = safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), metadata).expect("serialize");
    std::fs::write(path, bytes).expect("write raw file");
}

fn manifest_metadata(bundle: &Bundle) -> HashMap<String, String> {
    HashMap::from([(MANIFEST_KEY.to_string(), serde_json::to_string(&bundle.manifest).expect("manifest json"))])
}

/// The error's message, with `path` replaced by `<path>`.
fn message(err: &Error, path: &Path) -> String {
    err.to_string().replace(&path.display().to_string(), "<path>")
}

#[test]
fn missing_file_is_a_read_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("absent.safetensors");
    let err = Bundle::read(&path).expect_err("absent");
    assert!(matches!(&err, Error::ReadFile { path: p, .. } if p == &path), "{err:?}");
    assert_eq!(message(&err, &path), "could not read bundle <path>");
}

#[test]
fn corrupt_file_is_a_parse_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("corrupt.safetensors");
    std::fs::write(&path, b"this is not a safetensors file, just some text").expect("write");
    let err = Bundle::read(&path).expect_err("corrupt");
    assert!(matches!(&err, Error::ParseFile { path: p, .. } if p == &path), "{err:?}");
    assert_eq!(
        message(&err, &path),
        "bundle <path> is not a valid safetensors file\nhint: the file may be truncated or corrupt; export the model again"
    );
}

#[test]
fn truncated_file_is_a_parse_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("truncated.safetensors");
    linear_bundle().write(&path).expect("write");
    let bytes = std::fs::read(&path).expect("bytes");
    for keep in [bytes.len() - 1, bytes.len() / 2, 20, 3, 0] {
        std::fs::write(&path, &bytes[..keep]).expect("truncate");
        let err = Bundle::read(&path).expect_err("truncated");
        assert!(matches!(&err, Error::ParseFile { path: p, .. } if p == &path), "kept {keep}: {err:?}");
    }
}

#[test]
fn safetensors_file_without_manifest_is_not_a_bundle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("plain.safetensors");
    let tensors = linear_bundle().tensors;
    write_raw(&path, &tensors, None);
    let err = Bundle::read(&path).expect_err("no metadata");
    assert!(matches!(&err, Error::MissingHeader { path: p, .. } if p == &path), "{err:?}");
    assert!(message(&err, &path).starts_with("<path> is a safetensors file without a `kiln.manifest` metadata entry"));

    write_raw(&path, &tensors, Some(HashMap::from([("format".to_string(), "pt".to_string())])));
    let err = Bundle::read(&path).expect_err("other metadata");
    assert!(matches!(err, Error::MissingHeader { .. }), "{err:?}");
}

#[test]
fn manifest_that_is_not_json_or_not_a_manifest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad-manifest.safetensors");
    let tensors = linear_bundle().tensors;
    for text in ["{not json", r#"{"format_version": "kiln.bundle.v1"}"#, "[]"] {
        write_raw(&path, &tensors, Some(HashMap::from([(MANIFEST_KEY.to_string(), text.to_string())])));
        let err = Bundle::read(&path).expect_err(text);
        assert!(matches!(&err, Error::ParseHeader { path: p, .. } if p == &path), "{text}: {err:?}");
        assert_eq!(
            message(&err, &path),
            "the `kiln.manifest` metadata of bundle <path> is not a valid `kiln.bundle.v1` header"
        );
    }
}

#[test]
fn unknown_format_version_is_refused_on_read_and_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("future.safetensors");
    let mut bundle = linear_bundle();
    bundle.manifest.format_version = "kiln.bundle.v2".into();
    write_raw(&path, &bundle.tensors, Some(manifest_metadata(&bundle)));
    let err = Bundle::read(&path).expect_err("v2");
    assert!(
        matches!(&err, Error::UnsupportedFormatVersion { path: p, found, format, newer: true }
            if p == &path && found == "kiln.bundle.v2" && format.name == FORMAT_VERSION),
        "{err:?}"
    );
    assert_eq!(
        message(&err, &path),
        "bundle <path> has format version `kiln.bundle.v2`, but this kiln reads only `kiln.bundle.v1`\n\
         hint: the file was written by a newer kiln: read it with that version, or export the model again"
    );

    let out = dir.path().join("out.safetensors");
    let err = bundle.write(&out).expect_err("cannot write v2");
    assert!(matches!(err, Error::UnsupportedFormatVersion { .. }), "{err:?}");
    assert!(!out.exists());
}

#[test]
fn missing_tensor_names_the_tensor() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("no-bias.safetensors");
    let mut bundle = linear_bundle();
    bundle.tensors.remove("linear.bias");
    write_raw(&path, &bundle.tensors, Some(manifest_metadata(&bundle)));
    let err = Bundle::read(&path).expect_err("missing bias");
    assert!(
        matches!(&err, Error::MissingTensor { path: p, tensor } if p == &path && tensor == "linear.bias"),
        "{err:?}"
    );
    assert_eq!(message(&err, &path), "bundle <path> has no tensor `linear.bias`, which its manifest requires");

    let out = dir.path().join("out.safetensors");
    let err = bundle.write(&out).expect_err("cannot write without bias");
    assert!(matches!(&err, Error::MissingTensor { path: p, tensor } if p == &out && tensor == "linear.bias"));
    assert_eq!(file_names(dir.path()), ["no-bias.safetensors"]);
}

#[test]
fn missing_preprocessor_state_names_the_tensor() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("no-scale.safetensors");
    let mut bundle = linear_bundle();
    bundle.tensors.remove("preprocess.numeric.scale");
    write_raw(&path, &bundle.tensors, Some(manifest_metadata(&bundle)));
    let err = Bundle::read(&path).expect_err("missing scale");
    assert!(matches!(&err, Error::MissingTensor { tensor, .. } if tensor == "preprocess.numeric.scale"), "{err:?}");
}

#[test]
fn shape_mismatch_names_the_tensor_and_both_shapes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad-shape.safetensors");
    let mut bundle = linear_bundle();
    // The manifest says 7 inputs, 1 output: the weight must be [1, 7].
    bundle.tensors.insert("linear.weight".into(), TensorData::from_f32(vec![7, 1], &[0.5; 7]));
    write_raw(&path, &bundle.tensors, Some(manifest_metadata(&bundle)));
    let err = Bundle::read(&path).expect_err("transposed weight");
    assert!(
        matches!(&err, Error::ShapeMismatch { path: p, tensor, expected, found }
            if p == &path && tensor == "linear.weight" && expected == &[Some(1), Some(7)] && found == &[7, 1]),
        "{err:?}"
    );
    assert_eq!(
        message(&err, &path),
        "tensor `linear.weight` of bundle <path> has shape [7, 1], but its manifest requires [1, 7]"
    );

    let out = dir.path().join("out.safetensors");
    assert!(matches!(bundle.write(&out), Err(Error::ShapeMismatch { .. })));
    assert!(!out.exists());
}

#[test]
fn gbdt_tree_tensors_must_be_rank_one_of_their_dtype() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("gbdt.safetensors");
    let arch = kiln_core::bundle::Architecture::Gbdt {
        library: "lightgbm 4.7.0".into(),
        n_outputs: 1,
        format: kiln_core::model::TREES_FORMAT.into(),
    };
    let mut bundle = crate::common::bundle(arch);
    bundle.tensors.insert("gbdt.threshold".into(), TensorData::from_f32(vec![2], &[1.0, 2.0]));
    let err = bundle.write(&path).expect_err("f32 thresholds");
    assert!(
        matches!(&err, Error::TensorDtypeMismatch { tensor, expected: TensorDtype::F64, found: TensorDtype::F32, .. }
            if tensor == "gbdt.threshold"),
        "{err:?}"
    );
    let matrix = TensorData::from_f64(vec![2, 2], &[1.0, 2.0, 3.0, 4.0]);
    bundle.tensors.insert("gbdt.threshold".into(), matrix);
    let err = bundle.write(&path).expect_err("rank 2");
    assert!(message(&err, &path).ends_with("has shape [2, 2], but its manifest requires [?]"), "{err}");
}

#[test]
fn unsupported_tensor_dtype_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("f16.safetensors");
    let bundle = linear_bundle();
    let half = safetensors::tensor::TensorView::new(safetensors::Dtype::F16, vec![2], &[0, 60, 0, 60]).expect("view");
    let mut views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bundle
        .tensors
        .iter()
        .map(|(n, t)| {
            let dtype = match t.dtype {
                TensorDtype::F32 => safetensors::Dtype::F32,
                TensorDtype::U8 => safetensors::Dtype::U8,
                TensorDtype::I64 => safetensors::Dtype::I64,
                TensorDtype::F64 => safetensors::Dtype::F64,
            };
            (n.clone(), safetensors::tensor::TensorView::new(dtype, t.shape.clone(), &t.bytes).expect("view"))
        })
        .collect();
    views.push(("half".into(), half));
    let bytes = safetensors::serialize(views, Some(manifest_metadata(&bundle))).expect("serialize");
    std::fs::write(&path, bytes).expect("write");
    let err = Bundle::read(&path).expect_err("f16");
    assert!(matches!(&err, Error::UnsupportedTensorDtype { tensor, dtype, .. } if tensor == "half" && dtype == "F16"));
    assert!(message(&err, &path).ends_with("hint: kiln files hold only F32, F64, U8 and I64 tensors"), "{err}");
}

#[test]
fn failed_write_leaves_no_temp_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The target is an existing folder: the temporary file is written, the rename fails.
    let target = dir.path().join("taken.safetensors");
    std::fs::create_dir(&target).expect("folder");
    let err = linear_bundle().write(&target).expect_err("rename onto a folder");
    assert!(matches!(&err, Error::WriteFile { path, .. } if path == &target), "{err:?}");
    assert_eq!(message(&err, &target), "could not write bundle <path>");
    assert_eq!(file_names(dir.path()), ["taken.safetensors"]);
    assert!(file_names(&target).is_empty());

    // The parent is a file: nothing can be created at all.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").expect("file");
    let err = linear_bundle().write(&blocker.join("m.safetensors")).expect_err("parent is a file");
    assert!(matches!(err, Error::WriteFile { .. }), "{err:?}");
    assert_eq!(file_names(dir.path()), ["file", "taken.safetensors"]);
}

#[test]
fn failed_write_keeps_the_previous_bundle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("m.safetensors");
    linear_bundle().write(&path).expect("write");
    let before = std::fs::read(&path).expect("bytes");
    let mut broken = linear_bundle();
    broken.tensors.remove("linear.weight");
    assert!(broken.write(&path).is_err());
    assert_eq!(std::fs::read(&path).expect("bytes"), before);
    assert_eq!(file_names(dir.path()), ["m.safetensors"]);
}

//! The container on its own: round trips, kinds and versions told apart, damaged files
//! refused with typed errors; bundles through it are tested in `crate::bundle`.

use serde::Deserialize;

use super::*;

/// A header of the checkpoint format, for tests of the container alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Note {
    format_version: String,
    text: String,
    bits: u64,
}

impl Header for Note {
    const FORMAT: &'static Format = &CHECKPOINT;

    fn format_version(&self) -> &str {
        &self.format_version
    }
}

/// A header of the bundle kind that is not a manifest, to write bundle-kind files of any version.
#[derive(Debug, Serialize, Deserialize)]
struct BundleKind {
    format_version: String,
}

impl Header for BundleKind {
    const FORMAT: &'static Format = &BUNDLE;

    fn format_version(&self) -> &str {
        &self.format_version
    }
}

fn note(version: &str) -> Note {
    Note { format_version: version.to_string(), text: "epoch 3".to_string(), bits: f64::NAN.to_bits() }
}

fn tensors() -> Tensors {
    BTreeMap::from([
        ("b.order".to_string(), TensorData::from_i64(vec![3], &[2, 0, 1])),
        ("a.weight".to_string(), TensorData::from_f32(vec![2, 2], &[1.0, -2.0, 0.5, f32::MIN_POSITIVE])),
    ])
}

/// Encode without the version check, as a file of another kiln would be.
fn raw(header: &impl Serialize, tensors: &Tensors) -> Vec<u8> {
    let json = serde_json::to_string(header).expect("json");
    let metadata = HashMap::from([(HEADER_KEY.to_string(), json)]);
    safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(metadata)).expect("serialize")
}

#[test]
fn format_names_split_into_kind_and_version() {
    assert_eq!((BUNDLE.kind(), BUNDLE.version()), ("kiln.bundle", 1));
    assert_eq!((CHECKPOINT.kind(), FINISHED.kind()), ("kiln.checkpoint", "kiln.finished"));
    assert_eq!(split_name("kiln.bundle.v12"), Some(("kiln.bundle", 12)));
    assert_eq!(split_name("KILNCKPT"), None);
    assert_eq!(noun_of("kiln.finished.v7"), "finished-model file");
    assert_eq!(noun_of("pt"), "file");
}

#[test]
fn a_file_round_trips_and_its_bytes_are_deterministic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.ckpt");
    let header = note(CHECKPOINT.name);
    write(&path, &header, &tensors()).expect("write");
    let (back, back_tensors): (Note, Tensors) = read(&path).expect("read");
    assert_eq!(back, header);
    assert_eq!(back_tensors, tensors());
    assert!(f64::from_bits(back.bits).is_nan(), "bits survive exactly");
    let bytes = std::fs::read(&path).expect("bytes");
    assert_eq!(bytes, to_bytes(&path, &header, &tensors()).expect("encode again"));
    let entries: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(entries, ["state.ckpt"], "no temporary file is left");
}

#[test]
fn a_file_of_another_kind_names_both_formats() {
    let bytes = to_bytes(Path::new("m"), &note(CHECKPOINT.name), &tensors()).expect("encode");
    let err = from_bytes::<BundleKind>(&bytes, Path::new("run/m.ckpt")).expect_err("a checkpoint is not a bundle");
    assert!(
        matches!(&err, Error::WrongFormat { found, expected, .. } if found == "kiln.checkpoint.v1" && expected.name == BUNDLE.name),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "run/m.ckpt is a training checkpoint (format `kiln.checkpoint.v1`), not a bundle (format `kiln.bundle.v1`)\n\
         hint: pass a bundle in its place, or export the model again"
    );
}

#[test]
fn a_newer_or_older_version_is_refused_with_its_hint() {
    let path = Path::new("m.ckpt");
    let err = from_bytes::<Note>(&raw(&note("kiln.checkpoint.v2"), &tensors()), path).expect_err("v2");
    assert!(
        matches!(&err, Error::UnsupportedFormatVersion { found, newer: true, .. } if found == "kiln.checkpoint.v2"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "training checkpoint m.ckpt has format version `kiln.checkpoint.v2`, but this kiln reads only \
         `kiln.checkpoint.v1`\nhint: the file was written by a newer kiln: read it with that version, or delete \
         the file to train this model again from its first epoch"
    );
    let err = from_bytes::<Note>(&raw(&note("kiln.checkpoint.v0"), &tensors()), path).expect_err("v0");
    assert!(matches!(&err, Error::UnsupportedFormatVersion { newer: false, .. }), "{err:?}");
    assert!(err.to_string().contains("hint: the file was written by an older kiln"), "{err}");
    // Nor is a file written with another version: nothing is encoded.
    let err = to_bytes(path, &note("kiln.checkpoint.v2"), &tensors()).expect_err("write v2");
    assert!(matches!(err, Error::UnsupportedFormatVersion { .. }), "{err:?}");
}

#[test]
fn a_header_without_its_fields_or_a_file_without_a_header_is_refused() {
    let path = Path::new("m.ckpt");
    let err = from_bytes::<Note>(&raw(&BundleKind { format_version: CHECKPOINT.name.into() }, &tensors()), path)
        .expect_err("no text");
    assert!(matches!(err, Error::ParseHeader { format: &CHECKPOINT, .. }), "{err:?}");
    let plain = safetensors::serialize(tensors().iter().map(|(n, t)| (n.as_str(), t)), None).expect("plain");
    let err = from_bytes::<Note>(&plain, path).expect_err("no header");
    assert!(matches!(err, Error::MissingHeader { format: &CHECKPOINT, .. }), "{err:?}");
}

#[test]
fn every_truncation_and_damaged_byte_gives_a_typed_error_not_a_panic() {
    let path = Path::new("m.ckpt");
    let bytes = to_bytes(path, &note(CHECKPOINT.name), &tensors()).expect("encode");
    for keep in 0..bytes.len() {
        let err = from_bytes::<Note>(&bytes[..keep], path).expect_err("truncated");
        assert!(matches!(err, Error::ParseFile { .. } | Error::ParseHeader { .. }), "kept {keep}: {err:?}");
    }
    // A damaged byte in the header or the tensors' index is reported, never a panic; one in
    // the tensor data reads back (formats that must notice it keep a checksum in their header).
    let (n_header, _) = safetensors::SafeTensors::read_metadata(&bytes).expect("header");
    for at in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x5a;
        let result = from_bytes::<Note>(&damaged, path);
        if at >= 8 + n_header {
            assert!(result.is_ok(), "byte {at} is tensor data");
        }
    }
}

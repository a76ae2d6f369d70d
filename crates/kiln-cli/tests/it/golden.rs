//! `kiln data snapshot` and `kiln data split` report the pinned identity of the shipped Adult
//! data (`crates/kiln-data/tests/fixtures/adult_hashes.json`): what users record and compare
//! across runs and kiln versions.

use serde_json::Value;

use crate::{kiln_at, repo};

fn golden() -> Value {
    let text = std::fs::read_to_string(repo("crates/kiln-data/tests/fixtures/adult_hashes.json")).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

#[test]
fn snapshot_and_split_report_the_pinned_adult_hashes() {
    let golden = golden();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let manifest = dir.path().join("snapshot.json").display().to_string();
    let config = repo("configs/adult.toml");
    let (code, out, err) =
        kiln_at(&store, &["-q", "data", "snapshot", &config, "--out", &manifest, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let snap: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(snap["dataset_hash"], golden["dataset_hash"]);
    assert_eq!(snap["schema_hash"], golden["schema_hash"]);
    assert_eq!(snap["split"]["hash"], golden["split"]["hash"]);
    for file in snap["files"].as_array().expect("files") {
        let role = file["role"].as_str().expect("role");
        assert_eq!(file["data_hash"], golden["files"][role]["data_hash"], "{role}");
        assert_eq!(file["n_rows"], golden["files"][role]["n_rows"], "{role}");
    }

    let splits = dir.path().join("splits").display().to_string();
    let (code, out, err) = kiln_at(&store, &["-q", "data", "split", &config, "--out", &splits, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let manifest: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(manifest["split_hash"], golden["split"]["hash"]);
    assert_eq!(manifest["schema_hash"], golden["schema_hash"]);
    let files = manifest["files"].as_array().expect("files");
    assert_eq!(files.len(), 3);
    for file in files {
        let part = file["part"].as_str().expect("part");
        assert_eq!(file["data_hash"], golden["split"]["parts"][part]["data_hash"], "{part}");
        assert_eq!(file["n_rows"], golden["split"]["parts"][part]["n_rows"], "{part}");
    }
}

//! A new user's path through the data layer: generate data, validate it, version it, split
//! it, and see that a changed cell changes the version.

fn kiln(store: &str, args: &[&str]) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut full = vec!["kiln", "--quiet", "--store", store];
    full.extend_from_slice(args);
    let code = kiln_cli::run(full, &mut out, &mut err);
    (code, String::from_utf8_lossy(&out).into_owned(), String::from_utf8_lossy(&err).into_owned())
}

#[test]
fn synth_validate_snapshot_split() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("synth.parquet").display().to_string();
    let config = dir.path().join("synth.toml").display().to_string();
    let store = dir.path().join("kiln.db").display().to_string();
    let kiln = |args: &[&str]| kiln(&store, args);
    let (code, _, err) = kiln(&["data", "synth", "--rows", "20000", "--seed", "3", "--out", &data]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = kiln(&["data", "validate", &config]);
    assert_eq!(code, 0, "{out}{err}");

    let snap = |name: &str| -> serde_json::Value {
        let path = dir.path().join(name).display().to_string();
        let (code, _, err) = kiln(&["data", "snapshot", &config, "--out", &path]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&std::fs::read_to_string(&path).expect("manifest")).expect("json")
    };
    let first = snap("a.json");
    let split_dir = dir.path().join("splits").display().to_string();
    let (code, out, err) = kiln(&["data", "split", &config, "--out", &split_dir, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let manifest: serde_json::Value = serde_json::from_str(&out).expect("json");
    let total: u64 =
        manifest["files"].as_array().expect("files").iter().map(|f| f["n_rows"].as_u64().expect("n")).sum();
    assert_eq!(total, 20000);

    // Same seed again: same version. Another seed: another version.
    let (code, _, _) = kiln(&["data", "synth", "--rows", "20000", "--seed", "3", "--out", &data]);
    assert_eq!(code, 0);
    assert_eq!(snap("b.json")["dataset_hash"], first["dataset_hash"]);
    let (code, _, _) = kiln(&["data", "synth", "--rows", "20000", "--seed", "4", "--out", &data]);
    assert_eq!(code, 0);
    assert_ne!(snap("c.json")["dataset_hash"], first["dataset_hash"]);
}

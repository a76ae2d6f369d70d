//! The real `kiln` binary: exit codes and stream separation.

use std::process::Command;

#[test]
fn the_binary_validates_adult_and_fails_cleanly_on_a_missing_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db");
    let ok = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .env("KILN_STORE", &store)
        .args(["--quiet", "data", "validate", &crate::repo("configs/adult.toml"), "--format", "json"])
        .output()
        .expect("spawn kiln");
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let json: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("stdout is JSON");
    assert_eq!(json["passed"], true);

    assert!(store.exists(), "KILN_STORE is honoured");
    let missing = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .env("KILN_STORE", &store)
        .args(["data", "validate", "no/such/config.toml"])
        .output()
        .expect("spawn kiln");
    assert_eq!(missing.status.code(), Some(2));
    assert!(missing.stdout.is_empty(), "errors never go to stdout");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("no/such/config.toml"), "{stderr}");
}

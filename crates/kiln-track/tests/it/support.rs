//! Shared fixtures: a store in a temporary folder, a typical run, a raw connection for tampering.

use std::collections::BTreeMap;
use std::path::Path;

use kiln_track::{DataVersions, NewRun, Store};
use tempfile::TempDir;

pub(crate) fn temp_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join(".kiln/kiln.db")).expect("open a fresh store");
    (dir, store)
}

pub(crate) fn new_run(name: &str, params: &[(&str, &str)], data_hash: &str) -> NewRun {
    NewRun {
        name: name.to_owned(),
        command: "train".to_owned(),
        config: format!("[project]\nname = \"{name}\"\n"),
        params: params.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect::<BTreeMap<_, _>>(),
        data: DataVersions {
            data_hash: Some(data_hash.to_owned()),
            schema_hash: Some(format!("schema-of-{data_hash}")),
            split_hash: Some(format!("split-of-{data_hash}")),
        },
        git: None,
        seed: Some(42),
        device: Some("cpu".to_owned()),
        kiln_version: "0.1.0".to_owned(),
    }
}

/// A connection that bypasses the store, as an attacker or another program would.
pub(crate) fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("raw connection")
}

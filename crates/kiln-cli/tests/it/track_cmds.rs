//! `kiln runs|models|audit|lineage` over a real store that the data commands write to.

use crate::{kiln_at, repo};

#[test]
fn data_commands_are_audited_and_the_chain_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let config = repo("configs/adult.toml");
    let manifest = dir.path().join("snap.json").display().to_string();
    assert_eq!(kiln_at(&store, &["-q", "data", "validate", &config]).0, 0);
    assert_eq!(kiln_at(&store, &["-q", "data", "snapshot", &config, "--out", &manifest]).0, 0);

    let (code, out, err) = kiln_at(&store, &["audit", "log", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let events: serde_json::Value = serde_json::from_str(&out).expect("json");
    let actions: Vec<&str> = events.as_array().expect("events").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["snapshot", "validate"], "newest first");
    let snap: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).expect("manifest")).expect("json");
    assert_eq!(events[0]["target"], snap["dataset_hash"]);

    let (code, out, _) = kiln_at(&store, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit log verified"), "{out}");

    // Tamper with the file directly: verify names the row and exits 1.
    let conn = rusqlite::Connection::open(dir.path().join("kiln.db")).expect("open raw");
    let triggers: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("triggers");
    for t in triggers {
        conn.execute(&format!("DROP TRIGGER \"{t}\""), []).expect("drop trigger");
    }
    conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 1", []).expect("edit");
    drop(conn);
    let (code, out, _) = kiln_at(&store, &["audit", "verify", "--format", "json"]);
    assert_eq!(code, 1, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(report["ok"], false);
    assert!(out.contains("\"seq\": 1"), "{out}");
}

#[test]
fn empty_store_listings_and_unknown_targets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("kiln.db").display().to_string();
    let (code, out, err) = kiln_at(&store, &["runs", "list", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).expect("json"), serde_json::json!([]));
    assert_eq!(kiln_at(&store, &["models", "list"]).0, 0);
    let (code, _, err) = kiln_at(&store, &["lineage", "churn@champion"]);
    assert_eq!(code, 2);
    assert!(err.contains("churn"), "{err}");
    let (code, _, err) = kiln_at(&store, &["runs", "show", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn a_foreign_database_file_is_refused_with_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute("CREATE TABLE customers (id INTEGER)", []).expect("create");
    drop(conn);
    let (code, _, err) = kiln_at(&path.display().to_string(), &["runs", "list"]);
    assert_eq!(code, 2);
    assert!(err.contains("other.db"), "{err}");
    let text = b"not a database at all, just text that is long enough to be a header of sorts....";
    std::fs::write(&path, text.repeat(100)).expect("write");
    let (code, _, err) = kiln_at(&path.display().to_string(), &["audit", "log"]);
    assert_eq!(code, 2);
    assert!(err.contains("other.db"), "{err}");
}

/// `kiln store migrate` both ways: an SQLite store with audited data commands goes to a fresh
/// PostgreSQL database and back; each copy says what it checked, `audit verify` passes on it with
/// the source's last hash, and a target that holds rows is refused (exit 2).
#[test]
fn store_migrate_copies_sqlite_to_postgres_and_back_and_refuses_a_non_empty_target() {
    let Some(server) = kiln_track::pgtest::server() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = dir.path().join("kiln.db").display().to_string();
    let config = repo("configs/adult.toml");
    assert_eq!(kiln_at(&sqlite, &["-q", "data", "validate", &config]).0, 0);
    assert_eq!(kiln_at(&sqlite, &["-q", "data", "validate", &config]).0, 0);
    let head = |store: &str| {
        let (code, out, err) = kiln_at(store, &["audit", "verify", "--format", "json"]);
        assert_eq!(code, 0, "{out}{err}");
        let report: serde_json::Value = serde_json::from_str(&out).expect("json");
        (report["chain"]["n_events"].as_u64().expect("events"), report["chain"]["head_hash"].clone())
    };
    let source_head = head(&sqlite);
    assert_eq!(source_head.0, 2);

    let pg = server.fresh_database();
    let (code, out, err) = kiln_at(&sqlite, &["store", "migrate", "--from", &sqlite, "--to", &pg, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(report["audit_events"], 2);
    assert_eq!(report["audit_head_hash"], source_head.1);
    assert_eq!(head(&pg), source_head);

    let back = dir.path().join("back.db").display().to_string();
    let (code, out, err) = kiln_at(&sqlite, &["store", "migrate", "--from", &pg, "--to", &back]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("store copied and verified") && out.contains("equal in every table"), "{out}");
    assert_eq!(head(&back), source_head);

    let (code, _, err) = kiln_at(&sqlite, &["store", "migrate", "--from", &sqlite, "--to", &pg]);
    assert_eq!(code, 2);
    assert!(err.contains("is not empty"), "{err}");
}

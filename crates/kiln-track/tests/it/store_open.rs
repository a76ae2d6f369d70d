//! Opening stores: a fresh file, pragmas and migrations, and the clear errors for foreign,
//! corrupt, locked and newer-schema files.

use std::time::Duration;

use kiln_track::{APPLICATION_ID, Error, SCHEMA_VERSION, Store, StoreOptions};

use crate::support::{Backend, new_run, temp_store};

fn raw(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("raw connection")
}

#[test]
fn a_fresh_store_has_our_id_schema_and_pragmas() {
    let (dir, store) = temp_store(Backend::Sqlite);
    let path = dir.path().join(".kiln/kiln.db");
    assert_eq!(store.path(), path);
    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
    assert!(store.integrity_check().expect("check").is_empty());
    let conn = raw(&path);
    let application_id: i32 =
        conn.pragma_query_value(None, "application_id", |row| row.get(0)).expect("application_id");
    assert_eq!(application_id, APPLICATION_ID);
    let journal_mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0)).expect("journal_mode");
    assert_eq!(journal_mode, "wal");
    let user_version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).expect("user_version");
    assert_eq!(user_version, SCHEMA_VERSION);
}

#[test]
fn reopening_keeps_the_data() {
    let (dir, store) = temp_store(Backend::Sqlite);
    let run = store.start_run(&new_run("a", &[], "d1")).expect("start");
    let id = run.id().clone();
    run.finish(kiln_track::RunStatus::Finished).expect("finish");
    drop(store);
    let store = Store::open(&dir.path().join(".kiln/kiln.db")).expect("reopen");
    assert_eq!(store.show_run(id.as_str()).expect("show").id, id);
    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
}

#[test]
fn an_empty_file_becomes_a_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.db");
    std::fs::write(&path, b"").expect("write");
    let store = Store::open(&path).expect("an empty file is a new database");
    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
}

#[test]
fn a_foreign_sqlite_database_is_refused_by_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("other.db");
    raw(&path).execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);").expect("create");
    let err = Store::open(&path).expect_err("foreign");
    assert!(matches!(&err, Error::Foreign { path: p, application_id: 0 } if *p == path), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    // The foreign file is left exactly as it was.
    let tables: i64 = raw(&path).query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0)).expect("count");
    assert_eq!(tables, 1);

    let other_app = dir.path().join("other_app.db");
    raw(&other_app).pragma_update(None, "application_id", 1234).expect("set id");
    let err = Store::open(&other_app).expect_err("another application's id");
    assert!(matches!(err, Error::Foreign { application_id: 1234, .. }), "{err:?}");
}

#[test]
fn a_file_that_is_not_sqlite_is_corrupt_by_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notes.db");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(200)).expect("write");
    let err = Store::open(&path).expect_err("not sqlite");
    assert!(matches!(&err, Error::Corrupt { path: p, .. } if *p == path), "{err:?}");
    assert!(err.to_string().contains("notes.db"), "{err}");
    assert!(std::error::Error::source(&err).is_some(), "the sqlite error is kept");
}

#[test]
fn a_store_with_a_damaged_header_is_corrupt() {
    let (dir, store) = temp_store(Backend::Sqlite);
    let path = dir.path().join(".kiln/kiln.db");
    drop(store);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[..16].copy_from_slice(b"garbage garbage!");
    std::fs::write(&path, bytes).expect("write");
    let err = Store::open(&path).expect_err("damaged");
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
}

#[test]
fn a_newer_schema_is_refused() {
    let (dir, store) = temp_store(Backend::Sqlite);
    let path = dir.path().join(".kiln/kiln.db");
    drop(store);
    raw(&path).pragma_update(None, "user_version", SCHEMA_VERSION + 7).expect("bump");
    let err = Store::open(&path).expect_err("too new");
    assert!(
        matches!(err, Error::SchemaTooNew { found, supported, .. } if found == SCHEMA_VERSION + 7 && supported == SCHEMA_VERSION),
        "{err:?}"
    );
}

#[test]
fn an_exclusively_locked_store_is_refused_as_locked_by_path() {
    let (dir, store) = temp_store(Backend::Sqlite);
    let path = dir.path().join(".kiln/kiln.db");
    drop(store);
    let holder = raw(&path);
    holder
        .execute_batch(
            "PRAGMA locking_mode = EXCLUSIVE;
             BEGIN EXCLUSIVE;
             INSERT INTO models (name, created_ms) VALUES ('held', 0);",
        )
        .expect("hold an exclusive lock");
    let options = StoreOptions { busy_timeout: Duration::from_millis(200) };
    // Opening gives up with a typed error once the busy timeout has passed, instead of
    // waiting for the lock to be released.
    let err = Store::open_with(&path, &options).expect_err("locked");
    assert!(matches!(&err, Error::Locked { path: p, .. } if *p == path), "{err:?}");
    assert!(err.to_string().contains("locked"), "{err}");
    assert!(std::error::Error::source(&err).is_some(), "the sqlite error is kept");
    holder.execute_batch("ROLLBACK").expect("release");
    // Once the lock is released the same store opens.
    drop(holder);
    Store::open_with(&path, &options).expect("open after release");
}

#[test]
fn a_write_blocked_past_the_busy_timeout_is_locked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kiln.db");
    let options = StoreOptions { busy_timeout: Duration::from_millis(100) };
    let store = Store::open_with(&path, &options).expect("open");
    let holder = raw(&path);
    holder.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
    let err = store.start_run(&new_run("blocked", &[], "d")).expect_err("locked");
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    holder.execute_batch("ROLLBACK").expect("release");
    // Readers are not blocked by a writer in WAL mode, and writes work again afterwards.
    assert!(store.list_runs(&Default::default()).expect("list").is_empty());
    store
        .start_run(&new_run("free", &[], "d"))
        .expect("start after release")
        .finish(kiln_track::RunStatus::Finished)
        .expect("finish");
}

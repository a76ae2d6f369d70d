//! What only a PostgreSQL store has to show: its schema version row, refusing another
//! program's database and a newer schema, a server that cannot be reached, and named locks as
//! session advisory locks that a killed holder releases.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kiln_track::{Error, SCHEMA_VERSION, Store, pgtest};

use crate::support::{Backend, Fixture, new_run, postgres_available, raw};

const LOCK_CHILD_ENV: &str = "KILN_TRACK_CHILD_LOCK_STORE";

#[test]
fn a_fresh_database_gets_the_schema_and_keeps_data_across_opens() {
    if !postgres_available() {
        return;
    }
    let fixture = Fixture::new(Backend::Postgres);
    let store = fixture.open();
    assert!(store.is_postgres());
    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
    assert_eq!(raw(&fixture.store_path()).text("SELECT version::text FROM kiln_schema"), SCHEMA_VERSION.to_string());
    let run = store.start_run(&new_run("a", &[], "d1")).expect("start");
    let id = run.id().clone();
    run.finish(kiln_track::RunStatus::Finished).expect("finish");
    drop(store);
    let store = fixture.open();
    assert_eq!(store.show_run(id.as_str()).expect("show").id, id);
    assert!(store.location().starts_with("postgres://postgres@127.0.0.1:"), "{}", store.location());
}

#[test]
fn another_programs_database_and_a_newer_schema_are_refused() {
    if !postgres_available() {
        return;
    }
    let foreign = Fixture::new(Backend::Postgres);
    raw(&foreign.store_path()).batch("CREATE TABLE customers (id BIGINT PRIMARY KEY, name TEXT)").expect("create");
    let err = Store::open(&foreign.store_path()).expect_err("foreign");
    assert!(matches!(&err, Error::NotAStore { .. }), "{err:?}");
    assert!(err.to_string().contains("not a kiln store"), "{err}");
    assert_eq!(raw(&foreign.store_path()).text("SELECT count(*)::text FROM customers"), "0", "left untouched");

    let newer = Fixture::new(Backend::Postgres);
    drop(newer.open());
    raw(&newer.store_path())
        .execute(&format!("UPDATE kiln_schema SET version = {}", SCHEMA_VERSION + 7))
        .expect("bump the version");
    let err = Store::open(&newer.store_path()).expect_err("too new");
    assert!(
        matches!(err, Error::SchemaTooNew { found, supported, .. } if found == SCHEMA_VERSION + 7 && supported == SCHEMA_VERSION)
    );
}

#[test]
fn an_unreachable_server_is_a_connect_error_without_the_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let url = format!("postgres://kiln:secret@127.0.0.1:{port}/kiln");
    let err = Store::open(Path::new(&url)).expect_err("nobody listens");
    assert!(matches!(&err, Error::Connect { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&format!("postgres://kiln@127.0.0.1:{port}/kiln")) && !text.contains("secret"), "{text}");
}

/// Child body: takes the named lock, says so, and holds it until killed.
#[test]
fn child_holds_a_lock() {
    let Ok(location) = std::env::var(LOCK_CHILD_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&location)).expect("child opens the store");
    let _lock = store.lock("retrain-adult").expect("lock").expect("free");
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn a_named_lock_is_exclusive_names_its_holder_and_a_killed_holder_releases_it() {
    if !postgres_available() {
        return;
    }
    let fixture = Fixture::new(Backend::Postgres);
    let store = fixture.open();
    let other = fixture.open();
    let held = store.lock("retrain-adult").expect("lock").expect("free at first");
    assert!(other.lock("retrain-adult").expect("try").is_none(), "a second holder is refused");
    let holder = other.lock_holder("retrain-adult").expect("read").expect("a holder");
    assert_eq!(holder.pid, std::process::id());
    assert!(other.lock("retrain-churn").expect("try").is_some(), "another name is another lock");
    drop(held);
    drop(other.lock("retrain-adult").expect("try").expect("free once dropped"));

    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "pg::child_holds_a_lock", "--nocapture", "--test-threads=1"])
        .env(LOCK_CHILD_ENV, fixture.store_path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the holder");
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.lock_holder("retrain-adult").expect("read").is_none_or(|holder| holder.pid != child.id()) {
        assert!(Instant::now() < deadline, "the child did not take the lock in time");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(store.lock("retrain-adult").expect("try").is_none(), "the child holds it");
    child.kill().expect("SIGKILL the holder");
    child.wait().expect("reap");
    // The server ends the dead session and its advisory lock with it (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if store.lock("retrain-adult").expect("try").is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "the killed holder's lock was not released");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_fixture_finds_server_binaries_when_they_are_installed() {
    let found = pgtest::find_binaries();
    if std::env::var_os(pgtest::REQUIRE_ENV).is_some() {
        let bin = found.expect("required, so installed");
        assert!(bin.join("initdb").is_file() && bin.join("pg_ctl").is_file());
    }
}

//! Shared fixtures: a store on either backend (an SQLite file in a temporary folder, or a fresh
//! database on the test binary's own PostgreSQL server), a typical run, and a raw connection
//! for tampering behind the store's back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_track::{DataVersions, NewRun, Store, is_postgres_url, pgtest};
use tempfile::TempDir;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// Whether the PostgreSQL variants can run (a server started); prints why not when they skip.
pub(crate) fn postgres_available() -> bool {
    pgtest::server().is_some()
}

/// A store's place: a temporary folder (for files beside it) and its location.
pub(crate) struct Fixture {
    dir: TempDir,
    location: String,
}

impl Fixture {
    pub(crate) fn new(backend: Backend) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let location = match backend {
            Backend::Sqlite => dir.path().join(".kiln/kiln.db").display().to_string(),
            Backend::Postgres => pgtest::server().expect("a PostgreSQL test server").fresh_database(),
        };
        Fixture { dir, location }
    }

    /// The store's location as `Store::open` takes it.
    pub(crate) fn store_path(&self) -> PathBuf {
        PathBuf::from(&self.location)
    }

    /// The temporary folder.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn open(&self) -> Store {
        Store::open(&self.store_path()).expect("open the store")
    }
}

pub(crate) fn temp_store(backend: Backend) -> (Fixture, Store) {
    let fixture = Fixture::new(backend);
    let store = fixture.open();
    (fixture, store)
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
pub(crate) enum Raw {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

pub(crate) fn raw(location: &Path) -> Raw {
    let text = location.to_string_lossy();
    if is_postgres_url(&text) {
        Raw::Postgres(Box::new(postgres::Client::connect(&text, postgres::NoTls).expect("raw connection")))
    } else {
        Raw::Sqlite(rusqlite::Connection::open(location).expect("raw connection"))
    }
}

impl Raw {
    /// Runs one statement (values written into it); the rows it changed, or the error text.
    pub(crate) fn execute(&mut self, sql: &str) -> Result<u64, String> {
        match self {
            Raw::Sqlite(conn) => conn.execute(sql, []).map(|n| n as u64).map_err(|e| e.to_string()),
            Raw::Postgres(client) => client.execute(sql, &[]).map_err(|e| format!("{e:?}")),
        }
    }

    /// Runs several statements.
    pub(crate) fn batch(&mut self, sql: &str) -> Result<(), String> {
        match self {
            Raw::Sqlite(conn) => conn.execute_batch(sql).map_err(|e| e.to_string()),
            Raw::Postgres(client) => client.batch_execute(sql).map_err(|e| format!("{e:?}")),
        }
    }

    /// The text in the first column of the first row.
    pub(crate) fn text(&mut self, sql: &str) -> String {
        match self {
            Raw::Sqlite(conn) => conn.query_row(sql, [], |row| row.get(0)).expect("query"),
            Raw::Postgres(client) => client.query_one(sql, &[]).expect("query").get(0),
        }
    }

    /// Drops the audit log's append-only triggers, as an attacker with write access would.
    pub(crate) fn drop_audit_triggers(&mut self) {
        let sql = match self {
            Raw::Sqlite(_) => "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;",
            Raw::Postgres(_) => "DROP TRIGGER audit_no_update ON audit; DROP TRIGGER audit_no_delete ON audit;",
        };
        self.batch(sql).expect("drop triggers");
    }
}

/// `on_both_backends!(a, b)`: tests `on_sqlite::a`, `on_postgres::a`, ... calling `a(Backend)`.
/// The PostgreSQL ones return early (the fixture said why) when no server can start.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[test]
            fn $name() {
                super::$name($crate::support::Backend::Sqlite);
            })*
        }
        mod on_postgres {
            $(#[test]
            fn $name() {
                if $crate::support::postgres_available() {
                    super::$name($crate::support::Backend::Postgres);
                }
            })*
        }
    };
}
pub(crate) use on_both_backends;

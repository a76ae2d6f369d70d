//! Opening a store: the SQLite connection, its pragmas (WAL, busy timeout, foreign keys), the
//! check that the file is a kiln store, schema migrations, and the read / write-transaction
//! helpers every other module goes through. Knows nothing about runs, models or the audit log
//! beyond asking `runs` to mark dead runs at open.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::db::{Conn, Db, OptionalExtension, PgConn, PgTx, pg_error};
use crate::error::{Error, Result};
use crate::schema::{APPLICATION_ID, MIGRATIONS, PG_MIGRATIONS, SCHEMA_VERSION};

/// Default path of the embedded store, relative to the project folder.
pub const DEFAULT_STORE_PATH: &str = ".kiln/kiln.db";

/// Local folder a PostgreSQL store keeps its files in (checkpoints), relative to the project.
const PG_LOCAL_PATH: &str = ".kiln/postgres";

/// Key of the transaction-scoped advisory lock every write to a PostgreSQL store takes first,
/// so that writes (and the audit chain they append to) are serialised as SQLite's
/// `BEGIN IMMEDIATE` serialises them. The ASCII bytes `KILNWRIT`.
const PG_WRITE_LOCK: i64 = 0x4B49_4C4E_5752_4954;

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long a statement waits for another process's lock before failing with
    /// [`Error::Locked`] (SQLite) or a lock timeout (PostgreSQL). Default: 5 s.
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { busy_timeout: Duration::from_secs(5) }
    }
}

/// An open kiln store: one connection (to an SQLite file or a PostgreSQL database) behind a
/// mutex, cheap to clone and safe to share between threads. Every write runs in a transaction
/// that excludes other writers (`BEGIN IMMEDIATE`, or an advisory lock on PostgreSQL), so
/// several processes can record into one store at once.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    location: String,
    lock_dir: PathBuf,
    postgres: Option<PgTarget>,
    conn: Mutex<Conn>,
}

/// Where a PostgreSQL store lives and how to connect to it again.
#[derive(Clone)]
pub(crate) struct PgTarget {
    pub(crate) config: postgres::Config,
    pub(crate) lock_timeout_ms: u128,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("location", &self.inner.location).finish()
    }
}

/// Why a closure run by [`Store::read`] or [`Store::write`] stopped: a database error, which
/// the store classifies and wraps with its location, or an error of ours.
#[derive(Debug)]
pub(crate) enum Fail {
    Sql(rusqlite::Error),
    Pg(postgres::Error),
    Kiln(Error),
    /// A single-row query found no row.
    NoRow,
    /// A column held another type than the one asked for.
    Column {
        index: usize,
        expected: &'static str,
        found: String,
    },
}

impl From<rusqlite::Error> for Fail {
    fn from(source: rusqlite::Error) -> Self {
        match source {
            rusqlite::Error::QueryReturnedNoRows => Fail::NoRow,
            other => Fail::Sql(other),
        }
    }
}

impl From<postgres::Error> for Fail {
    fn from(source: postgres::Error) -> Self {
        Fail::Pg(source)
    }
}

impl From<Error> for Fail {
    fn from(error: Error) -> Self {
        Fail::Kiln(error)
    }
}

/// Whether a store location names a PostgreSQL database rather than an SQLite file.
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_once('/').map_or((rest, None), |(a, t)| (a, Some(t)));
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => format!("{}@{host}", user.split_once(':').map_or(user, |(name, _)| name)),
        None => authority.to_owned(),
    };
    match tail {
        Some(tail) => format!("{scheme}://{authority}/{tail}"),
        None => format!("{scheme}://{authority}"),
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path` with default options.
    pub fn open(path: &Path) -> Result<Store> {
        Store::open_with(path, &StoreOptions::default())
    }

    /// Opens (creating if needed) the store at `path`: an SQLite file, or the PostgreSQL
    /// database of a `postgres://USER@HOST:PORT/DB` URL. Checks that it is a kiln store,
    /// applies pending migrations, and marks runs whose process died as `interrupted`.
    ///
    /// Errors name the location: [`Error::Corrupt`] for a file that is not SQLite or is
    /// damaged, [`Error::Foreign`] / [`Error::NotAStore`] for another program's database,
    /// [`Error::Locked`] when another process holds the file past the busy timeout,
    /// [`Error::SchemaTooNew`] for a store written by a newer kiln, [`Error::Connect`] for a
    /// PostgreSQL server that cannot be reached.
    pub fn open_with(path: &Path, options: &StoreOptions) -> Result<Store> {
        let location = path.to_string_lossy();
        let store = if is_postgres_url(&location) {
            Store::open_postgres(&location, options)?
        } else {
            Store::open_sqlite(path, options)?
        };
        store.migrate()?;
        crate::runs::mark_dead_runs(&store)?;
        Ok(store)
    }

    fn open_sqlite(path: &Path, options: &StoreOptions) -> Result<Store> {
        let folder = path.parent().filter(|parent| !parent.as_os_str().is_empty());
        if let Some(folder) = folder {
            std::fs::create_dir_all(folder)
                .map_err(|source| Error::CreateDir { path: folder.to_path_buf(), source })?;
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| Error::Open { path: path.to_path_buf(), source })?;
        let store = Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                location: path.display().to_string(),
                lock_dir: folder.unwrap_or(Path::new(".")).join("locks"),
                postgres: None,
                conn: Mutex::new(Conn::Sqlite(conn)),
            }),
        };
        store.configure_sqlite(options)?;
        Ok(store)
    }

    fn open_postgres(url: &str, options: &StoreOptions) -> Result<Store> {
        let location = redact(url);
        let mut config: postgres::Config = url.parse().map_err(|source: postgres::Error| Error::InvalidUrl {
            url: location.clone(),
            problem: source.to_string(),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let target = PgTarget { config, lock_timeout_ms: options.busy_timeout.as_millis() };
        let conn = pg_connect(&location, &target)?;
        let path = PathBuf::from(PG_LOCAL_PATH);
        let store = Store {
            inner: Arc::new(Inner {
                lock_dir: path.join("locks"),
                path,
                location: location.clone(),
                postgres: Some(target),
                conn: Mutex::new(Conn::Postgres(Box::new(conn))),
            }),
        };
        store.check_postgres()?;
        Ok(store)
    }

    /// Path of the database file; for a PostgreSQL store, the local folder's stand-in
    /// (`.kiln/postgres`) beside which checkpoints are kept. See [`Store::location`].
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Where the store lives, for messages: the file path, or the PostgreSQL URL without its
    /// password.
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// Whether the store is a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        self.inner.postgres.is_some()
    }

    pub(crate) fn pg_target(&self) -> Option<&PgTarget> {
        self.inner.postgres.as_ref()
    }

    /// Schema version of the open store (always [`SCHEMA_VERSION`] after a successful open).
    pub fn schema_version(&self) -> Result<i64> {
        self.read("read the schema version", read_version)
    }

    /// Runs SQLite's `PRAGMA integrity_check` (PostgreSQL checks its own pages: nothing to
    /// report); returns the problems found (empty when the store is sound).
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        self.read("check integrity", |db| match db.dialect() {
            crate::db::Dialect::Sqlite => {
                let lines: Vec<String> = db.query_map("PRAGMA integrity_check", (), |row| row.get(0))?;
                Ok(lines.into_iter().filter(|line| line != "ok").collect())
            }
            crate::db::Dialect::Postgres => Ok(Vec::new()),
        })
    }

    /// Refreshes the query planner's statistics (`PRAGMA optimize`, or `ANALYZE`); worth
    /// calling after a large import.
    pub fn optimize(&self) -> Result<()> {
        self.read("optimize", |db| match db.dialect() {
            crate::db::Dialect::Sqlite => db.execute_batch("PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002;"),
            crate::db::Dialect::Postgres => db.execute_batch("ANALYZE"),
        })
    }

    /// Folder holding one lock file per live run (SQLite stores).
    pub(crate) fn lock_dir(&self) -> &Path {
        &self.inner.lock_dir
    }

    /// Runs `f` outside any write transaction (reads see one snapshot per statement).
    pub(crate) fn read<T>(&self, action: &'static str, f: impl FnOnce(&Db<'_>) -> Result<T, Fail>) -> Result<T> {
        let mut conn = self.conn(action)?;
        let out = match &mut *conn {
            Conn::Sqlite(conn) => f(&Db::sqlite(conn)),
            Conn::Postgres(pg) => pg_transaction(pg, false, f),
        };
        out.map_err(|fail| self.wrap(action, fail))
    }

    /// Runs `f` in a transaction that excludes other writers (`BEGIN IMMEDIATE`, waiting up
    /// to the busy timeout; on PostgreSQL an advisory transaction lock) and commits when it
    /// returns `Ok`; any error rolls the whole of it back.
    pub(crate) fn write<T>(&self, action: &'static str, f: impl FnOnce(&Db<'_>) -> Result<T, Fail>) -> Result<T> {
        let mut conn = self.conn(action)?;
        let out = match &mut *conn {
            Conn::Sqlite(conn) => sqlite_transaction(conn, f),
            Conn::Postgres(pg) => pg_transaction(pg, true, f),
        };
        out.map_err(|fail| self.wrap(action, fail))
    }

    /// Wraps a failure with the store location, telling locked and corrupt files apart.
    pub(crate) fn wrap(&self, action: &'static str, fail: Fail) -> Error {
        let store = self.inner.location.clone();
        match fail {
            Fail::Kiln(error) => error,
            Fail::Sql(source) => classify(&self.inner.path, action, source),
            Fail::Pg(source) => pg_error(&store, action, source),
            Fail::NoRow => Error::ColumnType { store, action, index: 0, expected: "a row", found: "none".to_owned() },
            Fail::Column { index, expected, found } => Error::ColumnType { store, action, index, expected, found },
        }
    }

    fn conn(&self, action: &'static str) -> Result<MutexGuard<'_, Conn>> {
        // A panic while the guard was held leaves no half-done transaction behind (the
        // transaction rolls back on drop), so the connection is still usable.
        let mut conn = self.inner.conn.lock().unwrap_or_else(PoisonError::into_inner);
        // A PostgreSQL connection the server closed (a restart) is opened again.
        if let (Conn::Postgres(pg), Some(target)) = (&mut *conn, &self.inner.postgres)
            && pg.client.is_closed()
        {
            tracing::info!(store = %self.inner.location, action, "reconnecting to the store");
            **pg = pg_connect(&self.inner.location, target)?;
        }
        Ok(conn)
    }

    fn configure_sqlite(&self, options: &StoreOptions) -> Result<()> {
        let path = &self.inner.path;
        let mut conn = self.conn("configure the connection")?;
        let Conn::Sqlite(conn) = &mut *conn else {
            return Ok(());
        };
        configure_pragmas(conn, path, options).map_err(|fail| self.wrap("configure the connection", fail))
    }

    /// Refuses a PostgreSQL database that holds other tables, or a newer kiln's schema.
    fn check_postgres(&self) -> Result<()> {
        let store = self.inner.location.clone();
        let found = self.read("read the schema version", |db| {
            check_postgres_owner(db, &store)?;
            read_version(db)
        })?;
        if found > SCHEMA_VERSION {
            let path = PathBuf::from(&store);
            return Err(Error::SchemaTooNew { path, found, supported: SCHEMA_VERSION });
        }
        Ok(())
    }

    fn migrate(&self) -> Result<()> {
        let path = &self.inner.path;
        let store = self.inner.location.clone();
        let current = self.schema_version()?;
        if current == SCHEMA_VERSION {
            return Ok(());
        }
        self.write("migrate the schema", |db| match db.dialect() {
            crate::db::Dialect::Sqlite => {
                // Another process may have migrated while we waited for the write lock.
                let application_id: i64 = db.query_row("PRAGMA application_id", (), |row| row.get(0))?;
                let n_objects: i64 = db.query_row("SELECT count(*) FROM sqlite_schema", (), |row| row.get(0))?;
                if application_id != i64::from(APPLICATION_ID) && (application_id != 0 || n_objects > 0) {
                    let application_id = i32::try_from(application_id).unwrap_or(i32::MAX);
                    return Err(Error::Foreign { path: path.clone(), application_id }.into());
                }
                let from = read_version(db)?;
                for (version, step) in (1_i64..).zip(MIGRATIONS).skip(usize::try_from(from).unwrap_or(0)) {
                    db.execute_batch(step).map_err(|fail| match fail {
                        Fail::Sql(source) => Fail::Kiln(Error::Migrate { path: path.clone(), version, source }),
                        other => other,
                    })?;
                    db.execute_batch(&format!("PRAGMA user_version = {version}"))?;
                }
                db.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))?;
                Ok(())
            }
            crate::db::Dialect::Postgres => {
                check_postgres_owner(db, &store)?;
                db.execute_batch(
                    "CREATE TABLE IF NOT EXISTS kiln_schema (
                        id              INTEGER PRIMARY KEY CHECK (id = 1),
                        application_id  INTEGER NOT NULL,
                        version         BIGINT NOT NULL
                    )",
                )?;
                db.execute(
                    "INSERT INTO kiln_schema (id, application_id, version) VALUES (1, ?1, 0)
                     ON CONFLICT (id) DO NOTHING",
                    [i64::from(APPLICATION_ID)],
                )?;
                let from = read_version(db)?;
                for (version, step) in (1_i64..).zip(PG_MIGRATIONS).skip(usize::try_from(from).unwrap_or(0)) {
                    db.execute_batch(step)?;
                    db.execute("UPDATE kiln_schema SET version = ?1 WHERE id = 1", [version])?;
                }
                Ok(())
            }
        })
    }
}

/// The schema version: `PRAGMA user_version`, or the `kiln_schema` row (0 before it exists).
fn read_version(db: &Db<'_>) -> Result<i64, Fail> {
    match db.dialect() {
        crate::db::Dialect::Sqlite => db.query_row("PRAGMA user_version", (), |row| row.get(0)),
        crate::db::Dialect::Postgres => {
            let exists: bool = db.query_row("SELECT to_regclass('kiln_schema') IS NOT NULL", (), |row| row.get(0))?;
            if !exists {
                return Ok(0);
            }
            Ok(db
                .query_row("SELECT version FROM kiln_schema WHERE id = 1", (), |row| row.get(0))
                .optional()?
                .unwrap_or(0))
        }
    }
}

/// A PostgreSQL database is ours when it has our `kiln_schema` row, or no tables at all.
fn check_postgres_owner(db: &Db<'_>, store: &str) -> Result<(), Fail> {
    let has_schema: bool = db.query_row("SELECT to_regclass('kiln_schema') IS NOT NULL", (), |row| row.get(0))?;
    let owner_ok = if has_schema {
        let id: Option<i64> =
            db.query_row("SELECT application_id FROM kiln_schema WHERE id = 1", (), |row| row.get(0)).optional()?;
        id.is_none_or(|id| id == i64::from(APPLICATION_ID))
    } else {
        let n_tables: i64 = db.query_row(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
            (),
            |row| row.get(0),
        )?;
        n_tables == 0
    };
    if owner_ok { Ok(()) } else { Err(Error::NotAStore { store: store.to_owned() }.into()) }
}

/// Connects to a PostgreSQL store: lock waits bounded by the busy timeout, notices quiet.
pub(crate) fn pg_connect(location: &str, target: &PgTarget) -> Result<PgConn> {
    let mut client = target
        .config
        .connect(postgres::NoTls)
        .map_err(|source| Error::Connect { store: location.to_owned(), source })?;
    client
        .batch_execute(&format!(
            "SET lock_timeout = {}; SET client_min_messages = warning",
            target.lock_timeout_ms.max(1)
        ))
        .map_err(|source| pg_error(location, "configure the connection", source))?;
    Ok(PgConn { client, statements: std::collections::HashMap::new() })
}

/// Runs `f` in a PostgreSQL transaction (a write one first takes the write lock).
fn pg_transaction<T>(pg: &mut PgConn, write: bool, f: impl FnOnce(&Db<'_>) -> Result<T, Fail>) -> Result<T, Fail> {
    let PgConn { client, statements } = pg;
    let mut tx = client.transaction()?;
    if write {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PG_WRITE_LOCK])?;
    }
    let db = Db::postgres(PgTx { tx, statements });
    let out = f(&db)?;
    db.into_postgres().map(postgres::Transaction::commit).transpose()?;
    Ok(out)
}

/// SQLite's pragmas, after checking that the file is ours and not from a newer kiln.
fn configure_pragmas(conn: &Connection, path: &Path, options: &StoreOptions) -> Result<(), Fail> {
    conn.busy_timeout(options.busy_timeout)?;
    // Reading the header is the first access to the file: a non-SQLite file fails here.
    let application_id: i32 = conn.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let user_version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let n_objects: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))?;
    if application_id != APPLICATION_ID && (application_id != 0 || n_objects > 0) {
        return Err(Error::Foreign { path: path.to_path_buf(), application_id }.into());
    }
    if user_version > SCHEMA_VERSION {
        return Err(
            Error::SchemaTooNew { path: path.to_path_buf(), found: user_version, supported: SCHEMA_VERSION }.into()
        );
    }
    let journal_mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
    if !journal_mode.eq_ignore_ascii_case("wal") {
        conn.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get::<_, String>(0))?;
    }
    // NORMAL is safe in WAL mode: a crash can lose the last commits on power loss,
    // never corrupt the file.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

/// Runs `f` in a `BEGIN IMMEDIATE` transaction and commits it when `f` returns `Ok`.
fn sqlite_transaction<T>(conn: &mut Connection, f: impl FnOnce(&Db<'_>) -> Result<T, Fail>) -> Result<T, Fail> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let out = f(&Db::sqlite(&tx))?;
    tx.commit()?;
    Ok(out)
}

/// Maps a SQLite error to the variant that tells the caller what went wrong with `path`.
fn classify(path: &Path, action: &'static str, source: rusqlite::Error) -> Error {
    let path = path.to_path_buf();
    match source.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::Locked { path, source },
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => Error::Corrupt { path, source },
        _ => Error::Query { path, action, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_run_handles_cross_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Store>();
        assert_send_sync::<crate::RunHandle>();
    }

    #[test]
    fn locations_tell_postgres_from_files_and_hide_passwords() {
        assert!(is_postgres_url("postgres://kiln@127.0.0.1:5432/kiln"));
        assert!(is_postgres_url("postgresql://kiln@db/kiln"));
        assert!(!is_postgres_url(".kiln/kiln.db"));
        assert_eq!(redact("postgres://kiln:secret@db:5432/kiln"), "postgres://kiln@db:5432/kiln");
        assert_eq!(redact("postgres://db/kiln"), "postgres://db/kiln");
    }
}

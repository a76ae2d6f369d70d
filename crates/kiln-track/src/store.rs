//! Opening a store: the SQLite connection, its pragmas (WAL, busy timeout, foreign keys), the
//! check that the file is a kiln store, schema migrations, and the read / write-transaction
//! helpers every other module goes through. Knows nothing about runs, models or the audit log
//! beyond asking `runs` to mark dead runs at open.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

use crate::error::{Error, Result};
use crate::schema::{APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION};

/// Default path of the embedded store, relative to the project folder.
pub const DEFAULT_STORE_PATH: &str = ".kiln/kiln.db";

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long a statement waits for another process's lock before failing with
    /// [`Error::Locked`]. Default: 5 s.
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { busy_timeout: Duration::from_secs(5) }
    }
}

/// An open kiln store: one SQLite connection behind a mutex, cheap to clone and safe to share
/// between threads. Every write runs in a `BEGIN IMMEDIATE` transaction, so several processes
/// can record into one store at once.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    lock_dir: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.inner.path).finish()
    }
}

/// Why a closure run by [`Store::read`] or [`Store::write`] stopped: a SQLite error, which the
/// store classifies and wraps with its path, or an error of ours.
#[derive(Debug)]
pub(crate) enum Fail {
    Sql(rusqlite::Error),
    Kiln(Error),
}

impl From<rusqlite::Error> for Fail {
    fn from(source: rusqlite::Error) -> Self {
        Fail::Sql(source)
    }
}

impl From<Error> for Fail {
    fn from(error: Error) -> Self {
        Fail::Kiln(error)
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path` with default options.
    pub fn open(path: &Path) -> Result<Store> {
        Store::open_with(path, &StoreOptions::default())
    }

    /// Opens (creating if needed) the store at `path`: checks that the file is a kiln store,
    /// applies pending migrations, and marks runs whose process died as `interrupted`.
    ///
    /// Errors name the path: [`Error::Corrupt`] for a file that is not SQLite or is damaged,
    /// [`Error::Foreign`] for another program's database, [`Error::Locked`] when another
    /// process holds the file past the busy timeout, [`Error::SchemaTooNew`] for a store
    /// written by a newer kiln.
    pub fn open_with(path: &Path, options: &StoreOptions) -> Result<Store> {
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
                lock_dir: folder.unwrap_or(Path::new(".")).join("locks"),
                conn: Mutex::new(conn),
            }),
        };
        store.configure(options)?;
        store.migrate()?;
        crate::runs::mark_dead_runs(&store)?;
        Ok(store)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Schema version of the open store (always [`SCHEMA_VERSION`] after a successful open).
    pub fn schema_version(&self) -> Result<i64> {
        self.read(
            "read the schema version",
            |conn| Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?),
        )
    }

    /// Runs SQLite's `PRAGMA integrity_check`; returns the problems found (empty when the file
    /// is sound).
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        self.read("check integrity", |conn| {
            let mut statement = conn.prepare("PRAGMA integrity_check")?;
            let lines =
                statement.query_map([], |row| row.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(lines.into_iter().filter(|line| line != "ok").collect())
        })
    }

    /// Refreshes the query planner's statistics (`PRAGMA optimize`); worth calling after a
    /// large import.
    pub fn optimize(&self) -> Result<()> {
        self.read(
            "optimize",
            |conn| Ok(conn.execute_batch("PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002;")?),
        )
    }

    /// Folder holding one lock file per live run.
    pub(crate) fn lock_dir(&self) -> &Path {
        &self.inner.lock_dir
    }

    /// Runs `f` on the connection outside any explicit transaction (reads see one snapshot
    /// per statement).
    pub(crate) fn read<T>(&self, action: &'static str, f: impl FnOnce(&Connection) -> Result<T, Fail>) -> Result<T> {
        let conn = self.conn();
        f(&conn).map_err(|fail| self.wrap(action, fail))
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction (waiting up to the busy timeout for other
    /// writers) and commits when it returns `Ok`; any error rolls the whole of it back.
    pub(crate) fn write<T>(
        &self,
        action: &'static str,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, Fail>,
    ) -> Result<T> {
        let mut conn = self.conn();
        let run = |conn: &mut Connection| -> Result<T, Fail> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        };
        run(&mut conn).map_err(|fail| self.wrap(action, fail))
    }

    /// Wraps a failure with the store path, telling locked and corrupt files apart.
    pub(crate) fn wrap(&self, action: &'static str, fail: Fail) -> Error {
        match fail {
            Fail::Kiln(error) => error,
            Fail::Sql(source) => classify(&self.inner.path, action, source),
        }
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while the guard was held leaves no half-done transaction behind (the
        // transaction rolls back on drop), so the connection is still usable.
        self.inner.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn configure(&self, options: &StoreOptions) -> Result<()> {
        let path = &self.inner.path;
        self.read("configure the connection", |conn| {
            conn.busy_timeout(options.busy_timeout)?;
            // Reading the header is the first access to the file: a non-SQLite file fails here.
            let application_id: i32 = conn.pragma_query_value(None, "application_id", |row| row.get(0))?;
            let user_version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
            let n_objects: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))?;
            if application_id != APPLICATION_ID && (application_id != 0 || n_objects > 0) {
                return Err(Error::Foreign { path: path.clone(), application_id }.into());
            }
            if user_version > SCHEMA_VERSION {
                return Err(
                    Error::SchemaTooNew { path: path.clone(), found: user_version, supported: SCHEMA_VERSION }.into()
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
        })
    }

    fn migrate(&self) -> Result<()> {
        let path = &self.inner.path;
        let current = self.schema_version()?;
        if current == SCHEMA_VERSION {
            return Ok(());
        }
        self.write("migrate the schema", |tx| {
            // Another process may have migrated while we waited for the write lock.
            let application_id: i32 = tx.pragma_query_value(None, "application_id", |row| row.get(0))?;
            let n_objects: i64 = tx.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))?;
            if application_id != APPLICATION_ID && (application_id != 0 || n_objects > 0) {
                return Err(Error::Foreign { path: path.clone(), application_id }.into());
            }
            let from: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
            for (version, step) in (1_i64..).zip(MIGRATIONS).skip(usize::try_from(from).unwrap_or(0)) {
                tx.execute_batch(step).map_err(|source| Error::Migrate { path: path.clone(), version, source })?;
                tx.pragma_update(None, "user_version", version)?;
            }
            tx.pragma_update(None, "application_id", APPLICATION_ID)?;
            Ok(())
        })
    }
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
}

//! Named store locks: held by one process for a long piece of work (a retraining of one model),
//! so that a second process asking for the same lock is refused, or waits, instead of
//! interleaving with it. On an SQLite store the lock is an exclusive OS file lock on
//! `<store file>.locks/<what>`, whose file keeps the holder's pid, host and start time; on a
//! PostgreSQL store it is a session advisory lock held by a connection that lives as long as the
//! lock, and the holder is kept in the `kiln_locks` table. The lock goes when its [`StoreLock`]
//! is dropped or when its process dies (the OS closes the file, the server ends the session),
//! so a killed process never leaves it held.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::db::params;
use crate::error::{Error, Result};
use crate::hashing::sha256_hex;
use crate::provenance::host_name;
use crate::store::{Store, pg_connect};
use crate::time::{format_rfc3339, now_ms};

/// Who holds (or last held) a store lock, as written in its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    /// When it took the lock (RFC 3339, UTC).
    pub since: String,
}

/// A held store lock; dropping it releases the lock.
#[derive(Debug)]
pub struct StoreLock {
    path: PathBuf,
    // Closing the file (or the connection) releases the lock.
    _held: Held,
}

#[derive(Debug)]
enum Held {
    File(#[expect(dead_code, reason = "held for its lock")] File),
    Postgres(#[expect(dead_code, reason = "held for its lock")] PgLock),
}

/// A session advisory lock on a PostgreSQL store, held by a connection of its own: dropping it
/// closes the connection, and the server releases the lock (also when the process dies).
pub(crate) struct PgLock {
    // Behind a mutex only so that the lock (and a run handle holding one) is `Sync`.
    _client: Box<std::sync::Mutex<postgres::Client>>,
}

impl std::fmt::Debug for PgLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgLock")
    }
}

impl PgLock {
    /// Takes the advisory lock named `name` on a new connection: `None` when another session
    /// holds it and `wait` is false.
    pub(crate) fn take(store: &Store, name: &str, wait: bool) -> Result<Option<PgLock>> {
        let location = store.location();
        let target = store.pg_target().ok_or_else(|| Error::InvalidUrl {
            url: location.to_owned(),
            problem: "advisory locks need a PostgreSQL store".to_owned(),
        })?;
        let mut client = pg_connect(location, target)?.client;
        let key = lock_key(name);
        let fail = |source| crate::db::pg_error(location, "take a lock", source);
        if wait {
            client.batch_execute("SET lock_timeout = 0").map_err(fail)?;
            client.execute("SELECT pg_advisory_lock($1)", &[&key]).map_err(fail)?;
            return Ok(Some(PgLock { _client: Box::new(std::sync::Mutex::new(client)) }));
        }
        let taken: bool = client.query_one("SELECT pg_try_advisory_lock($1)", &[&key]).map_err(fail)?.get(0);
        Ok(taken.then(|| PgLock { _client: Box::new(std::sync::Mutex::new(client)) }))
    }
}

/// How many more times [`Store::lock`] tries a held lock file, [`GRACE_PAUSE`] apart, before
/// it says the lock is held (about one second in all).
const GRACE_ATTEMPTS: u32 = 20;
const GRACE_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// The advisory lock key of `name`: the first 8 bytes of its SHA-256.
fn lock_key(name: &str) -> i64 {
    let hex = sha256_hex(format!("kiln-lock/{name}").as_bytes());
    u64::from_str_radix(&hex[..16], 16).map_or(0, u64::cast_signed)
}

impl StoreLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Store {
    /// Takes the lock `what` (letters, digits, `-`, `_`, `.`) without waiting for a holder
    /// (beyond a grace of about a second): `None` when
    /// another holder has it (see [`Store::lock_holder`] for who).
    pub fn lock(&self, what: &str) -> Result<Option<StoreLock>> {
        if self.is_postgres() {
            let path = self.lock_path(what)?;
            return PgLock::take(self, &format!("store/{what}"), false)?
                .map(|lock| self.hold_postgres(what, path, lock))
                .transpose();
        }
        let (path, file) = self.open_lock(what)?;
        // A process being started by this one holds a copy of every open file between its fork
        // and its exec, and with it the lock of a file just released: a lock held by a real
        // holder stays held, so a short grace separates the two.
        let mut attempts = 0;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Some(hold(path, file)?)),
                Err(TryLockError::WouldBlock) if attempts < GRACE_ATTEMPTS => std::thread::sleep(GRACE_PAUSE),
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(source)) => return Err(Error::StoreLock { path, source }),
            }
            attempts += 1;
        }
    }

    /// Takes the lock `what`, waiting for its holder to release it.
    pub fn lock_wait(&self, what: &str) -> Result<StoreLock> {
        if self.is_postgres() {
            let path = self.lock_path(what)?;
            let lock = PgLock::take(self, &format!("store/{what}"), true)?
                .ok_or_else(|| Error::InvalidName { what: "lock", name: what.to_owned() })?;
            return self.hold_postgres(what, path, lock);
        }
        let (path, file) = self.open_lock(what)?;
        match file.lock() {
            Ok(()) => hold(path, file),
            Err(source) => Err(Error::StoreLock { path, source }),
        }
    }

    /// Who holds the lock `what` (or last held it, when it is free): `None` when its file is
    /// missing or holds no holder.
    pub fn lock_holder(&self, what: &str) -> Result<Option<LockHolder>> {
        let path = self.lock_path(what)?;
        if self.is_postgres() {
            return self.read("read a lock holder", |db| {
                crate::db::OptionalExtension::optional(db.query_row(
                    "SELECT pid, host, since_ms FROM kiln_locks WHERE what = ?1",
                    [what],
                    |row| Ok(LockHolder { pid: row.get(0)?, host: row.get(1)?, since: format_rfc3339(row.get(2)?) }),
                ))
            });
        }
        let mut text = String::new();
        match File::open(&path) {
            Ok(mut file) => {
                file.read_to_string(&mut text).map_err(|source| Error::StoreLock { path: path.clone(), source })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::StoreLock { path, source }),
        };
        Ok(serde_json::from_str(text.trim()).ok())
    }

    /// Names this process as the holder of a PostgreSQL lock just taken.
    fn hold_postgres(&self, what: &str, path: PathBuf, lock: PgLock) -> Result<StoreLock> {
        let insert = "INSERT INTO kiln_locks (what, pid, host, since_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (what) DO UPDATE SET pid = excluded.pid, host = excluded.host, since_ms = excluded.since_ms";
        self.write("name a lock holder", |db| {
            db.execute(insert, params![what, std::process::id(), host_name(), now_ms()]).map(|_| ())
        })?;
        Ok(StoreLock { path, _held: Held::Postgres(lock) })
    }

    /// `<store file>.locks/<what>` (for a PostgreSQL store, `<location>.locks/<what>`: a name
    /// for messages, no file).
    fn lock_path(&self, what: &str) -> Result<PathBuf> {
        let valid = !what.is_empty()
            && what != "."
            && what != ".."
            && what.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(Error::InvalidName { what: "lock", name: what.to_owned() });
        }
        let mut folder = if self.is_postgres() {
            std::ffi::OsString::from(self.location())
        } else {
            self.path().as_os_str().to_owned()
        };
        folder.push(".locks");
        Ok(PathBuf::from(folder).join(what))
    }

    fn open_lock(&self, what: &str) -> Result<(PathBuf, File)> {
        let path = self.lock_path(what)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir { path: dir.to_path_buf(), source })?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| Error::StoreLock { path: path.clone(), source })?;
        Ok((path, file))
    }
}

/// Writes this process as the holder into the locked file. The file is never removed: a
/// process that opened it just before a removal would lock a file nobody else sees.
fn hold(path: PathBuf, mut file: File) -> Result<StoreLock> {
    let holder = LockHolder { pid: std::process::id(), host: host_name(), since: format_rfc3339(now_ms()) };
    let text = serde_json::to_string(&holder).expect("a lock holder serialises") + "\n";
    let written = file
        .set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(text.as_bytes()))
        .and_then(|()| file.flush());
    written.map_err(|source| Error::StoreLock { path: path.clone(), source })?;
    Ok(StoreLock { path, _held: Held::File(file) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_exclusive_names_its_holder_and_goes_with_its_guard() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kiln.db");
        let store = Store::open(&path).expect("open");
        let other = Store::open(&path).expect("second handle");
        let held = store.lock("retrain-adult").expect("lock").expect("free at first");
        assert_eq!(held.path(), dir.path().join("kiln.db.locks/retrain-adult"));
        assert!(other.lock("retrain-adult").expect("try").is_none(), "a second holder is refused");
        let holder = other.lock_holder("retrain-adult").expect("read").expect("a holder");
        assert_eq!(holder.pid, std::process::id());
        assert_eq!(holder.host, host_name());
        assert!(other.lock("retrain-churn").expect("try").is_some(), "another name is another lock");
        drop(held);
        assert!(other.lock("retrain-adult").expect("try").is_some(), "free once dropped");
        assert!(matches!(store.lock("../x"), Err(Error::InvalidName { .. })));
        assert!(matches!(store.lock(""), Err(Error::InvalidName { .. })));
    }

    #[test]
    fn a_waiting_holder_gets_the_lock_only_once_it_is_released() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kiln.db");
        let store = Store::open(&path).expect("open");
        let held = store.lock("retrain-adult").expect("lock").expect("free");
        let released = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (path, released) = (path.clone(), Arc::clone(&released));
            std::thread::spawn(move || {
                let other = Store::open(&path).expect("open");
                let _lock = other.lock_wait("retrain-adult").expect("waits, then locks");
                released.load(Ordering::SeqCst)
            })
        };
        released.store(true, Ordering::SeqCst);
        drop(held);
        assert!(waiter.join().expect("the waiter ends"), "the waiter locked only after the release");
    }
}

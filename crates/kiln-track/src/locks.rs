//! Named store locks: an exclusive OS file lock on `<store file>.locks/<what>` held by one
//! process for a long piece of work (a retraining of one model), so that a second process asking
//! for the same lock is refused, or waits, instead of interleaving with it. The lock goes when
//! its [`StoreLock`] is dropped or when its process dies (the OS releases it), so a killed
//! process never leaves it held. The file keeps the holder's pid, host and start time, for the
//! message that refuses the next one.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::provenance::host_name;
use crate::store::Store;
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
    // Closing the file releases the lock.
    _file: File,
}

impl StoreLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Store {
    /// Takes the lock `what` (letters, digits, `-`, `_`, `.`) without waiting: `None` when
    /// another holder has it (see [`Store::lock_holder`] for who).
    pub fn lock(&self, what: &str) -> Result<Option<StoreLock>> {
        let (path, file) = self.open_lock(what)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(hold(path, file)?)),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(source)) => Err(Error::StoreLock { path, source }),
        }
    }

    /// Takes the lock `what`, waiting for its holder to release it.
    pub fn lock_wait(&self, what: &str) -> Result<StoreLock> {
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

    /// `<store file>.locks/<what>`.
    fn lock_path(&self, what: &str) -> Result<PathBuf> {
        let valid = !what.is_empty()
            && what != "."
            && what != ".."
            && what.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(Error::InvalidName { what: "lock", name: what.to_owned() });
        }
        let mut folder = self.path().as_os_str().to_owned();
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
    Ok(StoreLock { path, _file: file })
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
}

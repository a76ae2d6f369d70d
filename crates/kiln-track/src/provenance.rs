//! Facts about where a run happens: the git commit of the work tree, the acting user, the host
//! and a fresh random number for ids. Reads the environment; never writes anything.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Environment variable that names the actor recorded in the audit log.
pub const ACTOR_ENV: &str = "KILN_ACTOR";

/// The git commit a run was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitInfo {
    /// Full commit hash of `HEAD`.
    pub commit: String,
    /// Whether the work tree had uncommitted changes (`git status --porcelain` printed anything).
    pub dirty: bool,
}

/// The commit of the git work tree at `dir`, or `None` when `dir` is not in a git work tree or
/// git is not installed.
pub fn git_info(dir: &Path) -> Option<GitInfo> {
    let head = Command::new("git").arg("-C").arg(dir).args(["rev-parse", "HEAD"]).output().ok()?;
    if !head.status.success() {
        return None;
    }
    let commit = String::from_utf8(head.stdout).ok()?.trim().to_owned();
    if commit.is_empty() {
        return None;
    }
    let status = Command::new("git").arg("-C").arg(dir).args(["status", "--porcelain"]).output().ok()?;
    // A status that cannot be read is reported as dirty: never claim a clean tree we did not see.
    let dirty = !status.status.success() || !status.stdout.iter().all(u8::is_ascii_whitespace);
    Some(GitInfo { commit, dirty })
}

/// Who is acting: `KILN_ACTOR`, else `USER`, else `USERNAME`, else `"unknown"`.
pub fn default_actor() -> String {
    [ACTOR_ENV, "USER", "USERNAME"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .map(|value| value.trim().to_owned())
        .find(|value| !value.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// This machine's host name, best effort.
pub(crate) fn host_name() -> String {
    let from_env = ["HOSTNAME", "COMPUTERNAME"].iter().filter_map(|name| std::env::var(name).ok());
    let from_files =
        ["/proc/sys/kernel/hostname", "/etc/hostname"].iter().filter_map(|path| std::fs::read_to_string(path).ok());
    from_env
        .chain(from_files)
        .map(|value| value.trim().to_owned())
        .find(|value| !value.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// A random 64-bit number from the standard library's per-process random hash keys, mixed with
/// a counter so that two calls never repeat. Used for id suffixes, not for cryptography.
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos()),
    );
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_info_outside_a_repository_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(git_info(dir.path()), None);
    }

    #[test]
    fn git_info_reads_commit_and_dirty_flag() {
        let dir = tempfile::tempdir().expect("tempdir");
        let git = |args: &[&str]| {
            Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
                .args(args)
                .output()
                .map(|out| out.status.success())
                .unwrap_or(false)
        };
        if !git(&["init", "-q"]) {
            return; // git is not installed here
        }
        std::fs::write(dir.path().join("a.txt"), "a").expect("write");
        assert!(git(&["add", "a.txt"]));
        assert!(git(&["commit", "-q", "-m", "first"]));
        let clean = git_info(dir.path()).expect("a repository");
        assert_eq!(clean.commit.len(), 40);
        assert!(!clean.dirty);
        std::fs::write(dir.path().join("a.txt"), "b").expect("write");
        let dirty = git_info(dir.path()).expect("a repository");
        assert_eq!(dirty.commit, clean.commit);
        assert!(dirty.dirty);
    }

    #[test]
    fn random_numbers_differ() {
        assert_ne!(random_u64(), random_u64());
    }
}

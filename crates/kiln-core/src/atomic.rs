//! Atomic file output, the one helper every kiln crate writes files through: the content goes
//! to a temporary file (`.kiln-tmp-*`) in the target's folder, is synced, and is renamed over
//! the target. A reader sees the old file or the new one, never half of one, and a failure
//! removes the temporary file (it is deleted when dropped).

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Write `path` atomically through `fill`, which writes the content into the temporary file.
/// Missing parent folders are created; the finished file has mode 0644 on unix (set on the
/// file, so the umask does not apply). `io_error` turns this helper's own I/O failures
/// (creating, syncing, renaming) into the caller's error type; `fill`'s errors pass through.
pub fn write_with<E>(
    path: &Path,
    fill: impl FnOnce(&mut File) -> Result<(), E>,
    io_error: impl Fn(io::Error) -> E,
) -> Result<(), E> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(&io_error)?;
    let mut tmp = tempfile::Builder::new().prefix(".kiln-tmp-").tempfile_in(dir).map_err(&io_error)?;
    // Temporary files are private (0600); the finished file is an ordinary one.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(&io_error)?;
    }
    fill(tmp.as_file_mut())?;
    tmp.as_file_mut().sync_all().map_err(&io_error)?;
    tmp.persist(path).map_err(|e| io_error(e.error))?;
    Ok(())
}

/// Write `bytes` to `path` atomically (see [`write_with`]).
pub fn write_bytes(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, |file| file.write_all(bytes), |e| e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_replace_the_file_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub").join("out.bin");
        write_bytes(&path, b"first").expect("write");
        write_bytes(&path, b"second").expect("rewrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        assert_eq!(names(&dir.path().join("sub")), ["out.bin"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
    }

    #[test]
    fn a_failed_fill_keeps_the_old_file_whole_and_removes_the_temporary_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("out.bin");
        write_bytes(&path, b"old content").expect("write");
        let result: Result<(), String> = write_with(
            &path,
            |file| {
                file.write_all(b"half of the new").map_err(|e| e.to_string())?;
                Err("stopped halfway".to_string())
            },
            |e| e.to_string(),
        );
        assert_eq!(result, Err("stopped halfway".to_string()));
        assert_eq!(std::fs::read(&path).expect("read"), b"old content");
        assert_eq!(names(dir.path()), ["out.bin"]);
    }

    #[test]
    fn a_failed_rename_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("taken");
        std::fs::create_dir(&target).expect("folder");
        let err = write_bytes(&target, b"x").expect_err("rename onto a folder");
        assert_ne!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(names(dir.path()), ["taken"]);
    }
}

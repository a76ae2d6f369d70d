//! Recovery of the segments a crashed process left open: each `.arrows.open` file under
//! `<dir>/<model>/v<version>/` is cut back to its last whole message that decodes, given its
//! end-of-stream marker, synced and renamed to `.arrows`. No segment is deleted: a file
//! without even a whole schema message (no rows) is renamed to `.arrows.unreadable`.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use arrow_ipc::reader::StreamReader;

use super::LogError;
use super::segment::{END_OF_STREAM, FINISHED, OPEN, sync_folder};

/// The suffix a leftover segment without a whole schema message is renamed to.
const UNREADABLE: &str = ".arrows.unreadable";
/// A metadata length above this is not one this log writes: the bytes are torn or foreign.
const MAX_METADATA_LEN: usize = 64 << 20;

/// One leftover segment, as [`crate::PredictionLog::start`] recovered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Where the segment is now (`.arrows`, or `.arrows.unreadable` without a schema).
    pub path: PathBuf,
    /// Record batches kept.
    pub batches: usize,
    /// Rows kept.
    pub rows: usize,
    /// Bytes cut off a torn tail (0 when the file ended on a whole message).
    pub cut_bytes: u64,
}

/// Where the whole messages of a stream file end.
struct Scan {
    /// The end offset of each whole message, the schema first.
    ends: Vec<u64>,
    /// The end of an end-of-stream marker right after the last whole message.
    end_of_stream: Option<u64>,
}

/// Recovers every `.arrows.open` segment under `dir`, in name order.
pub(super) fn recover_dir(dir: &Path) -> Result<Vec<Recovered>, LogError> {
    let mut recovered = Vec::new();
    for model in subfolders(dir)? {
        for version in subfolders(&model)? {
            let is_version =
                version.file_name().and_then(|name| name.to_str()).is_some_and(|name| name.starts_with('v'));
            if !is_version {
                continue;
            }
            let leftovers = open_segments(&version)?;
            for path in &leftovers {
                let segment =
                    recover_segment(path).map_err(|source| LogError::Recover { path: path.clone(), source })?;
                tracing::warn!(
                    path = %segment.path.display(),
                    rows = segment.rows,
                    cut_bytes = segment.cut_bytes,
                    "recovered a prediction log segment left open by a previous process"
                );
                recovered.push(segment);
            }
            // One sync makes the folder's renames durable.
            if let Some(path) = leftovers.first() {
                sync_folder(path).map_err(|source| LogError::Recover { path: version.clone(), source })?;
            }
        }
    }
    Ok(recovered)
}

fn subfolders(dir: &Path) -> Result<Vec<PathBuf>, LogError> {
    let read = |dir: &Path| -> std::io::Result<Vec<PathBuf>> {
        let mut folders = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                folders.push(entry.path());
            }
        }
        folders.sort();
        Ok(folders)
    };
    read(dir).map_err(|source| LogError::Recover { path: dir.to_path_buf(), source })
}

fn open_segments(folder: &Path) -> Result<Vec<PathBuf>, LogError> {
    let read = || -> std::io::Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(folder)? {
            let path = entry?.path();
            if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(OPEN)) && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        Ok(paths)
    };
    read().map_err(|source| LogError::Recover { path: folder.to_path_buf(), source })
}

/// Cuts `path` to its last whole message that decodes, ends the stream and renames it.
fn recover_segment(path: &Path) -> std::io::Result<Recovered> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    let scan = scan_messages(&mut file, len)?;
    let Some(&schema_end) = scan.ends.first() else {
        drop(file);
        let target = renamed(path, UNREADABLE);
        std::fs::rename(path, &target)?;
        return Ok(Recovered { path: target, batches: 0, rows: 0, cut_bytes: 0 });
    };
    let last_end = *scan.ends.last().expect("the schema message is whole");
    file.seek(SeekFrom::Start(0))?;
    let (batches, rows) = decodable(&mut file, last_end);
    // The schema is message 0 and this log writes no dictionaries: batch k is message k.
    let keep = if batches == 0 { schema_end } else { scan.ends.get(batches).copied().unwrap_or(last_end) };
    let cut_bytes = match scan.end_of_stream {
        Some(stream_end) if keep == last_end => {
            // Finished but not renamed: only bytes after the marker (if any) go.
            file.set_len(stream_end)?;
            len - stream_end
        }
        _ => {
            file.set_len(keep)?;
            file.seek(SeekFrom::End(0))?;
            file.write_all(&END_OF_STREAM)?;
            len - keep
        }
    };
    file.sync_all()?;
    drop(file);
    let target = renamed(path, FINISHED);
    std::fs::rename(path, &target)?;
    Ok(Recovered { path: target, batches, rows, cut_bytes })
}

/// `x.arrows.open` with its suffix replaced.
fn renamed(path: &Path, suffix: &str) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    path.with_file_name(format!("{}{suffix}", name.strip_suffix(OPEN).unwrap_or(name)))
}

/// Walks the stream's message framing (continuation, metadata length, metadata, body) and
/// records where each whole message ends; stops at the first torn or malformed one.
fn scan_messages(file: &mut File, len: u64) -> std::io::Result<Scan> {
    let mut reader = BufReader::new(file);
    reader.seek(SeekFrom::Start(0))?;
    let mut ends = Vec::new();
    let mut pos = 0_u64;
    while let Some(prefix) = read_array::<4>(&mut reader)? {
        let mut header_len = 4_u64;
        let mut length = prefix;
        if prefix == [0xff; 4] {
            let Some(next) = read_array::<4>(&mut reader)? else { break };
            length = next;
            header_len = 8;
        }
        let meta_len = i32::from_le_bytes(length);
        if meta_len == 0 {
            return Ok(Scan { ends, end_of_stream: Some(pos + header_len) });
        }
        let Ok(meta_len) = usize::try_from(meta_len) else { break };
        if meta_len > MAX_METADATA_LEN || pos + header_len + meta_len as u64 > len {
            break;
        }
        let mut metadata = vec![0_u8; meta_len];
        reader.read_exact(&mut metadata)?;
        let Ok(message) = arrow_ipc::root_as_message(&metadata) else { break };
        let Ok(body_len) = u64::try_from(message.bodyLength()) else { break };
        let end = pos + header_len + meta_len as u64 + body_len;
        if end > len {
            break;
        }
        reader.seek_relative(i64::try_from(body_len).map_err(|_| ErrorKind::InvalidData)?)?;
        ends.push(end);
        pos = end;
    }
    Ok(Scan { ends, end_of_stream: None })
}

/// `N` bytes, or `None` at the end of the file (a short read included).
fn read_array<const N: usize>(reader: &mut impl Read) -> std::io::Result<Option<[u8; N]>> {
    let mut bytes = [0_u8; N];
    match reader.read_exact(&mut bytes) {
        Ok(()) => Ok(Some(bytes)),
        Err(error) if error.kind() == ErrorKind::UnexpectedEof => Ok(None),
        Err(error) => Err(error),
    }
}

/// How many record batches (and rows) of the first `len` bytes decode, in order.
fn decodable(file: &mut File, len: u64) -> (usize, usize) {
    let Ok(reader) = StreamReader::try_new(BufReader::new(file.take(len)), None) else { return (0, 0) };
    let mut batches = 0;
    let mut rows = 0;
    for batch in reader {
        let Ok(batch) = batch else { break };
        batches += 1;
        rows += batch.num_rows();
    }
    (batches, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftover_names_keep_their_stem() {
        let path = Path::new("/log/adult/v3/20261206T081500Z-0001.arrows.open");
        assert_eq!(renamed(path, FINISHED), Path::new("/log/adult/v3/20261206T081500Z-0001.arrows"));
        assert_eq!(renamed(path, UNREADABLE), Path::new("/log/adult/v3/20261206T081500Z-0001.arrows.unreadable"));
    }
}

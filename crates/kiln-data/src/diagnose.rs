//! Line-exact CSV diagnostics with the `csv` crate: the header, ragged rows, unterminated
//! quotes and bytes that are not UTF-8.
//!
//! polars is the fast reader; this module runs only to read the header line and when polars
//! refuses a file (or pads short rows), so that the error names the line at fault.

use std::path::Path;

use crate::error::{Error, Result};
use crate::plan::ReadOptions;

fn reader(path: &Path, read: &ReadOptions) -> Result<csv::Reader<std::fs::File>> {
    let file = std::fs::File::open(path).map_err(|source| Error::ReadFile { path: path.to_path_buf(), source })?;
    let mut builder = csv::ReaderBuilder::new();
    builder.has_headers(false).delimiter(read.separator).flexible(true);
    match read.quote {
        Some(q) => builder.quote(q),
        None => builder.quoting(false),
    };
    if let Some([byte]) = read.comment_prefix.as_deref().map(str::as_bytes) {
        builder.comment(Some(*byte));
    }
    Ok(builder.from_reader(file))
}

fn is_comment(record: &csv::ByteRecord, read: &ReadOptions) -> bool {
    match (&read.comment_prefix, record.get(0)) {
        (Some(prefix), Some(first)) => first.starts_with(prefix.as_bytes()),
        _ => false,
    }
}

/// The column names of the header line.
pub(crate) fn header(path: &Path, read: &ReadOptions) -> Result<Vec<String>> {
    let mut rdr = reader(path, read)?;
    let mut record = csv::ByteRecord::new();
    loop {
        let more = rdr.read_byte_record(&mut record).map_err(|e| csv_error(path, e))?;
        if !more {
            return Err(Error::EmptyFile { path: path.to_path_buf() });
        }
        if !is_comment(&record, read) {
            break;
        }
    }
    let line = record.position().map_or(1, csv::Position::line);
    record
        .iter()
        .map(|field| {
            let text = std::str::from_utf8(field).map_err(|_| Error::NotUtf8 { path: path.to_path_buf(), line })?;
            Ok(if read.trim_whitespace { text.trim() } else { text }.to_string())
        })
        .collect()
}

/// Walk every record; the first structural problem becomes the error.
pub(crate) fn scan(path: &Path, read: &ReadOptions, expected: usize) -> Result<()> {
    let mut rdr = reader(path, read)?;
    let mut record = csv::ByteRecord::new();
    loop {
        let more = rdr.read_byte_record(&mut record).map_err(|e| csv_error(path, e))?;
        if !more {
            return Ok(());
        }
        if is_comment(&record, read) {
            continue;
        }
        let line = record.position().map_or(0, csv::Position::line);
        let spans_lines = read.quote.is_some() && record.iter().any(|f| f.contains(&b'\n'));
        if record.len() != expected {
            if spans_lines {
                return Err(Error::BadQuoting { path: path.to_path_buf(), line });
            }
            // A lone empty field is a blank line, which polars skips too.
            if record.len() == 1 && record.get(0).is_some_and(<[u8]>::is_empty) {
                continue;
            }
            return Err(Error::Ragged { path: path.to_path_buf(), line, expected, found: record.len() });
        }
        if record.iter().any(|f| std::str::from_utf8(f).is_err()) {
            return Err(Error::NotUtf8 { path: path.to_path_buf(), line });
        }
    }
}

fn csv_error(path: &Path, error: csv::Error) -> Error {
    let line = error.position().map_or(0, csv::Position::line);
    match error.into_kind() {
        csv::ErrorKind::Io(source) => Error::ReadFile { path: path.to_path_buf(), source },
        csv::ErrorKind::Utf8 { .. } => Error::NotUtf8 { path: path.to_path_buf(), line },
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            Error::Ragged { path: path.to_path_buf(), line, expected: expected_len as usize, found: len as usize }
        }
        _ => Error::BadQuoting { path: path.to_path_buf(), line },
    }
}

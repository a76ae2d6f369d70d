//! Atomic file output: every file is written to a temporary file in its target folder and
//! renamed into place, so a failure never leaves a half-written file behind.

use std::io::Write;
use std::path::Path;

use polars::prelude::{CsvWriter, DataFrame, ParquetCompression, ParquetWriter, SerWriter};

use crate::config::FileFormat;
use crate::error::{Error, Result};

/// Write `path` through a closure that fills a temporary file, then rename it into place.
pub fn atomic_write(path: &Path, fill: impl FnOnce(&mut std::fs::File) -> Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|source| Error::Write { path: path.to_path_buf(), source })?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".kiln-tmp-");
    // Temporary files are private (0600); the finished file gets ordinary permissions.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(|source| Error::Write { path: path.to_path_buf(), source })?;
    fill(tmp.as_file_mut())?;
    tmp.as_file_mut().sync_all().map_err(|source| Error::Write { path: path.to_path_buf(), source })?;
    tmp.persist(path).map_err(|e| Error::Write { path: path.to_path_buf(), source: e.error })?;
    Ok(())
}

/// Write text (JSON, TOML, reports) atomically.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    atomic_write(path, |file| {
        file.write_all(text.as_bytes()).map_err(|source| Error::Write { path: path.to_path_buf(), source })
    })
}

/// Write a DataFrame as CSV (with header) or Parquet (zstd), atomically.
pub fn write_table(path: &Path, format: FileFormat, df: &mut DataFrame) -> Result<()> {
    atomic_write(path, |file| {
        let result = match format {
            FileFormat::Csv => CsvWriter::new(file).include_header(true).finish(df),
            FileFormat::Parquet => {
                ParquetWriter::new(file).with_compression(ParquetCompression::Zstd(None)).finish(df).map(|_| ())
            }
        };
        result.map_err(|source| Error::WriteTable { path: path.to_path_buf(), source })
    })
}

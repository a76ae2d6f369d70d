//! Atomic file output: every file is written to a temporary file in its target folder and
//! renamed into place, so a failure never leaves a half-written file behind.

use std::io::Write;
use std::path::Path;

use polars::prelude::{CsvWriter, DataFrame, ParquetCompression, ParquetWriter, SerWriter};

use crate::config::FileFormat;
use crate::error::{Error, Result};

/// Write `path` through a closure that fills a temporary file, then rename it into place
/// (`kiln_core::atomic::write_with`, the one atomic-write helper of kiln).
pub fn atomic_write(path: &Path, fill: impl FnOnce(&mut std::fs::File) -> Result<()>) -> Result<()> {
    kiln_core::atomic::write_with(path, fill, |source| Error::Write { path: path.to_path_buf(), source })
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

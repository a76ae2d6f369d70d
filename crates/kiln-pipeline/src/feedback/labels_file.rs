//! A label file (CSV with a header, or Parquet) read as text columns, so that ids, rows,
//! labels and times are checked cell by cell in kiln's words.

use std::path::{Path, PathBuf};

use kiln_data::config::FileFormat;
use polars::prelude::{CsvReadOptions, DataFrame, DataType, ParquetReader, SerReader};

use crate::error::{Error, Result};

/// A label file's columns as text (`None`: an empty or missing cell).
pub(crate) struct LabelFile {
    pub(crate) path: PathBuf,
    pub(crate) n_rows: usize,
    columns: Vec<(String, Vec<Option<String>>)>,
}

impl LabelFile {
    /// Read `path`: Parquet when it ends in `.parquet`, else CSV with a header row.
    pub(crate) fn read(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => kiln_data::Error::FileNotFound { path: path.to_path_buf(), what: "labels" },
            _ => kiln_data::Error::ReadFile { path: path.to_path_buf(), source },
        })?;
        if meta.len() == 0 {
            return Err(kiln_data::Error::EmptyFile { path: path.to_path_buf() }.into());
        }
        let df = match FileFormat::from_path(path) {
            Some(FileFormat::Parquet) => parquet(path)?,
            _ => csv(path)?,
        };
        if df.height() == 0 {
            return Err(Error::NoLabels { path: path.to_path_buf() });
        }
        let mut columns = Vec::with_capacity(df.width());
        for column in df.columns() {
            let text = column.cast(&DataType::String).map_err(|source| kiln_data::Error::Polars {
                doing: "reading a label file's column as text",
                source,
            })?;
            let values = text
                .str()
                .map_err(|source| kiln_data::Error::Polars { doing: "reading a label file's column as text", source })?
                .iter()
                .map(|v| v.map(str::trim).filter(|v| !v.is_empty()).map(str::to_string))
                .collect();
            columns.push((column.name().to_string(), values));
        }
        Ok(Self { path: path.to_path_buf(), n_rows: df.height(), columns })
    }

    /// The column `name`, if the file has it.
    pub(crate) fn column(&self, name: &str) -> Option<&[Option<String>]> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    /// The column `name`, or an error naming the file's columns and `hint`.
    pub(crate) fn require(&self, name: &str, hint: &str) -> Result<&[Option<String>]> {
        self.column(name).ok_or_else(|| Error::LabelColumn {
            path: self.path.clone(),
            column: name.to_string(),
            found: self.columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
            hint: hint.to_string(),
        })
    }
}

/// Every column as text, as written.
fn csv(path: &Path) -> Result<DataFrame> {
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|reader| reader.finish())
        .map_err(|source| Error::ReadLabels { path: path.to_path_buf(), source })
}

fn parquet(path: &Path) -> Result<DataFrame> {
    let file =
        std::fs::File::open(path).map_err(|source| kiln_data::Error::ReadFile { path: path.to_path_buf(), source })?;
    ParquetReader::new(file).finish().map_err(|source| Error::ReadLabels { path: path.to_path_buf(), source })
}

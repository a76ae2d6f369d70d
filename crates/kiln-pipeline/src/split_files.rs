//! `kiln data split`'s output: the rows of each part written as Parquet beside a
//! `kiln.split.v1` manifest (`split.json`) with each file's rows and content hash.

use std::path::{Path, PathBuf};

use kiln_data::config::FileFormat;
use kiln_data::load::Table;
use kiln_data::split::{self, Part};
use kiln_data::write;
use serde::{Deserialize, Serialize};

use crate::config::LoadedConfig;
use crate::error::{Error, Result};

/// The manifest's format name.
pub const SPLIT_FORMAT: &str = "kiln.split.v1";

/// One part's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitFile {
    pub part: String,
    pub path: String,
    pub n_rows: u64,
    pub data_hash: String,
}

/// `split.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitManifest {
    /// [`SPLIT_FORMAT`].
    pub format: String,
    pub config: String,
    pub method: String,
    pub seed: u64,
    pub split_hash: String,
    pub schema_hash: String,
    pub files: Vec<SplitFile>,
}

/// Split the rows of `train` as `config` says (the test file, when there is one, is the test
/// part), write `train.parquet`, `validation.parquet`, `test.parquet` and `split.json` into
/// `out`; returns the manifest and its path.
pub fn write_split(
    config: &LoadedConfig,
    train: &Table,
    test: Option<&Table>,
    out: &Path,
) -> Result<(SplitManifest, PathBuf)> {
    train.ensure_parsed()?;
    if let Some(t) = test {
        t.ensure_parsed()?;
    }
    let plan = &config.plan;
    let split = split::assign(&plan.split, plan.split_seed, train, test.map_or(0, Table::n_rows))?;
    let mut files = Vec::new();
    for part in Part::ALL {
        let df = match (part, test) {
            (Part::Test, Some(test)) => test.df.clone(),
            _ => split.select(&train.df, part)?,
        };
        let path = out.join(format!("{}.parquet", part.as_str()));
        let part_table = Table { path: path.clone(), df, schema: train.schema.clone(), findings: Vec::new() };
        let version = kiln_data::snapshot::file_version(part.as_str(), &part_table)?;
        let mut df = part_table.df;
        write::write_table(&path, FileFormat::Parquet, &mut df)?;
        files.push(SplitFile {
            part: part.as_str().into(),
            path: path.display().to_string(),
            n_rows: version.n_rows,
            data_hash: version.data_hash,
        });
    }
    let manifest = SplitManifest {
        format: SPLIT_FORMAT.into(),
        config: config.path.display().to_string(),
        method: format!("{:?}", split.method).to_lowercase(),
        seed: split.seed,
        split_hash: split.hash(),
        schema_hash: train.schema.hash(),
        files,
    };
    let path = out.join("split.json");
    let text =
        serde_json::to_string_pretty(&manifest).map_err(|source| Error::Json { what: "the split manifest", source })?;
    write::write_text(&path, &text)?;
    Ok((manifest, path))
}

//! `kiln data split`'s output: the rows of each part written as Parquet beside a
//! `kiln.split.v1` manifest (`split.json`) with each file's rows and content hash.

use std::path::{Path, PathBuf};

use kiln_core::schema::Schema;
use kiln_data::load::Table;
use kiln_data::plan::DataPlan;
use kiln_data::snapshot::{FileHasher, FileVersion};
use kiln_data::split::{Part, Split, SplitRows};
use kiln_data::stream::Opened;
use kiln_data::write;
use polars::prelude::{ParquetCompression, ParquetWriter};
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
    let train = Opened::Whole(train.clone());
    let test = test.cloned().map(Opened::Whole);
    write_split_from(config, &train, test.as_ref(), out)
}

/// [`write_split`] over data read batch by batch (a folder or glob of Parquet files, row group
/// by row group): one pass assigns the rows, then each part's file is written batch by batch,
/// so memory holds a batch and the split's sides, not the data.
pub fn write_split_from(
    config: &LoadedConfig,
    train: &Opened,
    test: Option<&Opened>,
    out: &Path,
) -> Result<(SplitManifest, PathBuf)> {
    let plan = &config.plan;
    let mut rows = SplitRows::new(&plan.split, plan.split_seed, train.path(), train.schema())?;
    train.for_each(plan, |batch, start| {
        batch.ensure_parsed_at(start)?;
        rows.add_rows(&batch.df, &plan.split)
    })?;
    let n_test_rows = match test {
        Some(test) => test.for_each(plan, |batch, start| batch.ensure_parsed_at(start))? as usize,
        None => 0,
    };
    let split = rows.assign(&plan.split, n_test_rows)?;
    let mut files = Vec::new();
    for part in Part::ALL {
        let path = out.join(format!("{}.parquet", part.as_str()));
        let source = match (part, test) {
            (Part::Test, Some(test)) => SplitSource::Whole(test),
            _ => SplitSource::Part(train, &split, part),
        };
        let version = write_part(plan, &source, &path, train.schema())?;
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
        schema_hash: train.schema().hash(),
        files,
    };
    let path = out.join("split.json");
    let text =
        serde_json::to_string_pretty(&manifest).map_err(|source| Error::Json { what: "the split manifest", source })?;
    write::write_text(&path, &text)?;
    Ok((manifest, path))
}

/// Where a part's rows come from.
enum SplitSource<'a> {
    /// Every row (the separate test data).
    Whole(&'a Opened),
    /// The training rows the split puts in the part.
    Part(&'a Opened, &'a Split, Part),
}

/// Write one part's rows as Parquet (zstd), atomically, batch by batch; returns their version.
fn write_part(plan: &DataPlan, source: &SplitSource, path: &Path, schema: &Schema) -> Result<FileVersion> {
    let name = path.file_stem().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let mut hasher = FileHasher::new(&name, &path.display().to_string(), schema);
    let data = match source {
        SplitSource::Whole(data) | SplitSource::Part(data, _, _) => *data,
    };
    write::atomic_write(path, |file| {
        let failed = |source| kiln_data::Error::WriteTable { path: path.to_path_buf(), source };
        let mut writer = None;
        // Moved into the writer at the first batch, whose columns the writer takes.
        let mut target = Some(file);
        let mut offset = 0;
        data.for_each(plan, |batch, _| {
            let rows = match source {
                SplitSource::Whole(_) => batch.df.clone(),
                SplitSource::Part(_, split, part) => split.select_batch(&batch.df, offset, *part)?,
            };
            offset += batch.n_rows();
            let writer = match &mut writer {
                Some(writer) => writer,
                None => writer.insert(
                    ParquetWriter::new(target.take().expect("the writer is made once"))
                        .with_compression(ParquetCompression::Zstd(None))
                        .batched(rows.schema())
                        .map_err(failed)?,
                ),
            };
            hasher.add(&rows)?;
            if rows.height() > 0 {
                writer.write_batch(&rows).map_err(failed)?;
            }
            Ok(())
        })?;
        writer.expect("every data source has a batch").finish().map_err(failed)?;
        Ok(())
    })?;
    Ok(hasher.finish())
}

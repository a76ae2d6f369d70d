//! `validate` and `snapshot` over data read batch by batch: a folder or glob of Parquet files
//! row group by row group (only the columns kept), folded into the accumulators of
//! [`crate::validate::FileChecks`], [`crate::snapshot::FileHasher`] and
//! [`crate::split::SplitRows`]. Peak memory is one batch plus the accumulators (a few bytes
//! per training row: row hashes, strata, sides), not the data's size. For the same
//! rows, the report and the hashes equal those of the same rows read as one file.
//!
//! A single file (the test file, say) is read whole and folded as one batch.

use std::path::Path;

use kiln_core::schema::{Role, Schema};

use crate::error::{Error, Result};
use crate::load::{self, Source, Table};
use crate::parts::{self, Batching, Parts};
use crate::plan::DataPlan;
use crate::snapshot::{self, FileHasher, Snapshot};
use crate::split::SplitRows;
use crate::validate::{ValidationReport, Validator};

/// Whether the plan's training or test data is a folder or glob (the commands that can stream
/// do so then).
pub fn is_partitioned(plan: &DataPlan) -> bool {
    parts::is_multi(&plan.train_path) || plan.test_path.as_deref().is_some_and(parts::is_multi)
}

/// Data opened for reading batch by batch.
#[derive(Debug)]
pub enum Opened {
    /// A folder or glob: read row group by row group. `schema` has every column, `kept` the
    /// columns that are not dropped.
    Parts { parts: Parts, schema: Schema, kept: Schema },
    /// One file, read whole.
    Whole(Table),
}

impl Opened {
    /// Open the plan's training or test data.
    pub fn open(plan: &DataPlan, source: Source) -> Result<Self> {
        let path = match source {
            Source::Train => Some(&plan.train_path),
            Source::Test => plan.test_path.as_ref(),
        };
        match path {
            Some(path) if parts::is_multi(path) => {
                let parts = parts::resolve(path, source.as_str())?;
                let schema = plan.schema(&parts::column_names(&parts)?)?;
                let mut kept = schema.clone();
                kept.columns.retain(|c| c.role != Role::Drop);
                Ok(Opened::Parts { parts, schema, kept })
            }
            _ => Ok(Opened::Whole(load::load(plan, source, plan.validation.max_examples)?)),
        }
    }

    /// The folder, glob or file.
    pub fn path(&self) -> &Path {
        match self {
            Opened::Parts { parts, .. } => &parts.spec,
            Opened::Whole(table) => &table.path,
        }
    }

    /// The schema of the rows the batches hold (no dropped columns).
    pub fn schema(&self) -> &Schema {
        match self {
            Opened::Parts { kept, .. } => kept,
            Opened::Whole(table) => &table.schema,
        }
    }

    /// Visit the rows batch by batch in order, typed as declared, with the batch's first row
    /// within its file (0-based); a batch's `path` is the file it comes from, its findings'
    /// rows count from the batch's first row. Returns the number of rows.
    pub fn for_each(&self, plan: &DataPlan, mut visit: impl FnMut(&Table, usize) -> Result<()>) -> Result<u64> {
        match self {
            Opened::Whole(table) => {
                visit(table, 0)?;
                Ok(table.n_rows() as u64)
            }
            Opened::Parts { parts, schema, kept } => {
                let columns: Vec<String> =
                    kept.columns.iter().map(|c| c.name.clone()).filter(|name| !parts.keys().contains(name)).collect();
                let limit = plan.validation.max_examples;
                let mut n_rows = 0u64;
                parts::for_each_batch(
                    parts,
                    Some(&columns),
                    Batching::RowGroups,
                    |k| plan.dtype(k),
                    |file, start, df| {
                        n_rows += df.height() as u64;
                        visit(&load::typed_batch(plan, &file.path, df, schema, limit)?, start)
                    },
                )?;
                if n_rows == 0 {
                    return Err(Error::NoRows { path: parts.spec.clone() });
                }
                Ok(n_rows)
            }
        }
    }
}

fn opened(plan: &DataPlan) -> Result<Vec<(&'static str, Opened)>> {
    let mut out = vec![("train", Opened::open(plan, Source::Train)?)];
    if plan.test_path.is_some() {
        out.push(("test", Opened::open(plan, Source::Test)?));
    }
    Ok(out)
}

/// [`crate::validate::validate`] over the plan's data, batch by batch.
pub fn validate(config_path: &str, plan: &DataPlan) -> Result<ValidationReport> {
    let sources = opened(plan)?;
    let mut validator = Validator::new(config_path, &plan.validation, sources.len() > 1);
    for (role, data) in &sources {
        let mut checks = validator.file(role, &data.path().display().to_string(), data.schema());
        data.for_each(plan, |batch, _| checks.add(batch))?;
        validator.finish_file(checks)?;
    }
    Ok(validator.finish())
}

/// [`crate::snapshot::snapshot`] over the plan's data (with the plan's split), batch by batch.
/// Cells that do not parse as their declared type fail it, naming the file.
pub fn snapshot(config_path: &str, plan: &DataPlan) -> Result<Snapshot> {
    let sources = opened(plan)?;
    let mut files = Vec::new();
    let mut split_rows = None;
    let mut n_test_rows = 0;
    for (role, data) in &sources {
        let mut hasher = FileHasher::new(role, &data.path().display().to_string(), data.schema());
        let mut rows = match *role {
            "train" => Some(SplitRows::new(&plan.split, plan.split_seed, data.path(), data.schema())?),
            _ => None,
        };
        let n_rows = data.for_each(plan, |batch, start| {
            batch.ensure_parsed_at(start)?;
            hasher.add(&batch.df)?;
            rows.as_mut().map_or(Ok(()), |r| r.add_rows(&batch.df, &plan.split))
        })?;
        if *role == "test" {
            n_test_rows = n_rows as usize;
        }
        split_rows = split_rows.or(rows);
        files.push(hasher.finish());
    }
    let split = split_rows.expect("the training data comes first").assign(&plan.split, n_test_rows)?;
    Ok(snapshot::assemble(config_path, sources[0].1.schema().hash(), files, &split))
}

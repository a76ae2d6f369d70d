//! `kiln init`: write a starter config inferred from a data file.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use kiln_data::infer::{self, Flag, InferOptions};
use serde::Serialize;

use crate::EXIT_OK;
use crate::output::{self, Format, Table};
use crate::progress::Progress;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The data file: CSV with a header, or Parquet.
    pub data: PathBuf,
    /// The column to predict (default: a column named like a label, else the last column).
    #[arg(long)]
    pub target: Option<String>,
    /// Where to write the config.
    #[arg(long, default_value = "config.toml")]
    pub out: PathBuf,
    /// Replace the config file if it exists.
    #[arg(long)]
    pub force: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

#[derive(Debug, Serialize)]
struct ColumnJson<'a> {
    name: &'a str,
    role: &'a str,
    flag: Option<&'static str>,
    reason: &'a str,
}

#[derive(Debug, Serialize)]
struct InitJson<'a> {
    config: String,
    task: &'a str,
    target: &'a str,
    columns: Vec<ColumnJson<'a>>,
}

fn flag_name(flag: Option<&Flag>) -> Option<&'static str> {
    flag.map(|f| match f {
        Flag::Constant => "constant",
        Flag::IdLike { .. } => "id_like",
        Flag::PersonalData { .. } => "personal_data",
        Flag::Leakage(_) => "leakage",
        Flag::HighCardinality => "high_cardinality",
    })
}

pub fn init(args: &InitArgs, progress: Progress, out: &mut dyn Write) -> anyhow::Result<i32> {
    let config_dir = match args.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let options = InferOptions { target: args.target.clone(), config_dir };
    let step = progress.step(format!("reading {}", args.data.display()));
    let starter = infer::infer(&args.data, &options)?;
    step.done();
    // The written file must load as it stands.
    kiln_pipeline::config::parse(&args.out, &starter.toml)
        .context("the inferred config does not load (a bug in kiln init)")?;
    infer::write(&args.out, &starter, args.force)?;
    emit(&args.out, &starter, args.format, out)?;
    Ok(EXIT_OK)
}

fn emit(path: &Path, starter: &infer::Starter, format: Format, out: &mut dyn Write) -> anyhow::Result<()> {
    let task = starter.project.task.as_str();
    let mut table = Table::new(&["column", "role", "flag", "why"]).titled(format!(
        "wrote {} ({task} task, target `{}`): check the comments, then `kiln run {}`",
        path.display(),
        starter.columns.target,
        path.display()
    ));
    let mut columns = Vec::with_capacity(starter.guesses.len());
    for g in &starter.guesses {
        let flag = flag_name(g.flag.as_ref());
        table.push(vec![g.name.clone(), g.role.as_str().into(), flag.unwrap_or("").into(), g.reason.clone()]);
        columns.push(ColumnJson { name: &g.name, role: g.role.as_str(), flag, reason: &g.reason });
    }
    let json = InitJson { config: path.display().to_string(), task, target: &starter.columns.target, columns };
    output::emit(out, format, &[table], &json)?;
    Ok(())
}

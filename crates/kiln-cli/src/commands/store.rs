//! `kiln store migrate --from LOCATION --to LOCATION`: copies a whole store (an SQLite file or a
//! PostgreSQL database, either way) into an empty one, audit chain included, and shows the
//! checks the copy passed.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use kiln_track::Store;

use crate::EXIT_OK;
use crate::commands::track::TrackOpts;
use crate::output::{self, Table};

/// `kiln store ...`
#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(flatten)]
    pub opts: TrackOpts,
    #[command(subcommand)]
    pub cmd: StoreCmd,
}

#[derive(Debug, Subcommand)]
pub enum StoreCmd {
    /// Copy a whole store into an empty one (SQLite to PostgreSQL or back): runs, metrics,
    /// artifacts' records, models, aliases and their history, rollouts and the audit log row
    /// for row with its hashes; then check row counts, the audit chain and its last hash.
    Migrate {
        /// The store to copy: a path (SQLite) or postgres://USER@HOST:PORT/DB.
        #[arg(long, value_name = "LOCATION")]
        from: PathBuf,
        /// The empty store to copy into (created, or an empty database).
        #[arg(long, value_name = "LOCATION")]
        to: PathBuf,
    },
}

/// Entry point of `kiln store`.
pub(crate) fn store(args: &StoreArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    match &args.cmd {
        StoreCmd::Migrate { from, to } => migrate(from, to, args, out),
    }
}

fn migrate(from: &Path, to: &Path, args: &StoreArgs, out: &mut dyn Write) -> anyhow::Result<i32> {
    let source = Store::open(from).with_context(|| format!("opening the source store {}", from.display()))?;
    let target = Store::open(to).with_context(|| format!("opening the target store {}", to.display()))?;
    let report = source
        .copy_into(&target)
        .with_context(|| format!("copying {} into {}", source.location(), target.location()))?;
    let mut summary = Table::new(&["check", "result"]).titled("store copied and verified");
    summary.push(vec!["from".to_owned(), report.from.clone()]);
    summary.push(vec!["to".to_owned(), report.to.clone()]);
    summary.push(vec!["row counts".to_owned(), "equal in every table".to_owned()]);
    summary.push(vec!["audit chain".to_owned(), format!("verified ({} events)", report.audit_events)]);
    summary.push(vec![
        "last audit hash".to_owned(),
        report.audit_head_hash.clone().map_or_else(|| "(empty log)".to_owned(), |hash| format!("{hash} (equal)")),
    ]);
    let mut tables = Table::new(&["table", "rows"]).titled("rows copied");
    for count in &report.tables {
        tables.push(vec![count.table.clone(), count.rows.to_string()]);
    }
    output::emit(out, args.opts.format, &[summary, tables], &report)?;
    Ok(EXIT_OK)
}

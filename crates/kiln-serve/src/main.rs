//! `kiln-serve`: serve registered kiln bundles over HTTP.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kiln_serve::ServeArgs;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "kiln-serve", version)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
    /// The kiln store whose registry holds the models: a path (SQLite) or
    /// postgres://USER@HOST:PORT/DB (default: the config's, or .kiln/kiln.db).
    #[arg(long, env = "KILN_STORE", value_name = "LOCATION")]
    store: Option<PathBuf>,
    /// Log warnings and errors only.
    #[arg(long, short)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default = if cli.quiet { "warn" } else { "info" };
    let filter = EnvFilter::try_from_env("KILN_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os("NO_COLOR").is_none())
        .init();
    match kiln_serve::run(&cli.serve, cli.store.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(2)
        }
    }
}

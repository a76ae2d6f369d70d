//! The `kiln` binary: a thin shell over [`kiln_cli::run`].

fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(kiln_cli::env::KILN_LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os(kiln_cli::env::NO_COLOR).is_none())
        .init();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let code = kiln_cli::run(std::env::args_os(), &mut stdout.lock(), &mut stderr.lock());
    std::process::exit(code);
}

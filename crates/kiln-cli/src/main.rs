//! The `kiln` binary: a thin shell over [`kiln_cli::run`].

fn main() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(kiln_cli::env::KILN_LOG)
        // `kiln serve` reports its address, alias moves and breaker changes at info
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,kiln_serve=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os(kiln_cli::env::NO_COLOR).is_none())
        .init();
    let stdout = std::io::stdout();
    // Stderr is not locked for the whole run: the progress display's ticker thread and the
    // log writer write to it too, and a lock held here would block them forever.
    let code = kiln_cli::run(std::env::args_os(), &mut stdout.lock(), &mut std::io::stderr());
    std::process::exit(code);
}

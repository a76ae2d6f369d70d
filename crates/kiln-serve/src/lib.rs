//! kiln-serve: registered kiln bundles served over HTTP.
//!
//! - [`source`]: `adult@champion`, `adult@v3` or a bundle file, resolved in the registry and
//!   loaded with its SHA-256 checked; the run's rules baseline as the fallback.
//! - [`deploy`]: each served name's routes (weights, sticky key, canary, shadow, fallback),
//!   each with its loaded model, [`batcher`] and [`breaker`]; [`follow`] swaps in the
//!   version an alias moved to.
//! - [`protocol`]: the Open Inference Protocol (KServe v2) and rows JSON, read into columns
//!   against the model's schema; [`infer`]: one request from body to answer.
//! - [`http`] and [`admin`]: the axum routes and tower layers; [`metrics`]: Prometheus;
//!   [`drift`]: the live drift sketch of every served route; [`predlog`]: the prediction log.
//! - [`server`]: start, serve, drain and stop; [`cli`]: the flags of `kiln-serve` and
//!   `kiln serve`.
//!
//! Inference goes through `kiln_core::model::Model` alone, the path `kiln predict` takes, so
//! a row gets the same bits from the server as from a batch file.

pub mod admin;
pub mod batcher;
pub mod breaker;
pub mod cli;
pub mod config;
pub mod deploy;
pub mod drift;
pub mod error;
pub mod follow;
pub mod http;
pub mod infer;
pub mod metrics;
pub use kiln_log as predlog;
pub mod protocol;
pub mod server;
pub mod source;
pub mod state;

pub use cli::ServeArgs;
pub use config::ServeConfig;
pub use error::{Error, Result};
pub use server::{Server, StopSignals, start};

/// Serve what `args` describe (models from the registry in `store`) until SIGTERM or
/// Ctrl-C, on a runtime of its own.
pub fn run(args: &ServeArgs, store: Option<&std::path::Path>) -> Result<()> {
    let config = args.to_config(store)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Settings(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let stop = StopSignals::listen()?;
        start(config).await?.run_until(stop).await
    })
}

//! The command line of `kiln-serve` (and of `kiln serve`, which takes the same flags).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::config::{ModelSettings, ServeConfig};
use crate::error::{Error, Result};
use crate::predlog::LogSettings;
use crate::source::Source;

/// Serve registered kiln bundles over HTTP: the Open Inference Protocol (KServe v2) and rows
/// as JSON, with traffic splits, shadow, canary, a circuit breaker that falls back to the
/// run's rules model, Prometheus metrics and a prediction log.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// A serving config with a `[serving]` section (models, routes, shadow, canary, breaker,
    /// batching, limits, prediction log); the flags below add to it or override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A registered model to serve: NAME@ALIAS (follows the alias) or NAME@vN, optionally as
    /// SERVED=NAME@ALIAS to serve it under another name. Repeatable.
    #[arg(long = "model", value_name = "[SERVED=]NAME@ALIAS")]
    pub models: Vec<String>,
    /// A bundle file to serve without the registry, as SERVED=PATH. Repeatable.
    #[arg(long = "bundle", value_name = "[SERVED=]PATH")]
    pub bundles: Vec<String>,
    /// Where to listen (loopback unless told otherwise).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// Write the prediction log (Arrow IPC segments) into this folder.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// The breaker's latency budget for every model given by flag (ms): the p95 time in the
    /// model above which it opens.
    #[arg(long, value_name = "MS")]
    pub latency_budget_ms: Option<f64>,
    /// Take the latency budget from this training config's [acceptance.budget].
    #[arg(long, value_name = "CONFIG")]
    pub budget_from: Option<PathBuf>,
}

impl ServeArgs {
    /// The config these flags describe, with the models of the registry in `store` (none:
    /// the config's, or `.kiln/kiln.db`).
    pub fn to_config(&self, store: Option<&Path>) -> Result<ServeConfig> {
        let mut config = match &self.config {
            Some(path) => ServeConfig::read(path)?,
            None => ServeConfig::with_models(Vec::new()),
        };
        for text in self.models.iter().chain(&self.bundles) {
            let (served, source) = match text.split_once('=') {
                Some((name, source)) => (Some(name.to_owned()), source),
                None => (None, text.as_str()),
            };
            let source: Source = source.parse()?;
            let mut model = ModelSettings::single(served.unwrap_or_else(|| source.default_name()), source);
            model.breaker.latency_budget_ms = self.latency_budget_ms;
            model.breaker.budget_from = self.budget_from.clone();
            config.models.push(model);
        }
        if self.bundles.iter().any(|b| !b.contains('=') && !b.ends_with(".safetensors")) {
            return Err(Error::Settings("--bundle takes SERVED=PATH or a .safetensors path".into()));
        }
        if let Some(bind) = self.bind {
            config.bind = bind;
        }
        if let Some(store) = store {
            config.store = store.to_path_buf();
        }
        if let Some(dir) = &self.log_dir {
            config.log = Some(LogSettings::new(dir.clone()));
        }
        config.check().map_err(Error::Settings)?;
        Ok(config)
    }
}

//! Starting and stopping the server: load every model (a model that cannot be loaded stops
//! the start, with the reason), bind, follow the registry, serve until told to stop, then
//! drain the requests in flight and close the prediction log.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::config::ServeConfig;
use crate::deploy::{Loader, Served};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::predlog::PredictionLog;
use crate::source::{Registry, Source};
use crate::state::App;

/// How long shutdown waits for shadow scorings still running.
const SHADOW_DRAIN: Duration = Duration::from_secs(10);

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    app: Arc<App>,
    stop: Arc<Notify>,
    task: JoinHandle<std::io::Result<()>>,
    follower: JoinHandle<()>,
}

/// Load the models of `config`, bind its address and start serving.
pub async fn start(config: ServeConfig) -> Result<Server> {
    config.check().map_err(Error::Settings)?;
    let metrics = Arc::new(Metrics::new());
    let loader = {
        let config = config.clone();
        let metrics = metrics.clone();
        tokio::task::spawn_blocking(move || loader(&config, metrics))
            .await
            .map_err(|e| Error::Settings(format!("loading the models failed: {e}")))??
    };
    let served = {
        let (config, loader) = (config.clone(), loader.clone());
        tokio::task::spawn_blocking(move || load_all(&config, &loader))
            .await
            .map_err(|e| Error::Settings(format!("loading the models failed: {e}")))??
    };
    let log = match &config.log {
        Some(settings) => Some(PredictionLog::start(settings.clone()).map_err(|e| Error::Log(e.to_string()))?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| Error::Bind { bind: config.bind.to_string(), source })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind { bind: config.bind.to_string(), source })?;
    let admin_token = std::env::var(&config.admin_token_env).ok().filter(|t| !t.is_empty());
    let app = Arc::new(App {
        served: served.iter().map(|s| (s.name.clone(), s.clone())).collect::<BTreeMap<_, _>>(),
        metrics,
        log: Mutex::new(log),
        limits: config.limits.clone(),
        admin_token,
        loopback: addr.ip().is_loopback(),
        loader: loader.clone(),
        shadows: Default::default(),
    });
    let stop = Arc::new(Notify::new());
    let follower =
        tokio::spawn(crate::follow::follow(served, loader, Duration::from_millis(config.poll_ms), stop.clone()));
    let router = crate::http::router(app.clone());
    let stopped = stop.clone();
    let task = tokio::spawn(async move {
        axum::serve(listener, router).with_graceful_shutdown(async move { stopped.notified().await }).await
    });
    tracing::info!(%addr, models = ?app.names(), "kiln-serve ready");
    Ok(Server { addr, app, stop, task, follower })
}

fn loader(config: &ServeConfig, metrics: Arc<Metrics>) -> Result<Loader> {
    let needs_store = config.models.iter().any(|m| {
        let mut sources = m.routes.iter().map(|r| &r.source).chain(m.shadow.iter()).chain(m.fallback.iter());
        sources.any(|s| !matches!(s, Source::File(_)))
            || m.canary.as_ref().is_some_and(|c| !matches!(c.source, Source::File(_)))
    });
    let registry = Registry::open(&config.store, needs_store)?;
    let (batching, queue) = (config.batching.clone(), config.limits.queue);
    Ok(Loader { registry, batching, queue, metrics })
}

fn load_all(config: &ServeConfig, loader: &Loader) -> Result<Vec<Arc<Served>>> {
    let mut served = Vec::new();
    for settings in &config.models {
        let model = loader.served(settings)?;
        for route in model.all_routes() {
            let loaded = &route.live().loaded;
            tracing::info!(model = %model.name, source = %route.source, loaded = %loaded.label(), kind = loaded.model.kind(), "model loaded");
        }
        served.push(Arc::new(model));
    }
    Ok(served)
}

impl Server {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Stop accepting connections, let the requests in flight finish, stop following the
    /// registry and close the prediction log.
    pub async fn shutdown(self) -> Result<()> {
        // wake every waiter (the server's drain, the follower), and leave a permit for a
        // waiter not yet polled
        self.stop.notify_waiters();
        self.stop.notify_one();
        let served = self.task.await.map_err(|e| Error::Serve(std::io::Error::other(e)))?;
        served.map_err(Error::Serve)?;
        self.follower.abort();
        // the shadows score copies of answered requests: their rows belong in the log
        if !self.app.shadows.wait_idle(SHADOW_DRAIN).await {
            tracing::warn!(
                "shadow scorings still running after {} s; their rows are not logged",
                SHADOW_DRAIN.as_secs()
            );
        }
        let log = self.app.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(log) = log {
            let closed = tokio::task::spawn_blocking(move || log.close())
                .await
                .map_err(|e| Error::Log(format!("closing the prediction log failed: {e}")))?;
            let stats = closed.map_err(|e| Error::Log(e.to_string()))?;
            tracing::info!(rows = stats.rows_written, dropped = stats.rows_dropped, "prediction log closed");
        }
        tracing::info!("kiln-serve stopped");
        Ok(())
    }

    /// Serve until one of `stop`'s signals arrives, then shut down gracefully.
    pub async fn run_until(self, mut stop: StopSignals) -> Result<()> {
        stop.recv().await;
        tracing::info!("stopping: draining the requests in flight");
        self.shutdown().await
    }
}

/// SIGTERM and Ctrl-C, listened for from the moment [`StopSignals::listen`] is called: made
/// before the server starts, so that a signal that arrives while it loads its models stops it
/// gracefully instead of killing it.
#[derive(Debug)]
pub struct StopSignals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Start listening (inside the runtime).
    pub fn listen() -> Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &str| {
                signal(kind).map_err(|e| Error::Settings(format!("cannot listen for {name}: {e}")))
            };
            Ok(Self {
                terminate: listen(SignalKind::terminate(), "SIGTERM")?,
                interrupt: listen(SignalKind::interrupt(), "SIGINT")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

//! The server's shared state: the served models, the metrics, the prediction log, the
//! limits and the admin token.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kiln_core::columns::Batch;

use crate::config::Limits;
use crate::deploy::{Loader, Served};
use crate::error::ApiError;
use crate::infer::Request;
use crate::metrics::Metrics;
use crate::predlog::{Entry, LogStats, PredictionLog, Route as LogRoute};
use crate::source::Loaded;

/// Everything a handler needs.
#[derive(Debug)]
pub struct App {
    pub served: BTreeMap<String, Arc<Served>>,
    pub metrics: Arc<Metrics>,
    /// Taken at shutdown, to be closed.
    pub log: Mutex<Option<PredictionLog>>,
    pub limits: Limits,
    /// The admin endpoints' bearer token; none: admin only on a loopback bind.
    pub admin_token: Option<String>,
    pub loopback: bool,
    /// Loads models (the registry follower and `POST /admin/reload`).
    pub loader: Loader,
    /// Shadow scorings still running after their answers (shutdown waits for them).
    pub shadows: Arc<InFlight>,
}

/// A count of background tasks in flight, and a wait for none.
#[derive(Debug, Default)]
pub struct InFlight {
    count: AtomicUsize,
    idle: tokio::sync::Notify,
}

/// Held by one task in flight; dropping it ends the task.
#[derive(Debug)]
pub struct InFlightGuard(Arc<InFlight>);

impl InFlight {
    /// Count one more task until the guard is dropped.
    pub fn start(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(self.clone())
    }

    /// Wait until no task is in flight, or `limit` has passed; whether none is.
    pub async fn wait_idle(&self, limit: std::time::Duration) -> bool {
        let waited = tokio::time::timeout(limit, async {
            loop {
                let idle = self.idle.notified();
                if self.count.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        });
        waited.await.is_ok()
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl App {
    /// The model named `name`, or a 404 naming the served ones.
    pub fn served(&self, name: &str) -> Result<Arc<Served>, ApiError> {
        self.served.get(name).cloned().ok_or_else(|| {
            let names: Vec<String> = self.served.keys().cloned().collect();
            ApiError::unknown_model(format!("no model named `{name}` is served"), &names)
        })
    }

    /// The names of the served models.
    pub fn names(&self) -> Vec<String> {
        self.served.keys().cloned().collect()
    }

    /// A prediction log entry for rows of `request` scored by `loaded`; pii columns removed.
    #[allow(clippy::too_many_arguments)]
    pub fn entry(
        &self,
        request_id: &str,
        received_ms: i64,
        model: &str,
        loaded: &Loaded,
        route: LogRoute,
        batch: &Arc<Batch>,
        outputs: Batch,
        started: Instant,
    ) -> Entry {
        let inputs = if loaded.pii.is_empty() {
            batch.clone()
        } else {
            let kept = batch.columns.iter().filter(|(name, _)| !loaded.pii.contains(name)).cloned().collect();
            Arc::new(Batch::new(kept))
        };
        Entry {
            request_id: request_id.to_owned(),
            time_ms: received_ms,
            model: model.to_owned(),
            version: loaded.resolved.version,
            route,
            latency_ms: started.elapsed().as_secs_f64() * 1e3,
            inputs,
            outputs,
        }
    }

    /// Append to the prediction log, when there is one.
    pub fn append(&self, entry: Entry) {
        if let Some(log) = self.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref() {
            log.append(entry);
        }
    }

    /// Log the answer to `request`.
    #[allow(clippy::too_many_arguments)]
    pub fn log(
        &self,
        request: &Request<'_>,
        model: &str,
        loaded: &Loaded,
        route: LogRoute,
        batch: &Arc<Batch>,
        outputs: Batch,
        started: Instant,
    ) {
        let entry = self.entry(&request.request_id, request.received_ms, model, loaded, route, batch, outputs, started);
        self.append(entry);
    }

    /// Set the live drift gauges of every route served now; those of versions no longer
    /// served are dropped.
    pub fn export_drift(&self) {
        self.metrics.clear_drift();
        let now = Instant::now();
        for served in self.served.values() {
            for route in served.all_routes() {
                if let Some(drift) = &route.live().drift {
                    drift.export(&self.metrics, now);
                }
            }
        }
    }

    /// The prediction log's counters, for the metrics.
    pub fn log_stats(&self) -> Option<LogStats> {
        self.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref().map(PredictionLog::stats)
    }
}

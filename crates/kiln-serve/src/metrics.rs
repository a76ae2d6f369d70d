//! The server's metrics, exposed on `GET /metrics` in the Prometheus text format
//! (prometheus-client): requests, errors and latency per model, version and route; batch
//! sizes; the outcome of every scoring call per route (what a rollout's controller reads);
//! breaker state and transitions; fallback rows; missing values and unseen categories
//! per column; shed requests; model reloads; the prediction log's rows; the live drift of
//! every served route per slicing group and feature (set when `/metrics` is read).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::breaker::Transition;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub model: String,
    pub version: String,
    pub route: String,
    pub protocol: String,
    pub code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub model: String,
    pub version: String,
    pub route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub model: String,
    pub source: String,
    pub version: String,
    pub route: String,
    /// `ok`, or `failed` (scoring failed or gave non-finite outputs).
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub model: String,
    pub kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    pub model: String,
    pub source: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabels {
    pub model: String,
    pub source: String,
    pub version: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransitionLabels {
    pub model: String,
    pub source: String,
    pub to: String,
    pub trigger: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ColumnLabels {
    pub model: String,
    pub column: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    pub model: String,
    pub source: String,
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub model: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabels {
    pub model: String,
    pub source: String,
    pub version: String,
    pub slice: String,
    pub group: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DriftLabels {
    pub model: String,
    pub source: String,
    pub version: String,
    pub slice: String,
    pub group: String,
    pub feature: String,
    pub statistic: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScoreDriftLabels {
    pub model: String,
    pub source: String,
    pub version: String,
    pub slice: String,
    pub group: String,
    pub statistic: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 50 µs to ~13 s
    Histogram::new(exponential_buckets(0.00005, 2.0, 19))
}

fn rows_histogram() -> Histogram {
    // 1 to 16384 rows
    Histogram::new(exponential_buckets(1.0, 2.0, 15))
}

/// Every metric of the server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub latency: Histograms<RouteLabels>,
    pub rows: Family<RouteLabels, Counter>,
    pub route_outcomes: Family<OutcomeLabels, Counter>,
    pub batch_rows: Histograms<VersionLabels>,
    pub breaker_state: Family<SourceLabels, Gauge>,
    pub breaker_transitions: Family<TransitionLabels, Counter>,
    pub fallback_rows: Family<ModelLabels, Counter>,
    pub missing_values: Family<ColumnLabels, Counter>,
    pub unseen_categories: Family<ColumnLabels, Counter>,
    pub out_of_range: Family<ColumnLabels, Counter>,
    pub shed: Counter,
    pub timeouts: Counter,
    pub reloads: Family<ReloadLabels, Counter>,
    pub served_version: Family<SourceLabels, Gauge>,
    pub log_rows_written: Gauge,
    pub log_rows_dropped: Gauge,
    pub drift: Family<DriftLabels, FloatGauge>,
    pub score_drift: Family<ScoreDriftLabels, FloatGauge>,
    pub drifted_share: Family<GroupLabels, FloatGauge>,
    pub drift_rows: Family<GroupLabels, Gauge>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kiln_serve");
        let m = Self {
            requests: Family::default(),
            errors: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            rows: Family::default(),
            route_outcomes: Family::default(),
            batch_rows: Family::new_with_constructor(rows_histogram as fn() -> Histogram),
            breaker_state: Family::default(),
            breaker_transitions: Family::default(),
            fallback_rows: Family::default(),
            missing_values: Family::default(),
            unseen_categories: Family::default(),
            out_of_range: Family::default(),
            shed: Counter::default(),
            timeouts: Counter::default(),
            reloads: Family::default(),
            served_version: Family::default(),
            log_rows_written: Gauge::default(),
            log_rows_dropped: Gauge::default(),
            drift: Family::default(),
            score_drift: Family::default(),
            drifted_share: Family::default(),
            drift_rows: Family::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "requests",
            "Requests answered, by model, version, route, protocol and status code",
            m.requests.clone(),
        );
        r.register("errors", "Requests that failed, by model and kind (client or server)", m.errors.clone());
        r.register("request_duration_seconds", "Time to answer a request", m.latency.clone());
        r.register("rows", "Rows scored, by model, version and route", m.rows.clone());
        r.register(
            "route_outcomes",
            "Scoring calls per route, by model, source, version, route and outcome (ok, or failed: \
             scoring failed or gave non-finite outputs, and the fallback answered)",
            m.route_outcomes.clone(),
        );
        r.register("batch_rows", "Rows per scoring call (adaptive batching)", m.batch_rows.clone());
        r.register("breaker_state", "Breaker state per route: 0 closed, 1 open, 2 half-open", m.breaker_state.clone());
        r.register("breaker_transitions", "Breaker opens and closes, by trigger", m.breaker_transitions.clone());
        r.register("fallback_rows", "Rows answered by the fallback model", m.fallback_rows.clone());
        r.register("missing_values", "Missing values received, per feature column", m.missing_values.clone());
        r.register("unseen_categories", "Categories the model never saw, per column", m.unseen_categories.clone());
        r.register("out_of_range", "Numeric values outside the training range, per column", m.out_of_range.clone());
        r.register("shed", "Requests refused with 503 because the server was at its limits", m.shed.clone());
        r.register(
            "timeouts",
            "Requests answered 503 because they took longer than limits.timeout_ms",
            m.timeouts.clone(),
        );
        r.register("reloads", "Model loads after an alias moved, by outcome", m.reloads.clone());
        r.register("served_version", "The registry version each source serves now", m.served_version.clone());
        r.register("log_rows_written", "Rows written to the prediction log", m.log_rows_written.clone());
        r.register("log_rows_dropped", "Rows the prediction log dropped (queue full)", m.log_rows_dropped.clone());
        r.register(
            "drift",
            "Live drift statistic of each feature over the monitoring window, by version, slice, group and statistic",
            m.drift.clone(),
        );
        r.register("score_drift", "Live drift statistic of the model's scores over the window", m.score_drift.clone());
        r.register(
            "drifted_share",
            "Share of the features that drifted over the window, per slicing group (judged groups only)",
            m.drifted_share.clone(),
        );
        r.register("drift_window_rows", "Rows in the live drift window, per slicing group", m.drift_rows.clone());
        Self { registry, ..m }
    }

    /// Forget every drift gauge (before setting those of the versions served now).
    pub fn clear_drift(&self) {
        self.drift.clear();
        self.score_drift.clear();
        self.drifted_share.clear();
        self.drift_rows.clear();
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        text
    }

    /// Start the counts of `route` (`shadow` or `canary`) of `source` afresh: its scoring
    /// outcomes and its breaker's openings. Done when a server begins following a rollout, so
    /// that what a controller reads counts that rollout only.
    pub fn reset_route(&self, model: &str, source: &str, version: i64, route: &str) {
        for outcome in ["ok", "failed"] {
            self.route_outcomes.remove(&OutcomeLabels {
                model: model.into(),
                source: source.into(),
                version: version.to_string(),
                route: route.into(),
                outcome: outcome.into(),
            });
        }
        for trigger in crate::breaker::Trigger::ALL {
            let (to, trigger) = ("open".into(), trigger.as_str().into());
            self.breaker_transitions.remove(&TransitionLabels {
                model: model.into(),
                source: source.into(),
                to,
                trigger,
            });
        }
    }

    /// Count a breaker transition and set its state gauge.
    pub fn breaker(&self, model: &str, source: &str, transition: &Transition) {
        let labels = SourceLabels { model: model.into(), source: source.into() };
        self.breaker_state.get_or_create(&labels).set(transition.to.gauge());
        let trigger = transition.trigger.map_or("", |t| t.as_str()).to_string();
        let to = transition.to.as_str().to_string();
        let labels = TransitionLabels { model: model.into(), source: source.into(), to, trigger };
        self.breaker_transitions.get_or_create(&labels).inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

//! The `[serving]` section of a serving config (`kiln-serve --config serve.toml`), and the
//! same settings built from command-line flags. Every field but the models has a default;
//! `docs/serving.md` documents each one.
//!
//! ```toml
//! [serving]
//! bind = "127.0.0.1:8080"
//! store = ".kiln/kiln.db"
//! poll_ms = 1000
//!
//! [[serving.models]]
//! name = "adult"
//! routes = [{ source = "adult@champion", weight = 90 }, { source = "adult@v7", weight = 10 }]
//! sticky = { header = "x-user-id" }
//! shadow = "adult@challenger"
//! fallback = "adult-rules@champion"
//! breaker = { latency_budget_ms = 20.0, max_error_rate = 0.2, input_drift_share = 0.3 }
//!
//! [serving.models.monitoring]
//! window_seconds = 3600
//! statistic = "psi"
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kiln_monitor::live::LiveSettings;
use kiln_monitor::stats::StatTest;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::predlog::LogSettings;
use crate::source::Source;

/// Everything the server needs to start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Where to listen: loopback by default.
    #[serde(default = "default_bind")]
    pub bind: SocketAddr,
    /// The kiln store whose registry names the models (NAME@ALIAS sources).
    #[serde(default = "default_store")]
    pub store: PathBuf,
    /// How often the registry's aliases are read again (ms): an alias moved by `kiln models
    /// promote` or `rollback` is served within this time plus the new bundle's load time.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    pub models: Vec<ModelSettings>,
    #[serde(default)]
    pub batching: Batching,
    #[serde(default)]
    pub limits: Limits,
    /// The prediction log; none when absent.
    #[serde(default)]
    pub log: Option<LogSettings>,
    /// The environment variable holding the bearer token of the admin endpoints.
    #[serde(default = "default_token_env")]
    pub admin_token_env: String,
}

/// One model name clients call, and how its traffic is served.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// The name in the URLs (`/v2/models/{name}/infer`).
    pub name: String,
    /// The versions that answer, each with its share of the traffic.
    pub routes: Vec<RouteSettings>,
    /// Keep a user on one route: hash this header or id column.
    #[serde(default)]
    pub sticky: Option<Sticky>,
    /// A challenger that scores a copy of every request off the response path; its outputs
    /// go to the prediction log only.
    #[serde(default)]
    pub shadow: Option<Source>,
    /// A new version whose share of the traffic is raised in steps.
    #[serde(default)]
    pub canary: Option<Canary>,
    /// What answers while a breaker is open: a source, or (when absent) the rules baseline
    /// bundle of the run that trained the first route's model.
    #[serde(default)]
    pub fallback: Option<Source>,
    #[serde(default)]
    pub breaker: BreakerSettings,
    /// Live drift of the inputs and scores of every version it serves (not the fallback).
    #[serde(default)]
    pub monitoring: MonitoringSettings,
}

/// Live drift: every scored batch is added to its version's sketch, whose drift against the
/// bundle's reference is exported on `/metrics` (and read by the breaker's `input_drift`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitoringSettings {
    pub enabled: bool,
    /// The sliding window's length (s).
    pub window_seconds: f64,
    /// Time buckets of the window: rows leave it a bucket at a time.
    pub buckets: usize,
    /// Bins of equal reference mass per numeric feature and for the scores.
    pub bins: usize,
    /// `psi`, `jensenshannon`, `hellinger`, `chisquare` or `ks` (Evidently's names).
    pub statistic: StatTest,
    /// Every feature's threshold (the test's default when absent): a distance, or a p-value
    /// level for `ks` and `chisquare`.
    pub threshold: Option<f64>,
    /// Thresholds of single features, by name.
    pub thresholds: BTreeMap<String, f64>,
    /// Groups (overall, each segment value) with fewer rows in the window are not judged.
    pub min_rows: u64,
    /// How often the verdict the breaker reads is computed again (ms).
    pub refresh_ms: u64,
}
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    pub source: Source,
    #[serde(default = "default_weight")]
    pub weight: f64,
}

/// What makes a request sticky: the same value always reaches the same route.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Sticky {
    /// A request header (`x-user-id`).
    Header(String),
    /// An input column (its first row's value, for a request of several rows).
    Column(String),
}

/// A canary: `source` gets `steps[i]` percent of the traffic from `i × step_seconds` after
/// start, the rest going to the routes by their weights.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    pub source: Source,
    pub steps: Vec<f64>,
    pub step_seconds: f64,
}

/// When a route's breaker opens, and how it closes again.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSettings {
    pub enabled: bool,
    /// The last this many requests are judged.
    pub window: usize,
    /// No judgement on fewer requests than this.
    pub min_requests: usize,
    /// Opens when more than this share of the window failed to score.
    pub max_error_rate: f64,
    /// Opens when the window's p95 time in the model (ms) is over this budget.
    pub latency_budget_ms: Option<f64>,
    /// A training config whose `[acceptance.budget] max_latency_p95_ms` is the budget when
    /// `latency_budget_ms` is not given.
    pub budget_from: Option<PathBuf>,
    /// Opens when this many rows of the window scored NaN or infinity.
    pub max_non_finite: usize,
    /// Opens when more than this share of the window's rows held a numeric value outside the
    /// training range or a category the model never saw.
    pub max_unusual_share: f64,
    /// Seconds open before probing.
    pub open_seconds: f64,
    /// Requests let through while half-open; all must pass to close.
    pub probes: usize,
    /// Opens when this share of the features drifted over the monitoring window (overall,
    /// once it holds `monitoring.min_rows` rows); off when absent.
    pub input_drift_share: Option<f64>,
}

/// Adaptive batching: requests waiting for the same model are scored together.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Batching {
    /// The most rows scored in one call.
    pub max_rows: usize,
    /// The longest a request waits for others (µs), and only when others are already queued:
    /// a lone request is scored at once. 0 (the default) scores what is queued without
    /// waiting: batches still grow with the load, and clients that wait for their answer
    /// before sending again are never held back (a wait helps only bursts of requests).
    pub max_wait_us: u64,
    /// Threads that score, per model version.
    pub workers: usize,
}

/// Limits that keep the server answering under load.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The largest request body (bytes): larger is a 413.
    pub max_body_bytes: usize,
    /// The most rows in one request: more is a 413.
    pub max_rows: usize,
    /// Requests handled at once; beyond it requests are shed with 503 and Retry-After.
    pub max_concurrent: usize,
    /// Requests waiting per model version for a scoring thread; beyond it, 503.
    pub queue: usize,
    /// A request that takes longer is answered 503 (ms).
    pub timeout_ms: u64,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            window: 100,
            min_requests: 20,
            max_error_rate: 0.5,
            latency_budget_ms: None,
            budget_from: None,
            max_non_finite: 1,
            max_unusual_share: 0.5,
            open_seconds: 10.0,
            probes: 5,
            input_drift_share: None,
        }
    }
}

impl Default for MonitoringSettings {
    fn default() -> Self {
        let live = LiveSettings::default();
        Self {
            enabled: true,
            window_seconds: live.window.as_secs_f64(),
            buckets: live.buckets,
            bins: live.bins,
            statistic: live.statistic,
            threshold: None,
            thresholds: BTreeMap::new(),
            min_rows: live.min_rows,
            refresh_ms: 1000,
        }
    }
}

impl MonitoringSettings {
    /// The live sketch's settings, checked (a message naming the key when they cannot work).
    pub fn live(&self) -> std::result::Result<LiveSettings, String> {
        if !(self.window_seconds.is_finite() && self.window_seconds > 0.0 && self.window_seconds < 1e9) {
            return Err(format!(
                "monitoring.window_seconds: {} is not a number of seconds above 0",
                self.window_seconds
            ));
        }
        let live = LiveSettings {
            window: Duration::from_secs_f64(self.window_seconds),
            buckets: self.buckets,
            bins: self.bins,
            statistic: self.statistic,
            default_threshold: self.threshold,
            thresholds: self.thresholds.clone(),
            min_rows: self.min_rows,
        };
        live.check().map_err(|e| e.to_string())?;
        Ok(live)
    }
}

impl Default for Batching {
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
        Self { max_rows: 1024, max_wait_us: 0, workers }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_body_bytes: 8 << 20, max_rows: 10_000, max_concurrent: 512, queue: 1024, timeout_ms: 10_000 }
    }
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_store() -> PathBuf {
    PathBuf::from(kiln_track::DEFAULT_STORE_PATH)
}

fn default_poll_ms() -> u64 {
    1000
}

fn default_weight() -> f64 {
    1.0
}

fn default_token_env() -> String {
    "KILN_SERVE_TOKEN".into()
}

/// The file's `[serving]` section.
#[derive(Deserialize)]
struct File {
    serving: ServeConfig,
}

impl ServeConfig {
    /// A config with `models` and every default.
    pub fn with_models(models: Vec<ModelSettings>) -> Self {
        Self {
            bind: default_bind(),
            store: default_store(),
            poll_ms: default_poll_ms(),
            models,
            batching: Batching::default(),
            limits: Limits::default(),
            log: None,
            admin_token_env: default_token_env(),
        }
    }

    /// Read and check the `[serving]` section of `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadConfig { path: path.into(), source })?;
        let file: File =
            toml::from_str(&text).map_err(|e| Error::Config { path: path.into(), message: e.to_string() })?;
        let config = file.serving;
        config.check().map_err(|message| Error::Config { path: path.into(), message })?;
        Ok(config)
    }

    /// Settings that cannot work, as a message naming the key.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.models.is_empty() {
            return Err("no model to serve: add a [[serving.models]] table or pass --model".into());
        }
        let mut names = std::collections::HashSet::new();
        for model in &self.models {
            if !names.insert(model.name.as_str()) {
                return Err(format!(
                    "model `{}` is served twice; give each [[serving.models]] its own name",
                    model.name
                ));
            }
            model.check().map_err(|e| format!("serving.models `{}`: {e}", model.name))?;
        }
        let b = &self.batching;
        if b.max_rows == 0 || b.workers == 0 {
            return Err("serving.batching: max_rows and workers must be at least 1".into());
        }
        let l = &self.limits;
        if l.max_body_bytes == 0 || l.max_rows == 0 || l.max_concurrent == 0 || l.queue == 0 || l.timeout_ms == 0 {
            return Err("serving.limits: every limit must be above 0".into());
        }
        if self.poll_ms == 0 {
            return Err("serving.poll_ms must be above 0".into());
        }
        Ok(())
    }
}

impl ModelSettings {
    /// A model served from one source with default settings.
    pub fn single(name: String, source: Source) -> Self {
        Self {
            name,
            routes: vec![RouteSettings { source, weight: 1.0 }],
            sticky: None,
            shadow: None,
            canary: None,
            fallback: None,
            breaker: BreakerSettings::default(),
            monitoring: MonitoringSettings::default(),
        }
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err("the name may hold only letters, digits, `-`, `_` and `.`".into());
        }
        if self.routes.is_empty() {
            return Err("`routes` is empty: give at least one { source = \"NAME@ALIAS\" }".into());
        }
        if self.routes.iter().any(|r| !(r.weight.is_finite() && r.weight >= 0.0)) {
            return Err("every route weight must be a finite number >= 0".into());
        }
        if self.routes.iter().all(|r| r.weight == 0.0) {
            return Err("every route has weight 0: give one a positive weight".into());
        }
        if let Some(canary) = &self.canary {
            let valid = |p: &f64| p.is_finite() && (0.0..=100.0).contains(p);
            if canary.steps.is_empty() || !canary.steps.iter().all(valid) || canary.step_seconds <= 0.0 {
                return Err("canary: `steps` are percentages from 0 to 100 and `step_seconds` is above 0".into());
            }
            if canary.steps.windows(2).any(|w| w[1] < w[0]) {
                return Err("canary: `steps` must not decrease".into());
            }
        }
        self.breaker.check()?;
        if self.monitoring.enabled {
            self.monitoring.live()?;
        } else if self.breaker.input_drift_share.is_some() {
            return Err("breaker.input_drift_share needs live drift: set monitoring.enabled = true".into());
        }
        Ok(())
    }
}

impl BreakerSettings {
    fn check(&self) -> std::result::Result<(), String> {
        let share = |x: f64| (0.0..=1.0).contains(&x);
        if self.window == 0 || self.min_requests == 0 || self.min_requests > self.window {
            return Err("breaker: 0 < min_requests <= window".into());
        }
        if !share(self.max_error_rate) || !share(self.max_unusual_share) {
            return Err("breaker: max_error_rate and max_unusual_share are shares from 0 to 1".into());
        }
        if self.latency_budget_ms.is_some_and(|b| !(b.is_finite() && b > 0.0)) {
            return Err("breaker: latency_budget_ms must be a positive number".into());
        }
        if !(self.open_seconds.is_finite() && self.open_seconds >= 0.0) || self.probes == 0 {
            return Err("breaker: open_seconds >= 0 and probes >= 1".into());
        }
        if self.input_drift_share.is_some_and(|s| !(s > 0.0 && s <= 1.0)) {
            return Err("breaker.input_drift_share is a share above 0 and at most 1".into());
        }
        Ok(())
    }

    /// The latency budget: `latency_budget_ms`, or the training config's
    /// `[acceptance.budget] max_latency_p95_ms`, or none.
    pub fn budget_ms(&self) -> Result<Option<f64>> {
        if self.latency_budget_ms.is_some() {
            return Ok(self.latency_budget_ms);
        }
        let Some(path) = &self.budget_from else { return Ok(None) };
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadConfig { path: path.clone(), source })?;
        let value: toml::Table =
            toml::from_str(&text).map_err(|e| Error::Config { path: path.clone(), message: e.to_string() })?;
        let budget = value
            .get("acceptance")
            .and_then(|a| a.get("budget"))
            .and_then(|b| b.get("max_latency_p95_ms"))
            .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)));
        budget.map(Some).ok_or_else(|| Error::Config {
            path: path.clone(),
            message: "has no [acceptance.budget] max_latency_p95_ms to use as the breaker's latency budget; \
                      add it or set breaker.latency_budget_ms"
                .into(),
        })
    }
}

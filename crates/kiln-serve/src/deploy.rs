//! What is served: each model name with its routes (weighted, sticky), canary, shadow and
//! fallback, each route holding its loaded model, its batcher and its breaker. A route's
//! model is swapped under a lock that requests only hold to clone an `Arc`, so a swap never
//! waits for a request and a request in flight finishes on the model it started with.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use crate::batcher::{Batcher, Faults};
use crate::breaker::Breaker;
use crate::config::{Batching, Canary, ModelSettings, MonitoringSettings, Sticky};
use crate::drift::LiveDrift;
use crate::error::Result;
use crate::metrics::{Metrics, SourceLabels, VersionLabels};
use crate::source::{Loaded, Registry, Source};

/// The role a route plays for its model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    Canary,
    Shadow,
    Fallback,
}

/// A loaded model, its scoring threads and its live drift sketch.
#[derive(Debug)]
pub struct Live {
    pub loaded: Arc<Loaded>,
    pub batcher: Batcher,
    pub drift: Option<Arc<LiveDrift>>,
}

/// One source of a served model.
#[derive(Debug)]
pub struct Route {
    pub model: String,
    pub source: Source,
    pub role: Role,
    pub breaker: Breaker,
    /// Live drift settings of the versions it serves (none for the fallback).
    pub monitoring: Option<MonitoringSettings>,
    live: RwLock<Arc<Live>>,
    /// The version and SHA-256 whose load failed last (not tried again until the alias moves).
    pub failed: Mutex<Option<(i64, String)>>,
}

impl Route {
    pub fn live(&self) -> Arc<Live> {
        self.live.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Serve `live` from now on; requests in flight finish on the model they started with.
    pub fn swap(&self, live: Live) {
        *self.live.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(live);
    }

    pub fn version(&self) -> i64 {
        self.live().loaded.resolved.version
    }
}

/// The route of the registry's active rollout of a served model: its challenger, in shadow
/// (scoring a copy of every request) or canary (answering `share` of the traffic).
#[derive(Debug)]
pub struct RolloutRoute {
    /// The rollout's id in the store.
    pub id: i64,
    pub phase: kiln_track::RolloutPhase,
    pub step: i64,
    /// The challenger's share of the traffic in canary (0 to 1).
    pub share: f64,
    /// The challenger's route (role shadow or canary).
    pub route: Arc<Route>,
}

/// A model name clients call.
#[derive(Debug)]
pub struct Served {
    pub name: String,
    pub routes: Vec<(Arc<Route>, f64)>,
    pub canary: Option<(Arc<Route>, Canary)>,
    pub shadow: Option<Arc<Route>>,
    /// The configured fallback, or the rules baseline of the primary's run (followed when
    /// the primary moves).
    pub fallback: RwLock<Option<Arc<Route>>>,
    /// Whether the fallback was configured (else it follows the first route's run).
    pub fallback_configured: bool,
    pub sticky: Option<Sticky>,
    pub faults: Arc<Faults>,
    pub started: Instant,
    /// The settings it was started with (breaker and monitoring of the routes added later).
    pub settings: ModelSettings,
    /// The route of the registry's active rollout, when the primary follows an alias
    /// ([`crate::follow`] sets and drops it).
    pub rollout: RwLock<Option<Arc<RolloutRoute>>>,
    /// The rollout whose challenger failed to load (not tried again while it is active).
    pub rollout_failed: Mutex<Option<i64>>,
}

/// What builds a [`Live`] model: the batching settings and where to report.
#[derive(Debug, Clone)]
pub struct Loader {
    pub registry: Registry,
    pub batching: Batching,
    pub queue: usize,
    pub metrics: Arc<Metrics>,
}

impl Loader {
    /// Scoring threads for `loaded`, serving `model` from `source`, feeding its live drift
    /// sketch when `monitoring` is given and on.
    pub fn live(
        &self,
        model: &str,
        source: &Source,
        loaded: Arc<Loaded>,
        faults: Arc<Faults>,
        monitoring: Option<&MonitoringSettings>,
    ) -> Live {
        let labels = VersionLabels {
            model: model.into(),
            source: source.to_string(),
            version: loaded.resolved.version.to_string(),
        };
        let metrics = self.metrics.clone();
        let observe = Arc::new(move |rows: usize| metrics.batch_rows.get_or_create(&labels).observe(rows as f64));
        let source_labels = SourceLabels { model: model.into(), source: source.to_string() };
        self.metrics.served_version.get_or_create(&source_labels).set(loaded.resolved.version);
        self.metrics.breaker_state.get_or_create(&source_labels).set(0);
        let drift = monitoring.and_then(|m| LiveDrift::start(model, source, &loaded, m)).map(Arc::new);
        let batcher = Batcher::start(loaded.clone(), &self.batching, self.queue, faults, observe, drift.clone());
        Live { loaded, batcher, drift }
    }

    /// Load `source` and start its route.
    pub fn route(
        &self,
        settings: &ModelSettings,
        source: &Source,
        role: Role,
        faults: &Arc<Faults>,
    ) -> Result<Arc<Route>> {
        let loaded = self.registry.load(source)?;
        self.route_of(settings, source.clone(), role, loaded, faults)
    }

    /// Start a route serving `loaded` (already loaded and checked).
    pub fn route_of(
        &self,
        settings: &ModelSettings,
        source: Source,
        role: Role,
        loaded: Arc<Loaded>,
        faults: &Arc<Faults>,
    ) -> Result<Arc<Route>> {
        // the fallback has no breaker of its own: it is what answers when the others are open
        let mut breaker_settings = settings.breaker.clone();
        breaker_settings.enabled &= role != Role::Fallback;
        let budget = breaker_settings.budget_ms()?;
        let monitoring = (role != Role::Fallback).then(|| settings.monitoring.clone());
        let live = self.live(&settings.name, &source, loaded, faults.clone(), monitoring.as_ref());
        Ok(Arc::new(Route {
            model: settings.name.clone(),
            source,
            role,
            breaker: Breaker::new(breaker_settings, budget),
            monitoring,
            live: RwLock::new(Arc::new(live)),
            failed: Mutex::new(None),
        }))
    }

    /// Load every source of `settings`.
    pub fn served(&self, settings: &ModelSettings) -> Result<Served> {
        let faults = Arc::new(Faults::default());
        let mut routes = Vec::new();
        for route in &settings.routes {
            routes.push((self.route(settings, &route.source, Role::Primary, &faults)?, route.weight));
        }
        let canary = match &settings.canary {
            Some(c) => Some((self.route(settings, &c.source, Role::Canary, &faults)?, c.clone())),
            None => None,
        };
        let shadow = match &settings.shadow {
            Some(source) => Some(self.route(settings, source, Role::Shadow, &faults)?),
            None => None,
        };
        let fallback = match &settings.fallback {
            Some(source) => Some(self.route(settings, source, Role::Fallback, &Arc::new(Faults::default()))?),
            None => self.run_fallback(settings, &routes[0].0)?,
        };
        match &fallback {
            Some(f) => tracing::info!(model = %settings.name, fallback = %f.live().loaded.label(), "fallback ready"),
            None => tracing::warn!(
                model = %settings.name,
                "no fallback: the run exported no rules baseline and none is configured; an open breaker answers 503"
            ),
        }
        Ok(Served {
            name: settings.name.clone(),
            routes,
            canary,
            shadow,
            fallback: RwLock::new(fallback),
            fallback_configured: settings.fallback.is_some(),
            sticky: settings.sticky.clone(),
            faults,
            started: Instant::now(),
            settings: settings.clone(),
            rollout: RwLock::new(None),
            rollout_failed: Mutex::new(None),
        })
    }

    /// The rules baseline of the run that trained `primary`'s model, as a fallback route.
    pub fn run_fallback(&self, settings: &ModelSettings, primary: &Route) -> Result<Option<Arc<Route>>> {
        let Some(rules) = self.registry.run_rules(&primary.live().loaded)? else { return Ok(None) };
        let source = Source::File(rules.resolved.path.clone());
        // injected faults drill the model, never its fallback
        let faults = Arc::new(Faults::default());
        Ok(Some(self.route_of(settings, source, Role::Fallback, rules, &faults)?))
    }
}

impl Served {
    /// Every route: primaries, canary, shadow, the rollout's challenger, fallback.
    pub fn all_routes(&self) -> Vec<Arc<Route>> {
        let mut all: Vec<Arc<Route>> = self.routes.iter().map(|(r, _)| r.clone()).collect();
        all.extend(self.canary.iter().map(|(r, _)| r.clone()));
        all.extend(self.shadow.iter().cloned());
        all.extend(self.rollout().map(|r| r.route.clone()));
        all.extend(self.fallback().iter().cloned());
        all
    }

    pub fn fallback(&self) -> Option<Arc<Route>> {
        self.fallback.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn set_fallback(&self, route: Arc<Route>) {
        *self.fallback.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(route);
    }

    /// The route of the active rollout, if any.
    pub fn rollout(&self) -> Option<Arc<RolloutRoute>> {
        self.rollout.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Serve the rollout `route` from now on (none: drop the rollout's route).
    pub fn set_rollout(&self, route: Option<Arc<RolloutRoute>>) {
        *self.rollout.write().unwrap_or_else(std::sync::PoisonError::into_inner) = route;
    }

    /// The registry name whose rollouts this model follows: that of its first route, when it
    /// serves an alias.
    pub fn rollout_model(&self) -> Option<&str> {
        match &self.routes[0].0.source {
            Source::Alias { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The route of the rollout's challenger in shadow, if any.
    pub fn rollout_shadow(&self) -> Option<Arc<Route>> {
        self.rollout().filter(|r| r.phase == kiln_track::RolloutPhase::Shadow).map(|r| r.route.clone())
    }

    /// The canary now and its share of the traffic (0 to 1): the rollout's challenger in
    /// canary, else the configured canary; a share of none while its breaker is not closed.
    pub fn canary_now(&self, now: Instant) -> Option<(Arc<Route>, f64)> {
        let (route, share) = match (self.rollout(), &self.canary) {
            (Some(r), _) if r.phase == kiln_track::RolloutPhase::Canary => (r.route.clone(), r.share),
            (_, Some((route, canary))) => {
                let step = (now.duration_since(self.started).as_secs_f64() / canary.step_seconds) as usize;
                (route.clone(), canary.steps[step.min(canary.steps.len() - 1)] / 100.0)
            }
            _ => return None,
        };
        let closed = route.breaker.state() == crate::breaker::StateKind::Closed;
        Some((route, if closed { share } else { 0.0 }))
    }

    /// The canary's share of the traffic now (0 to 1); none while its breaker is not closed.
    pub fn canary_share(&self, now: Instant) -> f64 {
        self.canary_now(now).map_or(0.0, |(_, share)| share)
    }

    /// The route a request goes to ([`pick`]).
    pub fn choose(&self, u: f64, now: Instant) -> Arc<Route> {
        let weights: Vec<f64> = self.routes.iter().map(|(_, w)| *w).collect();
        let canary = self.canary_now(now);
        let share = canary.as_ref().map_or(0.0, |(_, share)| *share);
        match (pick(u, share, &weights), canary) {
            (Pick::Canary, Some((route, _))) => route,
            (Pick::Route(i), _) => self.routes[i].0.clone(),
            (Pick::Canary, None) => self.routes[0].0.clone(),
        }
    }

    /// The route serving registry version `version`, if any.
    pub fn by_version(&self, version: i64) -> Option<Arc<Route>> {
        self.all_routes().into_iter().find(|r| r.version() == version && r.role != Role::Fallback)
    }

    /// The versions served now.
    pub fn versions(&self) -> Vec<i64> {
        let mut versions: Vec<i64> =
            self.all_routes().iter().filter(|r| r.role != Role::Fallback).map(|r| r.version()).collect();
        versions.sort_unstable();
        versions.dedup();
        versions
    }
}

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    Canary,
    /// The route at this index.
    Route(usize),
}

/// The route of a request whose key is `u` in [0, 1): below `canary` (the canary's share) it
/// goes to the canary; the rest of [0, 1) is shared among the routes by weight. The same `u`
/// always picks the same route for the same shares, so a sticky user stays on it (and a
/// growing canary only takes users over, never gives them back).
pub fn pick(u: f64, canary: f64, weights: &[f64]) -> Pick {
    if u < canary {
        return Pick::Canary;
    }
    let u = if canary < 1.0 { (u - canary) / (1.0 - canary) } else { 0.0 };
    let total: f64 = weights.iter().sum();
    let mut at = u * total;
    for (i, weight) in weights.iter().enumerate() {
        if at < *weight {
            return Pick::Route(i);
        }
        at -= weight;
    }
    // rounding at the top end: the last route with weight
    Pick::Route(weights.iter().rposition(|w| *w > 0.0).unwrap_or(0))
}

/// A number in [0, 1) from `key` (FNV-1a, then a final mix): the same key always lands on
/// the same route.
pub fn key_unit(key: &[u8]) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    unit(mix(h))
}

/// A fresh number in [0, 1) for a request without a sticky key.
pub fn random_unit() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    let seed = STATE.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    unit(mix(seed ^ u64::from(std::process::id())))
}

/// splitmix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

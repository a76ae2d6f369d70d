//! The circuit breaker of one route. Closed, it judges the last `window` requests and opens
//! on the first trigger: too many scoring errors, a p95 time in the model over the latency
//! budget, non-finite outputs, too many requests with inputs outside what the model was
//! trained on, or (when configured) too many features drifted over the live drift window. Open, every request is answered by the fallback. After `open_seconds` it is
//! half-open: `probes` requests go to the model again and are judged together, closing the
//! breaker when they pass and opening it again when they do not.
//!
//! Time is passed in, so that the state machine is tested without waiting.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::BreakerSettings;

/// Why a breaker opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    ErrorRate,
    Latency,
    NonFinite,
    UnusualInputs,
    /// The share of drifted features over the live drift window reached its limit.
    InputDrift,
    /// Half-open probes did not pass.
    Probes,
    /// Opened by an operator.
    Manual,
}

impl Trigger {
    pub const ALL: [Trigger; 7] = [
        Trigger::ErrorRate,
        Trigger::Latency,
        Trigger::NonFinite,
        Trigger::UnusualInputs,
        Trigger::InputDrift,
        Trigger::Probes,
        Trigger::Manual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::ErrorRate => "error_rate",
            Trigger::Latency => "latency",
            Trigger::NonFinite => "non_finite",
            Trigger::UnusualInputs => "unusual_inputs",
            Trigger::InputDrift => "input_drift",
            Trigger::Probes => "probes",
            Trigger::Manual => "manual",
        }
    }
}

/// The breaker's state, without its details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    Closed,
    Open,
    HalfOpen,
}

impl StateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StateKind::Closed => "closed",
            StateKind::Open => "open",
            StateKind::HalfOpen => "half_open",
        }
    }

    /// The value of the state gauge: 0 closed, 1 open, 2 half-open.
    pub fn gauge(self) -> i64 {
        match self {
            StateKind::Closed => 0,
            StateKind::Open => 1,
            StateKind::HalfOpen => 2,
        }
    }
}

/// Who answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// The model (breaker closed).
    Model,
    /// The model, as a half-open probe.
    Probe,
    /// The fallback (breaker open, or probes all out).
    Fallback,
}

/// How one request went in the model.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Outcome {
    pub error: bool,
    /// Time in the model: waiting for a scoring thread and scoring (ms).
    pub latency_ms: f64,
    /// Rows whose outputs were NaN or infinite.
    pub non_finite: usize,
    /// Rows scored.
    pub rows: usize,
    /// Rows with a numeric value outside the training range or a category the model never saw.
    pub unusual_rows: usize,
    /// The overall share of drifted features of the version's live drift window when the
    /// request was scored; none without live drift or while the window has too few rows.
    pub drifted_share: Option<f64>,
}

/// A change of state, to log and count.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Transition {
    pub from: StateKind,
    pub to: StateKind,
    /// Why it opened (none when it closed or went half-open).
    pub trigger: Option<Trigger>,
    /// The figure that decided it: the error rate, p95 ms, non-finite rows, unusual share or
    /// drifted share.
    pub value: f64,
}

#[derive(Debug)]
enum State {
    Closed,
    Open {
        until: Instant,
    },
    /// `since`: when the current round of probes began (a round whose probes never all
    /// came back, say refused by a full queue, is started again after `open_seconds`).
    HalfOpen {
        admitted: usize,
        since: Instant,
    },
}

#[derive(Debug)]
struct Inner {
    state: State,
    /// Closed: the last `window` outcomes. Half-open: the probes' outcomes.
    outcomes: VecDeque<Outcome>,
}

/// The breaker of one route.
#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    budget_ms: Option<f64>,
    inner: Mutex<Inner>,
}

impl Breaker {
    /// A closed breaker; `budget_ms` is the latency budget (none: latency never opens it).
    pub fn new(settings: BreakerSettings, budget_ms: Option<f64>) -> Self {
        let inner = Inner { state: State::Closed, outcomes: VecDeque::new() };
        Self { settings, budget_ms, inner: Mutex::new(inner) }
    }

    pub fn state(&self) -> StateKind {
        self.with(|inner| inner.kind())
    }

    /// Who answers the next request; an open breaker whose time is up goes half-open here.
    pub fn admit(&self, now: Instant) -> (Admit, Option<Transition>) {
        if !self.settings.enabled {
            return (Admit::Model, None);
        }
        self.with(|inner| match inner.state {
            State::Closed => (Admit::Model, None),
            State::Open { until } if now < until => (Admit::Fallback, None),
            State::Open { .. } => {
                inner.state = State::HalfOpen { admitted: 1, since: now };
                inner.outcomes.clear();
                let t = Transition { from: StateKind::Open, to: StateKind::HalfOpen, trigger: None, value: 0.0 };
                (Admit::Probe, Some(t))
            }
            State::HalfOpen { ref mut admitted, .. } if *admitted < self.settings.probes => {
                *admitted += 1;
                (Admit::Probe, None)
            }
            State::HalfOpen { since, .. } if now >= since + self.open_for() => {
                inner.state = State::HalfOpen { admitted: 1, since: now };
                inner.outcomes.clear();
                (Admit::Probe, None)
            }
            State::HalfOpen { .. } => (Admit::Fallback, None),
        })
    }

    /// Record how a request admitted as `admit` went; returns the transition it caused.
    pub fn record(&self, admit: Admit, outcome: Outcome, now: Instant) -> Option<Transition> {
        if !self.settings.enabled || admit == Admit::Fallback {
            return None;
        }
        self.with(|inner| match (&inner.state, admit) {
            (State::Closed, Admit::Model) => {
                inner.outcomes.push_back(outcome);
                while inner.outcomes.len() > self.settings.window {
                    inner.outcomes.pop_front();
                }
                let (trigger, value) = self.judge(&inner.outcomes)?;
                Some(inner.open(now, self.open_for(), StateKind::Closed, trigger, value))
            }
            (State::HalfOpen { .. }, Admit::Probe) => {
                inner.outcomes.push_back(outcome);
                if outcome.error || outcome.non_finite > 0 {
                    let value = if outcome.error { 1.0 } else { outcome.non_finite as f64 };
                    return Some(inner.open(now, self.open_for(), StateKind::HalfOpen, Trigger::Probes, value));
                }
                if inner.outcomes.len() < self.settings.probes {
                    return None;
                }
                if let Some((_, value)) = self.judge_all(&inner.outcomes) {
                    return Some(inner.open(now, self.open_for(), StateKind::HalfOpen, Trigger::Probes, value));
                }
                inner.state = State::Closed;
                inner.outcomes.clear();
                Some(Transition { from: StateKind::HalfOpen, to: StateKind::Closed, trigger: None, value: 0.0 })
            }
            // A request admitted before the state changed: it no longer counts.
            _ => None,
        })
    }

    /// Open it by hand (`trigger` Manual) or close it: an operator's reset.
    pub fn force(&self, open: bool, now: Instant) -> Option<Transition> {
        self.with(|inner| {
            let from = inner.kind();
            if open {
                return (from != StateKind::Open).then(|| inner.open(now, self.open_for(), from, Trigger::Manual, 0.0));
            }
            inner.state = State::Closed;
            inner.outcomes.clear();
            (from != StateKind::Closed).then_some(Transition { from, to: StateKind::Closed, trigger: None, value: 0.0 })
        })
    }

    fn open_for(&self) -> Duration {
        Duration::from_secs_f64(self.settings.open_seconds)
    }

    /// The first trigger the closed window pulls: non-finite outputs and input drift (which
    /// has its own minimum of rows) at once, the others once it holds `min_requests`.
    fn judge(&self, outcomes: &VecDeque<Outcome>) -> Option<(Trigger, f64)> {
        let non_finite: usize = outcomes.iter().map(|o| o.non_finite).sum();
        if non_finite >= self.settings.max_non_finite.max(1) {
            return Some((Trigger::NonFinite, non_finite as f64));
        }
        if let Some(drift) = self.drift(outcomes) {
            return Some(drift);
        }
        if outcomes.len() < self.settings.min_requests {
            return None;
        }
        self.judge_all(outcomes)
    }

    fn judge_all(&self, outcomes: &VecDeque<Outcome>) -> Option<(Trigger, f64)> {
        let s = &self.settings;
        let n = outcomes.len() as f64;
        let errors = outcomes.iter().filter(|o| o.error).count() as f64;
        if errors / n > s.max_error_rate {
            return Some((Trigger::ErrorRate, errors / n));
        }
        let non_finite: usize = outcomes.iter().map(|o| o.non_finite).sum();
        if non_finite >= s.max_non_finite.max(1) {
            return Some((Trigger::NonFinite, non_finite as f64));
        }
        if let Some(budget) = self.budget_ms {
            let p95 = p95(outcomes.iter().filter(|o| !o.error).map(|o| o.latency_ms).collect());
            if p95 > budget {
                return Some((Trigger::Latency, p95));
            }
        }
        let rows: usize = outcomes.iter().map(|o| o.rows).sum();
        let unusual_rows: usize = outcomes.iter().map(|o| o.unusual_rows).sum();
        let unusual = if rows == 0 { 0.0 } else { unusual_rows as f64 / rows as f64 };
        if unusual > s.max_unusual_share {
            return Some((Trigger::UnusualInputs, unusual));
        }
        self.drift(outcomes)
    }

    /// Input drift: the latest request's share of drifted features reached the limit.
    fn drift(&self, outcomes: &VecDeque<Outcome>) -> Option<(Trigger, f64)> {
        let limit = self.settings.input_drift_share?;
        let share = outcomes.back()?.drifted_share?;
        (share >= limit).then_some((Trigger::InputDrift, share))
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut inner)
    }
}

impl Inner {
    fn kind(&self) -> StateKind {
        match self.state {
            State::Closed => StateKind::Closed,
            State::Open { .. } => StateKind::Open,
            State::HalfOpen { .. } => StateKind::HalfOpen,
        }
    }

    fn open(&mut self, now: Instant, open_for: Duration, from: StateKind, trigger: Trigger, value: f64) -> Transition {
        self.state = State::Open { until: now + open_for };
        self.outcomes.clear();
        Transition { from, to: StateKind::Open, trigger: Some(trigger), value }
    }
}

/// The 95th percentile (nearest rank) of `values`; 0 when empty.
fn p95(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((0.95 * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

#[cfg(test)]
mod tests;

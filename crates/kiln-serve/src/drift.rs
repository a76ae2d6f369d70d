//! Live drift of the served versions: each route's loaded version (primary, canary or shadow;
//! never the fallback) keeps a kiln-monitor [`LiveSketch`] of the rows it scored, fed by its
//! scoring threads after they answered, so that the route's breaker judges its own traffic.
//! The verdict the breaker reads (the overall share of drifted features) is computed again at
//! most every `refresh_ms`; the gauges on `/metrics` are computed when they are read.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use kiln_core::columns::Batch;
use kiln_monitor::live::{LiveReport, LiveSketch};

use crate::config::MonitoringSettings;
use crate::metrics::{DriftLabels, GroupLabels, Metrics, ScoreDriftLabels};
use crate::source::{Loaded, Source};

/// The live sketch of one route's version.
#[derive(Debug)]
pub struct LiveDrift {
    pub model: String,
    pub source: String,
    pub version: i64,
    sketch: LiveSketch,
    n_outputs: usize,
    refresh: Duration,
    /// When the verdict was computed last, and the overall share of drifted features then.
    verdict: Mutex<(Option<Instant>, Option<f64>)>,
}

impl LiveDrift {
    /// The sketch of `loaded` served as `model` from `source`; none when monitoring is off,
    /// or when the bundle holds no reference sketches (logged once per load).
    pub fn start(model: &str, source: &Source, loaded: &Loaded, settings: &MonitoringSettings) -> Option<Self> {
        if !settings.enabled {
            return None;
        }
        let version = loaded.resolved.version;
        // the config was checked at start: these settings work
        let live = settings.live().ok()?;
        match LiveSketch::new(&loaded.manifest.reference, live, Instant::now()) {
            Ok(sketch) => Some(Self {
                model: model.to_string(),
                source: source.to_string(),
                version,
                sketch,
                n_outputs: loaded.model.n_outputs(),
                refresh: Duration::from_millis(settings.refresh_ms),
                verdict: Mutex::new((None, None)),
            }),
            Err(e) => {
                tracing::warn!(model, version, bundle = %loaded.label(), error = %e, "live drift is off for this version");
                None
            }
        }
    }

    /// Add a scored batch (`scores`: `n_rows × n_outputs`; the scores are sketched for a
    /// model with one output per row), then compute the verdict again when it is due.
    pub fn ingest(&self, batch: &Batch, scores: &[f64], now: Instant) {
        let scores = (self.n_outputs == 1).then_some(scores);
        self.sketch.ingest(batch, scores, now);
        let due = {
            let verdict = self.verdict.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            verdict.0.is_none_or(|at| now.saturating_duration_since(at) >= self.refresh)
        };
        if due {
            let share = self.sketch.overall(now).drifted_share;
            *self.verdict.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = (Some(now), share);
        }
    }

    /// The overall share of drifted features at the last verdict; none while too few rows.
    pub fn drifted_share(&self) -> Option<f64> {
        self.verdict.lock().unwrap_or_else(std::sync::PoisonError::into_inner).1
    }

    pub fn report(&self, now: Instant) -> LiveReport {
        self.sketch.report(now)
    }

    /// Set the drift gauges of this route's version.
    pub fn export(&self, metrics: &Metrics, now: Instant) {
        let report = self.report(now);
        let version = self.version.to_string();
        for group in &report.groups {
            let labels = GroupLabels {
                model: self.model.clone(),
                source: self.source.clone(),
                version: version.clone(),
                slice: group.slice.clone(),
                group: group.group.clone(),
            };
            metrics.drift_rows.get_or_create(&labels).set(group.rows as i64);
            if let Some(share) = group.drifted_share {
                metrics.drifted_share.get_or_create(&labels).set(share);
            }
            for feature in group.features.iter().filter(|f| f.value.is_finite()) {
                let labels = DriftLabels {
                    model: self.model.clone(),
                    source: self.source.clone(),
                    version: version.clone(),
                    slice: group.slice.clone(),
                    group: group.group.clone(),
                    feature: feature.feature.clone(),
                    statistic: feature.test.name().to_string(),
                };
                metrics.drift.get_or_create(&labels).set(feature.value);
            }
            if let Some(score) = group.score.as_ref().filter(|s| s.value.is_finite()) {
                let labels = ScoreDriftLabels {
                    model: self.model.clone(),
                    source: self.source.clone(),
                    version: version.clone(),
                    slice: group.slice.clone(),
                    group: group.group.clone(),
                    statistic: score.test.name().to_string(),
                };
                metrics.score_drift.get_or_create(&labels).set(score.value);
            }
        }
    }
}

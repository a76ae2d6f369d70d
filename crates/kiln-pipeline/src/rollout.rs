//! Gradual rollout of a challenger version: the `[rollout]` section, the decisions of the
//! controller, and the figures they are made on.
//!
//! - [`RolloutConfig`] is the section as written; [`RolloutConfig::plan`] checks it into a
//!   [`RolloutPlan`] (durations parsed), which is stored with the rollout when it starts.
//! - [`decide`](mod@decide): plain functions over gathered figures ([`StepFigures`]) that say whether the
//!   rollout waits, moves to its next canary step, is promoted or is rolled back.
//! - [`gather`]: the figures of the current step from the prediction log (rows, latency,
//!   labels through [`crate::feedback::labelled_rows`]), the servers' `/metrics` text
//!   (scoring outcomes and breaker openings of the challenger) and, without enough labels,
//!   kiln-monitor's CBPE estimates from each bundle's calibration.
//! - [`control`]: one evaluation against the store (start, step, abort), every move a
//!   compare-and-set that kiln-track audits with its reason and figures.
//!
//! The library fetches nothing over the network and prints nothing: the caller scrapes each
//! server's `/metrics` and hands the text in.

pub mod control;
pub mod decide;
pub mod gather;
pub mod scrape;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use control::{Evaluated, StepInputs, StepReport, abort, start, step};
pub use decide::{Decision, decide};
pub use gather::{MetricSource, StepFigures, VersionFigures};

/// `[rollout]`: how a challenger is rolled out (every key optional).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RolloutConfig {
    /// Requests the challenger must shadow before its first canary step.
    pub shadow_requests: u64,
    /// The challenger's share of the traffic at each canary step, in percent, increasing.
    pub steps: Vec<f64>,
    /// Requests the challenger must answer at each canary step.
    pub min_requests: u64,
    /// Labelled rows of the challenger each step needs (0: none needed).
    pub min_labels: u64,
    /// The most scoring calls of the challenger that may fail (or give non-finite outputs).
    pub max_error_rate: f64,
    /// The most the challenger's p95 latency may be, as a multiple of the champion's.
    pub max_latency_ratio: f64,
    /// A challenger p95 latency at or under this many milliseconds passes whatever its ratio
    /// (timings of a fraction of a millisecond vary by more than any ratio means).
    pub latency_floor_ms: f64,
    /// The metric compared (`roc_auc` or `accuracy`; binary models). Default: `roc_auc`.
    pub metric: Option<String>,
    /// How far the challenger's metric may fall below the champion's.
    pub max_metric_drop: f64,
    /// How long a step may take to reach its minimums before it fails.
    pub step_timeout: String,
    /// How often `kiln rollout run` evaluates.
    pub interval: String,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        Self {
            shadow_requests: 200,
            steps: vec![10.0, 50.0, 100.0],
            min_requests: 200,
            min_labels: 0,
            max_error_rate: 0.02,
            max_latency_ratio: 2.0,
            latency_floor_ms: 5.0,
            metric: None,
            max_metric_drop: 0.02,
            step_timeout: "1h".into(),
            interval: "5s".into(),
        }
    }
}

/// A checked `[rollout]`: what a rollout records as its plan and is judged by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutPlan {
    pub shadow_requests: u64,
    /// Canary shares, in percent.
    pub steps: Vec<f64>,
    pub min_requests: u64,
    pub min_labels: u64,
    pub max_error_rate: f64,
    pub max_latency_ratio: f64,
    /// Plans recorded before the floor existed read as 0 (every latency compared).
    #[serde(default)]
    pub latency_floor_ms: f64,
    pub metric: String,
    pub max_metric_drop: f64,
    pub step_timeout_ms: i64,
    pub interval_ms: u64,
}

/// The metrics a rollout can compare.
pub const METRICS: [&str; 2] = ["roc_auc", "accuracy"];

impl RolloutConfig {
    /// Check every key; the error names the key and says what fits.
    pub fn plan(&self) -> Result<RolloutPlan> {
        let bad = |key: &'static str, problem: String| Error::RolloutConfig { key, problem };
        if self.steps.is_empty() {
            return Err(bad("steps", "give at least one canary share, e.g. [10, 50, 100]".into()));
        }
        let mut last = 0.0;
        for &share in &self.steps {
            if !(share > last && share <= 100.0) {
                return Err(bad("steps", format!("{share} does not follow {last}: shares rise within (0, 100]")));
            }
            last = share;
        }
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            return Err(bad("max_error_rate", format!("{} is not a share in [0, 1]", self.max_error_rate)));
        }
        if !(self.max_latency_ratio.is_finite() && self.max_latency_ratio > 0.0) {
            return Err(bad("max_latency_ratio", format!("{} is not a positive ratio", self.max_latency_ratio)));
        }
        if !(self.latency_floor_ms.is_finite() && self.latency_floor_ms >= 0.0) {
            return Err(bad("latency_floor_ms", format!("{} is not a latency of 0 ms or more", self.latency_floor_ms)));
        }
        if !(self.max_metric_drop.is_finite() && self.max_metric_drop >= 0.0) {
            return Err(bad("max_metric_drop", format!("{} is not a margin of 0 or more", self.max_metric_drop)));
        }
        let metric = self.metric.clone().unwrap_or_else(|| "roc_auc".into());
        if !METRICS.contains(&metric.as_str()) {
            return Err(bad("metric", format!("`{metric}` cannot be compared live: use roc_auc or accuracy")));
        }
        if self.shadow_requests == 0 || self.min_requests == 0 {
            let key = if self.shadow_requests == 0 { "shadow_requests" } else { "min_requests" };
            return Err(bad(key, "a step needs at least one request".into()));
        }
        let step_timeout = parse_duration(&self.step_timeout).map_err(|p| bad("step_timeout", p))?;
        let interval = parse_duration(&self.interval).map_err(|p| bad("interval", p))?;
        Ok(RolloutPlan {
            shadow_requests: self.shadow_requests,
            steps: self.steps.clone(),
            min_requests: self.min_requests,
            min_labels: self.min_labels,
            max_error_rate: self.max_error_rate,
            max_latency_ratio: self.max_latency_ratio,
            latency_floor_ms: self.latency_floor_ms,
            metric,
            max_metric_drop: self.max_metric_drop,
            step_timeout_ms: i64::try_from(step_timeout.as_millis()).unwrap_or(i64::MAX),
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
        })
    }
}

/// "500ms", "90s", "15m", "1h", "2d".
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    match text.trim().strip_suffix("ms") {
        Some(millis) => match millis.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(Duration::from_millis(n)),
            _ => Err(format!("`{text}` is not a duration such as 500ms, 90s, 15m, 1h or 2d")),
        },
        None => kiln_monitor::config::parse_duration(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_make_the_documented_plan() {
        let plan = RolloutConfig::default().plan().expect("plan");
        assert_eq!(plan.steps, [10.0, 50.0, 100.0]);
        assert_eq!((plan.shadow_requests, plan.min_requests, plan.min_labels), (200, 200, 0));
        assert_eq!(plan.metric, "roc_auc");
        assert_eq!((plan.step_timeout_ms, plan.interval_ms), (3_600_000, 5000));
    }

    #[test]
    fn each_bad_key_is_named() {
        let cases: Vec<(RolloutConfig, &str)> = vec![
            (RolloutConfig { steps: vec![], ..Default::default() }, "steps"),
            (RolloutConfig { steps: vec![50.0, 10.0], ..Default::default() }, "steps"),
            (RolloutConfig { steps: vec![10.0, 120.0], ..Default::default() }, "steps"),
            (RolloutConfig { max_error_rate: 1.5, ..Default::default() }, "max_error_rate"),
            (RolloutConfig { max_latency_ratio: 0.0, ..Default::default() }, "max_latency_ratio"),
            (RolloutConfig { max_metric_drop: -0.1, ..Default::default() }, "max_metric_drop"),
            (RolloutConfig { metric: Some("f1".into()), ..Default::default() }, "metric"),
            (RolloutConfig { min_requests: 0, ..Default::default() }, "min_requests"),
            (RolloutConfig { step_timeout: "soon".into(), ..Default::default() }, "step_timeout"),
            (RolloutConfig { interval: "0ms".into(), ..Default::default() }, "interval"),
        ];
        for (config, key) in cases {
            let error = config.plan().expect_err(key);
            assert!(matches!(&error, Error::RolloutConfig { key: named, .. } if *named == key), "{key}: {error}");
            assert!(error.to_string().contains(&format!("[rollout] {key}")), "{error}");
        }
    }

    #[test]
    fn durations_read_milliseconds_and_the_monitors_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("ms").is_err());
    }
}

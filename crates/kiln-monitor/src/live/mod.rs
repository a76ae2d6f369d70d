//! Live drift: streaming sketches of a model version's inputs and scores over a sliding
//! window, overall and per slicing group, compared with the reference stored in its bundle.
//! What a server keeps per served version and exports as gauges.
//!
//! - [`bins`]: how values become codes (quantile bins of the reference, vocabulary codes)
//!   and each code's reference share;
//! - [`window`]: the ring of time buckets;
//! - [`LiveSketch`]: the counts per group, ingestion and the drift report;
//! - `judge`: the drift tests of binned counts against the reference's shares (through
//!   [`crate::stats`]).
//!
//! Groups are those of the reference's single-column slicings without bands (one group per
//! segment value with a reference); crossed and banded slicings are not followed live. The
//! overall group is named `overall` / `all`, as in kiln's evaluation.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

pub mod bins;
mod judge;
mod sketch;
pub mod window;

pub use judge::LIVE_TESTS;
pub use sketch::{LiveSketch, MISSING_GROUP};

use crate::error::{Error, Result};
use crate::stats::StatTest;

/// The slice and group names of every row.
pub const OVERALL_SLICE: &str = "overall";
pub const OVERALL_GROUP: &str = "all";

/// How a live sketch windows, bins and judges.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSettings {
    /// How far back the window reaches.
    pub window: Duration,
    /// Time buckets the window is cut into: rows leave the window a bucket at a time.
    pub buckets: usize,
    /// Bins of equal reference mass per numeric feature and for the scores (at most; fewer
    /// when values are tied), from 2 to `REFERENCE_QUANTILES`.
    pub bins: usize,
    /// The test that judges every feature (one of [`LIVE_TESTS`]); a categorical feature
    /// that `ks` cannot test gets Evidently's default choice for it.
    pub statistic: StatTest,
    /// The threshold of every feature (the test's default when none): a distance, or a
    /// p-value level for `ks` and `chisquare`.
    pub default_threshold: Option<f64>,
    /// Thresholds of single features, by name.
    pub thresholds: BTreeMap<String, f64>,
    /// A group with fewer rows in the window is not judged. Without any drift, the PSI of
    /// `b` bins over `n` rows is about `(b - 1) / n`: keep `min_rows` at 10 × `bins` or more
    /// for the default threshold 0.1.
    pub min_rows: u64,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(3600),
            buckets: 12,
            bins: 32,
            statistic: StatTest::Psi,
            default_threshold: None,
            thresholds: BTreeMap::new(),
            min_rows: 1000,
        }
    }
}

impl LiveSettings {
    /// The threshold of features without one of their own.
    pub fn threshold(&self) -> f64 {
        self.default_threshold.unwrap_or_else(|| self.statistic.default_threshold())
    }

    /// The threshold of `feature` when it is set (its own, else the default one).
    fn threshold_of(&self, feature: &str) -> Option<f64> {
        self.thresholds.get(feature).copied().or(self.default_threshold)
    }

    /// Settings that cannot work, as an error naming the key.
    pub fn check(&self) -> Result<()> {
        let bad = |key: &str, problem: String| Err(Error::Config { key: format!("monitoring.{key}"), problem });
        if self.window.is_zero() {
            return bad("window_seconds", "the window must be longer than 0 s".into());
        }
        if self.buckets == 0 || self.buckets > 10_000 {
            return bad("buckets", format!("{} buckets: use 1 to 10000", self.buckets));
        }
        if !LIVE_TESTS.contains(&self.statistic) {
            let names: Vec<&str> = LIVE_TESTS.iter().map(|t| t.name()).collect();
            let message = format!("{} is not computed from binned counts: use {}", self.statistic, names.join(", "));
            return bad("statistic", message);
        }
        let most = kiln_core::bundle::REFERENCE_QUANTILES;
        if !(2..=most).contains(&self.bins) {
            return bad("bins", format!("{} bins: use 2 to {most}", self.bins));
        }
        if let Some(t) = self.default_threshold
            && !(t.is_finite() && t >= 0.0)
        {
            return bad("threshold", format!("{t} is not a number >= 0"));
        }
        if let Some((name, t)) = self.thresholds.iter().find(|(_, t)| !(t.is_finite() && **t >= 0.0)) {
            return bad("thresholds", format!("`{name}` = {t} is not a number >= 0"));
        }
        Ok(())
    }
}

/// The drift of every group of a live sketch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveReport {
    /// The overall group first, then the slicing groups in the reference's order.
    pub groups: Vec<GroupReport>,
}

impl LiveReport {
    /// The group `group` of slicing `slice`.
    pub fn group(&self, slice: &str, group: &str) -> Option<&GroupReport> {
        self.groups.iter().find(|g| g.slice == slice && g.group == group)
    }
}

/// The drift of one group over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupReport {
    pub slice: String,
    pub group: String,
    /// Rows of the group in the window.
    pub rows: u64,
    /// Each feature's statistic; empty while the group has fewer than `min_rows` rows.
    pub features: Vec<FeatureDrift>,
    /// The scores' statistic, when the bundle holds the group's score reference.
    pub score: Option<FeatureDrift>,
    /// The share of judged features that drifted; none while the group is not judged.
    pub drifted_share: Option<f64>,
}

/// One feature's (or the scores') test and verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureDrift {
    pub feature: String,
    /// The test run (the configured one, or Evidently's choice where it cannot test the
    /// feature's kind).
    pub test: StatTest,
    /// What the threshold is compared with: a distance, or the p-value of `ks` and
    /// `chisquare`; NaN when the window counted no value of the feature.
    pub value: f64,
    pub threshold: f64,
    pub drifted: bool,
}

#[cfg(test)]
mod tests;

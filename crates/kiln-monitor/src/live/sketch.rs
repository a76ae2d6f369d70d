//! [`LiveSketch`]: the binned counts of one model version's inputs and scores over a sliding
//! window, overall and per slicing group, built from the bundle's reference, and their drift
//! against it.
//!
//! Ingestion bins every value once (a binary search over at most `bins` edges, or a hash
//! look-up for a category), then adds one to the overall count and to the count of each
//! group the row is in. It takes the lock once per batch and allocates nothing per row: the
//! scratch buffers live with the counts.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use kiln_core::bundle::{ReferenceDistributions, SliceSpec};
use kiln_core::columns::{Batch, Values};

use super::bins::{FeatureBins, QuantileBins, TextMap};
use super::judge::{self, Binned};
use super::window::Ring;
use super::{FeatureDrift, GroupReport, LiveReport, LiveSettings, OVERALL_GROUP, OVERALL_SLICE};
use crate::error::{Error, Result};
use crate::stats::{FeatureKind, StatTest};

/// A row in no group of a slicing, or a score that was not finite.
const NONE: u32 = u32::MAX;

/// The streaming sketch of one model version.
#[derive(Debug)]
pub struct LiveSketch {
    settings: LiveSettings,
    layout: Layout,
    state: Mutex<State>,
}

/// Where each count lives: group `g`'s counts start at `g * stride`; its first count is its
/// rows, then every feature's codes from the feature's offset, then the score bins.
#[derive(Debug)]
struct Layout {
    features: Vec<Feature>,
    score: Option<(QuantileBins, usize)>,
    stride: usize,
    slicings: Vec<LiveSlicing>,
    groups: Vec<Group>,
}

#[derive(Debug)]
struct Feature {
    name: String,
    bins: FeatureBins,
    offset: usize,
}

/// A single-column slicing: the group id of each value of its column.
#[derive(Debug)]
struct LiveSlicing {
    column: String,
    groups: TextMap<u32>,
}

/// One group's names, its reference rows and the reference share of each code.
#[derive(Debug)]
struct Group {
    slice: String,
    group: String,
    rows: u64,
    /// Test rows the group's scores were computed on.
    score_rows: u64,
    /// Per feature (in layout order): its shares, none when the group has no reference of it.
    features: Vec<Option<Vec<f64>>>,
    score: Option<Vec<f64>>,
}

#[derive(Debug)]
struct State {
    ring: Ring,
    codes: Vec<u32>,
    members: Vec<u32>,
    text: String,
}

impl LiveSketch {
    /// The sketch of a version whose bundle holds `reference`, its window starting at `now`.
    /// Fails when the reference has no sketches (a bundle written before them), when the
    /// settings cannot work, or when a threshold names a feature the bundle does not know.
    pub fn new(reference: &ReferenceDistributions, settings: LiveSettings, now: Instant) -> Result<Self> {
        settings.check()?;
        if !reference.has_sketches() {
            return Err(Error::NoSketches);
        }
        if let Some(name) = settings.thresholds.keys().find(|name| reference.get(name).is_none()) {
            let hint = "monitoring.thresholds names a feature the model does not have: name one of its features";
            return Err(Error::UnknownFeature { column: name.clone(), hint });
        }
        let layout = Layout::new(reference, &settings);
        let width = layout.groups.len() * layout.stride;
        let state = State {
            ring: Ring::new(settings.window, settings.buckets, width, now),
            codes: Vec::new(),
            members: Vec::new(),
            text: String::new(),
        };
        Ok(Self { settings, layout, state: Mutex::new(state) })
    }

    pub fn settings(&self) -> &LiveSettings {
        &self.settings
    }

    /// The groups it keeps, as (slice, group), the overall one first.
    pub fn groups(&self) -> impl Iterator<Item = (&str, &str)> {
        self.layout.groups.iter().map(|g| (g.slice.as_str(), g.group.as_str()))
    }

    /// Add the rows of `batch` at time `now`, with their scores (one per row) when the model
    /// gives one. Columns the bundle does not know are ignored; a feature absent from the
    /// batch is not counted for these rows.
    pub fn ingest(&self, batch: &Batch, scores: Option<&[f64]>, now: Instant) {
        let n = batch.n_rows();
        if n == 0 {
            return;
        }
        let layout = &self.layout;
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let State { ring, codes, members, text } = &mut *state;
        members.clear();
        for slicing in &layout.slicings {
            slicing.members(batch.get(&slicing.column), n, members, text);
        }
        let counts = ring.current(now);
        let stride = layout.stride;
        counts[0] += n as u64;
        for &g in members.iter().filter(|g| **g != NONE) {
            counts[g as usize * stride] += 1;
        }
        for feature in &layout.features {
            let Some(values) = batch.get(&feature.name).filter(|v| v.len() == n) else { continue };
            feature.bins.codes(values, codes, text);
            add(counts, stride, feature.offset, codes, members);
        }
        if let (Some((bins, offset)), Some(scores)) = (&layout.score, scores)
            && scores.len() == n
        {
            codes.clear();
            codes.extend(scores.iter().map(|s| if s.is_finite() { bins.bin(*s) as u32 } else { NONE }));
            add(counts, stride, *offset, codes, members);
        }
    }

    /// The drift of every group in the window that ends at `now`.
    pub fn report(&self, now: Instant) -> LiveReport {
        let totals = self.totals(now);
        LiveReport { groups: (0..self.layout.groups.len()).map(|g| self.judge(&totals, g)).collect() }
    }

    /// The overall group's drift alone (what a breaker reads).
    pub fn overall(&self, now: Instant) -> GroupReport {
        self.judge(&self.totals(now), 0)
    }

    /// The reference shares and the window's counts of one feature (or `score`) in one
    /// group, code by code (numeric: the bins, then missing values); none when the sketch
    /// does not keep them.
    pub fn binned(&self, now: Instant, slice: &str, group: &str, feature: &str) -> Option<(Vec<f64>, Vec<u64>)> {
        let layout = &self.layout;
        let g = layout.groups.iter().position(|x| x.slice == slice && x.group == group)?;
        let (shares, offset) = match layout.features.iter().position(|f| f.name == feature) {
            Some(f) => (layout.groups[g].features[f].as_ref()?, layout.features[f].offset),
            None if feature == "score" => (layout.groups[g].score.as_ref()?, layout.score.as_ref()?.1),
            None => return None,
        };
        let start = g * layout.stride + offset;
        let totals = self.totals(now);
        Some((shares.clone(), totals[start..start + shares.len()].to_vec()))
    }

    fn totals(&self, now: Instant) -> Vec<u64> {
        let mut totals = Vec::new();
        let state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.ring.sum(now, &mut totals);
        totals
    }

    fn judge(&self, totals: &[u64], g: usize) -> GroupReport {
        let layout = &self.layout;
        let group = &layout.groups[g];
        let counts = &totals[g * layout.stride..(g + 1) * layout.stride];
        let rows = counts[0];
        let mut report = GroupReport {
            slice: group.slice.clone(),
            group: group.group.clone(),
            rows,
            features: Vec::new(),
            score: None,
            drifted_share: None,
        };
        if rows < self.settings.min_rows {
            return report;
        }
        let settings = &self.settings;
        for (feature, shares) in layout.features.iter().zip(&group.features) {
            let Some(shares) = shares else { continue };
            let binned = Binned {
                feature: &feature.name,
                kind: feature.bins.kind(),
                shares,
                counts: &counts[feature.offset..feature.offset + shares.len()],
                reference_rows: group.rows,
            };
            report.features.push(drift(binned, settings.statistic, settings.threshold_of(&feature.name)));
        }
        if let (Some((_, offset)), Some(shares)) = (&layout.score, &group.score) {
            let binned = Binned {
                feature: "score",
                kind: FeatureKind::Numeric,
                shares,
                counts: &counts[*offset..offset + shares.len()],
                reference_rows: group.score_rows,
            };
            report.score = Some(drift(binned, settings.statistic, settings.default_threshold));
        }
        let judged = report.features.iter().filter(|f| f.value.is_finite()).count();
        let drifted = report.features.iter().filter(|f| f.drifted).count();
        report.drifted_share = (judged > 0).then(|| drifted as f64 / judged as f64);
        report
    }
}

fn drift(binned: Binned<'_>, test: StatTest, threshold: Option<f64>) -> FeatureDrift {
    let verdict = judge::judge(binned, test, threshold);
    FeatureDrift {
        feature: binned.feature.to_string(),
        test: verdict.test,
        value: verdict.score,
        threshold: verdict.threshold,
        drifted: verdict.drifted,
    }
}

/// Count `codes` (one per row) at `offset` overall and in each row's groups (`members`: one
/// run of rows per slicing).
#[inline]
fn add(counts: &mut [u64], stride: usize, offset: usize, codes: &[u32], members: &[u32]) {
    for &code in codes.iter().filter(|c| **c != NONE) {
        counts[offset + code as usize] += 1;
    }
    for run in members.chunks_exact(codes.len()) {
        for (&code, &g) in codes.iter().zip(run) {
            if code != NONE && g != NONE {
                counts[g as usize * stride + offset + code as usize] += 1;
            }
        }
    }
}

impl Layout {
    fn new(reference: &ReferenceDistributions, settings: &LiveSettings) -> Self {
        let mut offset = 1;
        let mut features = Vec::with_capacity(reference.features.len());
        for f in &reference.features {
            let bins = FeatureBins::of(f, settings.bins);
            let width = bins.len();
            features.push(Feature { name: f.name().to_string(), bins, offset });
            offset += width;
        }
        let score = reference.scores.as_ref().filter(|s| !s.quantiles.is_empty()).map(|s| {
            let bins = QuantileBins::new(&s.quantiles, settings.bins);
            let at = offset;
            offset += bins.len();
            (bins, at)
        });
        let overall = Group {
            slice: OVERALL_SLICE.into(),
            group: OVERALL_GROUP.into(),
            rows: reference.rows,
            score_rows: reference.scores.as_ref().map_or(0, |s| s.rows),
            features: features.iter().zip(&reference.features).map(|(f, r)| f.bins.shares(r)).collect(),
            score: score.as_ref().zip(reference.scores.as_ref()).map(|((bins, _), s)| bins.shares(&s.quantiles)),
        };
        let mut groups = vec![overall];
        let mut slicings = Vec::new();
        for spec in reference.slicings.iter().filter(|s| is_live(s)) {
            let mut ids = TextMap::default();
            for segment in reference.segments.iter().filter(|s| s.slice == spec.name) {
                let shares = |f: &Feature| segment.feature(&f.name).and_then(|r| f.bins.shares(r));
                let score = score.as_ref().zip(segment.scores.as_ref()).map(|((b, _), s)| b.shares(&s.quantiles));
                ids.insert(segment.group.clone(), groups.len() as u32);
                groups.push(Group {
                    slice: spec.name.clone(),
                    group: segment.group.clone(),
                    rows: segment.rows,
                    score_rows: segment.scores.as_ref().map_or(0, |s| s.rows),
                    features: features.iter().map(shares).collect(),
                    score,
                });
            }
            if !ids.is_empty() {
                slicings.push(LiveSlicing { column: spec.by[0].clone(), groups: ids });
            }
        }
        Self { features, score, stride: offset, slicings, groups }
    }
}

/// Slicings by the values of one column are followed live; crosses and bands are not.
fn is_live(spec: &SliceSpec) -> bool {
    spec.by.len() == 1 && spec.bands.is_none()
}

impl LiveSlicing {
    /// Append the group id of each of the `n` rows of `values` (none when the column is absent).
    fn members(&self, values: Option<&Values>, n: usize, members: &mut Vec<u32>, text: &mut String) {
        let id = |value: &str| self.groups.get(value).copied().unwrap_or(NONE);
        let missing = id(MISSING_GROUP);
        let mut printed = |write: &mut dyn FnMut(&mut String)| {
            text.clear();
            write(text);
            id(text.as_str())
        };
        match values {
            Some(Values::Text(v)) if v.len() == n => members.extend(v.iter().map(|x| x.as_deref().map_or(missing, id))),
            Some(Values::Int(v)) if v.len() == n => members.extend(v.iter().map(|x| match x {
                Some(x) => printed(&mut |t| {
                    let _ = write!(t, "{x}");
                }),
                None => missing,
            })),
            Some(Values::Float(v)) if v.len() == n => members.extend(v.iter().map(|x| match x {
                Some(x) if !x.is_nan() => printed(&mut |t| write_number(t, *x)),
                _ => missing,
            })),
            Some(Values::Bool(v)) if v.len() == n => members.extend(v.iter().map(|x| match x {
                Some(b) => id(if *b { "true" } else { "false" }),
                None => missing,
            })),
            _ => members.extend(std::iter::repeat_n(NONE, n)),
        }
    }
}

/// The group of rows whose slicing column is missing, as kiln's evaluation names it.
pub const MISSING_GROUP: &str = "(missing)";

/// A number as kiln's evaluation names a group of a numeric column: whole numbers without a
/// fraction (`13`), others as Rust prints them (`1.5`).
fn write_number(text: &mut String, x: f64) {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        let _ = write!(text, "{}", x as i64);
    } else {
        let _ = write!(text, "{x}");
    }
}

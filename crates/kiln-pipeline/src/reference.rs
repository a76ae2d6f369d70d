//! The references a bundle carries for monitoring: the slicings of `[evaluation]` (or one per
//! segment column) as the bundle's [`SliceSpec`]s, each group's feature references on the
//! training rows, and the model's score references with its test metrics on the test rows,
//! overall and per group. Groups are cut by kiln-eval's slicing, so a monitor that cuts new
//! rows with [`slicings`] finds the same groups under the same names.

use std::collections::BTreeMap;

use kiln_core::bundle::{ReferenceDistributions, ScoreReference, SegmentReference, SliceSpec};
use kiln_core::preprocess::Preprocessor;
use kiln_core::schema::{Schema, Task};
use kiln_data::fit::{feature_columns, with_refs};
use kiln_eval::config::SliceConfig;
use kiln_eval::slices::{OVERALL, Slicing, build_columns};
use kiln_monitor::performance::fit_calibration;
use kiln_train::target::{Target, read_target};
use polars::prelude::DataFrame;

use crate::error::{Error, Result};
use crate::evaluate::slice_columns;

/// At most this many groups of one slicing get references (the largest ones): the bundle's
/// size must not grow with the number of distinct values.
pub const MAX_GROUPS: usize = 64;

/// The test metrics of a model: overall, and per `(slicing, group)` for the groups that were
/// large enough to report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestMetrics {
    pub overall: BTreeMap<String, f64>,
    pub groups: BTreeMap<(String, String), BTreeMap<String, f64>>,
}

impl From<BTreeMap<String, f64>> for TestMetrics {
    fn from(overall: BTreeMap<String, f64>) -> Self {
        Self { overall, groups: BTreeMap::new() }
    }
}

/// The configured slicings as bundle specs (one per segment column when none are configured),
/// leaving out any slicing over a pii column: its group names would be personal data.
pub fn slice_specs(schema: &Schema, configured: &[SliceConfig]) -> Vec<SliceSpec> {
    let specs: Vec<SliceSpec> = if configured.is_empty() {
        schema
            .segments()
            .map(|c| SliceSpec { name: c.name.clone(), by: vec![c.name.clone()], bands: None, value: None })
            .collect()
    } else {
        configured
            .iter()
            .map(|c| SliceSpec {
                name: c.display_name(),
                by: c.by.clone(),
                bands: c.bands.clone(),
                value: c.value.clone(),
            })
            .collect()
    };
    specs.into_iter().filter(|s| s.by.iter().all(|c| schema.column(c).is_none_or(|c| !c.pii))).collect()
}

/// The specs as kiln-eval slice configs.
pub fn slice_configs(specs: &[SliceSpec]) -> Vec<SliceConfig> {
    specs
        .iter()
        .map(|s| SliceConfig {
            by: s.by.clone(),
            bands: s.bands.clone(),
            value: s.value.clone(),
            name: Some(s.name.clone()),
        })
        .collect()
}

/// The rows of `df` cut by `specs` (the overall slicing left out). A spec keeping one value
/// that `df` does not hold gives no groups; a column `df` lacks is an error naming it.
pub fn slicings(df: &DataFrame, schema: &Schema, specs: &[SliceSpec]) -> Result<Vec<Slicing>> {
    let configs = slice_configs(specs);
    let columns = slice_columns(df, schema, &configs)?;
    let mut out = Vec::with_capacity(configs.len());
    for config in &configs {
        match build_columns(&columns, df.height(), std::slice::from_ref(config), &[]) {
            Ok(built) => out.extend(built.into_iter().filter(|s| s.name != OVERALL)),
            Err(kiln_eval::Error::AbsentValue { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// The slicings and per-group feature references of the training rows `train`: groups with
/// at least `min_rows` rows, at most [`MAX_GROUPS`] per slicing (the largest).
pub fn segment_references(
    preprocessor: &Preprocessor,
    train: &DataFrame,
    schema: &Schema,
    specs: &[SliceSpec],
    min_rows: usize,
) -> Result<Vec<SegmentReference>> {
    let features = feature_columns(train, schema)?;
    let mut out = Vec::new();
    for slicing in slicings(train, schema, specs)? {
        let mut groups: Vec<_> = slicing.groups.iter().filter(|g| g.rows.len() >= min_rows.max(1)).collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g.rows.len()));
        groups.truncate(MAX_GROUPS);
        for group in groups {
            let refs = with_refs(&features, |cols| ReferenceDistributions::fit_rows(preprocessor, cols, &group.rows))?;
            out.push(SegmentReference {
                slice: slicing.name.clone(),
                group: group.value.clone(),
                rows: group.rows.len() as u64,
                features: refs,
                scores: None,
            });
        }
    }
    Ok(out)
}

/// Add the model's score references on the test rows to `reference`: overall, and for each
/// group that has at least `min_rows` test rows. `scores` are the positive class's
/// probabilities (binary) or the predictions (regression); a multiclass model gets none.
pub fn add_score_references(
    reference: &mut ReferenceDistributions,
    test: &DataFrame,
    schema: &Schema,
    scores: &[f64],
    metrics: &TestMetrics,
    min_rows: usize,
) -> Result<()> {
    if schema.task == Task::Multiclass {
        return Ok(());
    }
    let labels = binary_labels(test, schema)?;
    let score_of = |rows: Option<&[u32]>, metrics: Option<&BTreeMap<String, f64>>| {
        let (s, l): (Vec<f64>, Option<Vec<bool>>) = match rows {
            None => (scores.to_vec(), labels.clone()),
            Some(rows) => (
                rows.iter().map(|&r| scores[r as usize]).collect(),
                labels.as_ref().map(|l| rows.iter().map(|&r| l[r as usize]).collect()),
            ),
        };
        let mut out = ScoreReference::of_scores(&s);
        out.positive_rate = l.as_ref().map(|l| l.iter().filter(|&&y| y).count() as f64 / l.len().max(1) as f64);
        out.metrics = metrics.cloned().unwrap_or_default();
        // a group with labels of one class (or non-finite scores) has no calibration
        out.calibration = l.as_ref().and_then(|l| fit_calibration(&s, l).ok());
        out
    };
    reference.scores = Some(score_of(None, Some(&metrics.overall)));
    for slicing in slicings(test, schema, &reference.slicings)? {
        for group in slicing.groups.iter().filter(|g| g.rows.len() >= min_rows.max(1)) {
            let key = (slicing.name.clone(), group.value.clone());
            if let Some(segment) = reference.segments.iter_mut().find(|s| s.slice == key.0 && s.group == key.1) {
                segment.scores = Some(score_of(Some(&group.rows), metrics.groups.get(&key)));
            }
        }
    }
    Ok(())
}

/// The test rows' labels as positive or not (binary tasks only).
fn binary_labels(df: &DataFrame, schema: &Schema) -> Result<Option<Vec<bool>>> {
    if schema.task != Task::Binary {
        return Ok(None);
    }
    match read_target(df, schema).map_err(|source| Error::Labels { source: Box::new(source) })? {
        Target::Classes { index, .. } => Ok(Some(index.into_iter().map(|i| i == 1).collect())),
        Target::Values(_) => Ok(None),
    }
}

//! The references a monitor compares slices of new rows against: the slicings (how rows are
//! cut into groups), each group's feature references (training rows) and score reference
//! (test rows), and the model's scores overall. Groups are computed by the caller (kiln-eval's
//! slicing, through kiln-pipeline); this module holds the data and fits the parts that need
//! only kiln-core.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{FeatureReference, REFERENCE_QUANTILES, ReferenceDistributions, mean_std, quantiles};
use crate::error::Result;
use crate::preprocess::{ColumnRef, Preprocessor};

/// One way of cutting rows into groups, as an `[[evaluation.slices]]` table: by one column's
/// values, by a cross of several, by numeric bands of one column, or one value only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceSpec {
    /// The slicing's name in reports ("sex", "sex × race", "age band").
    pub name: String,
    pub by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bands: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// The references of one group of one slicing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentReference {
    /// The slicing's name ([`SliceSpec::name`]).
    pub slice: String,
    /// The group's value ("Female", "Female × White", "[25, 35)").
    pub group: String,
    /// Training rows in the group.
    pub rows: u64,
    /// The group's feature references on the training rows.
    pub features: Vec<FeatureReference>,
    /// The model's scores on the group's test rows, when it had enough of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<ScoreReference>,
}

impl SegmentReference {
    /// The reference of one feature, by name.
    pub fn feature(&self, name: &str) -> Option<&FeatureReference> {
        self.features.iter().find(|f| f.name() == name)
    }
}

/// The distribution of the model's score (the positive class's probability for a binary
/// model, the prediction for a regression) on test rows, the test metrics of those rows, and
/// for a binary model the labels' share and a calibration map.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScoreReference {
    /// Rows scored.
    pub rows: u64,
    /// The `k / REFERENCE_QUANTILES` quantiles of the finite scores.
    pub quantiles: Vec<f64>,
    /// Mean and population standard deviation of the finite scores.
    pub mean: f64,
    pub std: f64,
    /// Share of positive labels (binary models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive_rate: Option<f64>,
    /// The model's metrics on these rows (`roc_auc`, `accuracy`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
    /// Isotonic calibration of the scores on these rows' labels (binary models), as blocks of
    /// scores sharing one probability; kiln-monitor's `cbpe::Calibrator` reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationMap>,
}

/// A non-decreasing map from scores to calibrated probabilities: blocks of reference scores
/// that share one probability (interpolated linearly between blocks, clipped at the ends).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CalibrationMap {
    pub blocks: Vec<CalibrationBlock>,
}

/// One block of a [`CalibrationMap`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBlock {
    pub score_min: f64,
    pub score_max: f64,
    /// The share of positives among the block's reference rows.
    pub probability: f64,
    /// The number of reference rows in the block.
    pub weight: f64,
}

impl ScoreReference {
    /// The quantile sketch, mean and standard deviation of `scores` (non-finite ones left
    /// out); metrics, positive rate and calibration are the caller's to add.
    pub fn of_scores(scores: &[f64]) -> Self {
        let mut finite: Vec<f64> = scores.iter().copied().filter(|s| s.is_finite()).collect();
        finite.sort_unstable_by(f64::total_cmp);
        let (mean, std) = mean_std(&finite);
        Self {
            rows: scores.len() as u64,
            quantiles: quantiles(&finite, REFERENCE_QUANTILES),
            mean,
            std,
            ..Self::default()
        }
    }
}

impl ReferenceDistributions {
    /// The feature references of the rows `rows` (indices into `columns`), as
    /// [`ReferenceDistributions::fit`] computes them for all rows.
    pub fn fit_rows(
        preprocessor: &Preprocessor,
        columns: &[(&str, ColumnRef<'_>)],
        rows: &[u32],
    ) -> Result<Vec<FeatureReference>> {
        let mut numeric: Vec<(&str, Vec<Option<f64>>)> = Vec::new();
        let mut categorical: Vec<(&str, Vec<Option<&str>>)> = Vec::new();
        for (name, column) in columns {
            match column {
                ColumnRef::Numeric(v) => numeric.push((name, rows.iter().map(|&r| v[r as usize]).collect())),
                ColumnRef::Categorical(v) => categorical.push((name, rows.iter().map(|&r| v[r as usize]).collect())),
            }
        }
        let mut subset: Vec<(&str, ColumnRef<'_>)> =
            numeric.iter().map(|(n, v)| (*n, ColumnRef::Numeric(v.as_slice()))).collect();
        subset.extend(categorical.iter().map(|(n, v)| (*n, ColumnRef::Categorical(v.as_slice()))));
        Ok(Self::fit(preprocessor, &subset)?.features)
    }

    /// The group `group` of slicing `slice`.
    pub fn segment(&self, slice: &str, group: &str) -> Option<&SegmentReference> {
        self.segments.iter().find(|s| s.slice == slice && s.group == group)
    }
}

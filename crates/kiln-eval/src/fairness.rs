//! Group fairness metrics for one protected column, as fairlearn defines them.
//!
//! Inputs are plain columns: binary labels, binary predictions (the caller thresholds scores),
//! a group code per row (`0..n_groups`) and optional sample weights. For every group that
//! occurs, [`GroupRates`] holds the row count, total weight, selection rate and the rates of the
//! confusion matrix; the gap metrics compare those rates between groups
//! ([`Method::BetweenGroups`]: largest minus smallest, smallest over largest) or each group to
//! the whole population ([`Method::ToOverall`]: largest absolute difference, smallest ratio
//! folded below 1), exactly as fairlearn's `MetricFrame.difference()` / `.ratio()`,
//! `demographic_parity_*` and `equalized_odds_*` (fairlearn 0.10+, `agg="worst_case"` by
//! default: the larger of the TPR and FPR differences, the smaller of their ratios).
//!
//! Undefined values never panic:
//! - a group code that no row carries is left out (fairlearn never sees it);
//! - a rate whose denominator is empty or weighs 0 (the TPR of a group with no positives, the
//!   FPR of a group with no negatives, the selection rate of a group whose weights are all 0)
//!   is `None` in the per-group rows. For the TPR/FPR gaps, fairlearn (through scikit-learn's
//!   `confusion_matrix(normalize="true")`) counts such a rate as 0; [`UndefinedRate::Zero`]
//!   (the default) does the same, [`UndefinedRate::Exclude`] leaves those groups out instead.
//!   An undefined selection rate is always left out (fairlearn gets NaN, which pandas skips);
//! - a gap with no defined value (or a ratio 0/0) is `None`, where fairlearn returns NaN.
//!
//! One deliberate difference: when one of equalized odds' two gaps is undefined and the other
//! is not, the defined one is the answer. fairlearn combines them with Python's `max`/`min`,
//! which return NaN when the TPR gap is NaN but the TPR gap when the FPR gap is NaN; kiln
//! treats both orders alike (the second case agrees with fairlearn).

use serde::{Deserialize, Serialize};

/// Errors from malformed fairness inputs.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FairnessError {
    /// Two input columns have different lengths.
    #[error("column `{name}` has {got} rows, expected {expected}")]
    LengthMismatch {
        /// The offending column.
        name: &'static str,
        /// Its length.
        got: usize,
        /// The length of the labels column.
        expected: usize,
    },
    /// A row carries a group code at or above `n_groups`.
    #[error("row {row} has group code {code}, but there are only {n_groups} groups")]
    GroupOutOfRange {
        /// The row index.
        row: usize,
        /// Its group code.
        code: u32,
        /// The number of groups declared.
        n_groups: usize,
    },
    /// A sample weight is negative, NaN or infinite.
    #[error("sample weight {value} at row {row} is not a finite non-negative number")]
    BadWeight {
        /// The row index.
        row: usize,
        /// The weight.
        value: f64,
    },
}

/// How a group's metric is compared (fairlearn's `method=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Between the groups: difference = max − min, ratio = min / max.
    BetweenGroups,
    /// Each group against the whole population: difference = max |group − overall|,
    /// ratio = min of group / overall, each ratio folded to at most 1 (r > 1 becomes 1 / r).
    ToOverall,
}

/// How equalized odds combines its TPR and FPR gaps (fairlearn's `agg=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EqualizedOddsAgg {
    /// The larger of the two differences, the smaller of the two ratios (fairlearn's default).
    #[default]
    WorstCase,
    /// The mean of the two differences, the mean of the two ratios.
    Mean,
}

/// What the TPR/FPR gaps do with a group whose rate is undefined (no positives, or no
/// negatives, or all their weights 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UndefinedRate {
    /// Count the rate as 0, as fairlearn does (scikit-learn's normalized confusion matrix turns
    /// 0/0 into 0). Such a group then pulls every TPR ratio to 0.
    #[default]
    Zero,
    /// Leave the group out of that rate's gaps.
    Exclude,
}

/// Options of [`fairness_report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FairnessOptions {
    /// Treatment of undefined TPR/FPR in the gaps.
    pub undefined_rate: UndefinedRate,
    /// Aggregation of equalized odds.
    pub equalized_odds_agg: EqualizedOddsAgg,
}

/// Weighted confusion-matrix counts of one group (or of all rows).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Confusion {
    /// Number of rows.
    pub count: usize,
    /// Total weight (the row count without weights).
    pub weight: f64,
    /// Weight of rows labelled positive and predicted positive.
    pub true_positive: f64,
    /// Weight of rows labelled negative and predicted positive.
    pub false_positive: f64,
    /// Weight of rows labelled negative and predicted negative.
    pub true_negative: f64,
    /// Weight of rows labelled positive and predicted negative.
    pub false_negative: f64,
}

impl Confusion {
    fn add(&mut self, label: bool, prediction: bool, w: f64) {
        self.count += 1;
        self.weight += w;
        match (label, prediction) {
            (true, true) => self.true_positive += w,
            (false, true) => self.false_positive += w,
            (false, false) => self.true_negative += w,
            (true, false) => self.false_negative += w,
        }
    }

    /// Share of the weight predicted positive; `None` when the total weight is 0.
    pub fn selection_rate(&self) -> Option<f64> {
        ratio_of(self.true_positive + self.false_positive, self.weight)
    }

    /// P(predicted positive | positive); `None` without positive weight.
    pub fn true_positive_rate(&self) -> Option<f64> {
        ratio_of(self.true_positive, self.true_positive + self.false_negative)
    }

    /// P(predicted positive | negative); `None` without negative weight.
    pub fn false_positive_rate(&self) -> Option<f64> {
        ratio_of(self.false_positive, self.false_positive + self.true_negative)
    }

    /// P(predicted negative | positive); `None` without positive weight.
    pub fn false_negative_rate(&self) -> Option<f64> {
        ratio_of(self.false_negative, self.true_positive + self.false_negative)
    }

    /// P(predicted negative | negative); `None` without negative weight.
    pub fn true_negative_rate(&self) -> Option<f64> {
        ratio_of(self.true_negative, self.false_positive + self.true_negative)
    }
}

fn ratio_of(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

/// One group's row of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRates {
    /// The group's code in the input column (`u32::MAX` in the overall row).
    pub code: u32,
    /// The group's name.
    pub name: String,
    /// Number of rows.
    pub count: usize,
    /// Total weight (the row count without weights).
    pub weight: f64,
    /// Weight of positive labels.
    pub positive_weight: f64,
    /// Weight of negative labels.
    pub negative_weight: f64,
    /// Share of the weight predicted positive.
    pub selection_rate: Option<f64>,
    /// True positive rate; `None` without positives.
    pub true_positive_rate: Option<f64>,
    /// False positive rate; `None` without negatives.
    pub false_positive_rate: Option<f64>,
    /// False negative rate; `None` without positives.
    pub false_negative_rate: Option<f64>,
    /// True negative rate; `None` without negatives.
    pub true_negative_rate: Option<f64>,
}

impl GroupRates {
    /// The row of a group from its confusion counts.
    pub fn from_confusion(code: u32, name: impl Into<String>, c: &Confusion) -> Self {
        Self {
            code,
            name: name.into(),
            count: c.count,
            weight: c.weight,
            positive_weight: c.true_positive + c.false_negative,
            negative_weight: c.false_positive + c.true_negative,
            selection_rate: c.selection_rate(),
            true_positive_rate: c.true_positive_rate(),
            false_positive_rate: c.false_positive_rate(),
            false_negative_rate: c.false_negative_rate(),
            true_negative_rate: c.true_negative_rate(),
        }
    }
}

/// A difference and a ratio of one metric under one [`Method`].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Gap {
    /// fairlearn's `difference()`; `None` where it would be NaN.
    pub difference: Option<f64>,
    /// fairlearn's `ratio()`; `None` where it would be NaN.
    pub ratio: Option<f64>,
}

/// A metric's gaps under both methods.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Gaps {
    /// `method="between_groups"`.
    pub between_groups: Gap,
    /// `method="to_overall"`.
    pub to_overall: Gap,
}

impl Gaps {
    /// The gap of one method.
    pub fn get(&self, method: Method) -> Gap {
        match method {
            Method::BetweenGroups => self.between_groups,
            Method::ToOverall => self.to_overall,
        }
    }
}

/// Fairness of binary predictions across the groups of one protected column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FairnessReport {
    /// Options the gaps were computed with.
    pub options: FairnessOptions,
    /// Rates over all rows.
    pub overall: GroupRates,
    /// One row per group that occurs, in code order.
    pub groups: Vec<GroupRates>,
    /// Names of declared groups that no row carries (left out of every gap).
    pub empty_groups: Vec<String>,
    /// Gaps of the selection rate: demographic parity difference and ratio.
    pub demographic_parity: Gaps,
    /// Gaps of the true positive rate (equal opportunity).
    pub true_positive_rate: Gaps,
    /// Gaps of the false positive rate.
    pub false_positive_rate: Gaps,
    /// Equalized odds: the TPR and FPR gaps combined by `options.equalized_odds_agg`.
    pub equalized_odds: Gaps,
}

/// Weighted confusion counts per group code (`n_groups` entries) and over all rows.
///
/// Checks that the columns have the same length, that every code is below `n_groups` and that
/// weights are finite and non-negative.
pub fn group_confusions(
    labels: &[bool],
    predictions: &[bool],
    groups: &[u32],
    n_groups: usize,
    weights: Option<&[f64]>,
) -> Result<(Vec<Confusion>, Confusion), FairnessError> {
    let n = labels.len();
    check_len("predictions", predictions.len(), n)?;
    check_len("groups", groups.len(), n)?;
    if let Some(w) = weights {
        check_len("weights", w.len(), n)?;
    }
    let mut per_group = vec![Confusion::default(); n_groups];
    let mut overall = Confusion::default();
    for (row, ((&label, &prediction), &code)) in labels.iter().zip(predictions).zip(groups).enumerate() {
        let w = match weights {
            Some(w) => {
                let value = w[row];
                if !(value.is_finite() && value >= 0.0) {
                    return Err(FairnessError::BadWeight { row, value });
                }
                value
            }
            None => 1.0,
        };
        let slot = per_group.get_mut(code as usize).ok_or(FairnessError::GroupOutOfRange { row, code, n_groups })?;
        slot.add(label, prediction, w);
        overall.add(label, prediction, w);
    }
    Ok((per_group, overall))
}

fn check_len(name: &'static str, got: usize, expected: usize) -> Result<(), FairnessError> {
    if got == expected { Ok(()) } else { Err(FairnessError::LengthMismatch { name, got, expected }) }
}

/// The fairness report of binary `predictions` against `labels` for the groups of `groups`.
///
/// `group_names[g]` names code `g`; its length is the number of groups. Groups no row carries
/// are listed in [`FairnessReport::empty_groups`] and take no part in the gaps.
pub fn fairness_report<S: AsRef<str>>(
    labels: &[bool],
    predictions: &[bool],
    groups: &[u32],
    group_names: &[S],
    weights: Option<&[f64]>,
    options: FairnessOptions,
) -> Result<FairnessReport, FairnessError> {
    let (per_group, overall) = group_confusions(labels, predictions, groups, group_names.len(), weights)?;
    let mut rows = Vec::new();
    let mut empty_groups = Vec::new();
    for (code, (c, name)) in per_group.iter().zip(group_names).enumerate() {
        if c.count == 0 {
            empty_groups.push(name.as_ref().to_string());
        } else {
            rows.push(GroupRates::from_confusion(code as u32, name.as_ref(), c));
        }
    }
    let overall = GroupRates::from_confusion(u32::MAX, "overall", &overall);
    Ok(report_from_rows(overall, rows, empty_groups, options))
}

/// Assembles the report from per-group rows (non-empty groups only) and the overall row.
pub fn report_from_rows(
    overall: GroupRates,
    groups: Vec<GroupRates>,
    empty_groups: Vec<String>,
    options: FairnessOptions,
) -> FairnessReport {
    let rate = |f: fn(&GroupRates) -> Option<f64>, fill: bool| {
        let fill_undefined = |v: Option<f64>| if fill { Some(v.unwrap_or(0.0)) } else { v };
        let values: Vec<Option<f64>> = groups.iter().map(|g| fill_undefined(f(g))).collect();
        gaps(&values, fill_undefined(f(&overall)))
    };
    let zero = options.undefined_rate == UndefinedRate::Zero;
    let demographic_parity = rate(|g| g.selection_rate, false);
    let true_positive_rate = rate(|g| g.true_positive_rate, zero);
    let false_positive_rate = rate(|g| g.false_positive_rate, zero);
    let combine = |m: Method| {
        let (t, f) = (true_positive_rate.get(m), false_positive_rate.get(m));
        match options.equalized_odds_agg {
            EqualizedOddsAgg::WorstCase => {
                Gap { difference: fold(t.difference, f.difference, f64::max), ratio: fold(t.ratio, f.ratio, f64::min) }
            }
            EqualizedOddsAgg::Mean => Gap {
                difference: fold(t.difference, f.difference, |a, b| 0.5 * (a + b)),
                ratio: fold(t.ratio, f.ratio, |a, b| 0.5 * (a + b)),
            },
        }
    };
    let equalized_odds =
        Gaps { between_groups: combine(Method::BetweenGroups), to_overall: combine(Method::ToOverall) };
    FairnessReport {
        options,
        overall,
        groups,
        empty_groups,
        demographic_parity,
        true_positive_rate,
        false_positive_rate,
        equalized_odds,
    }
}

/// Combines two optional values, keeping the defined one when only one is (as pandas skips NaN).
fn fold(a: Option<f64>, b: Option<f64>, f: impl Fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.or(b),
    }
}

/// Both methods' difference and ratio of one metric, from its per-group values (undefined
/// values skipped, as pandas' `min`/`max` skip NaN) and its overall value.
pub fn gaps(values: &[Option<f64>], overall: Option<f64>) -> Gaps {
    Gaps {
        between_groups: Gap {
            difference: difference(values, None, Method::BetweenGroups),
            ratio: ratio(values, None, Method::BetweenGroups),
        },
        to_overall: Gap {
            difference: difference(values, overall, Method::ToOverall),
            ratio: ratio(values, overall, Method::ToOverall),
        },
    }
}

fn defined(values: &[Option<f64>]) -> impl Iterator<Item = f64> + '_ {
    values.iter().flatten().copied().filter(|v| !v.is_nan())
}

/// fairlearn's `MetricFrame.difference(method)` of one metric; `overall` is used by
/// [`Method::ToOverall`] only.
pub fn difference(values: &[Option<f64>], overall: Option<f64>, method: Method) -> Option<f64> {
    match method {
        Method::BetweenGroups => {
            let max = defined(values).reduce(f64::max)?;
            let min = defined(values).reduce(f64::min)?;
            Some(max - min)
        }
        Method::ToOverall => {
            let o = overall.filter(|o| !o.is_nan())?;
            defined(values).map(|v| (v - o).abs()).reduce(f64::max)
        }
    }
}

/// fairlearn's `MetricFrame.ratio(method)` of one metric; `overall` is used by
/// [`Method::ToOverall`] only. A ratio 0/0 is undefined and skipped; x/0 with x > 0 folds to 0.
pub fn ratio(values: &[Option<f64>], overall: Option<f64>, method: Method) -> Option<f64> {
    match method {
        Method::BetweenGroups => {
            let max = defined(values).reduce(f64::max)?;
            let min = defined(values).reduce(f64::min)?;
            let r = min / max;
            (!r.is_nan()).then_some(r)
        }
        Method::ToOverall => {
            let o = overall.filter(|o| !o.is_nan())?;
            defined(values)
                .map(|v| {
                    let r = v / o;
                    if r > 1.0 { 1.0 / r } else { r }
                })
                .filter(|r| !r.is_nan())
                .reduce(f64::min)
        }
    }
}

/// fairlearn's `demographic_parity_difference`.
pub fn demographic_parity_difference(
    labels: &[bool],
    predictions: &[bool],
    groups: &[u32],
    n_groups: usize,
    weights: Option<&[f64]>,
    method: Method,
) -> Result<Option<f64>, FairnessError> {
    Ok(quick_report(labels, predictions, groups, n_groups, weights, EqualizedOddsAgg::WorstCase)?
        .demographic_parity
        .get(method)
        .difference)
}

/// fairlearn's `demographic_parity_ratio`.
pub fn demographic_parity_ratio(
    labels: &[bool],
    predictions: &[bool],
    groups: &[u32],
    n_groups: usize,
    weights: Option<&[f64]>,
    method: Method,
) -> Result<Option<f64>, FairnessError> {
    Ok(quick_report(labels, predictions, groups, n_groups, weights, EqualizedOddsAgg::WorstCase)?
        .demographic_parity
        .get(method)
        .ratio)
}

/// fairlearn's `equalized_odds_difference` with its `agg=` option.
pub fn equalized_odds_difference(
    labels: &[bool],
    predictions: &[bool],
    groups: &[u32],
    n_groups: usize,
    weights: Option<&[f64]>,
    method: Method,
    agg: EqualizedOddsAgg,
) -> Result<Option<f64>, FairnessError> {
    Ok(quick_report(labels, predictions, groups, n_groups, weights, agg)?.equalized_odds.get(method).difference)
}

/// fairlearn's `equalized_odds_ratio` with its `agg=` option.
pub fn equalized_odds_ratio(
    labels: &[bool],
    predictions: &[bool],
    groups: &[u32],
    n_groups: usize,
    weights: Option<&[f64]>,
    method: Method,
    agg: EqualizedOddsAgg,
) -> Result<Option<f64>, FairnessError> {
    Ok(quick_report(labels, predictions, groups, n_groups, weights, agg)?.equalized_odds.get(method).ratio)
}

fn quick_report(
    labels: &[bool],
    predictions: &[bool],
    groups: &[u32],
    n_groups: usize,
    weights: Option<&[f64]>,
    agg: EqualizedOddsAgg,
) -> Result<FairnessReport, FairnessError> {
    let names: Vec<String> = (0..n_groups).map(|g| g.to_string()).collect();
    let options = FairnessOptions { undefined_rate: UndefinedRate::Zero, equalized_odds_agg: agg };
    fairness_report(labels, predictions, groups, &names, weights, options)
}

#[cfg(test)]
#[path = "fairness/tests.rs"]
mod tests;

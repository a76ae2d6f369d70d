//! How one column's values become bin codes, and the reference's share of each bin.
//!
//! Numeric columns (and scores) are cut at the reference's own quantiles: of the
//! `REFERENCE_QUANTILES + 1` points of the overall sketch, every `REFERENCE_QUANTILES / bins`-th
//! is a candidate edge, and an edge is kept only when the bin it closes holds reference mass
//! (so a value tied over many quantiles, such as a capital gain of 0 for 90% of rows, makes one
//! bin, not thirty empty ones). The outer bins reach to minus and plus infinity: a value
//! outside the training range still lands in a bin. Bins are closed on the left,
//! `[edge[i - 1], edge[i])`. A numeric column has one more code for missing and non-finite
//! values.
//!
//! A bin's reference share is read off a quantile sketch as `F(edge[i]) - F(edge[i - 1])`,
//! where `F(v)`, the share of values below `v`, is interpolated linearly between sketch points
//! (within `1 / REFERENCE_QUANTILES` of the data's). A slicing group's shares are read off
//! the group's own sketch at the overall edges, so that a row is binned once whatever groups
//! it belongs to.
//!
//! Categorical columns are counted per vocabulary code, values mapped as
//! `Preprocessor::transform` maps them: an unseen value is `__other__` (code 0), a missing one
//! `__missing__` when training had missing values, else `__other__`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};

use kiln_core::bundle::FeatureReference;
use kiln_core::columns::Values;
use kiln_core::preprocess::MISSING_CATEGORY;

use crate::stats::FeatureKind;

/// A map from category text, hashed by [`FastHash`].
pub(crate) type TextMap<V> = HashMap<String, V, BuildHasherDefault<FastHash>>;

/// FxHash's multiply-rotate over 8-byte words: category look-ups are the hot loop of
/// ingestion, and their keys are short. Only the bundle's categories are stored, so a request
/// cannot fill a table with colliding keys.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHash(u64);

impl FastHash {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FastHash {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Edges of a numeric column's bins, from the overall reference's quantile sketch.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantileBins {
    /// Increasing inner edges; `edges.len() + 1` bins.
    edges: Vec<f64>,
}

impl QuantileBins {
    /// Bins of about equal reference mass from `quantiles` (the `k / (len - 1)` quantiles of
    /// the present values), at most `bins` of them; one bin when the sketch is empty.
    pub fn new(quantiles: &[f64], bins: usize) -> Self {
        let Some(parts) = quantiles.len().checked_sub(1).filter(|p| *p > 0) else {
            return Self { edges: Vec::new() };
        };
        let bins = bins.clamp(1, parts);
        let mut edges = Vec::with_capacity(bins);
        let mut below = 0.0;
        for k in 1..=bins {
            let edge = quantiles[(k * parts + bins / 2) / bins];
            let share = share_below(quantiles, edge);
            if share > below && share < 1.0 {
                edges.push(edge);
                below = share;
            }
        }
        Self { edges }
    }

    /// Number of bins.
    pub fn len(&self) -> usize {
        self.edges.len() + 1
    }

    /// Always false: there is at least one bin.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn edges(&self) -> &[f64] {
        &self.edges
    }

    /// The bin of a finite value: a binary search over the edges.
    #[inline]
    pub fn bin(&self, x: f64) -> usize {
        self.edges.partition_point(|e| *e <= x)
    }

    /// The share of each bin under the distribution `quantiles` sketches (summing to 1; all
    /// zero when the sketch is empty).
    pub fn shares(&self, quantiles: &[f64]) -> Vec<f64> {
        if quantiles.is_empty() {
            return vec![0.0; self.len()];
        }
        let mut shares = Vec::with_capacity(self.len());
        let mut below = 0.0;
        for edge in &self.edges {
            let share = share_below(quantiles, *edge);
            shares.push(share - below);
            below = share;
        }
        shares.push(1.0 - below);
        shares
    }
}

/// The share of values below `v` under a quantile sketch (`quantiles[k]` is the
/// `k / (len - 1)` quantile), interpolated linearly between sketch points; a value tied over
/// several points counts from the first of them.
pub fn share_below(quantiles: &[f64], v: f64) -> f64 {
    let below = quantiles.partition_point(|q| *q < v);
    if below == 0 {
        return 0.0;
    }
    if below == quantiles.len() {
        return 1.0;
    }
    let parts = (quantiles.len() - 1) as f64;
    let (low, high) = (quantiles[below - 1], quantiles[below]);
    let fraction = if high > low { ((v - low) / (high - low)).clamp(0.0, 1.0) } else { 1.0 };
    ((below - 1) as f64 + fraction) / parts
}

/// The codes of one feature: quantile bins plus a missing code, or vocabulary codes.
#[derive(Debug, Clone)]
pub enum FeatureBins {
    Numeric(QuantileBins),
    Categorical(Vocabulary),
}

/// A categorical feature's vocabulary as the preprocessor codes it.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    pub categories: Vec<String>,
    lookup: TextMap<u32>,
    missing: u32,
}

impl FeatureBins {
    /// The bins of a feature from its overall reference.
    pub fn of(reference: &FeatureReference, bins: usize) -> Self {
        match reference {
            FeatureReference::Numeric { quantiles, .. } => FeatureBins::Numeric(QuantileBins::new(quantiles, bins)),
            FeatureReference::Categorical { categories, .. } => {
                let lookup: TextMap<u32> =
                    categories.iter().enumerate().skip(1).map(|(i, c)| (c.clone(), i as u32)).collect();
                let missing = lookup.get(MISSING_CATEGORY).copied().unwrap_or(0);
                FeatureBins::Categorical(Vocabulary { categories: categories.clone(), lookup, missing })
            }
        }
    }

    /// Number of codes (numeric: the bins and the missing code).
    pub fn len(&self) -> usize {
        match self {
            FeatureBins::Numeric(bins) => bins.len() + 1,
            FeatureBins::Categorical(v) => v.categories.len(),
        }
    }

    /// Always false.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The kind of column the drift tests see.
    pub fn kind(&self) -> FeatureKind {
        match self {
            FeatureBins::Numeric(_) => FeatureKind::Numeric,
            FeatureBins::Categorical(_) => FeatureKind::Categorical,
        }
    }

    /// The reference's share of every code, over all rows, from a feature reference (the
    /// overall one or a group's). A reference of the other kind gives none.
    pub fn shares(&self, reference: &FeatureReference) -> Option<Vec<f64>> {
        match (self, reference) {
            (FeatureBins::Numeric(bins), FeatureReference::Numeric { quantiles, missing_fraction, .. }) => {
                let present = 1.0 - missing_fraction;
                let mut shares: Vec<f64> = bins.shares(quantiles).into_iter().map(|s| s * present).collect();
                shares.push(*missing_fraction);
                Some(shares)
            }
            (FeatureBins::Categorical(v), FeatureReference::Categorical { categories, proportions, .. }) => {
                let of = |c: &String| categories.iter().position(|x| x == c).and_then(|i| proportions.get(i));
                Some(v.categories.iter().map(|c| of(c).copied().unwrap_or(0.0)).collect())
            }
            _ => None,
        }
    }

    /// Write the code of every row of `values` into `codes` (resized to the rows); `text` is
    /// a reused buffer for numbers read as categories.
    pub fn codes(&self, values: &Values, codes: &mut Vec<u32>, text: &mut String) {
        codes.clear();
        match self {
            FeatureBins::Numeric(bins) => {
                let missing = bins.len() as u32;
                let code = |x: Option<f64>| match x {
                    Some(x) if x.is_finite() => bins.bin(x) as u32,
                    _ => missing,
                };
                match values {
                    Values::Float(v) => codes.extend(v.iter().map(|x| code(*x))),
                    Values::Int(v) => codes.extend(v.iter().map(|x| code(x.map(|x| x as f64)))),
                    Values::Bool(v) => codes.extend(v.iter().map(|x| code(x.map(|b| f64::from(u8::from(b)))))),
                    // the row check refuses text for a numeric feature; counted as missing
                    Values::Text(v) => codes.extend(v.iter().map(|_| missing)),
                }
            }
            FeatureBins::Categorical(vocabulary) => vocabulary.codes(values, codes, text),
        }
    }
}

impl Vocabulary {
    #[inline]
    fn code(&self, value: Option<&str>) -> u32 {
        match value {
            Some(v) => self.lookup.get(v).copied().unwrap_or(0),
            None => self.missing,
        }
    }

    /// Numbers and booleans are read as the text they print as (`25`, `1.5`, `true`), as
    /// kiln-core reads them for a categorical feature.
    fn codes(&self, values: &Values, codes: &mut Vec<u32>, text: &mut String) {
        let mut printed = |write: &mut dyn FnMut(&mut String)| {
            text.clear();
            write(text);
            self.code(Some(text.as_str()))
        };
        match values {
            Values::Text(v) => codes.extend(v.iter().map(|x| self.code(x.as_deref()))),
            Values::Int(v) => codes.extend(v.iter().map(|x| match x {
                Some(x) => printed(&mut |t| {
                    let _ = write!(t, "{x}");
                }),
                None => self.missing,
            })),
            Values::Float(v) => codes.extend(v.iter().map(|x| match x {
                Some(x) => printed(&mut |t| {
                    let _ = write!(t, "{x:?}");
                }),
                None => self.missing,
            })),
            Values::Bool(v) => codes.extend(v.iter().map(|x| match x {
                Some(b) => self.code(Some(if *b { "true" } else { "false" })),
                None => self.missing,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 0, 1/4, …, 1 quantiles of 0..=8 (numpy: [0, 2, 4, 6, 8]).
    const QUARTERS: [f64; 5] = [0.0, 2.0, 4.0, 6.0, 8.0];

    #[test]
    fn shares_below_interpolate_between_sketch_points() {
        assert_eq!(share_below(&QUARTERS, -1.0), 0.0);
        assert_eq!(share_below(&QUARTERS, 0.0), 0.0);
        assert_eq!(share_below(&QUARTERS, 3.0), 0.375);
        assert_eq!(share_below(&QUARTERS, 4.0), 0.5);
        assert_eq!(share_below(&QUARTERS, 9.0), 1.0);
        // a value tied over points 1..=3 counts from the first: a quarter of values lie below it
        assert_eq!(share_below(&[0.0, 5.0, 5.0, 5.0, 8.0], 5.0), 0.25);
    }

    #[test]
    fn bins_have_equal_mass_and_open_ends() {
        let bins = QuantileBins::new(&QUARTERS, 4);
        // the top sketch point closes no mass: three inner edges, four bins
        assert_eq!(bins.edges(), [2.0, 4.0, 6.0]);
        assert_eq!(bins.shares(&QUARTERS), [0.25, 0.25, 0.25, 0.25]);
        assert_eq!([bins.bin(-100.0), bins.bin(1.9), bins.bin(2.0), bins.bin(6.0), bins.bin(1e9)], [0, 0, 1, 3, 3]);
        // two bins from the same sketch: the median
        assert_eq!(QuantileBins::new(&QUARTERS, 2).edges(), [4.0]);
    }

    #[test]
    fn tied_values_make_one_bin() {
        // 0 up to the 5/8 quantile, then spread: one bin for the zeros, one for the rest
        let sketch = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 5.0, 10.0];
        let bins = QuantileBins::new(&sketch, 4);
        assert_eq!(bins.edges(), [2.0]);
        assert_eq!(bins.shares(&sketch), [0.75, 0.25]);
        // a flag (0 up to the median, 1 from the 3/4 quantile): the bins split 0 from 1, and
        // the share below 1 is read at the first point that reaches it (3/4)
        let flag = [0.0, 0.0, 0.0, 1.0, 1.0];
        let bins = QuantileBins::new(&flag, 4);
        assert_eq!(bins.edges(), [1.0]);
        assert_eq!((bins.bin(0.0), bins.bin(1.0)), (0, 1));
        assert_eq!(bins.shares(&flag), [0.75, 0.25]);
        // nothing but the maximum above the zeros: a single bin
        assert_eq!(QuantileBins::new(&[0.0, 0.0, 0.0, 0.0, 10.0], 4).len(), 1);
    }

    #[test]
    fn a_group_is_read_at_the_overall_edges() {
        let bins = QuantileBins::new(&QUARTERS, 4);
        // a group spread over 4..=8: nothing below 4
        let group = [4.0, 5.0, 6.0, 7.0, 8.0];
        assert_eq!(bins.shares(&group), [0.0, 0.0, 0.5, 0.5]);
        assert_eq!(bins.shares(&[]), [0.0; 4]);
    }

    #[test]
    fn categories_are_coded_as_the_preprocessor_codes_them() {
        let reference = FeatureReference::Categorical {
            name: "city".into(),
            categories: vec!["__other__".into(), "a".into(), MISSING_CATEGORY.into(), "7".into()],
            proportions: vec![0.1, 0.5, 0.2, 0.2],
            count: 10,
            missing_fraction: 0.2,
        };
        let bins = FeatureBins::of(&reference, 32);
        let (mut codes, mut text) = (Vec::new(), String::new());
        let values = Values::Text(vec![Some("a".into()), None, Some("zzz".into()), Some("7".into())]);
        bins.codes(&values, &mut codes, &mut text);
        assert_eq!(codes, [1, 2, 0, 3]);
        bins.codes(&Values::Int(vec![Some(7), Some(8), None]), &mut codes, &mut text);
        assert_eq!(codes, [3, 0, 2]);
        assert_eq!(bins.shares(&reference), Some(vec![0.1, 0.5, 0.2, 0.2]));
    }

    #[test]
    fn numeric_codes_put_missing_and_non_finite_values_last() {
        let reference = FeatureReference::Numeric {
            name: "x".into(),
            edges: vec![0.0, 8.0],
            proportions: vec![1.0],
            missing_fraction: 0.2,
            quantiles: QUARTERS.to_vec(),
            count: 8,
            mean: 4.0,
            std: 2.0,
        };
        let bins = FeatureBins::of(&reference, 4);
        let (mut codes, mut text) = (Vec::new(), String::new());
        bins.codes(&Values::Float(vec![Some(1.0), None, Some(f64::NAN), Some(7.0)]), &mut codes, &mut text);
        assert_eq!(codes, [0, 4, 4, 3]);
        let shares = bins.shares(&reference).expect("numeric");
        assert_eq!(shares.len(), 5);
        assert!((shares[0] - 0.2).abs() < 1e-15 && shares[4] == 0.2);
    }
}

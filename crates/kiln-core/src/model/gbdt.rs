//! Gradient-boosted trees in kiln's own format (`kiln.trees.v1`) and their inference, with no
//! training library: the trees are flat node arrays, traversed branch-free over rows in blocks.
//!
//! The format is LightGBM's tree model laid out as tensors, so that a LightGBM ensemble converts
//! without loss and predicts bit for bit the same. Over all trees together (node and leaf
//! indices are global, trees in boosting order; tree `t` adds to output `t % n_outputs`):
//!
//! | tensor | dtype | per | meaning |
//! | --- | --- | --- | --- |
//! | `gbdt.tree_root` | I64 | tree | the root: a node index, or `-(leaf + 1)` for a one-leaf tree |
//! | `gbdt.split_feature` | I64 | node | the feature column the node tests |
//! | `gbdt.threshold` | F64 | node | numeric: go left when `x <= threshold`; categorical: the node's index into `cat_boundaries` |
//! | `gbdt.decision_type` | I64 | node | bit 0 categorical, bit 1 missing goes left, bits 2-3 missing type (0 none, 1 zero, 2 NaN) |
//! | `gbdt.left_child`, `gbdt.right_child` | I64 | node | a node index (always greater than the node's own), or `-(leaf + 1)` |
//! | `gbdt.leaf_value` | F64 | leaf | the leaf's raw score |
//! | `gbdt.cat_boundaries` | I64 | categorical split + 1 | where each split's bitset starts in `cat_threshold` |
//! | `gbdt.cat_threshold` | I64 | 32-bit word | bitsets of the categories that go left |
//!
//! A row's raw score per output is the sum of its leaves in tree order (f64); binary tasks map
//! it through the logistic function, multiclass through a softmax, regression keeps it. The
//! features are the preprocessor's index encoding: the dense block (numeric features, then
//! missing indicators), then one integer code per categorical feature, read as f32 (as
//! training saw them) and compared in f64 as LightGBM does. Decisions follow LightGBM's: a NaN
//! reads as 0 unless the node's missing type is NaN; values within 1e-35 of zero read as zero.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bundle::{TensorData, TensorDtype};
use crate::error::{Error, Result};
use crate::preprocess::{ColumnRef, Encoded, Encoding, Preprocessor};
use crate::schema::Task;

/// The format tag of kiln's trees (the bundle's architecture and saved models name it).
pub const TREES_FORMAT: &str = "kiln.trees.v1";

/// The tensors of a forest in a bundle and their element types, in the order of the module's
/// table.
pub const TREE_TENSORS: [(&str, TensorDtype); 9] = [
    ("gbdt.tree_root", TensorDtype::I64),
    ("gbdt.split_feature", TensorDtype::I64),
    ("gbdt.threshold", TensorDtype::F64),
    ("gbdt.decision_type", TensorDtype::I64),
    ("gbdt.left_child", TensorDtype::I64),
    ("gbdt.right_child", TensorDtype::I64),
    ("gbdt.leaf_value", TensorDtype::F64),
    ("gbdt.cat_boundaries", TensorDtype::I64),
    ("gbdt.cat_threshold", TensorDtype::I64),
];

/// LightGBM's `kZeroThreshold` (a float literal): inputs this close to zero read as zero.
const ZERO_THRESHOLD: f32 = 1e-35;
/// Rows scored together through each tree (the block's features stay in cache).
const BLOCK: usize = 64;
/// Rows per parallel task: a batch of a few hundred rows already uses every core.
const PAR_ROWS: usize = 256;

/// A fitted ensemble in kiln's format: the stored arrays of the module's table. Its serde form
/// (kiln-train's saved models) keeps the f64 arrays as their IEEE bit patterns, so that a JSON
/// round trip is exact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    /// Feature columns the trees read (the width of the index encoding).
    pub n_features: usize,
    /// Values per row: the number of classes for multiclass, else 1.
    pub n_outputs: usize,
    pub tree_root: Vec<i64>,
    pub split_feature: Vec<i64>,
    #[serde(with = "f64_bits")]
    pub threshold: Vec<f64>,
    pub decision_type: Vec<i64>,
    pub left_child: Vec<i64>,
    pub right_child: Vec<i64>,
    #[serde(with = "f64_bits")]
    pub leaf_value: Vec<f64>,
    pub cat_boundaries: Vec<i64>,
    pub cat_threshold: Vec<i64>,
}

/// f64 values as their bit patterns in serde formats (JSON number parsing may round).
mod f64_bits {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(values: &[f64], serializer: S) -> Result<S::Ok, S::Error> {
        values.iter().map(|v| v.to_bits()).collect::<Vec<u64>>().serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<u64>::deserialize(deserializer)?.into_iter().map(f64::from_bits).collect())
    }
}

/// A saved gradient-boosted model ready to score: the preprocessor (index encoding) and the
/// forest.
#[derive(Debug, Clone)]
pub struct Trees {
    pub preprocessor: Preprocessor,
    pub forest: Forest,
    layout: Layout,
}

fn invalid(problem: String) -> Error {
    Error::InvalidModel { architecture: "gbdt", problem }
}

/// The largest f32 whose value is at most `t` (NaN stays NaN: every comparison goes right).
fn floor_f32(t: f64) -> f32 {
    let nearest = t as f32;
    if f64::from(nearest) > t { nearest.next_down() } else { nearest }
}

impl Forest {
    /// Trees in the ensemble (all outputs together).
    pub fn n_trees(&self) -> usize {
        self.tree_root.len()
    }

    /// The forest's tensors, named as in [`TREE_TENSORS`].
    pub fn to_tensors(&self) -> BTreeMap<String, TensorData> {
        let ints = |v: &[i64]| TensorData::from_i64(vec![v.len()], v);
        let floats = |v: &[f64]| TensorData::from_f64(vec![v.len()], v);
        let tensors = [
            ints(&self.tree_root),
            ints(&self.split_feature),
            floats(&self.threshold),
            ints(&self.decision_type),
            ints(&self.left_child),
            ints(&self.right_child),
            floats(&self.leaf_value),
            ints(&self.cat_boundaries),
            ints(&self.cat_threshold),
        ];
        TREE_TENSORS.iter().map(|(name, _)| name.to_string()).zip(tensors).collect()
    }

    /// The forest stored in `tensors`, for `n_features` inputs and `n_outputs` values per row
    /// (its indices are checked when [`Trees`] are built from it).
    pub fn from_tensors(n_features: usize, n_outputs: usize, tensors: &BTreeMap<String, TensorData>) -> Result<Self> {
        let get = |name: &str| {
            tensors.get(name).ok_or_else(|| Error::ModelTensor {
                tensor: name.to_string(),
                problem: "is missing from the bundle".into(),
            })
        };
        let wrap = |name: &str, e: Error| Error::ModelTensor { tensor: name.to_string(), problem: e.to_string() };
        let ints = |name: &str| get(name)?.to_i64().map_err(|e| wrap(name, e));
        let floats = |name: &str| get(name)?.to_f64().map_err(|e| wrap(name, e));
        let [root, feature, threshold, decision, left, right, leaf, bounds, bits] = TREE_TENSORS.map(|(name, _)| name);
        let forest = Self {
            n_features,
            n_outputs,
            tree_root: ints(root)?,
            split_feature: ints(feature)?,
            threshold: floats(threshold)?,
            decision_type: ints(decision)?,
            left_child: ints(left)?,
            right_child: ints(right)?,
            leaf_value: floats(leaf)?,
            cat_boundaries: ints(bounds)?,
            cat_threshold: ints(bits)?,
        };
        Ok(forest)
    }

    /// Check every index and lay the forest out for traversal. Children always have larger
    /// indices than their parent and every node belongs to one tree, so every traversal ends.
    fn compile(&self) -> Result<Layout> {
        let n_nodes = self.split_feature.len();
        let n_leaves = self.leaf_value.len();
        self.check_shapes(n_nodes, n_leaves)?;
        if self.n_features >= layout::SPECIAL as usize {
            return Err(invalid(format!("reads {} features, more than kiln reads", self.n_features)));
        }
        let child = |node: usize, value: i64| -> Result<i32> {
            let ok = if value >= 0 {
                (value as usize) > node && (value as usize) < n_nodes
            } else {
                ((-value - 1) as usize) < n_leaves
            };
            if !ok {
                return Err(invalid(format!("node {node} has the child {value}, outside its tree")));
            }
            Ok(value as i32)
        };
        let n_cats = self.cat_boundaries.len().saturating_sub(1);
        let mut splits = Vec::with_capacity(n_nodes);
        for node in 0..n_nodes {
            let feature = self.split_feature[node];
            if feature < 0 || feature as usize >= self.n_features {
                return Err(invalid(format!(
                    "node {node} splits on feature {feature}, but the model reads {} features",
                    self.n_features
                )));
            }
            let kind = u8::try_from(self.decision_type[node])
                .ok()
                .filter(|k| *k < 16)
                .ok_or_else(|| invalid(format!("node {node} has the decision type {}", self.decision_type[node])))?;
            let threshold = self.threshold[node];
            let mut cat_range = (0, 0);
            if kind & layout::CATEGORICAL != 0 {
                let cat = threshold as usize;
                if threshold < 0.0 || threshold.fract() != 0.0 || cat >= n_cats {
                    return Err(invalid(format!("categorical node {node} names the split {threshold} of {n_cats}")));
                }
                let (start, end) = (self.cat_boundaries[cat] as u32, self.cat_boundaries[cat + 1] as u32);
                cat_range = (start, end - start);
            }
            splits.push(layout::Split {
                feature: feature as u32,
                threshold: floor_f32(threshold),
                kind,
                children: [child(node, self.left_child[node])?, child(node, self.right_child[node])?],
                cat_range,
            });
        }
        let roots = self.roots(n_nodes, n_leaves)?;
        let cat_bits = self.cat_threshold.iter().map(|w| *w as u32).collect();
        Layout::new(&roots, &splits, &self.leaf_value, cat_bits)
    }

    fn check_shapes(&self, n_nodes: usize, n_leaves: usize) -> Result<()> {
        let per_node = [
            ("gbdt.threshold", self.threshold.len()),
            ("gbdt.decision_type", self.decision_type.len()),
            ("gbdt.left_child", self.left_child.len()),
            ("gbdt.right_child", self.right_child.len()),
        ];
        if let Some((name, len)) = per_node.iter().find(|(_, len)| *len != n_nodes) {
            return Err(invalid(format!("has {len} values in {name} for {n_nodes} nodes")));
        }
        if self.n_outputs == 0 || self.tree_root.is_empty() || !self.tree_root.len().is_multiple_of(self.n_outputs) {
            return Err(invalid(format!(
                "has {} trees, which is not a positive multiple of its {} outputs",
                self.tree_root.len(),
                self.n_outputs
            )));
        }
        if n_nodes >= i32::MAX as usize || n_leaves >= i32::MAX as usize {
            return Err(invalid(format!("has {n_nodes} nodes and {n_leaves} leaves, more than kiln reads")));
        }
        if let Some(leaf) = self.leaf_value.iter().position(|v| !v.is_finite()) {
            return Err(invalid(format!("has the non-finite leaf value {} at leaf {leaf}", self.leaf_value[leaf])));
        }
        let bounds = &self.cat_boundaries;
        let ordered = bounds.first().is_none_or(|b| *b == 0) && bounds.windows(2).all(|w| w[0] <= w[1]);
        if !ordered || bounds.last().is_some_and(|b| *b as usize != self.cat_threshold.len()) {
            return Err(invalid("has categorical bitset boundaries that do not cover its bitsets".into()));
        }
        if self.cat_threshold.iter().any(|w| u32::try_from(*w).is_err()) {
            return Err(invalid("has a categorical bitset word outside 32 bits".into()));
        }
        Ok(())
    }

    fn roots(&self, n_nodes: usize, n_leaves: usize) -> Result<Vec<i32>> {
        self.tree_root
            .iter()
            .enumerate()
            .map(|(tree, &root)| {
                let ok = if root >= 0 { (root as usize) < n_nodes } else { ((-root - 1) as usize) < n_leaves };
                if ok { Ok(root as i32) } else { Err(invalid(format!("tree {tree} has the root {root}"))) }
            })
            .collect()
    }
}

/// The features of rows `start..start + n` of `encoded`, row-major, as LightGBM's predictor
/// reads them (values within 1e-35 of zero are zero), with NaN read as 0 when `nan_to_zero`
/// (a forest of plain numeric splits, whose nodes all read NaN as 0).
fn gather(encoded: &Encoded, start: usize, n: usize, nan_to_zero: bool, out: &mut Vec<f32>) {
    out.clear();
    let zero = |x: f32| x.abs() <= ZERO_THRESHOLD || (nan_to_zero && x.is_nan());
    for row in start..start + n {
        out.extend(encoded.feature_row(row).map(|x| if zero(x) { 0.0 } else { x }));
    }
}

/// Map raw scores to outputs in place, as LightGBM's objectives convert them (its formulas to
/// the bit, which is why this is not `model::scores`: that one takes f32 network outputs and
/// a logistic function that stays exact for large negative scores).
fn link(task: Task, n_outputs: usize, scores: &mut [f64]) {
    match task {
        Task::Regression => {}
        Task::Binary => scores.iter_mut().for_each(|s| *s = 1.0 / (1.0 + (-*s).exp())),
        Task::Multiclass => {
            for row in scores.chunks_exact_mut(n_outputs) {
                let max = row.iter().copied().fold(row[0], f64::max);
                let mut sum = 0.0;
                for s in row.iter_mut() {
                    *s = (*s - max).exp();
                    sum += *s;
                }
                row.iter_mut().for_each(|s| *s /= sum);
            }
        }
    }
}

impl Trees {
    /// A model from its preprocessor (switched to index encoding) and forest, whose width must
    /// be the preprocessor's.
    pub fn new(mut preprocessor: Preprocessor, forest: Forest) -> Result<Self> {
        preprocessor.config.encoding = Encoding::Index;
        let width = preprocessor.n_dense() + preprocessor.n_codes();
        if width != forest.n_features {
            return Err(invalid(format!("reads {} features, but its preprocessor encodes {width}", forest.n_features)));
        }
        let layout = forest.compile()?;
        Ok(Self { preprocessor, forest, layout })
    }

    /// The model stored in a bundle's `tensors`, with the bundle's preprocessor.
    pub fn from_tensors(
        mut preprocessor: Preprocessor,
        n_outputs: usize,
        tensors: &BTreeMap<String, TensorData>,
    ) -> Result<Self> {
        preprocessor.config.encoding = Encoding::Index;
        let n_features = preprocessor.n_dense() + preprocessor.n_codes();
        Self::new(preprocessor, Forest::from_tensors(n_features, n_outputs, tensors)?)
    }

    /// Values per row.
    pub fn n_outputs(&self) -> usize {
        self.forest.n_outputs
    }

    /// Scores for the rows of `columns` (every feature the preprocessor was fitted on).
    pub fn predict(&self, task: Task, columns: &[(&str, ColumnRef<'_>)]) -> Result<Vec<f64>> {
        let encoded = self.preprocessor.transform(columns)?;
        self.predict_encoded(task, &encoded)
    }

    /// Scores of rows already in the index encoding, `n_rows × n_outputs`: P(positive)
    /// (binary), class probabilities (multiclass) or values (regression). Large inputs are
    /// scored in parallel (rayon's pool); the result does not depend on the thread count.
    pub fn predict_encoded(&self, task: Task, encoded: &Encoded) -> Result<Vec<f64>> {
        let n_features = self.forest.n_features;
        if encoded.width() != n_features {
            return Err(Error::ModelInput {
                problem: format!("{} encoded columns, the trees read {n_features}", encoded.width()),
            });
        }
        let n_outputs = self.forest.n_outputs;
        let mut scores = vec![0.0; encoded.n_rows * n_outputs];
        let score_rows = |first: usize, out: &mut [f64]| {
            let mut rows = Vec::with_capacity(BLOCK * n_features);
            for (k, block) in out.chunks_mut(BLOCK * n_outputs).enumerate() {
                let n = block.len() / n_outputs;
                gather(encoded, first + k * BLOCK, n, self.layout.plain(), &mut rows);
                self.layout.add_block(&rows, n_features, n_outputs, block);
            }
        };
        if encoded.n_rows <= PAR_ROWS {
            score_rows(0, &mut scores);
        } else {
            scores
                .par_chunks_mut(PAR_ROWS * n_outputs)
                .enumerate()
                .for_each(|(k, chunk)| score_rows(k * PAR_ROWS, chunk));
        }
        link(task, n_outputs, &mut scores);
        Ok(scores)
    }
}

mod layout;
#[cfg(test)]
mod tests;

use layout::Layout;

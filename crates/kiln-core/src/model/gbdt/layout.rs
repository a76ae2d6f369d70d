//! The forest laid out for traversal: each tree's nodes contiguous in breadth-first order, its
//! leaves as nodes that lead to themselves. Eight rows walk a tree together, their positions in
//! registers: each step moves all eight one level down (a row on a leaf stays there), without a
//! branch on where each row is, until a step moves none. The eight walks are independent, so
//! the processor overlaps their memory reads; the only branch per row and step tests whether
//! the node needs LightGBM's categorical or missing-value rules, which almost never happens with
//! kiln's encoding (imputed numbers, codes).

use std::collections::VecDeque;

use super::{ZERO_THRESHOLD, invalid};
use crate::error::Result;

pub(super) const CATEGORICAL: u8 = 1;
const DEFAULT_LEFT: u8 = 2;
const MISSING_ZERO: u8 = 1;
const MISSING_NAN: u8 = 2;
/// Set in [`Node::feature`] when the node needs [`Layout::decide`]'s rules.
pub(super) const SPECIAL: u32 = 1 << 31;
/// Rows that walk a tree together.
const LANES: usize = 8;

/// A checked split of the stored forest (children as stored: node, or `!leaf`).
pub(super) struct Split {
    pub feature: u32,
    /// The largest f32 whose f64 value is at most the f64 threshold, so that `x <= threshold`
    /// in f32 decides exactly as LightGBM's f64 comparison.
    pub threshold: f32,
    /// LightGBM's decision type: bit 0 categorical, bit 1 missing goes left, bits 2-3 missing
    /// type.
    pub kind: u8,
    pub children: [i32; 2],
    /// Start and length of the categorical bitset in the forest's words.
    pub cat_range: (u32, u32),
}

/// One node as traversal reads it (16 bytes).
#[derive(Debug, Clone, Copy)]
struct Node {
    /// The feature column, with [`SPECIAL`] set when the node is not a plain numeric split.
    feature: u32,
    threshold: f32,
    /// `[left, right]` in the layout; a leaf's are its own index.
    children: [u32; 2],
}

#[derive(Debug, Clone, Copy)]
struct Tree {
    root: u32,
    /// Steps from the root to the deepest leaf.
    depth: u32,
}

/// The forest as traversal reads it.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    trees: Vec<Tree>,
    nodes: Vec<Node>,
    /// LightGBM's decision type per node (0 for leaves).
    kind: Vec<u8>,
    /// Leaf values per node (0 for internal nodes).
    value: Vec<f64>,
    cat_range: Vec<(u32, u32)>,
    cat_bits: Vec<u32>,
    /// No node needs LightGBM's categorical or missing-value rules: the walk is a plain
    /// comparison per step, given inputs whose NaNs were read as 0 ([`Layout::plain`]).
    plain: bool,
}

impl Layout {
    /// Whether every node is a plain numeric split (missing type none), so that reading a NaN
    /// input as 0 up front, as LightGBM does at such nodes, leaves no rule for the walk.
    pub(super) fn plain(&self) -> bool {
        self.plain
    }

    /// Lay out the trees at `roots` (a node, or `!leaf`); fails when a node or leaf is reached
    /// twice.
    pub(super) fn new(roots: &[i32], splits: &[Split], leaves: &[f64], cat_bits: Vec<u32>) -> Result<Self> {
        let mut layout = Self {
            trees: Vec::with_capacity(roots.len()),
            nodes: Vec::with_capacity(splits.len() + leaves.len()),
            kind: Vec::with_capacity(splits.len() + leaves.len()),
            value: Vec::with_capacity(splits.len() + leaves.len()),
            cat_range: Vec::with_capacity(splits.len() + leaves.len()),
            cat_bits,
            plain: splits.iter().all(|s| s.kind == 0),
        };
        let (mut seen_split, mut seen_leaf) = (vec![false; splits.len()], vec![false; leaves.len()]);
        for &root in roots {
            let mut tree = Tree { root: layout.nodes.len() as u32, depth: 0 };
            let mut queue = VecDeque::from([(root, 0u32, None::<(usize, usize)>)]);
            while let Some((stored, depth, parent)) = queue.pop_front() {
                let index = layout.nodes.len();
                if let Some((parent, side)) = parent {
                    layout.nodes[parent].children[side] = index as u32;
                }
                let seen =
                    if stored >= 0 { &mut seen_split[stored as usize] } else { &mut seen_leaf[!stored as usize] };
                if std::mem::replace(seen, true) {
                    return Err(invalid(format!("reaches its {} {} twice", kind_name(stored), stored.max(!stored))));
                }
                if stored >= 0 {
                    let split = &splits[stored as usize];
                    let special = if split.kind == 0 { 0 } else { SPECIAL };
                    layout.push(split.feature | special, split.threshold, split.kind, 0.0, split.cat_range);
                    for (side, child) in split.children.into_iter().enumerate() {
                        queue.push_back((child, depth + 1, Some((index, side))));
                    }
                } else {
                    layout.push(0, 0.0, 0, leaves[!stored as usize], (0, 0));
                    layout.nodes[index].children = [index as u32; 2];
                    tree.depth = tree.depth.max(depth);
                }
            }
            layout.trees.push(tree);
        }
        Ok(layout)
    }

    fn push(&mut self, feature: u32, threshold: f32, kind: u8, value: f64, cat_range: (u32, u32)) {
        self.nodes.push(Node { feature, threshold, children: [0, 0] });
        self.kind.push(kind);
        self.value.push(value);
        self.cat_range.push(cat_range);
    }

    /// LightGBM's categorical and missing-value rules: whether `x` goes right at `node`. Kept
    /// out of line, so that the walk's loop over its lanes stays small enough to unroll with
    /// the positions in registers.
    #[cold]
    #[inline(never)]
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // a NaN threshold sends every value right
    fn decide(&self, node: usize, x: f32) -> bool {
        let kind = self.kind[node];
        if kind & CATEGORICAL != 0 {
            // LightGBM truncates the value to an int; NaN and negative categories go right.
            let category = x as i32;
            if x.is_nan() || category < 0 {
                return true;
            }
            let (category, (start, len)) = (category as u32, self.cat_range[node]);
            let word = category / 32;
            return word >= len || (self.cat_bits[(start + word) as usize] >> (category % 32)) & 1 == 0;
        }
        let missing = (kind >> 2) & 3;
        let x = if x.is_nan() && missing != MISSING_NAN { 0.0 } else { x };
        let is_zero = (-ZERO_THRESHOLD..=ZERO_THRESHOLD).contains(&x);
        if (missing == MISSING_ZERO && is_zero) || (missing == MISSING_NAN && x.is_nan()) {
            return kind & DEFAULT_LEFT == 0;
        }
        !(x <= self.nodes[node].threshold)
    }

    /// Walk `N` rows (row-major features from `base[l]`) down `tree` together, with their
    /// positions in registers; returns their leaves. A step that moves no row ends the walk
    /// (every row sits on a leaf, which leads to itself).
    #[inline(always)]
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // a NaN threshold sends every value right
    fn walk<const N: usize, const PLAIN: bool>(&self, tree: Tree, rows: &[f32], base: [usize; N]) -> [u32; N] {
        let mut at = [tree.root; N];
        for _ in 0..tree.depth {
            let mut moved = false;
            for lane in 0..N {
                let node = &self.nodes[at[lane] as usize];
                let x = rows[base[lane] + (node.feature & !SPECIAL) as usize];
                let right = if PLAIN || (node.feature & SPECIAL == 0 && !x.is_nan()) {
                    !(x <= node.threshold)
                } else {
                    self.decide(at[lane] as usize, x)
                };
                let next = node.children[usize::from(right)];
                moved |= next != at[lane];
                at[lane] = next;
            }
            if !moved {
                break;
            }
        }
        at
    }

    /// Raw scores of a block of rows (`rows`: row-major features), added to `out`
    /// (`n_rows × n_outputs`) tree by tree, in tree order. Rows go down each tree `LANES` at a
    /// time, the rows past the last full group one by one.
    pub(super) fn add_block(&self, rows: &[f32], n_features: usize, n_outputs: usize, out: &mut [f64]) {
        if self.plain {
            self.add_block_with::<true>(rows, n_features, n_outputs, out);
        } else {
            self.add_block_with::<false>(rows, n_features, n_outputs, out);
        }
    }

    fn add_block_with<const PLAIN: bool>(&self, rows: &[f32], n_features: usize, n_outputs: usize, out: &mut [f64]) {
        let n_rows = out.len() / n_outputs;
        let grouped = n_rows - n_rows % LANES;
        for (index, &tree) in self.trees.iter().enumerate() {
            let output = index % n_outputs;
            for first in (0..grouped).step_by(LANES) {
                let base = std::array::from_fn(|lane| (first + lane) * n_features);
                let leaves = self.walk::<LANES, PLAIN>(tree, rows, base);
                for (lane, leaf) in leaves.iter().enumerate() {
                    out[(first + lane) * n_outputs + output] += self.value[*leaf as usize];
                }
            }
            for row in grouped..n_rows {
                let [leaf] = self.walk::<1, PLAIN>(tree, rows, [row * n_features]);
                out[row * n_outputs + output] += self.value[leaf as usize];
            }
        }
    }
}

fn kind_name(stored: i32) -> &'static str {
    if stored >= 0 { "node" } else { "leaf" }
}

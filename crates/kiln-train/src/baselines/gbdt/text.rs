//! LightGBM's text model format read into kiln's [`Forest`]: each tree's node and leaf
//! arrays are appended with their indices made global, and its categorical bitsets with
//! their boundaries shifted. Nothing is rounded: thresholds and leaf values are printed by
//! LightGBM with 17 significant digits and parsed back exactly.

use std::collections::HashMap;

use kiln_core::model::Forest;

use crate::error::{Error, Result};

fn bad(message: String) -> Error {
    Error::Gbdt { doing: "reading LightGBM's model", message }
}

/// The `key=value` lines of one section of the text.
fn fields(section: &str) -> HashMap<&str, &str> {
    section.lines().filter_map(|line| line.split_once('=')).collect()
}

fn list<T: std::str::FromStr>(tree: &HashMap<&str, &str>, key: &str, index: usize) -> Result<Vec<T>> {
    let text = tree.get(key).ok_or_else(|| bad(format!("tree {index} has no `{key}`")))?;
    text.split_whitespace().map(|v| v.parse().map_err(|_| bad(format!("tree {index} has `{v}` in `{key}`")))).collect()
}

/// The forest of a LightGBM model text with `n_features` inputs and `n_outputs` trees per
/// round (1, or the number of classes).
pub(crate) fn forest(text: &str, n_features: usize, n_outputs: usize) -> Result<Forest> {
    let body = text.split("end of trees").next().unwrap_or_default();
    let mut sections = body.split("\nTree=");
    let header = fields(sections.next().unwrap_or_default());
    let per_round: usize = header.get("num_tree_per_iteration").and_then(|v| v.parse().ok()).unwrap_or(0);
    let width: usize = header.get("max_feature_idx").and_then(|v| v.parse::<usize>().ok()).map_or(0, |m| m + 1);
    if per_round != n_outputs || width != n_features {
        return Err(bad(format!(
            "it has {per_round} trees per round over {width} features, expected {n_outputs} over {n_features}"
        )));
    }
    if let Some(objective) = header.get("objective").filter(|o| o.contains("sigmoid:") && !o.contains("sigmoid:1")) {
        return Err(bad(format!("its objective `{objective}` scales the logistic link")));
    }
    let mut forest = Forest {
        n_features,
        n_outputs,
        tree_root: Vec::new(),
        split_feature: Vec::new(),
        threshold: Vec::new(),
        decision_type: Vec::new(),
        left_child: Vec::new(),
        right_child: Vec::new(),
        leaf_value: Vec::new(),
        cat_boundaries: vec![0],
        cat_threshold: Vec::new(),
    };
    for (index, section) in sections.enumerate() {
        append(&mut forest, &fields(section), index)?;
    }
    Ok(forest)
}

/// Append one tree, its indices shifted past the trees before it.
fn append(forest: &mut Forest, tree: &HashMap<&str, &str>, index: usize) -> Result<()> {
    if tree.get("is_linear").is_some_and(|v| *v != "0") {
        return Err(bad(format!("tree {index} is a linear tree, which kiln does not read")));
    }
    let (node_base, leaf_base) = (forest.split_feature.len() as i64, forest.leaf_value.len() as i64);
    let leaves: Vec<f64> = list(tree, "leaf_value", index)?;
    let n_leaves: usize = list::<usize>(tree, "num_leaves", index)?.first().copied().unwrap_or(0);
    if leaves.len() != n_leaves || n_leaves == 0 {
        return Err(bad(format!("tree {index} has {} leaf values for {n_leaves} leaves", leaves.len())));
    }
    forest.leaf_value.extend(&leaves);
    if n_leaves == 1 {
        forest.tree_root.push(-(leaf_base + 1));
        return Ok(());
    }
    forest.tree_root.push(node_base);
    let shift = |child: i64| if child >= 0 { child + node_base } else { child - leaf_base };
    let decision: Vec<i64> = list(tree, "decision_type", index)?;
    let mut threshold: Vec<f64> = list(tree, "threshold", index)?;
    let cat_base = (forest.cat_boundaries.len() - 1) as f64;
    for (t, kind) in threshold.iter_mut().zip(&decision) {
        if kind & 1 != 0 {
            *t += cat_base;
        }
    }
    if list::<usize>(tree, "num_cat", index)?.first().is_some_and(|n| *n > 0) {
        let words = forest.cat_threshold.len() as i64;
        let bounds: Vec<i64> = list(tree, "cat_boundaries", index)?;
        forest.cat_boundaries.extend(bounds.iter().skip(1).map(|b| b + words));
        forest.cat_threshold.extend(list::<i64>(tree, "cat_threshold", index)?);
    }
    forest.split_feature.extend(list::<i64>(tree, "split_feature", index)?);
    forest.threshold.extend(threshold);
    forest.decision_type.extend(decision);
    forest.left_child.extend(list::<i64>(tree, "left_child", index)?.into_iter().map(shift));
    forest.right_child.extend(list::<i64>(tree, "right_child", index)?.into_iter().map(shift));
    Ok(())
}

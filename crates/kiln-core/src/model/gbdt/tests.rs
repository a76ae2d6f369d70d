//! Inference of kiln's trees on forests worked by hand: leaves, missing values, f32 thresholds,
//! links, parallel blocks and the checks that refuse a bad forest.

use super::*;

/// Two trees over one numeric feature and one categorical code, worked by hand:
/// tree 0 splits `x0 <= 0.5` (left: node 1, right: leaf 2), node 1 sends categories {0, 2}
/// left (leaf 0) and the rest right (leaf 1); tree 1 is the single leaf 3.
fn forest() -> Forest {
    Forest {
        n_features: 2,
        n_outputs: 1,
        tree_root: vec![0, -4],
        split_feature: vec![0, 1],
        threshold: vec![0.5, 0.0],
        decision_type: vec![0, 1],
        left_child: vec![1, -1],
        right_child: vec![-3, -2],
        leaf_value: vec![1.0, -1.0, 0.25, 0.5],
        cat_boundaries: vec![0, 1],
        cat_threshold: vec![0b101],
    }
}

fn encoded(rows: &[(f32, u32)]) -> Encoded {
    Encoded {
        n_rows: rows.len(),
        dense: rows.iter().map(|r| r.0).collect(),
        n_dense: 1,
        codes: rows.iter().map(|r| r.1).collect(),
        n_codes: 1,
    }
}

fn raw(forest: &Forest, rows: &[(f32, u32)]) -> Vec<f64> {
    let layout = forest.compile().expect("valid forest");
    let encoded = encoded(rows);
    let mut block = Vec::new();
    gather(&encoded, 0, rows.len(), layout.plain(), &mut block);
    let mut out = vec![0.0; rows.len() * forest.n_outputs];
    layout.add_block(&block, forest.n_features, forest.n_outputs, &mut out);
    out
}

#[test]
fn leaves_are_summed_as_worked_by_hand() {
    let rows = [(0.2, 0), (0.2, 1), (0.7, 2), (0.5, 2), (0.5, 40), (-3.0, 31)];
    // (0.5, 2): 0.5 <= 0.5 goes left, category 2 is in the set; category 40 lies past the
    // bitset's one word, so it goes right.
    assert_eq!(raw(&forest(), &rows), [1.5, -0.5, 0.75, 1.5, -0.5, -0.5]);
}

#[test]
fn missing_values_follow_the_node_missing_type() {
    let mut forest = forest();
    // Missing type none: NaN reads as 0.0, which is <= 0.5.
    assert_eq!(raw(&forest, &[(f32::NAN, 1)]), [-0.5]);
    // Missing type NaN (bits 2-3 = 2), default right: NaN goes right; default left: left.
    forest.decision_type[0] = 2 << 2;
    assert_eq!(raw(&forest, &[(f32::NAN, 1)]), [0.75]);
    forest.decision_type[0] = (2 << 2) | 2;
    assert_eq!(raw(&forest, &[(f32::NAN, 1), (0.7, 1)]), [-0.5, 0.75]);
    // Missing type zero (1), default right: zero and values within 1e-35 go right.
    forest.decision_type[0] = 1 << 2;
    assert_eq!(raw(&forest, &[(0.0, 1), (1e-36, 1), (0.2, 1)]), [0.75, 0.75, -0.5]);
}

#[test]
fn f32_thresholds_decide_as_the_f64_comparison() {
    for t in [0.1, -0.1, 0.5, 1.0 / 3.0, 1e-30, -7.25, 123_456.789, 3.4e38, 1e300, -1e300] {
        let floor = floor_f32(t);
        let around = [floor.next_down(), floor, floor.next_up(), floor.next_up().next_up()];
        for x in around {
            assert_eq!(f64::from(x) <= t, x <= floor, "x {x} threshold {t}");
        }
    }
    // 0.1f32 is slightly above 0.1: LightGBM's f64 comparison sends it right.
    let mut forest = forest();
    forest.threshold[0] = 0.1;
    assert_eq!(raw(&forest, &[(0.1, 0), (0.099_999_99, 0)]), [0.75, 1.5]);
}

#[test]
fn outputs_go_through_the_task_link() {
    let mut scores = vec![0.0, 2.0];
    link(Task::Binary, 1, &mut scores);
    assert_eq!(scores, [0.5, 1.0 / (1.0 + (-2.0f64).exp())]);
    let mut scores = vec![1.0, 2.0, 3.0];
    link(Task::Multiclass, 3, &mut scores);
    let e = [(-2.0f64).exp(), (-1.0f64).exp(), 1.0];
    let sum = e[0] + e[1] + e[2];
    assert_eq!(scores, [e[0] / sum, e[1] / sum, e[2] / sum]);
    let mut scores = vec![-4.5];
    link(Task::Regression, 1, &mut scores);
    assert_eq!(scores, [-4.5]);
}

#[test]
fn multiclass_trees_add_to_their_class() {
    let mut forest = forest();
    forest.n_outputs = 2;
    // Tree 0 feeds class 0, tree 1 (the leaf 0.5) class 1.
    assert_eq!(raw(&forest, &[(0.2, 0), (0.7, 1)]), [1.0, 0.5, 0.25, 0.5]);
}

#[test]
fn parallel_and_blocked_scoring_match_one_row_at_a_time() {
    let forest = forest();
    let rows: Vec<(f32, u32)> = (0..5000).map(|i| ((i % 13) as f32 / 13.0, (i % 7) as u32)).collect();
    let layout = forest.compile().expect("valid");
    let encoded = encoded(&rows);
    let preprocessor = Preprocessor {
        config: crate::preprocess::PreprocessConfig::default(),
        numeric: Vec::new(),
        categorical: Vec::new(),
        n_rows_fitted: 0,
    };
    let trees = Trees { preprocessor, forest, layout };
    let all = trees.predict_encoded(Task::Regression, &encoded).expect("scores");
    for (i, row) in rows.iter().enumerate().step_by(97) {
        assert_eq!(all[i], raw(&trees.forest, &[*row])[0], "row {i}");
    }
}

#[test]
fn bad_forests_are_refused_with_the_node() {
    let check = |edit: &dyn Fn(&mut Forest), needle: &str| {
        let mut forest = forest();
        edit(&mut forest);
        let err = forest.compile().expect_err("invalid forest").to_string();
        assert!(err.contains(needle), "{err}");
    };
    check(&|f| f.left_child[1] = 0, "node 1 has the child 0");
    check(&|f| f.right_child[0] = -9, "node 0 has the child -9");
    check(&|f| f.split_feature[0] = 2, "node 0 splits on feature 2");
    check(&|f| f.threshold[1] = 1.0, "categorical node 1");
    check(&|f| f.decision_type.pop().map(drop).unwrap_or(()), "gbdt.decision_type");
    check(&|f| f.n_outputs = 3, "2 trees");
    check(&|f| f.tree_root[1] = 7, "tree 1 has the root 7");
    check(&|f| f.leaf_value[2] = f64::INFINITY, "leaf 2");
    check(&|f| f.cat_boundaries = vec![0, 2], "bitset");
    // Tree 1 rooted at tree 0's node 1: that node would be walked by two trees.
    check(&|f| f.tree_root[1] = 1, "reaches its node 1 twice");
}

#[test]
fn tensors_round_trip() {
    let forest = forest();
    let back = Forest::from_tensors(2, 1, &forest.to_tensors()).expect("read back");
    assert_eq!(back, forest);
    let mut tensors = forest.to_tensors();
    tensors.remove("gbdt.leaf_value");
    let err = Forest::from_tensors(2, 1, &tensors).expect_err("missing tensor").to_string();
    assert!(err.contains("gbdt.leaf_value"), "{err}");
}

//! Unit tests of inference on tiny hand-built bundles whose outputs are worked out by hand in
//! the comments (f64 arithmetic; the network runs in f32, hence the 1e-6 tolerances).

use std::collections::BTreeMap;

use super::*;
use crate::bundle::{DataHashes, FORMAT_VERSION, Manifest, ReferenceDistributions, TensorData};
use crate::preprocess::{CategoricalState, NumericState, PreprocessConfig};
use crate::schema::Schema;

/// One numeric column `x` (fill 0, centre 1, scale 2: encoded `(x − 1) / 2`) and one
/// categorical column `c` of vocabulary `__other__`, `a`.
fn preprocessor(encoding: Encoding) -> Preprocessor {
    Preprocessor {
        config: PreprocessConfig { encoding, ..PreprocessConfig::default() },
        numeric: vec![NumericState { name: "x".into(), fill: 0.0, center: 1.0, scale: 2.0, indicator: false }],
        categorical: vec![CategoricalState {
            name: "c".into(),
            vocabulary: vec!["__other__".into(), "a".into()],
            counts: vec![5, 10],
            missing_seen: false,
            lookup: Default::default(),
        }],
        n_rows_fitted: 15,
    }
}

fn bundle(task: Task, architecture: Architecture, tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Bundle {
    let manifest = Manifest {
        format_version: FORMAT_VERSION.into(),
        task,
        schema: Schema { task, columns: vec![], target: "y".into(), classes: classes(task, &architecture) },
        preprocessor: preprocessor(Encoding::OneHot),
        architecture,
        hyperparameters: serde_json::Value::Null,
        data: DataHashes { data_hash: "d".into(), schema_hash: "s".into(), split_hash: "p".into() },
        metrics: BTreeMap::new(),
        reference: ReferenceDistributions::default(),
        git_commit: None,
        git_dirty: false,
        kiln_version: "test".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        device: "cpu".into(),
        decision_threshold: (task == Task::Binary).then_some(0.5),
    };
    let tensors = tensors
        .iter()
        .map(|(name, shape, values)| (name.to_string(), TensorData::from_f32(shape.clone(), values)))
        .collect();
    Bundle::new(manifest, tensors)
}

/// Classes that fit the task and the architecture's outputs: two for binary, one per output
/// for multiclass.
fn classes(task: Task, architecture: &Architecture) -> Vec<String> {
    let n = match (task, architecture) {
        (Task::Binary, _) => 2,
        (Task::Multiclass, Architecture::Prior { values }) => values.len(),
        (Task::Multiclass, Architecture::Linear { n_outputs, .. } | Architecture::Mlp { n_outputs, .. }) => *n_outputs,
        (Task::Multiclass, Architecture::ResNet { n_outputs, .. } | Architecture::Gbdt { n_outputs, .. }) => *n_outputs,
        _ => 0,
    };
    (0..n).map(|k| format!("class{k}")).collect()
}

/// Rows: (x = 3, c = a) and (x missing, c = unseen `zzz`).
fn rows<R>(f: impl FnOnce(&[(&str, ColumnRef<'_>)]) -> R) -> R {
    let x = [Some(3.0), None];
    let c = [Some("a"), Some("zzz")];
    f(&[("c", ColumnRef::Categorical(&c)), ("x", ColumnRef::Numeric(&x)), ("unused", ColumnRef::Numeric(&x))])
}

fn close(found: &[f64], expected: &[f64]) {
    assert_eq!(found.len(), expected.len(), "{found:?} vs {expected:?}");
    for (f, e) in found.iter().zip(expected) {
        assert!((f - e).abs() < 1e-6, "{found:?} vs {expected:?}");
    }
}

fn linear() -> Bundle {
    // Dense inputs [(x − 1) / 2, c=__other__, c=a].
    let tensors = [("linear.weight", vec![1, 3], vec![0.5, 1.0, -1.0]), ("linear.bias", vec![1], vec![0.25])];
    bundle(Task::Binary, Architecture::Linear { n_inputs: 3, n_outputs: 1 }, &tensors)
}

#[test]
fn linear_binary_by_hand() {
    let model = Model::from_bundle(&linear()).expect("model");
    assert_eq!((model.kind(), model.n_outputs(), model.task()), ("linear", 1, Task::Binary));
    // Row 0: [1, 0, 1] → 0.5 − 1 + 0.25 = −0.25. Row 1: x filled with 0 → −0.5, `zzz` is
    // __other__: [−0.5, 1, 0] → −0.25 + 1 + 0.25 = 1.
    let scores = rows(|columns| model.predict(columns)).expect("predict");
    close(&scores, &[1.0 / (1.0 + 0.25f64.exp()), 1.0 / (1.0 + (-1.0f64).exp())]);
    assert_eq!(model.input_columns(), [("x", true), ("c", false)]);
}

#[test]
fn batch_norm_mlp_regression_by_hand() {
    let architecture = Architecture::Mlp {
        n_inputs: 3,
        hidden: vec![2],
        n_outputs: 1,
        activation: "relu".into(),
        norm: Some("batch_norm".into()),
        residual: false,
    };
    let tensors = [
        ("mlp.layers.0.weight", vec![2, 3], vec![1.0, 0.0, 0.0, -1.0, 0.0, 2.0]),
        ("mlp.layers.0.bias", vec![2], vec![0.0, 0.5]),
        ("mlp.norms.0.weight", vec![2], vec![1.0, 2.0]),
        ("mlp.norms.0.bias", vec![2], vec![0.0, 0.5]),
        ("mlp.norms.0.running_mean", vec![2], vec![0.5, 0.0]),
        ("mlp.norms.0.running_var", vec![2], vec![3.0, 1.0]),
        ("mlp.layers.1.weight", vec![1, 2], vec![2.0, 3.0]),
        ("mlp.layers.1.bias", vec![1], vec![1.0]),
    ];
    let model = Model::from_bundle(&bundle(Task::Regression, architecture, &tensors)).expect("model");
    let (s0, s1) = ((3.0f64 + 1e-5).sqrt(), (1.0f64 + 1e-5).sqrt());
    // Row 0, inputs [1, 0, 1]: z = [1, −1 + 2 + 0.5 = 1.5]; normed [(1 − 0.5)/s0, 1.5/s1 · 2 + 0.5].
    let row0 = 2.0 * (0.5 / s0) + 3.0 * (1.5 / s1 * 2.0 + 0.5) + 1.0;
    // Row 1, inputs [−0.5, 1, 0]: z = [−0.5, 0.5 + 0.5 = 1]; normed [−1/s0 → ReLU 0, 1/s1 · 2 + 0.5].
    let row1 = 3.0 * (1.0 / s1 * 2.0 + 0.5) + 1.0;
    close(&rows(|columns| model.predict(columns)).expect("predict"), &[row0, row1]);
}

/// Layer norm of `v` (population variance, epsilon 1e-5) with unit scale and no shift.
fn layer_norm(v: &[f64]) -> Vec<f64> {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / v.len() as f64;
    v.iter().map(|x| (x - mean) / (var + 1e-5).sqrt()).collect()
}

#[test]
fn embedding_resnet_multiclass_by_hand() {
    let architecture = Architecture::ResNet {
        n_inputs: 1,
        cardinalities: vec![2],
        d_embedding: 1,
        d_model: 2,
        d_hidden: 1,
        n_blocks: 1,
        n_outputs: 2,
        activation: "relu".into(),
        norm: "layer_norm".into(),
    };
    let tensors = [
        // Code 0 (__other__) embeds as −1, code 1 (`a`) as 2.
        ("resnet.embeddings.0", vec![2, 1], vec![-1.0, 2.0]),
        // Input layer over [x, embedding]: stream = [x + e, x − e + 1].
        ("resnet.input.weight", vec![2, 2], vec![1.0, 1.0, 1.0, -1.0]),
        ("resnet.input.bias", vec![2], vec![0.0, 1.0]),
        ("resnet.blocks.0.norm.weight", vec![2], vec![1.0, 1.0]),
        ("resnet.blocks.0.norm.bias", vec![2], vec![0.0, 0.0]),
        ("resnet.blocks.0.linear1.weight", vec![1, 2], vec![1.0, 0.0]),
        ("resnet.blocks.0.linear1.bias", vec![1], vec![0.5]),
        ("resnet.blocks.0.linear2.weight", vec![2, 1], vec![1.0, -1.0]),
        ("resnet.blocks.0.linear2.bias", vec![2], vec![0.0, 0.0]),
        ("resnet.head_norm.weight", vec![2], vec![1.0, 1.0]),
        ("resnet.head_norm.bias", vec![2], vec![0.0, 0.0]),
        ("resnet.head.weight", vec![2, 2], vec![1.0, 0.0, 0.0, 2.0]),
        ("resnet.head.bias", vec![2], vec![0.0, 0.5]),
    ];
    let model = Model::from_bundle(&bundle(Task::Multiclass, architecture, &tensors)).expect("model");
    let expected = |x: f64, e: f64| {
        let stream = [x + e, x - e + 1.0];
        let h = (layer_norm(&stream)[0] + 0.5).max(0.0);
        let stream = [stream[0] + h, stream[1] - h];
        let a: Vec<f64> = layer_norm(&stream).into_iter().map(|v| v.max(0.0)).collect();
        let logits = [a[0], 2.0 * a[1] + 0.5];
        let max = logits[0].max(logits[1]);
        let sum: f64 = logits.iter().map(|l| (l - max).exp()).sum();
        logits.map(|l| (l - max).exp() / sum)
    };
    // Row 0: x encodes as 1, `a` is code 1; row 1: x missing → −0.5, `zzz` is code 0.
    let want: Vec<f64> = expected(1.0, 2.0).into_iter().chain(expected(-0.5, -1.0)).collect();
    close(&rows(|columns| model.predict(columns)).expect("predict"), &want);
}

#[test]
fn prior_repeats_its_row() {
    let model = Model::from_bundle(&bundle(Task::Multiclass, Architecture::Prior { values: vec![0.2, 0.8] }, &[]))
        .expect("model");
    assert_eq!(rows(|columns| model.predict(columns)).expect("predict"), [0.2, 0.8, 0.2, 0.8]);
    assert!(model.input_columns().is_empty());
}

#[test]
fn rules_first_match_and_missing_values() {
    let rules = serde_json::json!({
        "format": "kiln.rules.v1",
        "task": "binary",
        "rules": {
            "rules": [
                { "when": [{ "column": "x", "test": { "ge": 3.0 } }, { "column": "c", "test": { "category_ne": "b" } }], "score": 0.9, "label": null },
                { "when": [{ "column": "x", "test": { "missing": { "missing": true, "numeric": true } } }], "score": 0.5, "label": null },
                { "when": [{ "column": "c", "test": { "not_in": ["a"] } }], "score": 0.2, "label": null }
            ],
            "default_score": 0.05,
            "default_label": null
        }
    });
    let model = Model::from_bundle(&bundle(Task::Binary, Architecture::Rules { rules }, &[])).expect("model");
    assert_eq!(model.input_columns(), [("x", true), ("c", false)]);
    let x = [Some(3.0), None, Some(f64::NAN), Some(1.0), Some(5.0)];
    let c = [Some("a"), Some("a"), None, Some("b"), None];
    let columns = [("x", ColumnRef::Numeric(&x)), ("c", ColumnRef::Categorical(&c))];
    // Row 2: NaN is missing (rule 1). Row 3: `b` is not in [a] (rule 2). Row 4: a missing
    // category never satisfies `!=` nor `not_in`: the default.
    assert_eq!(model.predict(&columns).expect("predict"), [0.9, 0.5, 0.5, 0.2, 0.05]);
    let wrong_kind = [("x", ColumnRef::Categorical(&c)), ("c", ColumnRef::Categorical(&c))];
    let err = model.predict(&wrong_kind).expect_err("x must be numeric");
    assert_eq!(err.to_string(), "column `x` must be numeric");
    let err = model.predict(&columns[1..]).expect_err("x is missing");
    assert_eq!(err.to_string(), "column `x` is missing from the input");
}

#[test]
fn bad_tensors_are_errors_that_name_them() {
    let mut truncated = linear();
    truncated.tensors.get_mut("linear.weight").expect("weight").bytes.truncate(5);
    let err = Model::from_bundle(&truncated).expect_err("truncated");
    assert!(
        err.to_string().starts_with("model tensor `linear.weight` holds 5 bytes, but shape [1, 3] needs 12"),
        "{err}"
    );

    let mut reshaped = linear();
    reshaped.tensors.insert("linear.weight".into(), TensorData::from_f32(vec![3, 1], &[0.5, 1.0, -1.0]));
    let err = Model::from_bundle(&reshaped).expect_err("shape");
    assert!(err.to_string().starts_with("model tensor `linear.weight` has shape [3, 1], expected [1, 3]"), "{err}");

    let mut missing = linear();
    missing.tensors.remove("linear.bias");
    let err = Model::from_bundle(&missing).expect_err("missing");
    assert!(err.to_string().starts_with("model tensor `linear.bias` is missing from the bundle"), "{err}");

    let mut bytes = linear();
    bytes.tensors.insert("linear.bias".into(), TensorData::from_bytes(vec![0; 4]));
    assert!(Model::from_bundle(&bytes).expect_err("dtype").to_string().contains("holds U8 values, expected F32"));

    let wide = bundle(
        Task::Binary,
        Architecture::Linear { n_inputs: 4, n_outputs: 1 },
        &[("linear.weight", vec![1, 4], vec![0.0; 4]), ("linear.bias", vec![1], vec![0.0])],
    );
    let err = Model::from_bundle(&wide).expect_err("width");
    assert_eq!(
        err.to_string(),
        "the bundle's linear model reads 4 dense inputs, but the bundle's preprocessor gives 3"
    );

    let gelu = Architecture::Mlp {
        n_inputs: 3,
        hidden: vec![],
        n_outputs: 1,
        activation: "swish2".into(),
        norm: None,
        residual: false,
    };
    let err = Model::from_bundle(&bundle(Task::Binary, gelu, &[])).expect_err("activation");
    assert_eq!(err.to_string(), "the bundle's mlp model has an unknown activation `swish2`");

    // A bundle of a kiln that stored the library's own format (no `format` in its manifest).
    let arch = Architecture::Gbdt { library: "perpetual".into(), n_outputs: 1, format: String::new() };
    let mut gbdt = bundle(Task::Binary, arch, &[]);
    gbdt.tensors.insert("gbdt.model".into(), TensorData::from_bytes(b"{\"format\": \"kiln.gbdt.v1\"".to_vec()));
    let err = Model::from_bundle(&gbdt).expect_err("old trees").to_string();
    assert!(err.contains("no longer reads") && err.contains("export the model again"), "{err}");
}

#[test]
fn network_input_is_checked() {
    let model = Model::from_bundle(&linear()).expect("model");
    let x = [Some(1.0)];
    let err = model.predict(&[("x", ColumnRef::Numeric(&x))]).expect_err("c is missing");
    assert_eq!(err.to_string(), "column `c` is missing from the input");
    let c = [Some("a"), Some("a")];
    let err = model.predict(&[("x", ColumnRef::Numeric(&x)), ("c", ColumnRef::Categorical(&c))]).expect_err("length");
    assert_eq!(err.to_string(), "column `c` has 2 rows, expected 1");
}

/// A ResNet (16 wide, hidden 32) with weights drawn from kiln's generator.
fn random_resnet() -> Bundle {
    let architecture = Architecture::ResNet {
        n_inputs: 1,
        cardinalities: vec![2],
        d_embedding: 3,
        d_model: 16,
        d_hidden: 32,
        n_blocks: 2,
        n_outputs: 1,
        activation: "relu".into(),
        norm: "layer_norm".into(),
    };
    let mut rng = crate::rng::Rng::new(11);
    let mut tensor = |name: String, shape: Vec<usize>| {
        let values: Vec<f32> = (0..shape.iter().product()).map(|_| (rng.uniform() - 0.5) as f32).collect();
        (name, shape, values)
    };
    let mut tensors =
        vec![tensor("resnet.embeddings.0".into(), vec![2, 3]), tensor("resnet.input.weight".into(), vec![16, 4])];
    tensors.push(tensor("resnet.input.bias".into(), vec![16]));
    for block in 0..2 {
        let name = |part: &str| format!("resnet.blocks.{block}.{part}");
        tensors.push(tensor(name("norm.weight"), vec![16]));
        tensors.push(tensor(name("norm.bias"), vec![16]));
        tensors.push(tensor(name("linear1.weight"), vec![32, 16]));
        tensors.push(tensor(name("linear1.bias"), vec![32]));
        tensors.push(tensor(name("linear2.weight"), vec![16, 32]));
        tensors.push(tensor(name("linear2.bias"), vec![16]));
    }
    for (name, shape) in [("head_norm.weight", vec![16]), ("head_norm.bias", vec![16]), ("head.weight", vec![1, 16])] {
        tensors.push(tensor(format!("resnet.{name}"), shape));
    }
    tensors.push(tensor("resnet.head.bias".into(), vec![1]));
    let tensors: Vec<(&str, Vec<usize>, Vec<f32>)> =
        tensors.iter().map(|(n, s, v)| (n.as_str(), s.clone(), v.clone())).collect();
    bundle(Task::Binary, architecture, &tensors)
}

#[test]
fn rows_score_the_same_on_the_calling_thread_and_among_parallel_blocks() {
    let model = Model::from_bundle(&random_resnet()).expect("model");
    let n = 2 * BATCH + 300;
    let x: Vec<Option<f64>> = (0..n).map(|i| Some((i % 97) as f64 * 0.1 - 3.0)).collect();
    let c: Vec<Option<&str>> = (0..n).map(|i| Some(if i % 3 == 0 { "a" } else { "b" })).collect();
    let score = |range: std::ops::Range<usize>| {
        let columns = [("x", ColumnRef::Numeric(&x[range.clone()])), ("c", ColumnRef::Categorical(&c[range]))];
        model.predict(&columns).expect("predict").iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    };
    // Three blocks shared out over rayon's threads, against each block scored alone.
    let all = score(0..n);
    let blocks: Vec<u64> = [0..BATCH, BATCH..2 * BATCH, 2 * BATCH..n].into_iter().flat_map(score).collect();
    assert_eq!(all, blocks);
    assert_eq!(&all[..BATCH - 24], &score(0..BATCH - 24)[..], "a shorter block");
    // A row alone, and a last block of one row, score as within a block.
    for row in [0, 1, 2, BATCH - 1, BATCH, n - 1] {
        assert_eq!(all[row], score(row..row + 1)[0], "row {row} alone");
    }
    assert_eq!(&all[..BATCH + 1], &score(0..BATCH + 1)[..], "a last block of one row");
    // Windows at odd offsets (as requests batched by a server cut them): the same bits.
    for window in [7..988, 1000..2200, 3..4, 33..98] {
        assert_eq!(&all[window.clone()], &score(window.clone())[..], "rows {window:?}");
    }
}

/// A binary prior bundle with the given classes and decision threshold.
fn binary_prior(classes: Vec<String>, threshold: Option<f64>) -> Bundle {
    let mut bundle = bundle(Task::Binary, Architecture::Prior { values: vec![0.4] }, &[]);
    bundle.manifest.schema.classes = classes;
    bundle.manifest.decision_threshold = threshold;
    bundle
}

#[test]
fn labels_follow_the_bundle_threshold_and_ids_pass_through() {
    use crate::columns::{Batch, Values};
    let mut bundle = binary_prior(vec!["no".into(), "yes".into()], Some(0.3));
    bundle.manifest.schema.columns = vec![crate::schema::Column {
        name: "key".into(),
        dtype: crate::schema::DType::Int,
        role: crate::schema::Role::Id,
        segment: false,
        protected: false,
        pii: false,
    }];
    let model = Model::from_bundle(&bundle).expect("model");
    assert_eq!(model.outputs().threshold().expect("threshold"), 0.3);
    let batch = Batch::new(vec![("key".into(), Values::Int(vec![Some(7), Some(9), Some(11)]))]);
    // By hand: 0.29 < 0.3 is `no`, 0.3 and 0.4 are at least 0.3: `yes`.
    let out = model.outputs().assemble(&batch, &[0.29, 0.3, 0.4]).expect("assemble");
    let names: Vec<&str> = out.names().collect();
    assert_eq!(names, ["key", "p_yes", "predicted"]);
    assert_eq!(out.get("key"), Some(&Values::Int(vec![Some(7), Some(9), Some(11)])));
    assert_eq!(out.get("p_yes"), Some(&Values::Float(vec![Some(0.29), Some(0.3), Some(0.4)])));
    let labels = Values::Text(vec![Some("no".into()), Some("yes".into()), Some("yes".into())]);
    assert_eq!(out.get("predicted"), Some(&labels));
    // Through the model: the prior's 0.4 clears 0.3, and would not clear 0.5.
    let out = model.predict_columns(&batch).expect("predict");
    assert_eq!(out.get("predicted"), Some(&Values::Text(vec![Some("yes".into()); 3])));
    let model = Model::from_bundle(&binary_prior(vec!["no".into(), "yes".into()], Some(0.5))).expect("model");
    let out = model.predict_columns(&batch).expect("predict");
    assert_eq!(out.get("predicted"), Some(&Values::Text(vec![Some("no".into()); 3])));
}

#[test]
fn multiclass_and_regression_outputs() {
    use crate::columns::{Batch, Values};
    let batch = Batch::new(vec![("x".into(), Values::Float(vec![Some(1.0), Some(2.0)]))]);
    let prior = bundle(Task::Multiclass, Architecture::Prior { values: vec![0.2, 0.5, 0.3] }, &[]);
    let model = Model::from_bundle(&prior).expect("model");
    // Row 1 ties classes 0 and 2: the first wins.
    let out = model.outputs().assemble(&batch, &[0.2, 0.5, 0.3, 0.4, 0.2, 0.4]).expect("assemble");
    let names: Vec<&str> = out.names().collect();
    assert_eq!(names, ["p_class0", "p_class1", "p_class2", "predicted"]);
    assert_eq!(out.get("p_class2"), Some(&Values::Float(vec![Some(0.3), Some(0.4)])));
    let labels = Values::Text(vec![Some("class1".into()), Some("class0".into())]);
    assert_eq!(out.get("predicted"), Some(&labels));
    let err = model.outputs().assemble(&batch, &[0.2, 0.5]).expect_err("short scores");
    assert!(matches!(err, Error::LengthMismatch { expected: 6, found: 2, .. }), "{err:?}");

    let mean = bundle(Task::Regression, Architecture::Prior { values: vec![2.5] }, &[]);
    let out = Model::from_bundle(&mean).expect("model").predict_columns(&batch).expect("predict");
    assert_eq!(out.columns, [("predicted".to_string(), Values::Float(vec![Some(2.5), Some(2.5)]))]);
}

#[test]
fn an_inconsistent_bundle_is_a_typed_error_at_load() {
    // Three outputs per row for a two-class multiclass schema.
    let mut three = bundle(Task::Multiclass, Architecture::Prior { values: vec![0.2, 0.5, 0.3] }, &[]);
    three.manifest.schema.classes.pop();
    let err = Model::from_bundle(&three).expect_err("three outputs, two classes");
    assert!(
        matches!(
            err,
            Error::OutputsMismatch { architecture: "prior", task: Task::Multiclass, n_outputs: 3, n_classes: 2 }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("export the model again"), "{err}");
    // A binary schema needs two classes.
    let err = Model::from_bundle(&binary_prior(vec!["yes".into()], Some(0.5))).expect_err("one class");
    assert!(matches!(err, Error::OutputsMismatch { n_outputs: 1, n_classes: 1, .. }), "{err:?}");
    // The threshold must lie strictly between 0 and 1.
    let err = Model::from_bundle(&binary_prior(vec!["no".into(), "yes".into()], Some(1.0))).expect_err("threshold");
    assert!(matches!(err, Error::InvalidDecisionThreshold { value } if value == 1.0), "{err:?}");
}

#[test]
fn a_binary_bundle_without_a_threshold_scores_but_refuses_labels() {
    use crate::columns::{Batch, Values};
    let model = Model::from_bundle(&binary_prior(vec!["no".into(), "yes".into()], None)).expect("model");
    let batch = Batch::new(vec![("x".into(), Values::Float(vec![Some(1.0)]))]);
    assert_eq!(model.predict_batch(&batch).expect("scores"), [0.4]);
    let err = model.predict_columns(&batch).expect_err("no threshold");
    assert!(matches!(err, Error::NoDecisionThreshold), "{err:?}");
    assert!(err.to_string().contains("export the model again"), "{err}");
}

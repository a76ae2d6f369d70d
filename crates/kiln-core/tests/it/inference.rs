//! Inference through a real bundle file with kiln-core alone: a hand-built linear model
//! written, read back, rebuilt by `Model::from_bundle` and scoring raw columns, with the
//! outputs worked out by hand.

use std::collections::BTreeMap;

use kiln_core::bundle::{Architecture, Bundle, TensorData};
use kiln_core::model::Model;
use kiln_core::preprocess::ColumnRef;
use kiln_core::schema::Task;

use crate::common::manifest;

#[test]
fn hand_built_linear_bundle_scores_raw_rows_after_a_file_round_trip() {
    // The fixture's preprocessor encodes [age, hours, age__missing, city=__other__, city=a,
    // city=__missing__, city=b] (`b` and `__missing__` each seen once, ordered by name). Only
    // the indicator and one-hot columns carry weight, so the outputs need no scaling.
    let architecture = Architecture::Linear { n_inputs: 7, n_outputs: 1 };
    let m = manifest(Task::Regression, architecture);
    assert_eq!(
        m.preprocessor.dense_names()[2..],
        ["age__missing", "city=__other__", "city=a", "city=__missing__", "city=b"]
    );
    let tensors = BTreeMap::from([
        ("linear.weight".to_string(), TensorData::from_f32(vec![1, 7], &[0.0, 0.0, 1.0, 0.5, 1.0, 2.0, -1.0])),
        ("linear.bias".to_string(), TensorData::from_f32(vec![1], &[0.25])),
    ]);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("linear.safetensors");
    Bundle::new(m, tensors).write(&path).expect("write");
    let model = Model::from_bundle(&Bundle::read(&path).expect("read")).expect("model");
    assert_eq!((model.kind(), model.task(), model.n_outputs()), ("linear", Task::Regression, 1));

    let age = [None, Some(40.0), Some(30.0)];
    let hours = [Some(1.0), Some(40.0), None];
    let city = [Some("b"), None, Some("never seen")];
    let columns = [
        ("city", ColumnRef::Categorical(&city)),
        ("hours", ColumnRef::Numeric(&hours)),
        ("age", ColumnRef::Numeric(&age)),
    ];
    // Row 0: age missing (1) + b (−1) + 0.25; row 1: a missing city is `__missing__` (2) + 0.25;
    // row 2: an unseen city is `__other__` (0.5) + 0.25.
    assert_eq!(model.predict(&columns).expect("predict"), [0.25, 2.25, 0.75]);
}

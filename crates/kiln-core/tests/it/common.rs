//! Fixtures shared by the integration tests: a small fitted preprocessor, a manifest for any
//! architecture and tensors that satisfy it.

use std::collections::BTreeMap;
use std::path::Path;

use kiln_core::bundle::{
    Architecture, Bundle, DataHashes, FORMAT_VERSION, KILN_VERSION, Manifest, ReferenceDistributions, TensorData,
    TensorDtype,
};
use kiln_core::preprocess::{ColumnRef, PreprocessConfig, Preprocessor};
use kiln_core::schema::{Column, DType, Role, Schema, Task};

/// Training columns: two numeric features (one with a missing value) and one categorical.
pub(crate) fn fit_preprocessor() -> (Preprocessor, ReferenceDistributions) {
    let age = [Some(20.0), Some(30.0), None, Some(50.0)];
    let hours = [Some(40.0), Some(40.0), Some(10.0), Some(30.0)];
    let city = [Some("a"), Some("b"), Some("a"), None];
    let columns = [
        ("age", ColumnRef::Numeric(&age)),
        ("hours", ColumnRef::Numeric(&hours)),
        ("city", ColumnRef::Categorical(&city)),
    ];
    let config = PreprocessConfig { min_frequency: 1, ..PreprocessConfig::default() };
    let preprocessor = Preprocessor::fit(&config, &columns).expect("fit preprocessor");
    let reference = ReferenceDistributions::fit(&preprocessor, &columns).expect("fit reference");
    (preprocessor, reference)
}

fn column(name: &str, dtype: DType, role: Role) -> Column {
    Column { name: name.into(), dtype, role, segment: false, protected: false, pii: false }
}

pub(crate) fn manifest(task: Task, architecture: Architecture) -> Manifest {
    let (preprocessor, reference) = fit_preprocessor();
    let classes = match task {
        Task::Binary => vec!["no".to_string(), "yes".to_string()],
        Task::Multiclass => vec!["x".to_string(), "y".to_string(), "z".to_string()],
        Task::Regression => vec![],
    };
    let schema = Schema {
        task,
        columns: vec![
            column("age", DType::Float, Role::Numeric),
            column("hours", DType::Int, Role::Numeric),
            column("city", DType::String, Role::Categorical),
            column("label", DType::String, Role::Target),
        ],
        target: "label".into(),
        classes,
    };
    let schema_hash = schema.hash();
    Manifest {
        format_version: FORMAT_VERSION.into(),
        task,
        schema,
        preprocessor,
        architecture,
        hyperparameters: serde_json::json!({"learning_rate": 0.01, "epochs": 2, "optimizer": {"kind": "adamw"}}),
        data: DataHashes { data_hash: "a".repeat(64), schema_hash, split_hash: "c".repeat(64) },
        metrics: BTreeMap::from([("accuracy".to_string(), 0.875), ("log_loss".to_string(), 0.3125)]),
        reference,
        git_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        git_dirty: true,
        kiln_version: KILN_VERSION.into(),
        created_at: "2025-06-01T12:00:00Z".into(),
        device: "cpu".into(),
        decision_threshold: (task == Task::Binary).then_some(0.5),
    }
}

/// One of each architecture variant, with small sizes.
pub(crate) fn all_architectures() -> Vec<Architecture> {
    vec![
        Architecture::Prior { values: vec![0.75, 0.25] },
        Architecture::Rules { rules: serde_json::json!([{"if": {"age": {"gt": 40}}, "then": 1}]) },
        Architecture::Linear { n_inputs: 7, n_outputs: 1 },
        Architecture::Mlp {
            n_inputs: 7,
            hidden: vec![4, 3],
            n_outputs: 1,
            activation: "relu".into(),
            norm: Some("layer_norm".into()),
            residual: true,
        },
        Architecture::ResNet {
            n_inputs: 3,
            cardinalities: vec![3],
            d_embedding: 2,
            d_model: 4,
            d_hidden: 8,
            n_blocks: 2,
            n_outputs: 1,
            activation: "relu".into(),
            norm: "batch_norm".into(),
        },
        Architecture::FtTransformer {
            n_numeric: 3,
            cardinalities: vec![3],
            d_model: 4,
            n_blocks: 1,
            n_heads: 2,
            d_ffn: 8,
            n_outputs: 1,
            activation: "reglu".into(),
        },
        Architecture::Gbdt { library: "lightgbm".into(), n_outputs: 1, format: "kiln.trees.v1".into() },
    ]
}

/// Tensors for every tensor the manifest's architecture requires (any-size dimensions get 5),
/// filled with distinct values.
pub(crate) fn model_tensors(architecture: &Architecture) -> BTreeMap<String, TensorData> {
    let mut tensors = BTreeMap::new();
    for (i, spec) in architecture.required_tensors().into_iter().enumerate() {
        let shape: Vec<usize> = spec.shape.iter().map(|d| d.unwrap_or(5)).collect();
        let n: usize = shape.iter().product();
        let tensor = match spec.dtype {
            TensorDtype::F32 => {
                let values: Vec<f32> = (0..n).map(|j| (i * 100 + j) as f32 * 0.125 - 3.0).collect();
                TensorData::from_f32(shape, &values)
            }
            TensorDtype::U8 => TensorData::from_bytes(b"tree\n".iter().copied().cycle().take(n).collect()),
            TensorDtype::I64 => TensorData::from_i64(shape, &(0..n as i64).collect::<Vec<_>>()),
            TensorDtype::F64 => TensorData::from_f64(shape, &(0..n).map(|j| j as f64 * 0.5).collect::<Vec<_>>()),
        };
        tensors.insert(spec.name, tensor);
    }
    tensors
}

pub(crate) fn bundle(architecture: Architecture) -> Bundle {
    let tensors = model_tensors(&architecture);
    Bundle::new(manifest(Task::Binary, architecture), tensors)
}

pub(crate) fn linear_bundle() -> Bundle {
    bundle(Architecture::Linear { n_inputs: 7, n_outputs: 1 })
}

/// Names of the files in `dir`, sorted.
pub(crate) fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

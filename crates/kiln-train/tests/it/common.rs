//! Shared helpers: the shipped Adult data, a fitted model through a real bundle file, small
//! hand-made frames, schemas.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_core::bundle::{Bundle, DataHashes, FORMAT_VERSION, Manifest, ReferenceDistributions};

use kiln_core::preprocess::{PreprocessConfig, Preprocessor};
use kiln_core::schema::{Column, DType, Role, Schema, Task};
use kiln_data::load::{Source, load};
use kiln_data::plan::DataPlan;
use kiln_data::split::{Part, assign};
use kiln_train::config::PlannedModel;
use kiln_train::nn::TrainReport;
use kiln_train::predictions::Predictions;
use kiln_train::session::{TrainingData, fit_model};
use kiln_train::trained::TrainedModel;
use polars::prelude::DataFrame;

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Adult as the shipped config splits it: the training and validation parts of adult.data,
/// adult.test, and
/// the preprocessor fitted on the training part.
pub(crate) struct Adult {
    pub(crate) plan: DataPlan,
    pub(crate) train: DataFrame,
    /// The validation part carved from adult.data.
    pub(crate) valid: DataFrame,
    pub(crate) test: DataFrame,
    pub(crate) schema: Schema,
    pub(crate) preprocessor: Preprocessor,
}

pub(crate) fn adult() -> Adult {
    let path = repo().join("configs/adult.toml");
    let text = std::fs::read_to_string(&path).expect("configs/adult.toml is shipped");
    let plan = DataPlan::from_toml(&path, &text).expect("configs/adult.toml is valid");
    let train_file = load(&plan, Source::Train, 5).expect("adult.data loads");
    let test_file = load(&plan, Source::Test, 5).expect("adult.test loads");
    let split = assign(&plan.split, plan.split_seed, &train_file, test_file.n_rows()).expect("split");
    let train = split.select(&train_file.df, Part::Train).expect("train part");
    let valid = split.select(&train_file.df, Part::Validation).expect("validation part");
    let preprocessor =
        kiln_data::fit::fit_preprocessor(&plan.preprocess, &train, &train_file.schema).expect("preprocessor");
    Adult { schema: train_file.schema, plan, train, valid, test: test_file.df, preprocessor }
}

/// A model fitted on Adult as the binary fits it, and its bundle after a round trip through a
/// file (the run's preprocessor in the manifest).
pub(crate) struct Reloaded {
    pub(crate) model: TrainedModel,
    pub(crate) report: Option<TrainReport>,
    /// The model's predictions of adult.test before the round trip.
    pub(crate) predictions: Predictions,
    pub(crate) bundle: Bundle,
}

/// Fit `planned` (seed 42), predict adult.test, write the bundle to a temporary file named
/// after `tag` and the model, and read it back.
pub(crate) fn fit_and_reload(data: &Adult, planned: &PlannedModel, tag: &str) -> Reloaded {
    let (model, report, _) = fit_model(
        planned,
        &TrainingData {
            schema: &data.schema,
            preprocessor: &data.preprocessor,
            train: &data.train,
            valid: &data.valid,
            seed: 42,
        },
        None,
        &mut |_: &kiln_train::nn::EpochStats| {},
    )
    .expect("fit");
    let predictions = model.predict(&data.test).expect("predict");
    let (architecture, tensors) = model.to_bundle_parts(predictions.n_outputs).expect("bundle parts");
    let manifest = Manifest {
        format_version: FORMAT_VERSION.into(),
        task: data.schema.task,
        schema: data.schema.clone(),
        preprocessor: data.preprocessor.clone(),
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
        decision_threshold: (data.schema.task == kiln_core::schema::Task::Binary).then_some(0.5),
    };
    let name = &planned.name;
    let path = std::env::temp_dir().join(format!("kiln-{tag}-{}-{name}.safetensors", std::process::id()));
    Bundle::new(manifest, tensors).write(&path).expect("write");
    let read = Bundle::read(&path);
    std::fs::remove_file(&path).ok();
    Reloaded { model, report, predictions, bundle: read.expect("read") }
}

/// Labels of a binary table: true for the schema's positive class.
pub(crate) fn positives(df: &DataFrame, schema: &Schema) -> Vec<bool> {
    let positive = schema.positive_class().expect("binary");
    let target = df.column(&schema.target).expect("target").as_materialized_series().str().expect("text").clone();
    target.iter().map(|v| v == Some(positive)).collect()
}

pub(crate) fn column(name: &str, dtype: DType, role: Role) -> Column {
    Column { name: name.into(), dtype, role, segment: false, protected: false, pii: false }
}

pub(crate) fn schema(task: Task, columns: Vec<Column>, classes: &[&str]) -> Schema {
    let target = columns.iter().find(|c| c.role == Role::Target).map(|c| c.name.clone()).expect("a target column");
    Schema { task, columns, target, classes: classes.iter().map(|c| c.to_string()).collect() }
}

pub(crate) fn fit_preprocessor(df: &DataFrame, schema: &Schema) -> Preprocessor {
    kiln_data::fit::fit_preprocessor(&PreprocessConfig::default(), df, schema).expect("preprocessor")
}

/// A frame from named columns.
pub(crate) fn frame(columns: Vec<polars::prelude::Series>) -> DataFrame {
    DataFrame::new_infer_height(columns.into_iter().map(Into::into).collect()).expect("frame")
}

/// Unweighted ROC AUC (kiln-eval's, scikit-learn's definition).
pub(crate) fn roc_auc(labels: &[bool], scores: &[f64]) -> Option<f64> {
    kiln_eval::metrics::binary::roc_auc(labels, scores, None)
}

/// A small prior bundle written to `dir`, for tests that need a bundle file of any kind.
pub(crate) fn linear_bundle_file(dir: &Path) -> PathBuf {
    use kiln_core::preprocess::ColumnRef;
    let x = [Some(1.0), Some(3.0)];
    let preprocessor =
        Preprocessor::fit(&PreprocessConfig::default(), &[("x", ColumnRef::Numeric(&x))]).expect("preprocessor");
    let columns = vec![column("x", DType::Float, Role::Numeric), column("y", DType::Float, Role::Target)];
    let manifest = Manifest {
        format_version: FORMAT_VERSION.into(),
        task: Task::Regression,
        schema: schema(Task::Regression, columns, &[]),
        preprocessor,
        architecture: kiln_core::bundle::Architecture::Prior { values: vec![2.0] },
        decision_threshold: None,
        hyperparameters: serde_json::Value::Null,
        data: DataHashes { data_hash: "d".into(), schema_hash: "s".into(), split_hash: "p".into() },
        metrics: BTreeMap::new(),
        reference: ReferenceDistributions::default(),
        git_commit: None,
        git_dirty: false,
        kiln_version: "test".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        device: "cpu".into(),
    };
    let path = dir.join("prior.safetensors");
    Bundle::new(manifest, BTreeMap::new()).write(&path).expect("write bundle");
    path
}

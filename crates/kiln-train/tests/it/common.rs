//! Shared helpers: the shipped Adult data, small hand-made frames, schemas.

use std::path::{Path, PathBuf};

use kiln_core::preprocess::{PreprocessConfig, Preprocessor};
use kiln_core::schema::{Column, DType, Role, Schema, Task};
use kiln_data::load::{Source, load};
use kiln_data::plan::DataPlan;
use kiln_data::split::{Part, assign};
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

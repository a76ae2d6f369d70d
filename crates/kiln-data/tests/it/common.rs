//! Shared helpers: parse a config from text, write small files.

use std::path::{Path, PathBuf};

use kiln_data::plan::DataPlan;

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Plan from config text as if it were the file at `path`.
pub(crate) fn plan_from(path: &Path, text: &str) -> kiln_data::Result<DataPlan> {
    DataPlan::from_toml(path, text)
}

/// The shipped Adult config.
pub(crate) fn adult_plan() -> DataPlan {
    let path = repo().join("configs/adult.toml");
    let text = std::fs::read_to_string(&path).expect("configs/adult.toml is shipped");
    plan_from(&path, &text).expect("configs/adult.toml is valid")
}

/// A small CSV config over `train.csv` (and `test.csv` when `with_test`) in `dir`.
pub(crate) fn small_config(dir: &Path, with_test: bool) -> String {
    let test = if with_test { "test = \"test.csv\"\n" } else { "" };
    let split = if with_test { "method = \"fixed\"" } else { "method = \"random\"\ntest_fraction = 0.25" };
    let text = format!(
        r#"
[project]
name = "small"
task = "binary"

[data]
train = "train.csv"
{test}missing = ["NA"]

[columns]
target = "y"
classes = ["no", "yes"]
positive = "yes"
numeric = ["x"]
categorical = ["c"]
types = {{ x = "float" }}

[validation]
max_missing = 0.5

[validation.columns.x]
min = 0
max = 100

[validation.columns.c]
allowed = ["a", "b"]

[split]
{split}
validation_fraction = 0.0
"#
    );
    std::fs::write(dir.join("cfg.toml"), &text).expect("write config");
    text
}

pub(crate) fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

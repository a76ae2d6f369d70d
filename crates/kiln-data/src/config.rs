//! The data sections of a kiln config: `[project]`, `[data]`, `[columns]`, `[validation]`,
//! `[split]` (and `[preprocess]`, whose struct kiln-core owns).
//!
//! These are plain serde data with documented defaults; every struct denies unknown keys.
//! [`crate::plan::DataPlan::new`] checks them together and turns them into a validated plan;
//! nothing here does I/O.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kiln_core::schema::{DType, Task};
use serde::{Deserialize, Serialize};

/// `[project]`: what the config is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    /// A short name, used for runs and bundles.
    pub name: String,
    /// `binary`, `multiclass` or `regression`.
    pub task: Task,
    #[serde(default)]
    pub description: Option<String>,
    /// The seed every random step derives from (default 42).
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_seed() -> u64 {
    42
}

/// File formats kiln reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Csv,
    Parquet,
}

impl FileFormat {
    /// The format a file name implies (`.csv`, `.tsv`, `.txt`, `.data`, `.test`: CSV;
    /// `.parquet`, `.pq`: Parquet).
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "parquet" | "pq" => Some(FileFormat::Parquet),
            "csv" | "tsv" | "txt" | "data" | "test" => Some(FileFormat::Csv),
            _ => None,
        }
    }
}

/// `[data]`: where the rows are and how to read them. Paths are relative to the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// The training data (or all data, when the split carves the test set from it).
    pub train: PathBuf,
    /// A separate test file, for `split.method = "fixed"`.
    #[serde(default)]
    pub test: Option<PathBuf>,
    /// `csv` or `parquet`; by default taken from the file extension.
    #[serde(default)]
    pub format: Option<FileFormat>,
    /// Whether CSV files start with a header line (default true).
    #[serde(default = "default_true")]
    pub header: bool,
    /// CSV field separator, one ASCII character (default ",").
    #[serde(default = "default_separator")]
    pub separator: String,
    /// CSV quote character, one ASCII character, or "" for none (default `"`).
    #[serde(default = "default_quote")]
    pub quote: String,
    /// Lines starting with this prefix are skipped.
    #[serde(default)]
    pub comment_prefix: Option<String>,
    /// Cell values that mean "missing" (an empty cell always does).
    #[serde(default)]
    pub missing: Vec<String>,
    /// Strip spaces around every CSV field before parsing (for "a, b, c" files).
    #[serde(default)]
    pub trim_whitespace: bool,
    /// Value mappings applied after reading: `[data.map.income] "<=50K." = "<=50K"`.
    #[serde(default)]
    pub map: BTreeMap<String, BTreeMap<String, String>>,
}

fn default_true() -> bool {
    true
}
fn default_separator() -> String {
    ",".into()
}
fn default_quote() -> String {
    "\"".into()
}

/// `[columns]`: the role of every column.
///
/// Each column has exactly one of the roles `target`, `numeric`, `categorical`, `id`, `drop`;
/// `segment`, `protected` and `pii` are flags on top. A column that is only flagged (say a
/// protected attribute that is not a feature) is kept for slicing and fairness checks. A
/// protected or pii column may be a feature only when `allow_as_feature` names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnsConfig {
    /// Column names in file order; required when the file has no header.
    #[serde(default)]
    pub names: Option<Vec<String>>,
    pub target: String,
    /// Class labels (classification). For a binary task, exactly two.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// The positive class of a binary task (must be one of `classes`).
    #[serde(default)]
    pub positive: Option<String>,
    #[serde(default)]
    pub numeric: Vec<String>,
    #[serde(default)]
    pub categorical: Vec<String>,
    #[serde(default)]
    pub id: Vec<String>,
    #[serde(default)]
    pub drop: Vec<String>,
    #[serde(default)]
    pub segment: Vec<String>,
    #[serde(default)]
    pub protected: Vec<String>,
    #[serde(default)]
    pub pii: Vec<String>,
    #[serde(default)]
    pub allow_as_feature: Vec<String>,
    /// Declared storage types; defaults: numeric → float, everything else → string.
    #[serde(default)]
    pub types: BTreeMap<String, DType>,
}

/// Names of the validation checks, used in reports and in `validation.warn_only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// A cell does not parse as the column's declared type.
    Type,
    /// NaN or infinity in a numeric column.
    NonFinite,
    /// Too many missing values.
    Missing,
    /// A number outside its declared range.
    Range,
    /// A category outside its allowed set.
    Allowed,
    /// A test-file category never seen in the training file.
    UnseenCategory,
    /// Too many duplicate rows.
    Duplicates,
    /// A label outside the declared classes, or a missing label.
    Label,
    /// Class balance outside its bounds.
    ClassBalance,
    /// Row count outside its bounds.
    RowCount,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Type => "type",
            Check::NonFinite => "non_finite",
            Check::Missing => "missing",
            Check::Range => "range",
            Check::Allowed => "allowed",
            Check::UnseenCategory => "unseen_category",
            Check::Duplicates => "duplicates",
            Check::Label => "label",
            Check::ClassBalance => "class_balance",
            Check::RowCount => "row_count",
        }
    }
}

/// `[validation]`: expectations checked by `kiln data validate` over every row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationConfig {
    /// Largest allowed missing fraction for any kept column, unless the column sets its own.
    pub max_missing: Option<f64>,
    pub min_rows: Option<u64>,
    pub max_rows: Option<u64>,
    /// Largest allowed fraction of rows that repeat an earlier row exactly.
    pub max_duplicate_fraction: Option<f64>,
    /// Bounds on each class's share of the rows (binary: the positive class).
    pub class_balance: Option<Bounds>,
    /// Check test-file categories against the training file (default true).
    pub unseen_categories: bool,
    /// Checks whose failures are reported as warnings and do not fail validation.
    pub warn_only: Vec<Check>,
    /// How many example rows each finding lists (default 5).
    pub max_examples: usize,
    /// Per-column expectations: `[validation.columns.age] min = 17`.
    pub columns: BTreeMap<String, ColumnExpectation>,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        Self {
            max_missing: None,
            min_rows: None,
            max_rows: None,
            max_duplicate_fraction: None,
            class_balance: None,
            unseen_categories: true,
            warn_only: Vec::new(),
            max_examples: 5,
            columns: BTreeMap::new(),
        }
    }
}

/// A `[min, max]` pair where either end may be absent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

/// Expectations for one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ColumnExpectation {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub max_missing: Option<f64>,
    /// The only values allowed (categorical and string columns).
    pub allowed: Option<Vec<String>>,
}

/// How rows are assigned to train, validation and test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitMethod {
    /// Seeded shuffle.
    Random,
    /// Seeded shuffle within each class, so every split keeps the class balance.
    Stratified,
    /// By a hash of the key column: a row keeps its side when new rows arrive.
    KeyHash,
    /// The test rows come from `data.test`.
    Fixed,
}

/// `[split]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    pub method: SplitMethod,
    /// Share of all rows that go to test (not used by `fixed`).
    pub test_fraction: f64,
    /// Share of the training rows carved out for validation (early stopping, tuning).
    pub validation_fraction: f64,
    /// Defaults to `project.seed`.
    pub seed: Option<u64>,
    /// The key column for `key_hash` (an `id` column).
    pub key: Option<String>,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self { method: SplitMethod::Stratified, test_fraction: 0.2, validation_fraction: 0.1, seed: None, key: None }
    }
}

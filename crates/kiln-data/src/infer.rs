//! `kiln init`: a starter config inferred from a data file.
//!
//! [`infer`] reads a CSV (with a header) or Parquet file, gives every column a role and a type
//! from its values, picks the task, classes and positive class from the target, takes
//! validation bounds from the data, and flags the columns a first model must not use silently:
//! ids, constants, columns that alone predict the target almost perfectly (leakage) and
//! personal data. The result is the typed data sections of a config ([`Starter`]) plus the
//! config's TOML text, where every inferred choice carries a comment saying why.

mod read;
mod render;
pub mod signal;

use std::path::{Component, Path, PathBuf};

use kiln_core::preprocess::PreprocessConfig;
use kiln_core::schema::{Column, DType, Role, Schema, Task};
use polars::prelude::{DataFrame, DataType};

use crate::config::{
    Bounds, ColumnExpectation, ColumnsConfig, DataConfig, FileFormat, ProjectConfig, SplitConfig, SplitMethod,
    ValidationConfig,
};
use crate::describe::{ColumnSummary, describe};
use crate::error::{Error, Result};
use crate::load::Table;
use signal::{Measure, Signal};

/// A single feature whose measure reaches this is flagged as likely leakage.
pub const LEAKAGE_SCORE: f64 = 0.99;
/// Integer columns with at most this many distinct values are treated as codes (categorical).
pub const MAX_INT_CODES: u64 = 10;
/// Text columns with more distinct values than this are not one-hot encoded.
pub const MAX_CATEGORIES: u64 = 100;
/// Categorical columns with at most this many values get an `allowed` list and a slice.
pub const MAX_LISTED_VALUES: u64 = 10;
/// A classification target has at most this many labels.
pub const MAX_CLASSES: u64 = 50;
/// Purity and η² are measured only where groups average at least this many rows.
const MIN_GROUP_ROWS: u64 = 20;
/// Text values sampled per column to look for e-mail addresses and phone numbers.
const PERSONAL_SAMPLE: usize = 200;

/// What to infer from.
#[derive(Debug, Clone, Default)]
pub struct InferOptions {
    /// The target column; by default a column named like a label (`target`, `label`, `class`,
    /// `y`, `outcome`), else the last column.
    pub target: Option<String>,
    /// The folder the config will be written to: `data.train` is written relative to it.
    pub config_dir: PathBuf,
}

/// Why a column is kept out of the features.
#[derive(Debug, Clone, PartialEq)]
pub enum Flag {
    /// One value (or none) in every row.
    Constant,
    /// Unique per row, or named like an id.
    IdLike { reason: String },
    /// Named like, or holding values like, personal data.
    PersonalData { reason: String },
    /// Predicts the target almost perfectly on its own.
    Leakage(Signal),
    /// Text with too many distinct values to one-hot encode.
    HighCardinality,
}

/// The inferred role of one column and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnGuess {
    pub name: String,
    pub role: Role,
    /// The storage type found in the file.
    pub dtype: DType,
    pub flag: Option<Flag>,
    /// Why this role, in a few words (the config's comment).
    pub reason: String,
    pub summary: ColumnSummary,
}

/// A starter config: its data sections as typed values, the inference behind them, and the
/// config text.
#[derive(Debug, Clone)]
pub struct Starter {
    pub project: ProjectConfig,
    pub data: DataConfig,
    pub columns: ColumnsConfig,
    pub validation: ValidationConfig,
    pub split: SplitConfig,
    pub preprocess: PreprocessConfig,
    /// The data file as given.
    pub source: PathBuf,
    /// Every column of the file, in file order.
    pub guesses: Vec<ColumnGuess>,
    pub n_rows: usize,
    /// Label counts in `columns.classes` order (classification).
    pub class_counts: Vec<u64>,
    /// Why the target column, and why the task.
    pub target_reason: String,
    pub task_reason: String,
    /// The config file's text, with a comment on every inferred choice.
    pub toml: String,
}

impl Starter {
    /// The guess for column `name`.
    pub fn guess(&self, name: &str) -> Option<&ColumnGuess> {
        self.guesses.iter().find(|g| g.name == name)
    }
}

/// Infer a starter config from the data file at `path`.
pub fn infer(path: &Path, options: &InferOptions) -> Result<Starter> {
    let format = FileFormat::from_path(path).ok_or_else(|| Error::InitFormat { path: path.to_path_buf() })?;
    let (df, missing) = read::read(path, format)?;
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    let (target, target_reason) = pick_target(path, &names, options.target.as_deref())?;
    let dtypes: Vec<DType> = df.columns().iter().map(|c| dtype_of(c.dtype())).collect();
    let table = provisional_table(path, &df, &names, &dtypes, &target)?;
    let summaries = describe(&table, MAX_LISTED_VALUES as usize)?.columns;
    let target_idx = names.iter().position(|n| *n == target).expect("the target was picked from the names");
    let labels = Labels::read(path, &table.df, &target, dtypes[target_idx], &summaries[target_idx])?;
    let mut guesses = Vec::with_capacity(names.len());
    for ((name, dtype), summary) in names.iter().zip(&dtypes).zip(summaries) {
        let guess = if *name == target {
            ColumnGuess {
                name: name.clone(),
                role: Role::Target,
                dtype: *dtype,
                flag: None,
                reason: target_reason.clone(),
                summary,
            }
        } else {
            guess_column(&table.df, name, *dtype, summary, &labels)?
        };
        guesses.push(guess);
    }
    let duplicates = duplicate_fraction(&table.df, &guesses)?;
    let read = Read { format, n_rows: table.n_rows(), missing, duplicates };
    let mut starter = assemble(path, options, read, guesses, labels, target_reason)?;
    starter.toml = render::render(&starter);
    Ok(starter)
}

/// Write the starter's config to `path` atomically; an existing file is replaced only with
/// `force`.
pub fn write(path: &Path, starter: &Starter, force: bool) -> Result<()> {
    if !force && path.exists() {
        return Err(Error::ConfigExists { path: path.to_path_buf() });
    }
    crate::write::write_text(path, &starter.toml)
}

/// kiln's type for a polars column type (dates and other types are read as text).
fn dtype_of(dtype: &DataType) -> DType {
    if dtype.is_integer() {
        DType::Int
    } else if dtype.is_float() {
        DType::Float
    } else if dtype == &DataType::Boolean {
        DType::Bool
    } else {
        DType::String
    }
}

/// The file as a [`Table`] with every column in kiln's storage types and a schema that lets
/// [`describe`] summarise it: numbers as numeric, everything else as categorical.
fn provisional_table(path: &Path, df: &DataFrame, names: &[String], dtypes: &[DType], target: &str) -> Result<Table> {
    let mut columns = Vec::with_capacity(names.len());
    let mut schema_columns = Vec::with_capacity(names.len());
    for ((name, dtype), column) in names.iter().zip(dtypes).zip(df.columns()) {
        let series = column
            .as_materialized_series()
            .cast(&crate::load::polars_dtype(*dtype))
            .map_err(|source| Error::Polars { doing: "reading a column for kiln init", source })?;
        columns.push(series.into());
        let role = if name == target {
            Role::Target
        } else if dtype.is_numeric() {
            Role::Numeric
        } else {
            Role::Categorical
        };
        schema_columns.push(Column {
            name: name.clone(),
            dtype: *dtype,
            role,
            segment: false,
            protected: false,
            pii: false,
        });
    }
    let df = DataFrame::new_infer_height(columns)
        .map_err(|source| Error::Polars { doing: "assembling the columns for kiln init", source })?;
    // The task is settled later; regression keeps `describe` from reading label counts.
    let schema =
        Schema { task: Task::Regression, columns: schema_columns, target: target.to_string(), classes: vec![] };
    Ok(Table { path: path.to_path_buf(), df, schema, findings: Vec::new() })
}

/// Names a target column is often given.
const TARGET_NAMES: &[&str] = &["target", "label", "class", "y", "outcome", "response"];

fn pick_target(path: &Path, names: &[String], wanted: Option<&str>) -> Result<(String, String)> {
    if let Some(wanted) = wanted {
        if names.iter().any(|n| n == wanted) {
            return Ok((wanted.to_string(), "named by --target".into()));
        }
        return Err(Error::InitTarget {
            path: path.to_path_buf(),
            column: wanted.to_string(),
            found: names.join(", "),
        });
    }
    if let Some(name) = names.iter().find(|n| TARGET_NAMES.contains(&n.to_lowercase().as_str())) {
        return Ok((name.clone(), format!("named like a label (`{name}`); pass --target COL to choose another")));
    }
    let last = names.last().expect("a file with no columns was refused");
    Ok((last.clone(), "the last column; pass --target COL to choose another".into()))
}

/// The target's values as the task sees them.
#[derive(Debug, Clone)]
enum Labels {
    /// Class labels as text, the class of each row, and the count of each class.
    Classes { classes: Vec<String>, rows: Vec<Option<u32>>, counts: Vec<u64>, task: Task, why: String },
    /// A numeric target.
    Values { rows: Vec<Option<f64>>, why: String },
}

impl Labels {
    fn read(path: &Path, df: &DataFrame, target: &str, dtype: DType, summary: &ColumnSummary) -> Result<Self> {
        let series = df
            .column(target)
            .map_err(|source| Error::Polars { doing: "reading the target", source })?
            .as_materialized_series();
        let distinct = summary.distinct;
        let integral = summary.numeric.as_ref().is_some_and(|_| {
            series
                .cast(&DataType::Float64)
                .ok()
                .is_some_and(|s| s.f64().is_ok_and(|ca| ca.iter().flatten().all(|v| v.fract() == 0.0 && v.is_finite())))
        });
        let why = match dtype {
            DType::String | DType::Bool if distinct == 2 => "the target has two labels".to_string(),
            DType::String | DType::Bool if (3..=MAX_CLASSES).contains(&distinct) => {
                format!("the target has {distinct} text labels")
            }
            DType::Int | DType::Float if integral && distinct == 2 => "the target takes two whole values".into(),
            DType::Int if (3..=MAX_INT_CODES).contains(&distinct) => {
                format!("the target takes {distinct} whole values (at most {MAX_INT_CODES}: treated as classes)")
            }
            DType::Int | DType::Float if distinct >= 2 => {
                let values = series
                    .cast(&DataType::Float64)
                    .map_err(|source| Error::Polars { doing: "reading the target", source })?;
                let values = values.f64().map_err(|source| Error::Polars { doing: "reading the target", source })?;
                let why = format!("the target is numeric with {distinct} distinct values");
                return Ok(Labels::Values { rows: values.iter().collect(), why });
            }
            _ => {
                return Err(Error::InitTask {
                    path: path.to_path_buf(),
                    column: target.to_string(),
                    distinct,
                    dtype: dtype.as_str().to_string(),
                });
            }
        };
        // Labels as text exactly as loading will cast them.
        let text =
            series.cast(&DataType::String).map_err(|source| Error::Polars { doing: "reading the target", source })?;
        let text = text.str().map_err(|source| Error::Polars { doing: "reading the target", source })?;
        let mut classes: Vec<String> = text.iter().flatten().map(str::to_string).collect();
        classes.sort_unstable();
        classes.dedup();
        let rows: Vec<Option<u32>> = text
            .iter()
            .map(|v| v.map(|v| classes.binary_search_by(|c| c.as_str().cmp(v)).expect("seen") as u32))
            .collect();
        let mut counts = vec![0u64; classes.len()];
        for r in rows.iter().flatten() {
            counts[*r as usize] += 1;
        }
        let task = if classes.len() == 2 { Task::Binary } else { Task::Multiclass };
        Ok(Labels::Classes { classes, rows, counts, task, why })
    }

    fn task(&self) -> Task {
        match self {
            Labels::Classes { task, .. } => *task,
            Labels::Values { .. } => Task::Regression,
        }
    }
}

/// Role, flag and reason for one non-target column.
fn guess_column(
    df: &DataFrame,
    name: &str,
    dtype: DType,
    summary: ColumnSummary,
    labels: &Labels,
) -> Result<ColumnGuess> {
    let n_rows = df.height() as u64;
    let present = n_rows - summary.n_missing;
    let series = df
        .column(name)
        .map_err(|source| Error::Polars { doing: "looking up a column", source })?
        .as_materialized_series();
    let text = (dtype == DType::String)
        .then(|| series.str().map_err(|source| Error::Polars { doing: "reading a text column", source }))
        .transpose()?;
    let drop = |flag: Flag, reason: String| (Role::Drop, Some(flag), reason);
    let sample_reason = text.and_then(|t| signal::personal_values(t.iter().flatten().take(PERSONAL_SAMPLE)));
    let (role, flag, reason) = if summary.distinct <= 1 {
        drop(Flag::Constant, format!("constant: {} distinct value(s), nothing to learn from", summary.distinct))
    } else if let Some(why) = signal::personal_name(name).or(sample_reason) {
        let reason = format!("looks like personal data: {why}");
        drop(Flag::PersonalData { reason: why }, reason)
    } else if let Some(why) = signal::id_name(name) {
        let reason = format!("looks like an id: {why}");
        (Role::Id, Some(Flag::IdLike { reason: why }), reason)
    } else if matches!(dtype, DType::String | DType::Int) && summary.distinct == present && present == n_rows {
        let why = format!("a different value in each of the {n_rows} rows");
        (Role::Id, Some(Flag::IdLike { reason: why.clone() }), format!("looks like an id: {why}"))
    } else if dtype == DType::String && summary.distinct > MAX_CATEGORIES {
        let reason = format!(
            "text with {} distinct values (more than {MAX_CATEGORIES}): free text or fine-grained codes, not one-hot encoded",
            summary.distinct
        );
        drop(Flag::HighCardinality, reason)
    } else if dtype == DType::Float || (dtype == DType::Int && summary.distinct > MAX_INT_CODES) {
        (Role::Numeric, None, format!("numbers ({}) with {} distinct values", dtype.as_str(), summary.distinct))
    } else {
        let reason = match dtype {
            DType::Int => format!(
                "only {} distinct whole values (at most {MAX_INT_CODES}): treated as codes; move it to numeric if its order matters",
                summary.distinct
            ),
            DType::Bool => "true/false".into(),
            _ => format!("text with {} distinct values (at most {MAX_CATEGORIES}: one-hot encoded)", summary.distinct),
        };
        (Role::Categorical, None, reason)
    };
    let mut guess = ColumnGuess { name: name.to_string(), role, dtype, flag, reason, summary };
    if guess.role.is_feature()
        && let Some(signal) = leakage(series, &guess, labels)?
    {
        guess.reason = format!(
            "possible leakage: alone it predicts the target almost perfectly ({} {:.4}); kept out of the features: check that it is known before the target is",
            signal.measure.as_str(),
            signal.score
        );
        guess.role = Role::Drop;
        guess.flag = Some(Flag::Leakage(signal));
    }
    Ok(guess)
}

/// The single-feature signal of a feature column, when it reaches [`LEAKAGE_SCORE`].
fn leakage(series: &polars::prelude::Series, guess: &ColumnGuess, labels: &Labels) -> Result<Option<Signal>> {
    let err = |source| Error::Polars { doing: "measuring a column's signal", source };
    let numeric = guess.role == Role::Numeric;
    let values: Vec<Option<f64>> = if numeric {
        series.cast(&DataType::Float64).map_err(err)?.f64().map_err(err)?.iter().collect()
    } else {
        Vec::new()
    };
    let groups = if numeric {
        Vec::new()
    } else {
        let text = series.cast(&DataType::String).map_err(err)?;
        signal::codes(text.str().map_err(err)?.iter())
    };
    // Purity and η² over groups of a few rows are high by chance alone.
    let present = (series.len() - series.null_count()) as u64;
    let grouped_ok = present >= MIN_GROUP_ROWS * guess.summary.distinct;
    let signal = match labels {
        Labels::Classes { rows, task: Task::Binary, .. } if numeric => {
            let positive: Vec<Option<bool>> = rows.iter().map(|r| r.map(|c| c == 1)).collect();
            signal::threshold_auc(&values, &positive).map(|score| Signal { measure: Measure::ThresholdAuc, score })
        }
        Labels::Classes { rows, .. } if numeric => signal::neighbour_agreement(&values, rows)
            .map(|score| Signal { measure: Measure::NeighbourAgreement, score }),
        Labels::Classes { rows, .. } if grouped_ok => {
            signal::purity(&groups, rows).map(|score| Signal { measure: Measure::Purity, score })
        }
        Labels::Classes { .. } => None,
        Labels::Values { rows, .. } if numeric => {
            signal::r_squared(&values, rows).map(|score| Signal { measure: Measure::RSquared, score })
        }
        Labels::Values { rows, .. } if grouped_ok => {
            signal::eta_squared(&groups, rows).map(|score| Signal { measure: Measure::EtaSquared, score })
        }
        Labels::Values { .. } => None,
    };
    Ok(signal.filter(|s| s.score >= LEAKAGE_SCORE))
}

/// What reading the file found.
struct Read {
    format: FileFormat,
    n_rows: usize,
    /// Cell values that stand for a missing value.
    missing: Vec<String>,
    /// The share of repeated rows.
    duplicates: f64,
}

/// The share of rows that repeat an earlier row over the columns validation compares (the
/// kept columns other than ids).
fn duplicate_fraction(df: &DataFrame, guesses: &[ColumnGuess]) -> Result<f64> {
    let compared: Vec<&str> =
        guesses.iter().filter(|g| !matches!(g.role, Role::Drop | Role::Id)).map(|g| g.name.as_str()).collect();
    let hashes = crate::rowhash::row_hashes(df, |name| compared.contains(&name))?;
    Ok(crate::rowhash::count_repeats(&hashes) as f64 / hashes.len().max(1) as f64)
}

/// The typed config sections from the guesses.
fn assemble(
    path: &Path,
    options: &InferOptions,
    read: Read,
    guesses: Vec<ColumnGuess>,
    labels: Labels,
    target_reason: String,
) -> Result<Starter> {
    let Read { format, n_rows, missing, duplicates } = read;
    let task = labels.task();
    let target = guesses.iter().find(|g| g.role == Role::Target).expect("one target").name.clone();
    let names_in = |role: Role| guesses.iter().filter(|g| g.role == role).map(|g| g.name.clone()).collect::<Vec<_>>();
    let (classes, positive, class_counts, task_reason) = match &labels {
        Labels::Classes { classes, counts, why, .. } => {
            // The minority class (the later label on a tie) is the positive class.
            let positive = (task == Task::Binary).then(|| {
                let idx = if counts[0] < counts[1] { 0 } else { 1 };
                classes[idx].clone()
            });
            (Some(classes.clone()), positive, counts.clone(), why.clone())
        }
        Labels::Values { why, .. } => (None, None, Vec::new(), why.clone()),
    };
    let mut types = std::collections::BTreeMap::new();
    for g in &guesses {
        let numeric_role = g.role == Role::Numeric || (g.role == Role::Target && task == Task::Regression);
        if numeric_role {
            types.insert(g.name.clone(), g.dtype);
        }
    }
    let columns = ColumnsConfig {
        names: None,
        target: target.clone(),
        classes,
        positive,
        numeric: names_in(Role::Numeric),
        categorical: names_in(Role::Categorical),
        id: names_in(Role::Id),
        drop: names_in(Role::Drop),
        segment: Vec::new(),
        protected: Vec::new(),
        pii: guesses
            .iter()
            .filter(|g| matches!(g.flag, Some(Flag::PersonalData { .. })))
            .map(|g| g.name.clone())
            .collect(),
        allow_as_feature: Vec::new(),
        types,
    };
    let positive_idx = columns.positive.as_ref().and_then(|p| columns.classes.as_ref()?.iter().position(|c| c == p));
    let validation = render::validation(&guesses, n_rows, &class_counts, task, positive_idx, duplicates)?;
    let split = SplitConfig {
        method: if task.is_classification() { SplitMethod::Stratified } else { SplitMethod::Random },
        ..SplitConfig::default()
    };
    let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "data".into());
    let name: String = stem.chars().map(|c| if c.is_alphanumeric() || c == '-' { c } else { '_' }).collect();
    Ok(Starter {
        project: ProjectConfig {
            name,
            task,
            description: Some(format!("starter config inferred by `kiln init` from {}", path.display())),
            seed: 42,
        },
        data: DataConfig {
            train: relative_to(path, &options.config_dir),
            test: None,
            format: Some(format),
            header: true,
            separator: ",".into(),
            quote: "\"".into(),
            comment_prefix: None,
            missing,
            trim_whitespace: false,
            map: Default::default(),
        },
        columns,
        validation,
        split,
        preprocess: PreprocessConfig::default(),
        source: path.to_path_buf(),
        guesses,
        n_rows,
        class_counts,
        target_reason,
        task_reason,
        toml: String::new(),
    })
}

/// `path` as seen from folder `dir` (both made absolute); `path` itself made absolute when no
/// relative path joins them (another drive).
fn relative_to(path: &Path, dir: &Path) -> PathBuf {
    let absolute = |p: &Path| {
        std::fs::canonicalize(p).unwrap_or_else(|_| {
            // Not there yet: made absolute by hand, `..` folded away.
            let joined = std::env::current_dir().map(|d| d.join(p)).unwrap_or(p.to_path_buf());
            let mut clean = PathBuf::new();
            for c in joined.components() {
                match c {
                    Component::ParentDir => {
                        clean.pop();
                    }
                    Component::CurDir => {}
                    other => clean.push(other.as_os_str()),
                }
            }
            clean
        })
    };
    let (path, dir) = (absolute(path), absolute(dir));
    let (p, d): (Vec<Component>, Vec<Component>) = (path.components().collect(), dir.components().collect());
    if p.first() != d.first() {
        return path;
    }
    let common = p.iter().zip(&d).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..d.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// Bounds that contain `value` with a margin, rounded outwards to two decimals and kept in
/// [0, 1].
pub(crate) fn share_bounds(low: f64, high: f64) -> Bounds {
    let min = ((low * 0.5) * 100.0).floor() / 100.0;
    let max = ((high * 1.5).min(1.0) * 100.0).ceil() / 100.0;
    Bounds { min: Some(min.max(0.0)), max: Some(max.min(1.0)) }
}

/// A column expectation with only a missing share set.
pub(crate) fn no_missing() -> ColumnExpectation {
    ColumnExpectation { max_missing: Some(0.0), ..Default::default() }
}

//! The validated data plan: the config's data sections checked together, with paths resolved.
//!
//! `DataPlan::new` does no I/O beyond asking whether `data.train` is a folder. When the file has a header and the config does not list the
//! column names, the name checks run again on the header in [`DataPlan::schema`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kiln_core::preprocess::PreprocessConfig;
use kiln_core::schema::{Column, DType, Role, Schema, Task};

use crate::config::{ColumnsConfig, DataConfig, FileFormat, ProjectConfig, SplitConfig, SplitMethod, ValidationConfig};
use crate::error::{Error, Result};

/// The data-related sections of a config file, as parsed.
#[derive(Debug, Clone)]
pub struct DataSections {
    pub project: ProjectConfig,
    pub data: DataConfig,
    pub columns: ColumnsConfig,
    pub validation: ValidationConfig,
    pub split: SplitConfig,
    pub preprocess: PreprocessConfig,
}

/// The data sections as they stand in a config file. Other top-level tables (models,
/// evaluation, ...) are left to the crates that own them: the whole file, unknown top-level
/// keys included, is checked by the binary's config loader.
#[derive(Debug, Clone, serde::Deserialize)]
struct DataFile {
    project: ProjectConfig,
    data: DataConfig,
    columns: ColumnsConfig,
    #[serde(default)]
    validation: ValidationConfig,
    #[serde(default)]
    split: SplitConfig,
    #[serde(default)]
    preprocess: PreprocessConfig,
}

/// How to read the files, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOptions {
    pub format: FileFormat,
    pub header: bool,
    pub separator: u8,
    pub quote: Option<u8>,
    pub comment_prefix: Option<String>,
    pub missing: Vec<String>,
    pub trim_whitespace: bool,
    pub map: BTreeMap<String, BTreeMap<String, String>>,
}

/// A column's role assignment before the file's names are known.
#[derive(Debug, Clone, PartialEq)]
struct Assigned {
    role: Role,
    key: &'static str,
    dtype: DType,
    segment: bool,
    protected: bool,
    pii: bool,
}

/// The checked plan every data command works from.
#[derive(Debug, Clone)]
pub struct DataPlan {
    pub config_path: PathBuf,
    pub project: ProjectConfig,
    pub train_path: PathBuf,
    pub test_path: Option<PathBuf>,
    pub read: ReadOptions,
    /// Column names in file order, when the config gives them.
    pub names: Option<Vec<String>>,
    pub validation: ValidationConfig,
    pub split: SplitConfig,
    pub split_seed: u64,
    pub preprocess: PreprocessConfig,
    /// Classes with the positive class last (binary).
    pub classes: Vec<String>,
    target: String,
    assigned: BTreeMap<String, Assigned>,
}

impl DataPlan {
    /// Check the sections together. `config_path` anchors relative paths and names the file in
    /// every error.
    pub fn new(config_path: &Path, sections: DataSections) -> Result<Self> {
        let DataSections { project, data, columns, validation, split, preprocess } = sections;
        let path = config_path.to_path_buf();
        let invalid = |key: &str, problem: String, hint: &str| Error::InvalidValue {
            path: path.clone(),
            key: key.to_string(),
            problem,
            hint: hint.to_string(),
        };
        let base = config_path.parent().unwrap_or(Path::new("."));
        let train_path = base.join(&data.train);
        let test_path = data.test.as_ref().map(|t| base.join(t));

        // A folder or a glob: many Parquet files (the one filesystem look-up of the plan).
        let multi = crate::parts::is_multi(&train_path);
        if multi && data.format == Some(FileFormat::Csv) {
            return Err(invalid(
                "data.format",
                format!("is \"csv\", but data.train = {} names a folder or glob", data.train.display()),
                "folders and globs are read as Parquet files; name one CSV file, or convert the files to Parquet",
            ));
        }
        let format = match data.format {
            Some(f) => f,
            None => FileFormat::from_path(&train_path).or_else(|| multi.then_some(FileFormat::Parquet)).ok_or_else(
                || {
                    invalid(
                        "data.format",
                        format!("is not set and cannot be told from the name {}", data.train.display()),
                        "set data.format = \"csv\" or \"parquet\"",
                    )
                },
            )?,
        };
        let separator = single_byte(&data.separator).ok_or_else(|| {
            invalid("data.separator", format!("is {:?}", data.separator), "use one ASCII character, e.g. \",\"")
        })?;
        let quote = if data.quote.is_empty() {
            None
        } else {
            Some(single_byte(&data.quote).ok_or_else(|| {
                invalid("data.quote", format!("is {:?}", data.quote), "use one ASCII character, or \"\" for none")
            })?)
        };
        if format == FileFormat::Csv && !data.header && columns.names.is_none() {
            return Err(invalid(
                "columns.names",
                "is required because data.header = false".into(),
                "list the column names in file order: names = [\"a\", \"b\", ...]",
            ));
        }

        let assigned = assign_roles(&path, project.task, &columns)?;
        let classes = check_target(&path, project.task, &columns)?;

        let known: BTreeSet<&str> = assigned.keys().map(String::as_str).collect();
        for key in data.map.keys() {
            if !known.contains(key.as_str()) {
                return Err(unknown(&path, "data.map", key, &known));
            }
        }
        for (name, expect) in &validation.columns {
            let Some(a) = assigned.get(name) else {
                return Err(unknown(&path, "validation.columns", name, &known));
            };
            let key = format!("validation.columns.{name}");
            if (expect.min.is_some() || expect.max.is_some()) && !a.dtype.is_numeric() {
                return Err(invalid(
                    &key,
                    "sets min/max on a non-numeric column".into(),
                    "use `allowed` for categories",
                ));
            }
            if expect.allowed.is_some() && a.dtype.is_numeric() && a.role == Role::Numeric {
                return Err(invalid(&key, "sets `allowed` on a numeric column".into(), "use min/max for numbers"));
            }
            check_fraction(&path, &format!("{key}.max_missing"), expect.max_missing)?;
        }
        check_fraction(&path, "validation.max_missing", validation.max_missing)?;
        check_fraction(&path, "validation.max_duplicate_fraction", validation.max_duplicate_fraction)?;
        if validation.class_balance.is_some() && !project.task.is_classification() {
            return Err(invalid("validation.class_balance", "is set for a regression task".into(), "remove it"));
        }

        check_split(&path, &split, &assigned, test_path.is_some(), &known)?;
        let names = columns.names.clone();
        if let Some(names) = &names {
            check_names(&path, names, &assigned)?;
        }
        Ok(Self {
            config_path: path,
            split_seed: split.seed.unwrap_or(project.seed),
            project,
            train_path,
            test_path,
            read: ReadOptions {
                format,
                header: data.header,
                separator,
                quote,
                comment_prefix: data.comment_prefix.filter(|p| !p.is_empty()),
                missing: data.missing,
                trim_whitespace: data.trim_whitespace,
                map: data.map,
            },
            names,
            validation,
            split,
            preprocess,
            classes,
            target: columns.target,
            assigned,
        })
    }

    /// Parse the data sections of config text that came from `path`, and check them.
    pub fn from_toml(path: &Path, text: &str) -> Result<Self> {
        let file: DataFile = toml::from_str(text)
            .map_err(|source| Error::ConfigParse { path: path.to_path_buf(), source: Box::new(source) })?;
        let DataFile { project, data, columns, validation, split, preprocess } = file;
        Self::new(path, DataSections { project, data, columns, validation, split, preprocess })
    }

    /// The schema for a file whose columns are `file_columns` (in file order). Checks that the
    /// file has every configured column and nothing unconfigured.
    pub fn schema(&self, file_columns: &[String]) -> Result<Schema> {
        check_names(&self.config_path, file_columns, &self.assigned)?;
        let columns = file_columns
            .iter()
            .map(|name| {
                let a = &self.assigned[name];
                Column {
                    name: name.clone(),
                    dtype: a.dtype,
                    role: a.role,
                    segment: a.segment,
                    protected: a.protected,
                    pii: a.pii,
                }
            })
            .collect();
        Ok(Schema { task: self.project.task, columns, target: self.target.clone(), classes: self.classes.clone() })
    }

    /// The declared type of a configured column.
    pub fn dtype(&self, column: &str) -> Option<DType> {
        self.assigned.get(column).map(|a| a.dtype)
    }

    /// The configured columns marked protected.
    pub fn protected_columns(&self) -> impl Iterator<Item = &str> {
        self.assigned.iter().filter(|(_, a)| a.protected).map(|(name, _)| name.as_str())
    }

    /// Every configured column name.
    pub fn configured_columns(&self) -> impl Iterator<Item = &str> {
        self.assigned.keys().map(String::as_str)
    }
}

fn single_byte(s: &str) -> Option<u8> {
    match s.as_bytes() {
        [b] if b.is_ascii() => Some(*b),
        _ => None,
    }
}

fn unknown(path: &Path, key: &str, column: &str, known: &BTreeSet<&str>) -> Error {
    Error::UnknownColumn {
        path: path.to_path_buf(),
        key: key.to_string(),
        column: column.to_string(),
        known: known.iter().copied().collect::<Vec<_>>().join(", "),
    }
}

fn check_fraction(path: &Path, key: &str, value: Option<f64>) -> Result<()> {
    match value {
        Some(v) if !(0.0..=1.0).contains(&v) => Err(Error::InvalidValue {
            path: path.to_path_buf(),
            key: key.to_string(),
            problem: format!("is {v}"),
            hint: "use a fraction between 0 and 1".into(),
        }),
        _ => Ok(()),
    }
}

fn assign_roles(path: &Path, task: Task, columns: &ColumnsConfig) -> Result<BTreeMap<String, Assigned>> {
    let target_dtype = if task.is_classification() { DType::String } else { DType::Float };
    let role_lists: [(&'static str, Role, DType, &[String]); 5] = [
        ("target", Role::Target, target_dtype, std::slice::from_ref(&columns.target)),
        ("numeric", Role::Numeric, DType::Float, &columns.numeric),
        ("categorical", Role::Categorical, DType::String, &columns.categorical),
        ("id", Role::Id, DType::String, &columns.id),
        ("drop", Role::Drop, DType::String, &columns.drop),
    ];
    let mut assigned: BTreeMap<String, Assigned> = BTreeMap::new();
    for (key, role, dtype, names) in role_lists {
        for name in names {
            if let Some(prev) = assigned.get(name) {
                return Err(Error::TwoRoles {
                    path: path.to_path_buf(),
                    column: name.clone(),
                    first: format!("columns.{}", prev.key),
                    second: format!("columns.{key}"),
                });
            }
            let a = Assigned { role, key, dtype, segment: false, protected: false, pii: false };
            assigned.insert(name.clone(), a);
        }
    }
    let flags: [(&'static str, &[String]); 3] =
        [("segment", &columns.segment), ("protected", &columns.protected), ("pii", &columns.pii)];
    for (flag, names) in flags {
        let mut seen = BTreeSet::new();
        for name in names {
            if !seen.insert(name) {
                return Err(Error::InvalidValue {
                    path: path.to_path_buf(),
                    key: format!("columns.{flag}"),
                    problem: format!("lists `{name}` twice"),
                    hint: "list each column once".into(),
                });
            }
            let a = assigned.entry(name.clone()).or_insert(Assigned {
                role: Role::Attribute,
                key: flag,
                dtype: DType::String,
                segment: false,
                protected: false,
                pii: false,
            });
            match flag {
                "segment" => a.segment = true,
                "protected" => a.protected = true,
                _ => a.pii = true,
            }
        }
    }
    let known_names: BTreeSet<String> = assigned.keys().cloned().collect();
    let known: BTreeSet<&str> = known_names.iter().map(String::as_str).collect();
    for name in &columns.allow_as_feature {
        if !known_names.contains(name) {
            return Err(unknown(path, "columns.allow_as_feature", name, &known));
        }
    }
    for (name, a) in &assigned {
        if a.role == Role::Target && (a.protected || a.pii) {
            return Err(Error::TwoRoles {
                path: path.to_path_buf(),
                column: name.clone(),
                first: "columns.target".into(),
                second: if a.protected { "columns.protected".into() } else { "columns.pii".into() },
            });
        }
        if a.role.is_feature() && !columns.allow_as_feature.contains(name) {
            let flag = if a.pii {
                Some("columns.pii")
            } else if a.protected {
                Some("columns.protected")
            } else {
                None
            };
            if let Some(flag) = flag {
                return Err(Error::FeatureNotAllowed {
                    path: path.to_path_buf(),
                    column: name.clone(),
                    flag: flag.into(),
                    role: a.role.as_str().into(),
                });
            }
        }
    }
    for (name, dtype) in &columns.types {
        let Some(a) = assigned.get_mut(name) else {
            return Err(unknown(path, "columns.types", name, &known));
        };
        if a.role == Role::Numeric && !dtype.is_numeric() {
            return Err(Error::InvalidValue {
                path: path.to_path_buf(),
                key: format!("columns.types.{name}"),
                problem: format!("is `{}` but the column is numeric", dtype.as_str()),
                hint: "numeric columns are `int` or `float`; move it to columns.categorical for text".into(),
            });
        }
        if a.role == Role::Target && task == Task::Regression && !dtype.is_numeric() {
            return Err(Error::InvalidValue {
                path: path.to_path_buf(),
                key: format!("columns.types.{name}"),
                problem: format!("is `{}` but a regression target must be numeric", dtype.as_str()),
                hint: "use `float` or `int`".into(),
            });
        }
        a.dtype = *dtype;
    }
    Ok(assigned)
}

fn check_target(path: &Path, task: Task, columns: &ColumnsConfig) -> Result<Vec<String>> {
    let invalid = |key: &str, problem: String, hint: &str| Error::InvalidValue {
        path: path.to_path_buf(),
        key: key.to_string(),
        problem,
        hint: hint.to_string(),
    };
    if !task.is_classification() {
        if columns.classes.is_some() || columns.positive.is_some() {
            return Err(invalid(
                "columns.classes",
                "is set for a regression task".into(),
                "remove classes and positive",
            ));
        }
        return Ok(Vec::new());
    }
    let Some(classes) = columns.classes.clone() else {
        return Err(invalid(
            "columns.classes",
            format!("is required for a {} task", task.as_str()),
            "list the labels, e.g. classes = [\"no\", \"yes\"]",
        ));
    };
    let distinct: BTreeSet<&String> = classes.iter().collect();
    if distinct.len() != classes.len() {
        return Err(invalid("columns.classes", "lists a label twice".into(), "list each label once"));
    }
    match task {
        Task::Binary => {
            if classes.len() != 2 {
                return Err(invalid(
                    "columns.classes",
                    format!("has {} labels, a binary task needs 2", classes.len()),
                    "use task = \"multiclass\" for more labels",
                ));
            }
            let Some(positive) = &columns.positive else {
                return Err(invalid(
                    "columns.positive",
                    "is required for a binary task".into(),
                    "name the positive class",
                ));
            };
            let Some(pos_idx) = classes.iter().position(|c| c == positive) else {
                return Err(invalid(
                    "columns.positive",
                    format!("is {positive:?}, which is not one of columns.classes"),
                    "use one of the listed classes",
                ));
            };
            let negative = classes[1 - pos_idx].clone();
            Ok(vec![negative, positive.clone()])
        }
        _ => {
            if classes.len() < 2 {
                return Err(invalid("columns.classes", "needs at least 2 labels".into(), "list every label"));
            }
            Ok(classes)
        }
    }
}

fn check_split(
    path: &Path,
    split: &SplitConfig,
    assigned: &BTreeMap<String, Assigned>,
    has_test_file: bool,
    known: &BTreeSet<&str>,
) -> Result<()> {
    let invalid = |key: &str, problem: String, hint: &str| Error::InvalidValue {
        path: path.to_path_buf(),
        key: key.to_string(),
        problem,
        hint: hint.to_string(),
    };
    if !(0.0..1.0).contains(&split.validation_fraction) {
        return Err(invalid(
            "split.validation_fraction",
            format!("is {}", split.validation_fraction),
            "use a fraction in [0, 1)",
        ));
    }
    if split.method != SplitMethod::Fixed && !(split.test_fraction > 0.0 && split.test_fraction < 1.0) {
        return Err(invalid("split.test_fraction", format!("is {}", split.test_fraction), "use a fraction in (0, 1)"));
    }
    match split.method {
        SplitMethod::Fixed if !has_test_file => Err(invalid(
            "split.method",
            "is \"fixed\" but data.test is not set".into(),
            "set data.test to the test file, or use another split method",
        )),
        SplitMethod::KeyHash => {
            let Some(key) = &split.key else {
                return Err(invalid(
                    "split.key",
                    "is required by split.method = \"key_hash\"".into(),
                    "name an id column",
                ));
            };
            match assigned.get(key) {
                None => Err(unknown(path, "split.key", key, known)),
                Some(a) if a.role == Role::Target => {
                    Err(invalid("split.key", "names the target".into(), "use an id column"))
                }
                Some(_) => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// The names a file (or `columns.names`) has must match the configured columns both ways.
fn check_names(path: &Path, names: &[String], assigned: &BTreeMap<String, Assigned>) -> Result<()> {
    let mut seen = BTreeSet::new();
    for name in names {
        if !seen.insert(name.as_str()) {
            return Err(Error::InvalidValue {
                path: path.to_path_buf(),
                key: "columns.names".into(),
                problem: format!("has `{name}` twice"),
                hint: "column names must be unique".into(),
            });
        }
        if !assigned.contains_key(name) {
            return Err(Error::NoRole { path: path.to_path_buf(), column: name.clone() });
        }
    }
    for (name, a) in assigned {
        if !seen.contains(name.as_str()) {
            return Err(Error::UnknownColumn {
                path: path.to_path_buf(),
                key: format!("columns.{}", a.key),
                column: name.clone(),
                known: names.join(", "),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

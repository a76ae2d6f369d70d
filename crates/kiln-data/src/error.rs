//! kiln-data's error type. Every variant names the file, key, column or row at fault; hints go
//! on their own line.

use std::path::PathBuf;

/// Errors from kiln-data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read config {path}")]
    ConfigRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config {path}")]
    ConfigParse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error(
        "{path}: column `{column}` is in two roles, `{first}` and `{second}`\nhint: keep it in exactly one of columns.target, numeric, categorical, id, drop"
    )]
    TwoRoles { path: PathBuf, column: String, first: String, second: String },
    #[error("{path}: `{key}` names column `{column}`, which the data does not have\nhint: the columns are: {known}")]
    UnknownColumn { path: PathBuf, key: String, column: String, known: String },
    #[error(
        "{path}: column `{column}` has no role\nhint: add it to columns.drop to ignore it, or to columns.numeric / categorical / id"
    )]
    NoRole { path: PathBuf, column: String },
    #[error(
        "{path}: column `{column}` is listed in `{flag}` and used as a {role} feature\nhint: remove it from the features, or add it to columns.allow_as_feature to allow it explicitly"
    )]
    FeatureNotAllowed { path: PathBuf, column: String, flag: String, role: String },
    #[error("{path}: `{key}` {problem}\nhint: {hint}")]
    InvalidValue { path: PathBuf, key: String, problem: String, hint: String },

    #[error(
        "{what} file {path} does not exist\nhint: check `data.{what}` in the config; paths are relative to the config file"
    )]
    FileNotFound { path: PathBuf, what: &'static str },
    #[error("cannot read {path}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is empty")]
    EmptyFile { path: PathBuf },
    #[error("{path} has no data rows (only a header)")]
    NoRows { path: PathBuf },
    #[error(
        "{path}, line {line}: expected {expected} fields, found {found}\nhint: every row needs one value per column; quote values that contain the separator"
    )]
    Ragged { path: PathBuf, line: u64, expected: usize, found: usize },
    #[error(
        "{path}, line {line}: unterminated quoted field\nhint: close the quote, or set data.quote = \"\" if the file does not quote fields"
    )]
    BadQuoting { path: PathBuf, line: u64 },
    #[error(
        "{path}, line {line}: bytes that are not valid UTF-8\nhint: re-encode the file as UTF-8 (for example `iconv -f latin1 -t utf-8`)"
    )]
    NotUtf8 { path: PathBuf, line: u64 },
    #[error(
        "{path}, line 1: the first line is not a header row naming the model's columns (it reads `{first}`)\nhint: this file has no header row; pass --config with the config that declares how to read it, or add a header row naming the columns ({features}, ...)"
    )]
    NoHeader { path: PathBuf, first: String, features: String },
    #[error(
        "{path} is not a Parquet file (it does not start and end with Parquet's `PAR1` marker)\nhint: check that the file is complete; a CSV file needs a name ending in .csv"
    )]
    NotParquet { path: PathBuf },
    #[error(
        "cannot parse CSV {path}\nhint: check that the file matches the config's [data] section (separator, header, quoting, missing markers) and columns.types; `kiln data describe CONFIG` shows how kiln reads it"
    )]
    ReadCsv {
        path: PathBuf,
        #[source]
        source: polars::error::PolarsError,
    },
    #[error(
        "cannot read Parquet {path}\nhint: the file may be truncated or written by a tool kiln cannot read; write it again, or export it as CSV with a header"
    )]
    ReadParquet {
        path: PathBuf,
        #[source]
        source: polars::error::PolarsError,
    },
    #[error(
        "no Parquet files match data.{what} = {spec}\nhint: a folder is read as every *.parquet file under it; check the path (relative to the config file) or the glob, e.g. data/events/**/*.parquet"
    )]
    NoParts { spec: PathBuf, what: &'static str },
    #[error(
        "data.{what} = {spec}: {problem}\nhint: use `*`, `?` and `**` (any folders) in the path, e.g. data/events/**/*.parquet"
    )]
    BadGlob { spec: PathBuf, what: &'static str, problem: String },
    #[error(
        "{path} does not match the other files of {spec}: {problem} (first file: {first})\nhint: write every file of the data set with the same columns and types, or move this one out of {spec}"
    )]
    PartMismatch { spec: PathBuf, path: PathBuf, first: PathBuf, problem: String },
    #[error(
        "{path}: partition folder `{key}={value}` does not parse as {dtype}, the type the config declares for `{key}`\nhint: rename the folder, or declare `{key}` with another type in [columns]"
    )]
    PartitionValue { path: PathBuf, key: String, value: String, dtype: String },
    #[error(
        "{path}: column `{key}` is both in the file and in a partition folder name\nhint: drop the column from the files, or name the folders after another key"
    )]
    PartitionClash { path: PathBuf, key: String },
    #[error("{path} has no column `{column}`\nhint: the file's columns are: {found}")]
    MissingFileColumn { path: PathBuf, column: String, found: String },
    #[error(
        "{path}: column `{column}` is {found}, but the config declares {expected}\nhint: fix columns.types in the config, or the file"
    )]
    ColumnType { path: PathBuf, column: String, expected: String, found: String },
    #[error("{path} failed {count} data check(s); first: {first}\nhint: run `kiln data validate` for the full report")]
    InvalidData { path: PathBuf, count: usize, first: String },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: column `{column}` has {found} rows, the first column has {expected}")]
    UnevenColumns { path: PathBuf, column: String, expected: usize, found: usize },
    #[error(
        "cannot write {path}\nhint: check that its folder exists and is writable and the disk has room; the name must end in .parquet or .csv"
    )]
    WriteTable {
        path: PathBuf,
        #[source]
        source: polars::error::PolarsError,
    },
    #[error("data operation failed while {doing}")]
    Polars {
        doing: &'static str,
        #[source]
        source: polars::error::PolarsError,
    },
    #[error(
        "cannot tell the format of {path}\nhint: `kiln init` reads CSV files with a header (.csv, .tsv, .txt) and Parquet files (.parquet, .pq)"
    )]
    InitFormat { path: PathBuf },
    #[error("{path} has no column `{column}` to predict\nhint: pass --target with one of: {found}")]
    InitTarget { path: PathBuf, column: String, found: String },
    #[error(
        "{path}: cannot tell the task from the target `{column}` ({dtype}, {distinct} distinct value(s))\nhint: a target needs two to 50 labels (classification) or numbers (regression); pass --target to choose another column"
    )]
    InitTask { path: PathBuf, column: String, distinct: u64, dtype: String },
    #[error("{path} already exists\nhint: pass --force to replace it, or --out to write elsewhere")]
    ConfigExists { path: PathBuf },
    #[error("cannot fit the preprocessor")]
    Preprocess(#[from] kiln_core::Error),
}

/// kiln-data's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

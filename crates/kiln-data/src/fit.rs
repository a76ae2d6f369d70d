//! Fitting kiln-core's `Preprocessor` on a loaded table, and encoding tables with it.
//!
//! The only place polars columns are turned into the plain slices kiln-core works on.

use kiln_core::preprocess::{ColumnRef, Encoded, PreprocessConfig, Preprocessor};
use kiln_core::schema::Role;
use polars::prelude::{DataFrame, DataType};

use crate::error::{Error, Result};

/// Owned plain copies of the feature columns of a DataFrame.
#[derive(Debug, Clone)]
pub enum Plain {
    Numeric(Vec<Option<f64>>),
    Categorical(Vec<Option<String>>),
}

/// Extract the feature columns of `df` named by the schema's feature roles.
pub fn feature_columns(df: &DataFrame, schema: &kiln_core::schema::Schema) -> Result<Vec<(String, Plain)>> {
    schema
        .features()
        .map(|col| Ok((col.name.clone(), plain_column(df, &col.name, col.role == Role::Numeric)?)))
        .collect()
}

/// One column of `df` as plain values: numbers (`numeric`) or text.
pub fn plain_column(df: &DataFrame, name: &str, numeric: bool) -> Result<Plain> {
    let series = df
        .column(name)
        .map_err(|source| Error::Polars { doing: "looking up a column", source })?
        .as_materialized_series();
    Ok(if numeric {
        let values =
            series.cast(&DataType::Float64).map_err(|source| Error::Polars { doing: "reading a column", source })?;
        Plain::Numeric(
            values.f64().map_err(|source| Error::Polars { doing: "reading a column", source })?.iter().collect(),
        )
    } else {
        let values =
            series.cast(&DataType::String).map_err(|source| Error::Polars { doing: "reading a column", source })?;
        Plain::Categorical(
            values
                .str()
                .map_err(|source| Error::Polars { doing: "reading a column", source })?
                .iter()
                .map(|v| v.map(str::to_string))
                .collect(),
        )
    })
}

/// Call `f` with borrowed `ColumnRef`s over the owned columns.
pub fn with_refs<T>(columns: &[(String, Plain)], f: impl FnOnce(&[(&str, ColumnRef<'_>)]) -> T) -> T {
    let text: Vec<Vec<Option<&str>>> = columns
        .iter()
        .map(|(_, p)| match p {
            Plain::Categorical(v) => v.iter().map(Option::as_deref).collect(),
            Plain::Numeric(_) => Vec::new(),
        })
        .collect();
    let refs: Vec<(&str, ColumnRef<'_>)> = columns
        .iter()
        .zip(&text)
        .map(|((name, p), t)| {
            let r = match p {
                Plain::Numeric(v) => ColumnRef::Numeric(v),
                Plain::Categorical(_) => ColumnRef::Categorical(t),
            };
            (name.as_str(), r)
        })
        .collect();
    f(&refs)
}

/// Fit the preprocessor on the training rows.
pub fn fit_preprocessor(
    config: &PreprocessConfig,
    train: &DataFrame,
    schema: &kiln_core::schema::Schema,
) -> Result<Preprocessor> {
    let columns = feature_columns(train, schema)?;
    Ok(with_refs(&columns, |refs| Preprocessor::fit(config, refs))?)
}

/// Encode the rows of `df` with a fitted preprocessor.
pub fn encode(preprocessor: &Preprocessor, df: &DataFrame, schema: &kiln_core::schema::Schema) -> Result<Encoded> {
    let columns = feature_columns(df, schema)?;
    Ok(with_refs(&columns, |refs| preprocessor.transform(refs))?)
}

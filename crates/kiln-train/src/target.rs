//! The training target as plain numbers: class indices (classification, in the schema's class
//! order, so that 1 is the positive class of a binary task) or values (regression).

use kiln_core::schema::Schema;
use polars::prelude::{DataFrame, DataType, Series};

use crate::error::{Error, Result};

/// The target column of the training rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Class index per row.
    Classes { index: Vec<u32>, n_classes: usize },
    /// Value per row.
    Values(Vec<f64>),
}

impl Target {
    pub fn len(&self) -> usize {
        match self {
            Target::Classes { index, .. } => index.len(),
            Target::Values(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Read the target of `df`. Every row needs a target: a known class, or a finite number.
pub fn read_target(df: &DataFrame, schema: &Schema) -> Result<Target> {
    let column = &schema.target;
    let series = find_column(df, column, "the training target")?;
    if schema.task.is_classification() {
        let text =
            series.cast(&DataType::String).map_err(|source| Error::Polars { doing: "reading the target", source })?;
        let text = text.str().map_err(|source| Error::Polars { doing: "reading the target", source })?;
        let index = text
            .iter()
            .enumerate()
            .map(|(row, value)| {
                let value = value.ok_or_else(|| Error::MissingTarget { column: column.clone(), row })?;
                schema.class_index(value).map(|i| i as u32).ok_or_else(|| Error::UnknownClass {
                    column: column.clone(),
                    value: value.to_string(),
                    row,
                    classes: schema.classes.join(", "),
                })
            })
            .collect::<Result<Vec<u32>>>()?;
        Ok(Target::Classes { index, n_classes: schema.classes.len() })
    } else {
        let values =
            series.cast(&DataType::Float64).map_err(|source| Error::Polars { doing: "reading the target", source })?;
        let values = values.f64().map_err(|source| Error::Polars { doing: "reading the target", source })?;
        let values = values
            .iter()
            .enumerate()
            .map(|(row, value)| match value {
                Some(v) if v.is_finite() => Ok(v),
                Some(_) => Err(Error::NonFiniteTarget { column: column.clone(), row }),
                None => Err(Error::MissingTarget { column: column.clone(), row }),
            })
            .collect::<Result<Vec<f64>>>()?;
        Ok(Target::Values(values))
    }
}

/// The column `name` of `df`; `what` says what it is needed as, for the error.
pub(crate) fn find_column<'a>(df: &'a DataFrame, name: &str, what: &'static str) -> Result<&'a Series> {
    df.columns()
        .iter()
        .find(|c| c.name().as_str() == name)
        .map(|c| c.as_materialized_series())
        .ok_or_else(|| Error::MissingColumn { column: name.to_string(), what })
}

//! Owned, typed columns of rows: what a batch file or a request becomes before it is checked
//! ([`crate::rows`]) and scored ([`crate::model::Model::predict_batch`]), and what the output
//! assembly ([`crate::model::output`]) produces.
//!
//! Plain vectors only (no polars), so that kiln-data's readers and a serving binary hand the
//! model the same thing. `None` is a missing value.

use std::borrow::Cow;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::preprocess::ColumnRef;
use crate::schema::DType;

/// The values of one column, in the type they were read as.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Values {
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
    Bool(Vec<Option<bool>>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::Int(v) => v.len(),
            Values::Float(v) => v.len(),
            Values::Text(v) => v.len(),
            Values::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The schema type these values are held in.
    pub fn dtype(&self) -> DType {
        match self {
            Values::Int(_) => DType::Int,
            Values::Float(_) => DType::Float,
            Values::Text(_) => DType::String,
            Values::Bool(_) => DType::Bool,
        }
    }

    /// Whether row `row` is missing.
    pub fn is_missing(&self, row: usize) -> bool {
        match self {
            Values::Int(v) => v[row].is_none(),
            Values::Float(v) => v[row].is_none(),
            Values::Text(v) => v[row].is_none(),
            Values::Bool(v) => v[row].is_none(),
        }
    }

    /// The values as numbers, for a numeric feature (`true` is 1); `None` for text.
    fn numbers(&self) -> Option<Cow<'_, [Option<f64>]>> {
        Some(match self {
            Values::Float(v) => Cow::Borrowed(v.as_slice()),
            Values::Int(v) => Cow::Owned(v.iter().map(|x| x.map(|x| x as f64)).collect()),
            Values::Bool(v) => Cow::Owned(v.iter().map(|x| x.map(|b| f64::from(u8::from(b)))).collect()),
            Values::Text(_) => return None,
        })
    }

    /// The values as category text, for a categorical feature: numbers and booleans as they
    /// print (`25`, `1.5`, `true`).
    pub(crate) fn categories(&self) -> Vec<Option<Cow<'_, str>>> {
        match self {
            Values::Text(v) => v.iter().map(|x| x.as_deref().map(Cow::Borrowed)).collect(),
            Values::Int(v) => v.iter().map(|x| x.map(|x| Cow::Owned(x.to_string()))).collect(),
            Values::Float(v) => v.iter().map(|x| x.map(|x| Cow::Owned(format!("{x:?}")))).collect(),
            Values::Bool(v) => v.iter().map(|x| x.map(|b| Cow::Owned(b.to_string()))).collect(),
        }
    }
}

/// Named columns of equal length: a batch of rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Batch {
    pub columns: Vec<(String, Values)>,
}

impl Batch {
    pub fn new(columns: Vec<(String, Values)>) -> Self {
        Self { columns }
    }

    /// The column named `name`.
    pub fn get(&self, name: &str) -> Option<&Values> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The column names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|(n, _)| n.as_str())
    }

    /// The number of rows: the length of the first column (0 without columns).
    pub fn n_rows(&self) -> usize {
        self.columns.first().map_or(0, |(_, v)| v.len())
    }

    /// Call `f` with borrowed [`ColumnRef`]s of the columns in `wanted` (name, numeric), as a
    /// model reads them ([`crate::model::Model::input_columns`]). Columns absent from the
    /// batch are left out (the model names the first one it misses); a text column where a
    /// number is wanted is an error.
    pub fn with_refs<T>(
        &self,
        wanted: &[(&str, bool)],
        f: impl FnOnce(&[(&str, ColumnRef<'_>)]) -> Result<T>,
    ) -> Result<T> {
        enum Owned<'a> {
            Numbers(Cow<'a, [Option<f64>]>),
            Text(Vec<Option<Cow<'a, str>>>),
        }
        let mut owned = Vec::with_capacity(wanted.len());
        for (name, numeric) in wanted {
            let Some(values) = self.get(name) else { continue };
            let column = if *numeric {
                let numbers = values
                    .numbers()
                    .ok_or_else(|| Error::ColumnKind { column: name.to_string(), expected: "numeric" })?;
                Owned::Numbers(numbers)
            } else {
                Owned::Text(values.categories())
            };
            owned.push((*name, column));
        }
        let text: Vec<Vec<Option<&str>>> = owned
            .iter()
            .map(|(_, c)| match c {
                Owned::Text(v) => v.iter().map(|x| x.as_deref()).collect(),
                Owned::Numbers(_) => Vec::new(),
            })
            .collect();
        let refs: Vec<(&str, ColumnRef<'_>)> = owned
            .iter()
            .zip(&text)
            .map(|((name, column), text)| match column {
                Owned::Numbers(v) => (*name, ColumnRef::Numeric(v)),
                Owned::Text(_) => (*name, ColumnRef::Categorical(text)),
            })
            .collect();
        f(&refs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_convert_by_the_kind_the_model_reads() {
        let batch = Batch::new(vec![
            ("n".into(), Values::Int(vec![Some(3), None])),
            ("flag".into(), Values::Bool(vec![Some(true), Some(false)])),
            ("code".into(), Values::Float(vec![Some(1.0), Some(2.5)])),
            ("city".into(), Values::Text(vec![Some("a".into()), None])),
        ]);
        let seen = batch
            .with_refs(&[("n", true), ("flag", true), ("code", false), ("city", false), ("absent", true)], |refs| {
                let names: Vec<&str> = refs.iter().map(|(n, _)| *n).collect();
                assert_eq!(names, ["n", "flag", "code", "city"]);
                match (refs[0].1, refs[1].1, refs[2].1, refs[3].1) {
                    (
                        ColumnRef::Numeric(n),
                        ColumnRef::Numeric(flag),
                        ColumnRef::Categorical(code),
                        ColumnRef::Categorical(city),
                    ) => {
                        assert_eq!(n, [Some(3.0), None]);
                        assert_eq!(flag, [Some(1.0), Some(0.0)]);
                        assert_eq!(code, [Some("1.0"), Some("2.5")]);
                        assert_eq!(city, [Some("a"), None]);
                    }
                    other => panic!("wrong kinds {other:?}"),
                }
                Ok(refs.len())
            })
            .expect("refs");
        assert_eq!(seen, 4);
        let err = batch.with_refs(&[("city", true)], |_| Ok(())).expect_err("text is not numeric");
        assert_eq!(err.to_string(), "column `city` must be numeric");
    }
}

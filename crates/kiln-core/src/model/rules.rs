//! Declared rules, evaluated over plain columns: the first rule whose conditions all hold
//! gives a row its score, and the default scores the rest.
//!
//! kiln-train compiles the rules of a config into a checked [`RuleSet`] (each column a feature,
//! each test fitting the column's role); this module stores and evaluates them. Numeric tests
//! read a [`ColumnRef::Numeric`] column, category tests a [`ColumnRef::Categorical`] one
//! (booleans as `true` / `false`, integers in decimal). A missing value (`None`, or NaN in a
//! numeric column) never satisfies a comparison, `!=` and `not_in` included: only `missing`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::preprocess::ColumnRef;
use crate::schema::Task;

/// The format tag of a saved rules model (`{"format": ..., "task": ..., "rules": ...}`), as
/// bundles store it in `Architecture::Rules`.
pub const RULES_FORMAT: &str = "kiln.rules.v1";

/// Checked rules, ready to evaluate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// The score of rows no rule matches.
    pub default_score: f64,
    pub default_label: Option<String>,
}

/// One checked rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// All must hold.
    pub when: Vec<Condition>,
    pub score: f64,
    pub label: Option<String>,
}

/// A checked condition on one feature column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub column: String,
    pub test: Test,
}

/// What a condition tests. Numeric tests read the column as numbers, category tests as text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    NumberEq(f64),
    NumberNe(f64),
    Lt(f64),
    Le(f64),
    Gt(f64),
    Ge(f64),
    CategoryEq(String),
    CategoryNe(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    /// `true`: the value is missing; `false`: it is present. `numeric` says how the column is
    /// read (NaN counts as missing in a numeric column).
    Missing {
        missing: bool,
        numeric: bool,
    },
}

impl Test {
    /// Whether the test reads its column as numbers (else as text).
    pub fn numeric(&self) -> bool {
        match self {
            Test::NumberEq(_) | Test::NumberNe(_) | Test::Lt(_) | Test::Le(_) | Test::Gt(_) | Test::Ge(_) => true,
            Test::CategoryEq(_) | Test::CategoryNe(_) | Test::In(_) | Test::NotIn(_) => false,
            Test::Missing { numeric, .. } => *numeric,
        }
    }

    /// Whether the test holds for row `row` of `column` (of the kind [`Test::numeric`] says).
    fn holds(&self, column: ColumnRef<'_>, row: usize) -> bool {
        match (self, column) {
            (Test::Missing { missing, .. }, ColumnRef::Numeric(v)) => v[row].is_none_or(f64::is_nan) == *missing,
            (Test::Missing { missing, .. }, ColumnRef::Categorical(v)) => v[row].is_none() == *missing,
            (_, ColumnRef::Numeric(v)) => {
                let Some(x) = v[row].filter(|x| !x.is_nan()) else { return false };
                match self {
                    Test::NumberEq(t) => x == *t,
                    Test::NumberNe(t) => x != *t,
                    Test::Lt(t) => x < *t,
                    Test::Le(t) => x <= *t,
                    Test::Gt(t) => x > *t,
                    Test::Ge(t) => x >= *t,
                    _ => false,
                }
            }
            (_, ColumnRef::Categorical(v)) => {
                let Some(x) = v[row] else { return false };
                match self {
                    Test::CategoryEq(t) => x == t,
                    Test::CategoryNe(t) => x != t,
                    Test::In(set) => set.iter().any(|s| s == x),
                    Test::NotIn(set) => !set.iter().any(|s| s == x),
                    _ => false,
                }
            }
        }
    }
}

/// A saved rules model: the envelope kiln-train writes and bundles hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedRules {
    pub format: String,
    pub task: Task,
    pub rules: RuleSet,
}

impl SavedRules {
    /// Read the JSON of a saved rules model, checking its format tag.
    pub fn from_json(value: serde_json::Value) -> Result<Self> {
        let saved: Self =
            serde_json::from_value(value).map_err(|source| Error::Deserialize { what: "rules model", source })?;
        if saved.format != RULES_FORMAT {
            return Err(Error::InvalidModel {
                architecture: "rules",
                problem: format!("has the format `{}`, expected `{RULES_FORMAT}`", saved.format),
            });
        }
        Ok(saved)
    }
}

impl RuleSet {
    /// Names of the columns the rules read, each once, in first-use order.
    pub fn columns(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for condition in self.rules.iter().flat_map(|r| &r.when) {
            if !names.contains(&condition.column.as_str()) {
                names.push(&condition.column);
            }
        }
        names
    }

    /// The index of the rule that scores each of `n_rows` rows (`None`: the default). Every
    /// column a rule reads must be among `columns`, of the kind its tests read, with `n_rows`
    /// values; other columns are ignored.
    pub fn matched(&self, columns: &[(&str, ColumnRef<'_>)], n_rows: usize) -> Result<Vec<Option<usize>>> {
        let conditions = self
            .rules
            .iter()
            .map(|rule| {
                rule.when
                    .iter()
                    .map(|condition| Ok((&condition.test, find(columns, condition, n_rows)?)))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((0..n_rows)
            .map(|row| conditions.iter().position(|when| when.iter().all(|(test, column)| test.holds(*column, row))))
            .collect())
    }

    /// The score of each of `n_rows` rows (see [`RuleSet::matched`]).
    pub fn scores(&self, columns: &[(&str, ColumnRef<'_>)], n_rows: usize) -> Result<Vec<f64>> {
        let matched = self.matched(columns, n_rows)?;
        Ok(matched.iter().map(|m| m.map_or(self.default_score, |r| self.rules[r].score)).collect())
    }
}

/// The column `condition` reads, checked for its kind and length.
fn find<'a>(columns: &[(&str, ColumnRef<'a>)], condition: &Condition, n_rows: usize) -> Result<ColumnRef<'a>> {
    let name = condition.column.as_str();
    let column = columns
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
        .ok_or_else(|| Error::MissingColumn { column: name.to_string() })?;
    match (column, condition.test.numeric()) {
        (ColumnRef::Categorical(_), true) => {
            return Err(Error::ColumnKind { column: name.to_string(), expected: "numeric" });
        }
        (ColumnRef::Numeric(_), false) => {
            return Err(Error::ColumnKind { column: name.to_string(), expected: "categorical" });
        }
        _ => {}
    }
    if column.len() != n_rows {
        return Err(Error::LengthMismatch { column: name.to_string(), expected: n_rows, found: column.len() });
    }
    Ok(column)
}

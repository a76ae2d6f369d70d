//! The rules baseline: declared rules evaluated in order on raw feature columns; the first rule
//! whose conditions all hold gives the row its score, and `default` scores the rest.
//!
//! [`compile_rules`] checks a `kind = "rules"` table against the schema (columns exist and are
//! features, each operator fits the column's type, values have the column's type) and compiles
//! it into kiln-core's [`RuleSet`], which evaluates it (the same code serving runs): a missing
//! value (null, or NaN in a numeric column) never satisfies a comparison, `!=` and `not_in`
//! included: only `missing`. This module reads the rules' columns from a table.

use kiln_core::schema::{DType, Role, Schema, Task};
use kiln_data::fit::Plain;
use polars::prelude::{DataFrame, DataType};
use serde::{Deserialize, Serialize};

use crate::config::{ConditionConfig, Op, RuleValue, RulesConfig, invalid};
use crate::error::{Error, Result};
use crate::predictions::Predictions;
use crate::target::find_column;

pub use kiln_core::model::rules::{Condition, RULES_FORMAT, Rule, RuleSet, Test};

/// A rules model: the rule set and the task it scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulesModel {
    pub task: Task,
    pub rules: RuleSet,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    format: String,
    #[serde(flatten)]
    model: RulesModel,
}

/// Check and compile the rules of the model at key path `prefix` (e.g. `models[2]`).
pub fn compile_rules(prefix: &str, config: &RulesConfig, schema: &Schema) -> Result<RuleSet> {
    check_score(&format!("{prefix}.default.score"), config.default.score, schema.task)?;
    let mut rules = Vec::with_capacity(config.rules.len());
    for (r, rule) in config.rules.iter().enumerate() {
        let key = format!("{prefix}.rules[{r}]");
        check_score(&format!("{key}.score"), rule.score, schema.task)?;
        if rule.when.is_empty() {
            return Err(invalid(
                &format!("{key}.when"),
                "is empty".into(),
                "give the rule at least one condition; `default` scores rows no rule matches",
            ));
        }
        let when = rule
            .when
            .iter()
            .enumerate()
            .map(|(c, condition)| compile(&format!("{key}.when[{c}]"), condition, schema))
            .collect::<Result<Vec<_>>>()?;
        rules.push(Rule { when, score: rule.score, label: rule.label.clone() });
    }
    Ok(RuleSet { rules, default_score: config.default.score, default_label: config.default.label.clone() })
}

impl RulesModel {
    /// The rules model for a checked rule set. Rules are declared, not learned: nothing is fitted.
    pub fn new(rules: RuleSet, schema: &Schema) -> Self {
        Self { task: schema.task, rules }
    }

    /// The index of the rule that scores each row of `df` (`None`: the default), evaluated by
    /// kiln-core's [`RuleSet::matched`] over the columns the rules read.
    pub fn matched(&self, df: &DataFrame) -> Result<Vec<Option<usize>>> {
        let columns = self.read_columns(df)?;
        let matched = kiln_data::fit::with_refs(&columns, |refs| self.rules.matched(refs, df.height()));
        matched.map_err(Error::Score)
    }

    /// The columns the rules read, as plain values of the kind their tests read.
    fn read_columns(&self, df: &DataFrame) -> Result<Vec<(String, Plain)>> {
        let mut columns: Vec<(String, Plain)> = Vec::new();
        for condition in self.rules.rules.iter().flat_map(|r| &r.when) {
            if !columns.iter().any(|(name, _)| *name == condition.column) {
                let values = read_column(df, &condition.column, condition.test.numeric())?;
                columns.push((condition.column.clone(), values));
            }
        }
        Ok(columns)
    }

    /// The score of each row of `df`.
    pub fn predict(&self, df: &DataFrame) -> Result<Predictions> {
        let columns = self.read_columns(df)?;
        let scores = kiln_data::fit::with_refs(&columns, |refs| self.rules.scores(refs, df.height()));
        Ok(Predictions::single(self.task, scores.map_err(Error::Score)?))
    }

    /// The model as JSON bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let saved = Saved { format: RULES_FORMAT.into(), model: self.clone() };
        serde_json::to_vec(&saved).map_err(|source| Error::Serialize { what: "rules model", source })
    }

    /// Read bytes written by [`RulesModel::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let saved: Saved =
            serde_json::from_slice(bytes).map_err(|source| Error::Deserialize { what: "rules model", source })?;
        if saved.format != RULES_FORMAT {
            return Err(Error::Format { what: "rules model", found: saved.format, expected: RULES_FORMAT });
        }
        Ok(saved.model)
    }
}

fn check_score(key: &str, score: f64, task: Task) -> Result<()> {
    match task {
        Task::Binary if !(0.0..=1.0).contains(&score) => Err(invalid(
            key,
            format!("is {score}, which is not a probability"),
            "for a binary task a score is P(positive), between 0 and 1",
        )),
        _ if !score.is_finite() => Err(invalid(key, format!("is {score}"), "use a finite number")),
        _ => Ok(()),
    }
}

fn compile(key: &str, condition: &ConditionConfig, schema: &Schema) -> Result<Condition> {
    let name = &condition.column;
    let column = match schema.column(name) {
        Some(c) if c.role.is_feature() => c,
        Some(c) if c.role == Role::Target => {
            return Err(invalid(
                &format!("{key}.column"),
                format!("names the target `{name}`"),
                "rules score rows from their features; the target is what they predict",
            ));
        }
        _ => {
            return Err(Error::UnknownColumn {
                key: format!("{key}.column"),
                column: name.clone(),
                known: schema.features().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
            });
        }
    };
    let numeric = column.role == Role::Numeric;
    let value_key = format!("{key}.value");
    let op = condition.op;
    let value = condition.value.as_ref();
    if op == Op::Missing {
        let missing = match value {
            None => true,
            Some(RuleValue::Bool(b)) => *b,
            Some(_) => {
                return Err(invalid(
                    &value_key,
                    "is set for `missing`, which takes no value".into(),
                    "remove the value, or write value = false to test that the value is present",
                ));
            }
        };
        return Ok(Condition { column: name.clone(), test: Test::Missing { missing, numeric } });
    }
    let Some(value) = value else {
        return Err(invalid(&value_key, format!("is required by op = \"{}\"", op.as_str()), "add value = ..."));
    };
    let test = if numeric {
        if matches!(op, Op::In | Op::NotIn) {
            return Err(invalid(
                &format!("{key}.op"),
                format!("is `{}` but `{name}` is a numeric column", op.as_str()),
                "`in` and `not_in` test categories; compare numbers with ==, !=, <, <=, >, >=",
            ));
        }
        let number = match value {
            RuleValue::Number(x) if x.is_finite() => *x,
            other => {
                return Err(invalid(
                    &value_key,
                    format!("is {} but `{name}` is a numeric column", describe(other)),
                    "write a finite number, e.g. value = 40",
                ));
            }
        };
        match op {
            Op::Eq => Test::NumberEq(number),
            Op::Ne => Test::NumberNe(number),
            Op::Lt => Test::Lt(number),
            Op::Le => Test::Le(number),
            Op::Gt => Test::Gt(number),
            _ => Test::Ge(number),
        }
    } else {
        match op {
            Op::Eq | Op::Ne => {
                let category = category(&value_key, value, name, column.dtype)?;
                if op == Op::Eq { Test::CategoryEq(category) } else { Test::CategoryNe(category) }
            }
            Op::In | Op::NotIn => {
                let RuleValue::List(items) = value else {
                    return Err(invalid(
                        &value_key,
                        format!("is {} but `{}` takes a list", describe(value), op.as_str()),
                        "write a list of categories, e.g. value = [\"a\", \"b\"]",
                    ));
                };
                if items.is_empty() {
                    return Err(invalid(&value_key, "is an empty list".into(), "list at least one category"));
                }
                let categories = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| category(&format!("{value_key}[{i}]"), item, name, column.dtype))
                    .collect::<Result<Vec<_>>>()?;
                if op == Op::In { Test::In(categories) } else { Test::NotIn(categories) }
            }
            _ => {
                return Err(invalid(
                    &format!("{key}.op"),
                    format!("is `{}` but `{name}` is a categorical column", op.as_str()),
                    "compare categories with ==, !=, in, not_in; order comparisons need a numeric column",
                ));
            }
        }
    };
    Ok(Condition { column: name.clone(), test })
}

/// A category value as the column's text: strings as written, booleans of a bool column as
/// `true` / `false`, whole numbers of an int column in decimal.
fn category(key: &str, value: &RuleValue, column: &str, dtype: DType) -> Result<String> {
    match (value, dtype) {
        (RuleValue::Text(s), _) => Ok(s.clone()),
        (RuleValue::Bool(b), DType::Bool) => Ok(b.to_string()),
        (RuleValue::Number(x), DType::Int) if x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(format!("{}", *x as i64)),
        (other, _) => Err(invalid(
            key,
            format!("is {} but `{column}` is a categorical column", describe(other)),
            "write the category as text, e.g. value = \"Private\"",
        )),
    }
}

fn describe(value: &RuleValue) -> String {
    match value {
        RuleValue::Bool(b) => format!("the boolean {b}"),
        RuleValue::Number(x) => format!("the number {x}"),
        RuleValue::Text(s) => format!("the text {s:?}"),
        RuleValue::List(_) => "a list".into(),
    }
}

fn read_column(df: &DataFrame, name: &str, numeric: bool) -> Result<Plain> {
    let series = find_column(df, name, "a rule condition's column")?;
    if numeric {
        let cast = series
            .cast(&DataType::Float64)
            .map_err(|source| Error::Polars { doing: "reading a rule's numeric column", source })?;
        let values = cast.f64().map_err(|source| Error::Polars { doing: "reading a rule's numeric column", source })?;
        Ok(Plain::Numeric(values.iter().collect()))
    } else {
        let cast = series
            .cast(&DataType::String)
            .map_err(|source| Error::Polars { doing: "reading a rule's categorical column", source })?;
        let values =
            cast.str().map_err(|source| Error::Polars { doing: "reading a rule's categorical column", source })?;
        Ok(Plain::Categorical(values.iter().map(|v| v.map(str::to_string)).collect()))
    }
}

//! Scoring with kiln-core's inference (`kiln_core::model::Model`, the path serving takes):
//! rows taken out of a table once as plain columns, each model scored on them once, and a
//! model's cost (latency on a fixed sample, size, parameters).

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Instant;

use kiln_core::bundle::{Architecture, PREPROCESS_CENTER, PREPROCESS_FILL, PREPROCESS_SCALE, TensorData, TensorDtype};
use kiln_core::model::Model;
use kiln_core::preprocess::ColumnRef;
use kiln_core::schema::{Role, Schema};
use kiln_data::fit::{Plain, plain_column};
use kiln_eval::data::ModelCost;
use polars::prelude::DataFrame;

use crate::error::{Error, Result};

/// Single-row calls timed for the per-row latency.
pub const SINGLE_ROW_CALLS: usize = 200;
/// Rows of the batch timed for the batch latency.
pub const BATCH_ROWS: usize = 1024;
/// Calls of that batch timed.
pub const BATCH_CALLS: usize = 20;

/// Rows of a table as plain columns: the schema's features and whatever else the models read.
#[derive(Debug, Clone)]
pub struct Rows {
    n_rows: usize,
    /// (name, numeric) and the values.
    columns: Vec<((String, bool), Plain)>,
}

impl Rows {
    /// The columns of `df` that the schema's features and `models` read.
    pub fn extract(df: &DataFrame, schema: &Schema, models: &[&Model]) -> Result<Self> {
        let features = schema.features().map(|c| (c.name.as_str(), c.role == Role::Numeric));
        let mut rows = Self { n_rows: df.height(), columns: Vec::new() };
        rows.add(df, features)?;
        for model in models {
            rows.add_inputs(df, model)?;
        }
        Ok(rows)
    }

    /// Add the columns of `df` (the table these rows came from) that `model` reads and the
    /// rows lack (a rule may test a column that is not a feature).
    pub fn add_inputs(&mut self, df: &DataFrame, model: &Model) -> Result<()> {
        self.add(df, model.input_columns().into_iter())
    }

    fn add<'a>(&mut self, df: &DataFrame, wanted: impl Iterator<Item = (&'a str, bool)>) -> Result<()> {
        for (name, numeric) in wanted {
            if !self.columns.iter().any(|((n, k), _)| n == name && *k == numeric) {
                let values = plain_column(df, name, numeric)?;
                self.columns.push(((name.to_string(), numeric), values));
            }
        }
        Ok(())
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Scores of `model` (called `name` in errors) on `range` of the rows: `len × n_outputs`,
    /// row-major.
    pub fn score_range(&self, name: &str, model: &Model, range: Range<usize>) -> Result<Vec<f64>> {
        let inputs = model.input_columns();
        let picked: Vec<&((String, bool), Plain)> = if inputs.is_empty() {
            // A prior reads no column: any column gives it the number of rows.
            self.columns.iter().take(1).collect()
        } else {
            self.columns.iter().filter(|((n, k), _)| inputs.contains(&(n.as_str(), *k))).collect()
        };
        let text: Vec<Vec<Option<&str>>> = picked
            .iter()
            .map(|(_, p)| match p {
                Plain::Categorical(v) => v[range.clone()].iter().map(Option::as_deref).collect(),
                Plain::Numeric(_) => Vec::new(),
            })
            .collect();
        let refs: Vec<(&str, ColumnRef<'_>)> = picked
            .iter()
            .zip(&text)
            .map(|(((n, _), p), t)| match p {
                Plain::Numeric(v) => (n.as_str(), ColumnRef::Numeric(&v[range.clone()])),
                Plain::Categorical(_) => (n.as_str(), ColumnRef::Categorical(t)),
            })
            .collect();
        let scores = model
            .predict(&refs)
            .map_err(|source| Error::Scoring { model: name.to_string(), source: Box::new(source) })?;
        let (rows, outputs) = (range.len(), model.n_outputs());
        if scores.len() != rows * outputs {
            return Err(Error::ScoreCount { model: name.to_string(), rows, outputs, found: scores.len() });
        }
        Ok(scores)
    }

    /// Scores of `model` on every row.
    pub fn score(&self, name: &str, model: &Model) -> Result<Vec<f64>> {
        self.score_range(name, model, 0..self.n_rows)
    }
}

/// Latency of one row ([`SINGLE_ROW_CALLS`] calls over the first rows) and of one batch (the
/// first [`BATCH_ROWS`] rows, [`BATCH_CALLS`] calls), raw columns → preprocessor → model as a
/// server runs it. The scores are not kept: this only times. Size and parameters come from
/// the model's bundle parts ([`size_of`]).
pub fn latency(name: &str, model: &Model, rows: &Rows) -> Result<ModelCost> {
    let n = rows.n_rows();
    let mut single = Vec::new();
    for i in 0..n.min(SINGLE_ROW_CALLS) {
        let start = Instant::now();
        rows.score_range(name, model, i..i + 1)?;
        single.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let mut batch = Vec::new();
    if n > 0 {
        let size = n.min(BATCH_ROWS);
        for _ in 0..BATCH_CALLS {
            let start = Instant::now();
            rows.score_range(name, model, 0..size)?;
            batch.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(ModelCost {
        train_seconds: None,
        latency_p50_ms: percentile(&mut single, 0.5),
        latency_p95_ms: percentile(&mut single, 0.95),
        batch_latency_p50_ms: percentile(&mut batch, 0.5),
        batch_latency_p95_ms: percentile(&mut batch, 0.95),
        size_bytes: None,
        n_params: None,
    })
}

/// Size in bytes (the model's tensors plus its architecture record) and parameters (its f32
/// tensor elements; none for rules, prior and trees) of a model's bundle parts. The
/// preprocessor's tensors are not the model's and are left out.
pub fn size_of(architecture: &Architecture, tensors: &BTreeMap<String, TensorData>) -> (u64, Option<u64>) {
    let own = || {
        tensors
            .iter()
            .filter(|(name, _)| ![PREPROCESS_CENTER, PREPROCESS_SCALE, PREPROCESS_FILL].contains(&name.as_str()))
    };
    let size_bytes: u64 = own().map(|(_, t)| t.bytes.len() as u64).sum::<u64>()
        + serde_json::to_vec(architecture).map_or(0, |v| v.len() as u64);
    let n_params: u64 = own().filter(|(_, t)| t.dtype == TensorDtype::F32).map(|(_, t)| t.n_elements() as u64).sum();
    (size_bytes, (n_params > 0).then_some(n_params))
}

fn percentile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(kiln_eval::ci::quantile(values, q))
}

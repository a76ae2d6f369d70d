//! The prior baseline: the training base rate (binary), class frequencies (multiclass) or mean
//! (regression), predicted for every row. The floor every other model must beat.

use kiln_core::schema::{Schema, Task};
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::predictions::Predictions;
use crate::target::{Target, read_target};

const FORMAT: &str = "kiln.prior.v1";

/// A fitted prior.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorModel {
    pub task: Task,
    /// Class labels (classification), in the schema's order.
    pub classes: Vec<String>,
    pub n_rows_fitted: usize,
    /// Binary: `[P(positive)]`; multiclass: one frequency per class; regression: `[mean]`.
    pub row: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    format: String,
    #[serde(flatten)]
    model: PriorModel,
}

impl PriorModel {
    /// Fit on the training rows.
    pub fn fit(train: &DataFrame, schema: &Schema) -> Result<Self> {
        let target = read_target(train, schema)?;
        if target.is_empty() {
            return Err(Error::NoTrainingRows);
        }
        let n = target.len();
        let row = match (&target, schema.task) {
            (Target::Classes { index, .. }, Task::Binary) => {
                vec![index.iter().filter(|c| **c == 1).count() as f64 / n as f64]
            }
            (Target::Classes { index, n_classes }, _) => {
                let mut counts = vec![0usize; *n_classes];
                for c in index {
                    counts[*c as usize] += 1;
                }
                counts.into_iter().map(|c| c as f64 / n as f64).collect()
            }
            (Target::Values(values), _) => vec![values.iter().sum::<f64>() / n as f64],
        };
        tracing::debug!(task = schema.task.as_str(), rows = n, ?row, "fitted the prior");
        Ok(Self { task: schema.task, classes: schema.classes.clone(), n_rows_fitted: n, row })
    }

    /// The prior for each row of `df`.
    pub fn predict(&self, df: &DataFrame) -> Predictions {
        Predictions::constant(self.task, &self.row, df.height())
    }

    /// The model as JSON bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let saved = Saved { format: FORMAT.into(), model: self.clone() };
        serde_json::to_vec(&saved).map_err(|source| Error::Serialize { what: "prior model", source })
    }

    /// Read bytes written by [`PriorModel::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let saved: Saved =
            serde_json::from_slice(bytes).map_err(|source| Error::Deserialize { what: "prior model", source })?;
        if saved.format != FORMAT {
            return Err(Error::Format { what: "prior model", found: saved.format, expected: FORMAT });
        }
        Ok(saved.model)
    }
}

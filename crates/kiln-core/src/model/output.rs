//! From a model's scores to the columns a prediction file (or a response) holds: the id
//! columns passed through, then per task
//!
//! - binary: `p_<positive>` and `predicted`, the positive class when the probability is at
//!   least the bundle's decision threshold (the config's `[evaluation] threshold` at export);
//! - multiclass: one `p_<class>` per class, in the schema's order, and `predicted`, the class
//!   of highest probability (the first on a tie);
//! - regression: `predicted`.
//!
//! [`Outputs::from_manifest`] cross-checks the model's outputs per row against the schema's
//! classes, so that assembling never indexes outside them.

use crate::bundle::Manifest;
use crate::columns::{Batch, Values};
use crate::error::{Error, Result};
use crate::schema::{Role, Task};

/// How a model's scores become output columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    task: Task,
    n_outputs: usize,
    /// The schema's classes (the positive class last for binary).
    classes: Vec<String>,
    /// The decision threshold of a binary model, when the bundle records it.
    threshold: Option<f64>,
    /// The schema's id columns, passed through when present.
    ids: Vec<String>,
}

impl Outputs {
    /// The outputs of the model of `manifest`, which gives `n_outputs` values per row.
    /// Fails when `n_outputs` does not fit the task and classes (binary: one output and two
    /// classes; multiclass: one output per class; regression: one output), or when a
    /// recorded decision threshold is not strictly between 0 and 1.
    pub fn from_manifest(manifest: &Manifest, n_outputs: usize) -> Result<Self> {
        let task = manifest.task;
        let classes = manifest.schema.classes.clone();
        let fits = match task {
            Task::Binary => n_outputs == 1 && classes.len() == 2,
            Task::Multiclass => n_outputs >= 2 && n_outputs == classes.len(),
            Task::Regression => n_outputs == 1,
        };
        if !fits {
            return Err(Error::OutputsMismatch {
                architecture: manifest.architecture.kind(),
                task,
                n_outputs,
                n_classes: classes.len(),
            });
        }
        let threshold = manifest.decision_threshold;
        if let Some(value) = threshold
            && !(value > 0.0 && value < 1.0)
        {
            return Err(Error::InvalidDecisionThreshold { value });
        }
        let ids = manifest.schema.columns.iter().filter(|c| c.role == Role::Id).map(|c| c.name.clone()).collect();
        Ok(Self { task, n_outputs, classes, threshold, ids })
    }

    /// The decision threshold of a binary model. Fails for a bundle that does not record
    /// one: it was exported before kiln stored the threshold, and the threshold it was
    /// evaluated with is unknown.
    pub fn threshold(&self) -> Result<f64> {
        self.threshold.ok_or(Error::NoDecisionThreshold)
    }

    /// The output columns for `scores` (`n_rows × n_outputs`, row-major) of the rows of
    /// `batch`, whose id columns are passed through first.
    pub fn assemble(&self, batch: &Batch, scores: &[f64]) -> Result<Batch> {
        let n_rows = batch.n_rows();
        if scores.len() != n_rows * self.n_outputs {
            return Err(Error::LengthMismatch {
                column: "scores".into(),
                expected: n_rows * self.n_outputs,
                found: scores.len(),
            });
        }
        let mut columns: Vec<(String, Values)> =
            self.ids.iter().filter_map(|id| batch.get(id).map(|values| (id.clone(), values.clone()))).collect();
        let label = |class: &String| Some(class.clone());
        match self.task {
            Task::Binary => {
                let threshold = self.threshold()?;
                let (negative, positive) = (&self.classes[0], &self.classes[1]);
                let labels = scores.iter().map(|p| label(if *p >= threshold { positive } else { negative }));
                let labels = Values::Text(labels.collect());
                columns.push((format!("p_{positive}"), Values::Float(scores.iter().copied().map(Some).collect())));
                columns.push(("predicted".into(), labels));
            }
            Task::Multiclass => {
                for (k, class) in self.classes.iter().enumerate() {
                    let p = scores.chunks_exact(self.n_outputs).map(|row| Some(row[k])).collect();
                    columns.push((format!("p_{class}"), Values::Float(p)));
                }
                let labels = scores.chunks_exact(self.n_outputs).map(|row| label(&self.classes[argmax(row)]));
                columns.push(("predicted".into(), Values::Text(labels.collect())));
            }
            Task::Regression => {
                columns.push(("predicted".into(), Values::Float(scores.iter().copied().map(Some).collect())));
            }
        }
        Ok(Batch::new(columns))
    }
}

/// The index of the largest value, the first on a tie.
fn argmax(row: &[f64]) -> usize {
    row.iter().enumerate().fold(0, |best, (i, v)| if *v > row[best] { i } else { best })
}

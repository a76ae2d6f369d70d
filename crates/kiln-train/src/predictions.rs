//! What every model returns: one score row per data row, in the task's shape.
//!
//! Binary: P(positive) (one value per row); multiclass: one probability per class, in the
//! schema's class order; regression: the predicted value.

use kiln_core::schema::Task;
use serde::{Deserialize, Serialize};

/// Scores for a table, row-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Predictions {
    pub task: Task,
    pub n_rows: usize,
    /// Values per row: the number of classes (multiclass), else 1.
    pub n_outputs: usize,
    /// `n_rows * n_outputs` values.
    pub values: Vec<f64>,
}

impl Predictions {
    /// One value per row (binary, regression).
    pub fn single(task: Task, values: Vec<f64>) -> Self {
        Self { task, n_rows: values.len(), n_outputs: 1, values }
    }

    /// The same row repeated `n_rows` times.
    pub fn constant(task: Task, row: &[f64], n_rows: usize) -> Self {
        let values = (0..n_rows).flat_map(|_| row.iter().copied()).collect();
        Self { task, n_rows, n_outputs: row.len(), values }
    }

    /// The values of one row.
    pub fn row(&self, row_idx: usize) -> &[f64] {
        &self.values[row_idx * self.n_outputs..(row_idx + 1) * self.n_outputs]
    }

    /// The index of the largest value of each row (the predicted class, for classification).
    pub fn argmax(&self) -> Vec<usize> {
        (0..self.n_rows)
            .map(|r| {
                let row = self.row(r);
                if self.n_outputs == 1 && self.task == Task::Binary {
                    return usize::from(row[0] >= 0.5);
                }
                row.iter().enumerate().fold(0, |best, (i, v)| if *v > row[best] { i } else { best })
            })
            .collect()
    }
}

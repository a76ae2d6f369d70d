//! Learned categorical embeddings (the ResNet's, after Gorishniy et al. 2021): one
//! `[cardinality, dim]` table per categorical column, looked up by the preprocessor's index
//! codes (code 0 is the `__other__` bucket, which also takes unseen categories and missing
//! values not seen in training). The forward pass gathers each row's embeddings after its
//! dense features; the backward pass scatter-adds the rows' gradients into the tables.

use kiln_core::rng::Rng;

/// One categorical column's embedding table, row-major `[cardinality, dim]` (as PyTorch's
/// `nn.Embedding.weight`; stored in bundles as `resnet.embeddings.{feature}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    pub cardinality: usize,
    pub dim: usize,
    pub weight: Vec<f32>,
}

impl Embedding {
    pub(crate) fn zeros(cardinality: usize, dim: usize) -> Self {
        Self { cardinality, dim, weight: vec![0.0; cardinality * dim] }
    }

    /// The row of `code`; a code outside the vocabulary reads the `__other__` row (0).
    fn row(&self, code: u32) -> &[f32] {
        let code = if (code as usize) < self.cardinality { code as usize } else { 0 };
        &self.weight[code * self.dim..(code + 1) * self.dim]
    }
}

/// Initialize every table uniformly in ±1/√dim (PyTorch's `kaiming_uniform_(a = √5)` on a
/// `[cardinality, dim]` weight, as the paper's code does).
pub(crate) fn initialize(tables: &mut [Embedding], rng: &mut Rng) {
    for table in tables {
        let limit = 1.0 / (table.dim.max(1) as f64).sqrt();
        table.weight.iter_mut().for_each(|w| *w = ((2.0 * rng.uniform() - 1.0) * limit) as f32);
    }
}

/// Write `rows` rows of `[dense features, embedding of code 0, embedding of code 1, ...]` into
/// `out` (`n_dense + Σ dim` wide); `codes` holds `tables.len()` codes per row.
pub(crate) fn gather(dense: &[f32], n_dense: usize, codes: &[u32], tables: &[Embedding], rows: usize, out: &mut [f32]) {
    let width = n_dense + tables.iter().map(|t| t.dim).sum::<usize>();
    let n_codes = tables.len();
    for row in 0..rows {
        let target = &mut out[row * width..(row + 1) * width];
        target[..n_dense].copy_from_slice(&dense[row * n_dense..(row + 1) * n_dense]);
        let mut offset = n_dense;
        for (table, code) in tables.iter().zip(&codes[row * n_codes..(row + 1) * n_codes]) {
            target[offset..offset + table.dim].copy_from_slice(table.row(*code));
            offset += table.dim;
        }
    }
}

/// The backward pass of [`gather`]: the gradient of each table (overwritten) is the sum, over
/// the rows using a code, of the gradient at that row's embedding slots of `grad` (the gradient
/// with respect to `out`). Rows are added in order, so the result does not depend on threads.
pub(crate) fn scatter_add(
    grad: &[f32],
    n_dense: usize,
    codes: &[u32],
    tables: &[Embedding],
    rows: usize,
    grads: &mut [Embedding],
) {
    let width = n_dense + tables.iter().map(|t| t.dim).sum::<usize>();
    let n_codes = tables.len();
    grads.iter_mut().for_each(|g| g.weight.fill(0.0));
    for row in 0..rows {
        let source = &grad[row * width..(row + 1) * width];
        let mut offset = n_dense;
        for (table, code) in grads.iter_mut().zip(&codes[row * n_codes..(row + 1) * n_codes]) {
            let code = if (*code as usize) < table.cardinality { *code as usize } else { 0 };
            let slot = &mut table.weight[code * table.dim..(code + 1) * table.dim];
            for (s, g) in slot.iter_mut().zip(&source[offset..offset + table.dim]) {
                *s += g;
            }
            offset += table.dim;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_and_scatter_by_hand() {
        // Two columns: 3 categories × 2 dims, 2 categories × 1 dim; one dense feature.
        let tables = vec![
            Embedding { cardinality: 3, dim: 2, weight: vec![0.0, 0.1, 1.0, 1.1, 2.0, 2.1] },
            Embedding { cardinality: 2, dim: 1, weight: vec![-1.0, -2.0] },
        ];
        let dense = [5.0, 6.0, 7.0];
        let codes = [2, 1, 0, 0, 2, 1];
        let mut out = vec![0.0; 3 * 4];
        gather(&dense, 1, &codes, &tables, 3, &mut out);
        assert_eq!(out, [5.0, 2.0, 2.1, -2.0, 6.0, 0.0, 0.1, -1.0, 7.0, 2.0, 2.1, -2.0]);
        let grad: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let mut grads = tables.clone();
        scatter_add(&grad, 1, &codes, &tables, 3, &mut grads);
        // Code 2 of the first column is used by rows 0 and 2: (1 + 9, 2 + 10); code 0 by row 1.
        assert_eq!(grads[0].weight, [5.0, 6.0, 0.0, 0.0, 10.0, 12.0]);
        // The second column: code 0 by row 1 (7), code 1 by rows 0 and 2 (3 + 11).
        assert_eq!(grads[1].weight, [7.0, 14.0]);
    }
}

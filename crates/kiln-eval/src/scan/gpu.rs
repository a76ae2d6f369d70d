//! The fast path on a CUDA GPU (feature `cuda`): kiln-kernels' evaluation kernels fed from the
//! one sort of [`sorted_columns`], their raw sums turned back into [`ScanResult`]s.
//!
//! kiln-kernels is a leaf that takes and returns raw buffers; this module is where kiln-eval's
//! types meet them. The kernels' results equal [`scan`](super::scan()) within 1e-9 relative
//! (kiln-eval's `tests/gpu.rs` on a GPU).

use kiln_kernels::cuda::{DeviceLists, Gpu, RowInput};
use kiln_kernels::reference::prep::{Prepared, SortedInput};

use super::{GroupStats, ScanError, ScanInput, ScanResult, sorted_columns, validate};
use crate::metrics::binary::{BinaryLabel, ConfusionMatrix};

/// Why the GPU path failed.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// The inputs are not valid fast-path inputs.
    #[error(transparent)]
    Input(#[from] ScanError),
    /// The kernels refused the buffers, or a CUDA call failed.
    #[error("the GPU evaluation failed")]
    Kernels(#[from] kiln_kernels::Error),
}

/// The kernels' lists of `input`: kiln-eval's one sort, partitioned and chunked on the host.
pub fn prepare<L: BinaryLabel + Sync>(input: &ScanInput<'_, L>) -> Result<Prepared, GpuError> {
    let c = sorted_columns(input)?;
    let sorted = SortedInput {
        keys: &c.keys,
        rows: &c.rows,
        positive: &c.positive,
        correct: &c.correct,
        accumulators: &c.accumulators,
        groups: &c.groups,
        loss: &c.loss,
        weights: input.weights,
    };
    Ok(Prepared::new(&sorted)?)
}

/// [`scan`](super::scan()) on `gpu`.
pub fn scan_gpu<L: BinaryLabel + Sync>(gpu: &Gpu, input: &ScanInput<'_, L>) -> Result<ScanResult, GpuError> {
    let prep = prepare(input)?;
    let lists = gpu.upload_lists(&prep)?;
    scan_prepared(gpu, input, &prep, &lists)
}

/// [`scan_gpu`] with the lists already prepared and uploaded.
pub fn scan_prepared<L: BinaryLabel + Sync>(
    gpu: &Gpu,
    input: &ScanInput<'_, L>,
    prep: &Prepared,
    lists: &DeviceLists,
) -> Result<ScanResult, GpuError> {
    validate(input)?;
    let n = input.labels.len();
    let labels: Vec<u8> = input.labels.iter().map(|l| u8::from(l.is_positive())).collect();
    let mut ids = Vec::with_capacity(n * input.slicings.len());
    for (s, (sl, &offset)) in input.slicings.iter().zip(&prep.offsets).enumerate() {
        if let Some(row) = sl.codes.iter().position(|&c| c >= sl.groups) {
            return Err(ScanError::Code { slicing: s, row, code: sl.codes[row], groups: sl.groups }.into());
        }
        ids.extend(sl.codes.iter().map(|&c| offset + c));
    }
    let rows = RowInput {
        labels: &labels,
        scores: input.scores,
        weights: input.weights,
        ids: &ids,
        threshold: input.threshold,
    };
    let points = gpu.sliced_eval(&rows, prep, lists)?;
    let groups = input
        .slicings
        .iter()
        .zip(&prep.offsets)
        .map(|(sl, &offset)| {
            (0..sl.groups as usize)
                .map(|g| {
                    let p = &points[offset as usize + g];
                    let confusion = ConfusionMatrix {
                        true_negative: p.cells[0],
                        false_positive: p.cells[1],
                        false_negative: p.cells[2],
                        true_positive: p.cells[3],
                    };
                    let weight = confusion.total();
                    let mean = |sum: f64| if weight > 0.0 { Some(sum / weight) } else { None };
                    GroupStats {
                        count: p.count,
                        weight,
                        positive_weight: confusion.false_negative + confusion.true_positive,
                        confusion,
                        accuracy: confusion.accuracy(),
                        roc_auc: p.ranks.metrics()[2],
                        log_loss: mean(p.loss),
                        brier: mean(p.brier),
                    }
                })
                .collect()
        })
        .collect();
    Ok(ScanResult { groups })
}

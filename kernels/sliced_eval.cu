// Sliced evaluation on the device: the metrics of kiln_eval::scan::scan for every group of
// every slicing. Reference: kiln_eval::scan::scan (tests: kiln-kernels tests/gpu.rs).
//
// sliced_rows   one pass over the rows in their own order: each group's weighted confusion
//               cells (tn, fp, fn, tp), log-loss and Brier sums and row count, accumulated per
//               block in shared memory (when the groups fit it), then added to the totals with
//               atomics.
// sliced_auc    one block per chunk of a group's score-ordered list (host-prepared): the
//               chunk's ROC sums by block scans with half credit for tied scores.
// sliced_combine  the chunks of each group added in list order.
//
// Exactness: the AUC is exact (sorted ranks, ties handled as scikit-learn does), not a histogram
// approximation; every sum is in double. Sums differ from the CPU's only in the order of the
// floating-point additions (atomics, block trees): relative differences of order 1e-15, tested
// at 1e-9.
#include "scan_common.cuh"

// the fields of a group's row sums
#define ROW_SUMS 6

extern "C" __global__ void sliced_rows(const uint8_t* __restrict__ labels, const double* __restrict__ scores,
                                       const double* __restrict__ weights, int has_weights,
                                       const uint32_t* __restrict__ ids, uint32_t n_slicings, uint32_t n_rows,
                                       uint32_t n_groups, double threshold, int use_shared,
                                       double* __restrict__ sums, unsigned long long* __restrict__ counts) {
    extern __shared__ double shared[];
    double* local_sums = shared;
    unsigned long long* local_counts = (unsigned long long*)(shared + (size_t)n_groups * ROW_SUMS);
    if (use_shared) {
        for (uint32_t i = threadIdx.x; i < n_groups * ROW_SUMS; i += blockDim.x) local_sums[i] = 0.0;
        for (uint32_t i = threadIdx.x; i < n_groups; i += blockDim.x) local_counts[i] = 0ull;
        __syncthreads();
    }
    double* acc = use_shared ? local_sums : sums;
    unsigned long long* cnt = use_shared ? local_counts : counts;
    const double eps = 2.220446049250313e-16;  // f64::EPSILON
    for (uint32_t row = blockIdx.x * blockDim.x + threadIdx.x; row < n_rows; row += gridDim.x * blockDim.x) {
        const bool y = labels[row] != 0;
        const double p = scores[row];
        const double w = has_weights ? weights[row] : 1.0;
        const int cell = 2 * (int)y + (p >= threshold ? 1 : 0);
        double q = y ? p : 1.0 - p;
        q = fmin(fmax(q, eps), 1.0 - eps);
        const double loss = w * -log(q);
        const double d = (y ? 1.0 : 0.0) - p;
        const double brier = w * (d * d);
        for (uint32_t s = 0; s < n_slicings; ++s) {
            const uint32_t g = ids[(size_t)s * n_rows + row];
            double* a = acc + (size_t)g * ROW_SUMS;
            atomicAdd(a + cell, w);
            atomicAdd(a + 4, loss);
            atomicAdd(a + 5, brier);
            atomicAdd(cnt + g, 1ull);
        }
    }
    if (use_shared) {
        __syncthreads();
        for (uint32_t i = threadIdx.x; i < n_groups * ROW_SUMS; i += blockDim.x)
            if (local_sums[i] != 0.0) atomicAdd(sums + i, local_sums[i]);
        for (uint32_t i = threadIdx.x; i < n_groups; i += blockDim.x)
            if (local_counts[i] != 0ull) atomicAdd(counts + i, local_counts[i]);
    }
}

extern "C" __global__ void sliced_auc(const uint32_t* __restrict__ records, const double* __restrict__ loss,
                                      const double* __restrict__ weights, int has_weights,
                                      const uint32_t* __restrict__ chunk_start, uint32_t n_chunks,
                                      double* __restrict__ partials) {
    for (uint32_t c = blockIdx.x; c < n_chunks; c += gridDim.x)
        kiln_chunk_sums(records, loss, weights, has_weights, chunk_start[c], chunk_start[c + 1], 0, 0u, 0u, 0u,
                        nullptr, partials + (size_t)c * KILN_SUMS);
}

extern "C" __global__ void sliced_combine(const double* __restrict__ partials, const uint32_t* __restrict__ group_chunk,
                                          uint32_t n_chunks, uint32_t n_groups, double* __restrict__ sums) {
    kiln_combine(partials, group_chunk, n_chunks, n_groups, 1u, sums);
}

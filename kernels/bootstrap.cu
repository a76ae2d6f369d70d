// Poisson(1) bootstrap on the device: accuracy, log loss and ROC AUC of every group of every
// slicing in every replicate, all replicates in one launch. Reference:
// kiln_kernels::reference::bootstrap::replicate_sums (itself checked against
// kiln_eval::scan::scan_bootstrap), tests: kiln-kernels tests/gpu.rs.
//
// bootstrap_chunks  grid (replicates, chunks): block (r, c) sums chunk c of the host-prepared
//                   score-ordered lists under replicate r's weights, drawn here by Philox4x32-10
//                   at counter (row, r, 0, 0) with key (seed low, seed high), the uniform
//                   ((x0 << 32 | x1) >> 11) * 2^-53 and Poisson inversion on the host's table:
//                   bit-identical to kiln_eval::scan::philox::poisson1_weight. Replicates vary
//                   fastest in the grid, so the blocks running together read the same chunk
//                   (from L2).
// bootstrap_combine one thread per (replicate, group): the group's chunks added in list order.
//
// Exactness: the weights are bit-identical to the CPU's; the sums are in double and differ
// from the CPU reference only in the order of additions (block trees): relative differences of
// order 1e-15, tested at 1e-9.
#include "scan_common.cuh"

extern "C" __global__ void bootstrap_chunks(const uint32_t* __restrict__ records, const double* __restrict__ loss,
                                            const double* __restrict__ weights, int has_weights,
                                            const uint32_t* __restrict__ chunk_start, uint32_t n_chunks,
                                            uint32_t first_replicate, uint32_t k0, uint32_t k1,
                                            const double* __restrict__ cdf, double* __restrict__ partials) {
    __shared__ double table[20];
    if (threadIdx.x < 20) table[threadIdx.x] = cdf[threadIdx.x];
    __syncthreads();
    const uint32_t r = blockIdx.x;
    for (uint32_t c = blockIdx.y; c < n_chunks; c += gridDim.y)
        kiln_chunk_sums(records, loss, weights, has_weights, chunk_start[c], chunk_start[c + 1], 1,
                        first_replicate + r, k0, k1, table, partials + ((size_t)r * n_chunks + c) * KILN_SUMS);
}

extern "C" __global__ void bootstrap_combine(const double* __restrict__ partials,
                                             const uint32_t* __restrict__ group_chunk, uint32_t n_chunks,
                                             uint32_t n_groups, uint32_t replicates, double* __restrict__ sums) {
    kiln_combine(partials, group_chunk, n_chunks, n_groups, replicates, sums);
}

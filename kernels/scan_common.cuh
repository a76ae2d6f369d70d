// Shared device code of sliced_eval.cu and bootstrap.cu: Philox4x32-10, the Poisson(1) draw,
// block scans, and the per-chunk sums of kiln-kernels' reference::bootstrap::chunk_sums.
//
// The inputs are the lists of kiln_kernels::reference::prep::Prepared: one u32 record per list
// position (row in bits 0..29, flags HEAD / POSITIVE / CORRECT in bits 31 / 30 / 29), the rows'
// log losses and optionally weights by row (indexed by the record's row), and chunk starts
// (chunks never split a run of tied scores). One thread block sums one chunk in tiles of KILN_ITEMS * blockDim.x positions.
#pragma once
#include <stdint.h>

#ifndef __CUDACC__
// a host C++ compiler (host_check.cpp): only the Philox and Poisson functions below
#define __host__
#define __device__
#define __forceinline__ inline
#endif

#define KILN_HEAD 0x80000000u
#define KILN_POSITIVE 0x40000000u
#define KILN_CORRECT 0x20000000u
#define KILN_ROW_MASK 0x1FFFFFFFu
// threads per block of the chunk kernels (a multiple of 32, at most 1024)
#define KILN_SCAN_THREADS 256
#define KILN_WARPS (KILN_SCAN_THREADS / 32)
// consecutive positions per thread in a tile of the chunk kernels
#define KILN_ITEMS 4
// fields of the sums, in kiln_kernels::reference::bootstrap::GroupSums order
#define KILN_SUMS 6

// The high 32 bits of a 32 x 32-bit product (host code too: host_check.cu runs these on the CPU).
__host__ __device__ __forceinline__ uint32_t kiln_mulhi(uint32_t a, uint32_t b) {
#ifdef __CUDA_ARCH__
    return __umulhi(a, b);
#else
    return (uint32_t)(((uint64_t)a * b) >> 32);
#endif
}

// Philox4x32 with 10 rounds (Random123's constants), as kiln_eval::scan::philox::philox4x32_10.
__host__ __device__ __forceinline__ void kiln_philox4x32_10(uint32_t c[4], uint32_t k0, uint32_t k1) {
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        const uint32_t hi0 = kiln_mulhi(0xD2511F53u, c[0]), lo0 = 0xD2511F53u * c[0];
        const uint32_t hi1 = kiln_mulhi(0xCD9E8D57u, c[2]), lo1 = 0xCD9E8D57u * c[2];
        const uint32_t n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
        c[0] = n0;
        c[1] = lo1;
        c[2] = n2;
        c[3] = lo0;
    }
}

// The Poisson(1) bootstrap weight of (row, replicate) under (k0, k1): counter (row, replicate,
// 0, 0), uniform ((x0 << 32 | x1) >> 11) * 2^-53, inversion on the table `cdf` (20 entries,
// the last 1), as kiln_eval::scan::philox::poisson1_weight.
__host__ __device__ __forceinline__ uint32_t kiln_poisson1(uint32_t row, uint32_t replicate, uint32_t k0, uint32_t k1,
                                                            const double* cdf) {
    uint32_t c[4] = {row, replicate, 0u, 0u};
    kiln_philox4x32_10(c, k0, k1);
    const uint64_t bits = ((uint64_t)c[0] << 32) | (uint64_t)c[1];
    const double u = (double)(bits >> 11) * (1.0 / 9007199254740992.0);
    uint32_t k = 0;
    while (u >= cdf[k]) ++k;
    return k;
}

#ifdef __CUDACC__
// A segmented sum: `f` says a segment starts within the span, `v` the sum since its last start.
struct KilnSeg {
    bool f;
    double v;
};

__device__ __forceinline__ KilnSeg kiln_seg_join(KilnSeg a, KilnSeg b) {
    KilnSeg r;
    r.f = a.f || b.f;
    r.v = b.f ? b.v : a.v + b.v;
    return r;
}

// Three exclusive block scans at once over one aggregate per thread: a plain sum `s` and two
// segmented sums `pt`, `nt` (an aggregate's flag: a segment starts within the thread's span).
// On return each holds the combination of `carry` (the running values of the previous tiles,
// flags true) and the aggregates of the threads before this one; `carry` is updated with this
// tile's totals. Deterministic: a fixed tree of additions for a given block size.
__device__ __forceinline__ void kiln_block_scan3_exclusive(double& s, KilnSeg& pt, KilnSeg& nt, double carry[3]) {
    __shared__ double warp_s[KILN_WARPS];
    __shared__ KilnSeg warp_pt[KILN_WARPS], warp_nt[KILN_WARPS];
    __shared__ double tile_total[3];
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
    const double own_s = s;
    const KilnSeg own_pt = pt, own_nt = nt;
    // inclusive scan within the warp
#pragma unroll
    for (unsigned off = 1; off < 32; off <<= 1) {
        const double s_up = __shfl_up_sync(0xFFFFFFFFu, s, off);
        const double pv = __shfl_up_sync(0xFFFFFFFFu, pt.v, off);
        const bool pf = __shfl_up_sync(0xFFFFFFFFu, (int)pt.f, off) != 0;
        const double nv = __shfl_up_sync(0xFFFFFFFFu, nt.v, off);
        const bool nf = __shfl_up_sync(0xFFFFFFFFu, (int)nt.f, off) != 0;
        if (lane >= off) {
            s += s_up;
            pt = kiln_seg_join(KilnSeg{pf, pv}, pt);
            nt = kiln_seg_join(KilnSeg{nf, nv}, nt);
        }
    }
    if (lane == 31) {
        warp_s[warp] = s;
        warp_pt[warp] = pt;
        warp_nt[warp] = nt;
    }
    // exclusive within the warp: the inclusive value of the lane before
    double xs = __shfl_up_sync(0xFFFFFFFFu, s, 1);
    KilnSeg xpt{__shfl_up_sync(0xFFFFFFFFu, (int)pt.f, 1) != 0, __shfl_up_sync(0xFFFFFFFFu, pt.v, 1)};
    KilnSeg xnt{__shfl_up_sync(0xFFFFFFFFu, (int)nt.f, 1) != 0, __shfl_up_sync(0xFFFFFFFFu, nt.v, 1)};
    if (lane == 0) {
        xs = 0.0;
        xpt = KilnSeg{false, 0.0};
        xnt = KilnSeg{false, 0.0};
    }
    __syncthreads();
    // the tile's carry-in, then the warps before this one, in order
    double ps = carry[0];
    KilnSeg ppt{true, carry[1]}, pnt{true, carry[2]};
    for (unsigned w = 0; w < warp; ++w) {
        ps += warp_s[w];
        ppt = kiln_seg_join(ppt, warp_pt[w]);
        pnt = kiln_seg_join(pnt, warp_nt[w]);
    }
    s = ps + xs;
    pt = kiln_seg_join(ppt, xpt);
    nt = kiln_seg_join(pnt, xnt);
    if (threadIdx.x == blockDim.x - 1) {
        tile_total[0] = s + own_s;
        tile_total[1] = kiln_seg_join(pt, own_pt).v;
        tile_total[2] = kiln_seg_join(nt, own_nt).v;
    }
    __syncthreads();
    carry[0] = tile_total[0];
    carry[1] = tile_total[1];
    carry[2] = tile_total[2];
    __syncthreads();
}

// Block-wide sums of KILN_SUMS - 1 doubles per thread at once (deterministic); valid in thread 0.
__device__ __forceinline__ void kiln_block_sum5(double v[5]) {
    __shared__ double partial[5][KILN_WARPS];
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
#pragma unroll
    for (int k = 0; k < 5; ++k) {
#pragma unroll
        for (unsigned off = 16; off > 0; off >>= 1) v[k] += __shfl_down_sync(0xFFFFFFFFu, v[k], off);
        if (lane == 0) partial[k][warp] = v[k];
    }
    __syncthreads();
    if (threadIdx.x == 0) {
#pragma unroll
        for (int k = 0; k < 5; ++k) {
            double total = 0.0;
            for (unsigned w = 0; w < KILN_WARPS; ++w) total += partial[k][w];
            v[k] = total;
        }
    }
    __syncthreads();
}

// The sums of chunk `chunk` for replicate `replicate` (Poisson weights when `poisson`, else the
// rows' own weights) into out[0..6]: area, pos, neg, weight, correct, loss. Must be called by
// all KILN_SCAN_THREADS threads of the block; thread 0 writes `out`. Each thread takes
// KILN_ITEMS consecutive positions of a tile (KILN_ITEMS * blockDim.x positions): a local scan
// over its own, one block scan of the threads' aggregates.
__device__ __forceinline__ void kiln_chunk_sums(const uint32_t* __restrict__ records, const double* __restrict__ loss,
                                                const double* __restrict__ weights, int has_weights,
                                                uint32_t start, uint32_t end, int poisson, uint32_t replicate,
                                                uint32_t k0, uint32_t k1, const double* cdf,
                                                double* __restrict__ out) {
    double carry[3] = {0.0, 0.0, 0.0};
    // area, neg, weight, correct, loss
    double acc[5] = {0.0, 0.0, 0.0, 0.0, 0.0};
    const uint32_t tile_len = blockDim.x * KILN_ITEMS;
    for (uint32_t tile = start; tile < end; tile += tile_len) {
        const uint32_t first = tile + threadIdx.x * KILN_ITEMS;
        double pw[KILN_ITEMS], nw[KILN_ITEMS], ls[KILN_ITEMS];
        KilnSeg lpt[KILN_ITEMS], lnt[KILN_ITEMS];
#pragma unroll
        for (int j = 0; j < KILN_ITEMS; ++j) {
            const uint32_t p = first + j;
            double w = 0.0;
            uint32_t rec = KILN_HEAD;  // past the end: an empty segment start, weight 0
            if (p < end) {
                rec = records[p];
                const uint32_t row = rec & KILN_ROW_MASK;
                const double base = has_weights ? weights[row] : 1.0;
                w = poisson ? base * (double)kiln_poisson1(row, replicate, k0, k1, cdf) : base;
                acc[2] += w;
                if (rec & KILN_CORRECT) acc[3] += w;
                acc[4] += w * loss[row];
            }
            const bool positive = (rec & KILN_POSITIVE) != 0;
            pw[j] = positive ? w : 0.0;
            nw[j] = positive ? 0.0 : w;
            const bool head = (rec & KILN_HEAD) != 0;
            // this thread's inclusive scans so far
            const KilnSeg ppt = KilnSeg{head, pw[j]}, pnt = KilnSeg{head, nw[j]};
            if (j == 0) {
                ls[0] = pw[0];
                lpt[0] = ppt;
                lnt[0] = pnt;
            } else {
                ls[j] = ls[j - 1] + pw[j];
                lpt[j] = kiln_seg_join(lpt[j - 1], ppt);
                lnt[j] = kiln_seg_join(lnt[j - 1], pnt);
            }
        }
        double s = ls[KILN_ITEMS - 1];
        KilnSeg pt = lpt[KILN_ITEMS - 1], nt = lnt[KILN_ITEMS - 1];
        kiln_block_scan3_exclusive(s, pt, nt, carry);
#pragma unroll
        for (int j = 0; j < KILN_ITEMS; ++j) {
            const double sj = s + ls[j];
            const double ptj = kiln_seg_join(pt, lpt[j]).v, ntj = kiln_seg_join(nt, lnt[j]).v;
            acc[0] += nw[j] * (sj - 0.5 * ptj) + pw[j] * (0.5 * ntj);
            acc[1] += nw[j];
        }
    }
    kiln_block_sum5(acc);
    if (threadIdx.x == 0) {
        out[0] = acc[0];
        out[1] = carry[0];
        out[2] = acc[1];
        out[3] = acc[2];
        out[4] = acc[3];
        out[5] = acc[4];
    }
}

// Adds the chunks of each group in list order (kiln_kernels::reference::bootstrap::combine):
// one thread per (replicate, group); `partials[(r * n_chunks + c) * 6 + field]`,
// `sums[(r * n_groups + g) * 6 + field]`.
__device__ __forceinline__ void kiln_combine(const double* __restrict__ partials, const uint32_t* __restrict__ group_chunk,
                                             uint32_t n_chunks, uint32_t n_groups, uint32_t replicates,
                                             double* __restrict__ sums) {
    const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (uint64_t)replicates * n_groups) return;
    const uint64_t r = i / n_groups, g = i % n_groups;
    double t[KILN_SUMS] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    for (uint32_t c = group_chunk[g]; c < group_chunk[g + 1]; ++c) {
        const double* a = partials + (r * n_chunks + c) * KILN_SUMS;
        t[0] += a[0] + a[2] * t[1];
        t[1] += a[1];
        t[2] += a[2];
        t[3] += a[3];
        t[4] += a[4];
        t[5] += a[5];
    }
    for (int f = 0; f < KILN_SUMS; ++f) sums[i * KILN_SUMS + f] = t[f];
}
#endif  // __CUDACC__

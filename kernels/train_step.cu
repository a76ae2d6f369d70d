// The non-matrix half of a neural training step, fused (what eager frameworks spend dozens of
// small launches on, per step):
//   loss_grad       the batch's weighted mean loss and its gradient with respect to the outputs,
//                   one launch (binary cross-entropy on logits, softmax cross-entropy, squared
//                   error), the loss added to an epoch accumulator on the device;
//   sq_norm_partial one tensor's partial sums of squared gradients (for global-norm clipping);
//   clip_adamw      the clipping factor from all partial sums, then one AdamW step of a tensor.
// Every reduction has a fixed shape and order (no atomics), so a step is deterministic.
// References: kiln_kernels::reference::train_step (kiln-train's nn::loss::loss_and_gradient,
// nn::optim::clip_global_norm and AdamW::update). Per-row math is in double like the
// reference's; the AdamW update uses round-to-nearest f32 intrinsics in the reference's order.
#include <float.h>
#include <stdint.h>

#define KILN_LOSS_THREADS 1024
#define KILN_NORM_THREADS 256

// Sum of `v` over the block, in a fixed tree order; every thread gets the sum.
template <int THREADS>
__device__ double block_sum(double v, double* shared) {
    const int t = threadIdx.x;
    shared[t] = v;
    __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) {
        if (t < s) shared[t] += shared[t + s];
        __syncthreads();
    }
    const double r = shared[0];
    __syncthreads();
    return r;
}

__device__ double stable_sigmoid(double z) {
    if (z >= 0.0) return 1.0 / (1.0 + exp(-z));
    const double e = exp(z);
    return e / (1.0 + e);
}

// task: 0 binary (n_outputs 1, targets 0/1), 1 multiclass (targets class indices),
// 2 regression (n_outputs 1). One block of KILN_LOSS_THREADS threads; `grad` has
// rows * n_outputs entries; `loss_acc[0] += Σ wᵢ lᵢ / Σ wᵢ`.
extern "C" __global__ void loss_grad(const float* __restrict__ z, const float* __restrict__ targets,
                                     const float* __restrict__ weights, unsigned int rows, unsigned int n_outputs,
                                     int task, float* __restrict__ grad, double* __restrict__ loss_acc) {
    __shared__ double shared[KILN_LOSS_THREADS];
    double total = 0.0;
    for (unsigned int r = threadIdx.x; r < rows; r += KILN_LOSS_THREADS) total += (double)weights[r];
    total = block_sum<KILN_LOSS_THREADS>(total, shared);
    const double scale = total > 0.0 ? 1.0 / total : 0.0;
    double loss = 0.0;
    for (unsigned int r = threadIdx.x; r < rows; r += KILN_LOSS_THREADS) {
        const double y = (double)targets[r], w = (double)weights[r];
        const float* out = z + (size_t)r * n_outputs;
        float* g = grad + (size_t)r * n_outputs;
        if (task == 0) {
            const double zi = (double)out[0];
            loss += w * (fmax(zi, 0.0) - zi * y + log1p(exp(-fabs(zi))));
            g[0] = (float)((stable_sigmoid(zi) - y) * w * scale);
        } else if (task == 1) {
            float mx = -FLT_MAX;
            for (unsigned int k = 0; k < n_outputs; ++k) mx = fmaxf(mx, out[k]);
            double sum = 0.0;
            for (unsigned int k = 0; k < n_outputs; ++k) sum += exp((double)(out[k] - mx));
            const unsigned int cls = (unsigned int)y;
            loss += w * ((double)mx + log(sum) - (double)out[cls]);
            for (unsigned int k = 0; k < n_outputs; ++k) {
                const double p = exp((double)(out[k] - mx)) / sum;
                g[k] = (float)((p - (k == cls ? 1.0 : 0.0)) * w * scale);
            }
        } else {
            const double d = (double)out[0] - y;
            loss += w * d * d;
            g[0] = (float)(2.0 * d * w * scale);
        }
    }
    loss = block_sum<KILN_LOSS_THREADS>(loss, shared);
    if (threadIdx.x == 0) loss_acc[0] += loss * scale;
}

// partials[blockIdx.x] = Σ g² over the elements block b visits (grid-stride, blocks of
// KILN_NORM_THREADS threads).
extern "C" __global__ void sq_norm_partial(const float* __restrict__ g, unsigned long long n,
                                           double* __restrict__ partials) {
    __shared__ double shared[KILN_NORM_THREADS];
    double s = 0.0;
    for (unsigned long long i = (unsigned long long)blockIdx.x * KILN_NORM_THREADS + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * KILN_NORM_THREADS) {
        const double v = (double)g[i];
        s += v * v;
    }
    s = block_sum<KILN_NORM_THREADS>(s, shared);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// One AdamW step of a tensor (reference::adamw::step's arithmetic, `decay` for the whole tensor), its
// gradients first scaled by min(1, max_norm / ‖g‖) where ‖g‖ = √Σ partials (in order) when
// max_norm > 0: nn::optim::clip_global_norm's rule.
extern "C" __global__ void clip_adamw(float* __restrict__ params, const float* __restrict__ grads,
                                      float* __restrict__ m, float* __restrict__ v, unsigned long long n, int decay,
                                      float beta1, float beta2, float eps, float step_size, float sqrt_correction2,
                                      float shrink, const double* __restrict__ partials, unsigned int n_partials,
                                      double max_norm) {
    __shared__ float clip;
    if (threadIdx.x == 0) {
        float c = 1.0f;
        if (max_norm > 0.0) {
            double sum = 0.0;
            for (unsigned int k = 0; k < n_partials; ++k) sum += partials[k];
            const double norm = sqrt(sum);
            if (norm > max_norm && norm > 0.0) c = (float)(max_norm / norm);
        }
        clip = c;
    }
    __syncthreads();
    const float c = clip;
    const float s = decay ? shrink : 1.0f;
    const float one_minus_beta1 = __fsub_rn(1.0f, beta1), one_minus_beta2 = __fsub_rn(1.0f, beta2);
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        const float g = c == 1.0f ? grads[i] : __fmul_rn(grads[i], c);
        const float mi = __fadd_rn(__fmul_rn(beta1, m[i]), __fmul_rn(one_minus_beta1, g));
        const float vi = __fadd_rn(__fmul_rn(beta2, v[i]), __fmul_rn(__fmul_rn(one_minus_beta2, g), g));
        const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), sqrt_correction2), eps);
        params[i] = __fsub_rn(__fmul_rn(params[i], s), __fdiv_rn(__fmul_rn(step_size, mi), denom));
        m[i] = mi;
        v[i] = vi;
    }
}

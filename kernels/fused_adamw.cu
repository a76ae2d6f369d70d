// One AdamW step over a flat parameter buffer (PyTorch's AdamW: decoupled weight decay, bias
// correction), the optimizer half of an MLP training step fused into one pass over memory.
// Reference: kiln_kernels::reference::adamw::step, the arithmetic of kiln-train's
// nn::optim::AdamW::update. The host computes the step's scalars in double; every per-element
// operation here is an explicit round-to-nearest f32 intrinsic (no fused multiply-add), in the
// reference's order, so the result is bit-identical to the CPU's.
#include <stdint.h>

extern "C" __global__ void fused_adamw(float* __restrict__ params, const float* __restrict__ grads,
                                       float* __restrict__ m, float* __restrict__ v,
                                       const uint8_t* __restrict__ decay, int has_decay, unsigned long long n,
                                       float beta1, float beta2, float eps, float step_size,
                                       float sqrt_correction2, float shrink) {
    const float one_minus_beta1 = __fsub_rn(1.0f, beta1), one_minus_beta2 = __fsub_rn(1.0f, beta2);
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (unsigned long long)gridDim.x * blockDim.x) {
        const float g = grads[i];
        const float s = (!has_decay || decay[i] != 0) ? shrink : 1.0f;
        const float mi = __fadd_rn(__fmul_rn(beta1, m[i]), __fmul_rn(one_minus_beta1, g));
        const float vi = __fadd_rn(__fmul_rn(beta2, v[i]), __fmul_rn(__fmul_rn(one_minus_beta2, g), g));
        const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), sqrt_correction2), eps);
        params[i] = __fsub_rn(__fmul_rn(params[i], s), __fdiv_rn(__fmul_rn(step_size, mi), denom));
        m[i] = mi;
        v[i] = vi;
    }
}

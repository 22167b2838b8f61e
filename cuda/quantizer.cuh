// PSQ / hard-staircase quantizer kernels, forward and backward (SPEC A2): device code only,
// elementwise with a grid-stride loop. Launched by cuda/quantizer.cu; run on the CPU by the
// emulator tests (tests/kernels/). The fused diffraction kernels evaluate the same device functions.
#pragma once
#include "common.cuh"
#include "quaton/quantizer.h"

namespace quaton {
namespace kernels {

// The latent's representative in the table's fundamental domain: base + ((w - base) mod period)
// in [base, base + period) for a periodic table (period > 0), w itself otherwise. d/dw = 1, so the
// forward and backward below are the periodic extensions of those inside one period
// (reference/levels.py fold_latent). floorf-based mod: the result may round to base + period,
// which the staircase maps to q_0 + period (== q_0 mod the period), as in the torch path.
__device__ __forceinline__ float fold_latent(float w, const LevelThresholds& t) {
  if (t.period <= 0.f) return w;
  const float r = w - t.base;
  return t.base + (r - t.period * floorf(r / t.period));
}

__device__ __forceinline__ float quantize_one(float w, const LevelThresholds& t, float k, int hard) {
  if (!isfinite(w)) return nanf("");  // never a valid-looking level for NaN/Inf
  const float xw = fold_latent(w, t);
  float q = t.base;
  for (int i = 0; i < t.num_steps; ++i) {
    const float x = xw - t.thresholds[i];
    q += t.steps[i] * (hard ? (x >= 0.f ? 1.f : 0.f) : stable_sigmoid(k * x));
  }
  return q;
}

__global__ void psq_forward_kernel(PsqForwardParams p) {
  // a learnable k is read from device memory here: the host never waits for it
  const float k = p.sharpness_device ? *p.sharpness_device : p.sharpness;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < p.count; i += stride) {
    p.phase[i] = quantize_one(p.latent[i], p.table, k, p.hard);
  }
}

__global__ void psq_backward_kernel(PsqBackwardParams p) {
  QF_SHARED_ARRAY(float, block_sum, kThreadsPerBlock);
  const float k = p.sharpness_device ? *p.sharpness_device : p.sharpness;
  float local_dk = 0.f;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < p.count; i += stride) {
    const float w = fold_latent(p.latent[i], p.table);
    const float g = p.grad_phase[i];
    float dq_dw = 0.f, dq_dk = 0.f;
    for (int j = 0; j < p.table.num_steps; ++j) {
      const float x = w - p.table.thresholds[j];
      const float s = stable_sigmoid(k * x);
      const float ds = p.table.steps[j] * s * (1.f - s);
      dq_dw += ds * k;
      dq_dk += ds * x;
    }
    if (p.grad_latent) p.grad_latent[i] = g * dq_dw;
    local_dk += g * dq_dk;
  }
  if (!p.grad_sharpness) return;
  block_sum[threadIdx.x] = local_dk;
  __syncthreads();
  for (unsigned width = blockDim.x / 2; width > 0; width >>= 1) {
    if (threadIdx.x < width) block_sum[threadIdx.x] += block_sum[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicAdd(p.grad_sharpness, block_sum[0]);
}

}  // namespace kernels
}  // namespace quaton

// PSQ / hard-staircase quantizer kernels, forward and backward (SPEC A2): device code only,
// elementwise with a grid-stride loop. Launched by cuda/quantizer.cu; run on the CPU by the
// emulator tests (tests/kernels/). Formulas: cuda/quantizer_math.cuh (shared with the fused passes).
#pragma once
#include "quantizer_math.cuh"

namespace quaton {
namespace kernels {

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
    const StepSums ss = sigmoid_step_sums<true>(w, p.table.thresholds, p.table.steps, nullptr, p.table.num_steps, k);
    if (p.grad_latent) p.grad_latent[i] = g * (k * ss.slope.x);
    local_dk += g * ss.uslope.x;
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

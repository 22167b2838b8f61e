// The row passes with the quantizer inside (issue 22 item 1): device code of the quantized
// forward pass 1 and adjoint pass 3 (semantics and the partial sums: cpp/include/quaton/
// propagate_fused.h; the quantizer: quant_transmission in cuda/quantizer_math.cuh). The column
// pass and the plain row passes are those of propagate_fused.cuh.
//
// Layout: one block per (row r, batch slab s); its ffts_per_block (F) thread rows each transform J
// samples in turn (b = s F J + j F + threadIdx.y). The block evaluates T(w) of its row once (all
// threads share the N elements) into shared memory, so the quantizer costs N evaluations per block,
// not one per sample; the adjoint accumulates conj(u_b) g_b of its samples in a shared (F, N) tile
// (each element of a thread row is owned by one thread), then all threads sum the F rows, apply the
// quantizer's derivative once per element and write one partial per element and block (no atomics).
// T and the accumulators live in shared memory, not registers: with E elements per thread they
// would take 4E more registers (E = 20 at P = 400, 32 at P = 1024) beside the FFT's own.
// Bytes per step beyond the plain passes: the latent N^2 4 per block row (from L2) instead of the
// stored m, and the partials S N^2 4 (S = B / (F J)) written once and summed by the caller, against
// the B N^2 4 of the per-sample dphi of the unquantized path.
#pragma once

#include <cstdint>

#include "fused/propagate_fused.cuh"  // through the include path (cuda/), so a test's shadowing copy wins
#include "quantizer_math.cuh"

namespace quaton {
namespace kernels {

// Blocks the quantized row passes aim for (about two waves of small FFT blocks on an H100/H200):
// J grows with the batch so that S stays near this, J <= kQuantMaxSamplesPerThread.
constexpr std::int64_t kQuantTargetBlocks = 2048;
constexpr unsigned kQuantMaxSamplesPerThread = 4;

// Launch geometry of the quantized row passes for a row-FFT descriptor FFT (shared by the CUDA
// launcher and the emulator drivers). Dynamic shared memory: the FFT's, then T (N,) complex, then
// (adjoint) the accumulators (F, N) complex and the block's dL/dp partials (threads,) float.
template <class FFT>
struct QuantRowGeometry {
  static constexpr unsigned F = FFT::ffts_per_block;
  static constexpr unsigned kThreads = FFT::block_dim.x * FFT::block_dim.y;
  static unsigned samples_per_thread(std::int64_t batch, int n) {
    const std::int64_t groups = (batch + F - 1) / F;
    const std::int64_t j = groups * n / kQuantTargetBlocks;
    return static_cast<unsigned>(j < 1 ? 1 : (j > kQuantMaxSamplesPerThread ? kQuantMaxSamplesPerThread : j));
  }
  static unsigned slabs(std::int64_t batch, unsigned j) {
    return static_cast<unsigned>((batch + static_cast<std::int64_t>(F) * j - 1) / (static_cast<std::int64_t>(F) * j));
  }
  static dim3 grid(std::int64_t batch, int n, unsigned j) { return dim3(static_cast<unsigned>(n), slabs(batch, j)); }
  static constexpr unsigned t_offset() { return (FFT::shared_memory_size + 15u) / 16u * 16u; }
  static constexpr unsigned acc_offset(int n) { return t_offset() + static_cast<unsigned>(n) * 8u; }
  static constexpr unsigned pred_offset(int n) { return acc_offset(n) + F * static_cast<unsigned>(n) * 8u; }
  static constexpr unsigned forward_smem(int n) { return acc_offset(n); }
  static constexpr unsigned adjoint_smem(int n) { return pred_offset(n) + kThreads * 4u; }
};

// T(w[r, :]) of the block's row into shared memory, all threads sharing the N elements.
template <class FFT>
__device__ __forceinline__ void quant_row_transmission(const FusedPropagateParams& p, const float* w, float2* T) {
  const float k = quant_param(p.quant);
  const unsigned tid = threadIdx.y * blockDim.x + threadIdx.x, threads = blockDim.x * blockDim.y;
  for (unsigned c = tid; c < static_cast<unsigned>(p.n); c += threads) T[c] = quant_transmission<false>(w[c], p.quant, k).t;
}

// Forward pass 1: X[b, r, :] = FFT_P(pad_row(T(w[r, :]) * u[b, r, :])).
template <unsigned P, class FFT>
__device__ __forceinline__ void row_quant_modulate_fft_kernel_body(const FusedPropagateParams& p) {
  using V = typename FFT::value_type;
  using Geo = QuantRowGeometry<FFT>;
  constexpr unsigned E = FFT::elements_per_thread, F = FFT::ffts_per_block;
  QF_DYNAMIC_SHARED(unsigned char, smem);
  float2* T = reinterpret_cast<float2*>(smem + Geo::t_offset());  // (N,)
  const int n = p.n, o = (static_cast<int>(P) - n) / 2;
  const int r = static_cast<int>(blockIdx.x);
  const unsigned J = static_cast<unsigned>(p.quant_samples_per_thread);
  const std::int64_t b0 = static_cast<std::int64_t>(blockIdx.y) * F * J;
  quant_row_transmission<FFT>(p, p.latent + static_cast<std::int64_t>(r) * n, T);
  __syncthreads();  // T is read by other threads than those that wrote it
#pragma unroll 1  // one FFT body per kernel: J is small and the FFT large
  for (unsigned j = 0; j < J; ++j) {
    const std::int64_t b = b0 + static_cast<std::int64_t>(j) * F + threadIdx.y;
    const bool valid = b < p.batch;
    const float2* u = static_cast<const float2*>(p.u) + ((valid ? b : 0) * n + r) * static_cast<std::int64_t>(n);
    V td[FFT::storage_size];
#pragma unroll
    for (unsigned i = 0; i < E; ++i) {
      const int c = static_cast<int>(threadIdx.x + i * FFT::stride) - o;
      td[i] = from_f2<V>((valid && c >= 0 && c < n) ? cmul(T[c], u[c]) : make_float2(0.f, 0.f));
    }
    if (j > 0) __syncthreads();  // the next FFT reuses the previous one's shared memory
    FFT().execute(td, smem);
    if (valid) {
      float2* X = static_cast<float2*>(p.scratch) + (b * n + r) * static_cast<std::int64_t>(P);
#pragma unroll
      for (unsigned i = 0; i < E; ++i) {
        const unsigned jj = threadIdx.x + i * FFT::stride;
        if (jj < P) X[jj] = as_f2(td[i]);
      }
    }
  }
}

template <unsigned P, class FFT>
__global__ void __launch_bounds__(FFT::max_threads_per_block, 1)
row_quant_modulate_fft_kernel(FusedPropagateParams p) {
  if constexpr (QF_FFT_BODY_ENABLED(FFT)) row_quant_modulate_fft_kernel_body<P, FFT>(p);
}

// Adjoint pass 3: g = IFFT_P(X[b, r, :])[o : o+N] / P^2, out = conj(T) g, and the block's partial
// sums of Re(conj(dT/dw) G) and Re(conj(dT/dp) G), G = sum_b conj(u_b) g_b over its samples.
template <unsigned P, class FFT>
__device__ __forceinline__ void row_ifft_crop_quant_kernel_body(const FusedPropagateParams& p) {
  using V = typename FFT::value_type;
  using Geo = QuantRowGeometry<FFT>;
  constexpr unsigned E = FFT::elements_per_thread, F = FFT::ffts_per_block;
  constexpr float scale = 1.0f / (static_cast<float>(P) * static_cast<float>(P));
  QF_DYNAMIC_SHARED(unsigned char, smem);
  const int n = p.n, o = (static_cast<int>(P) - n) / 2;
  float2* T = reinterpret_cast<float2*>(smem + Geo::t_offset());      // (N,)
  float2* acc = reinterpret_cast<float2*>(smem + Geo::acc_offset(n));  // (F, N): row threadIdx.y is its own
  float* pred = reinterpret_cast<float*>(smem + Geo::pred_offset(n));  // (threads,)
  const int r = static_cast<int>(blockIdx.x);
  const unsigned J = static_cast<unsigned>(p.quant_samples_per_thread);
  const std::int64_t b0 = static_cast<std::int64_t>(blockIdx.y) * F * J;
  const float* w = p.latent + static_cast<std::int64_t>(r) * n;
  float2* my_acc = acc + threadIdx.y * static_cast<unsigned>(n);
  quant_row_transmission<FFT>(p, w, T);
#pragma unroll
  for (unsigned i = 0; i < E; ++i) {
    const int c = static_cast<int>(threadIdx.x + i * FFT::stride) - o;
    if (c >= 0 && c < n) my_acc[c] = make_float2(0.f, 0.f);
  }
  __syncthreads();  // T is read by other threads than those that wrote it
#pragma unroll 1  // one FFT body per kernel: J is small and the FFT large
  for (unsigned j = 0; j < J; ++j) {
    const std::int64_t b = b0 + static_cast<std::int64_t>(j) * F + threadIdx.y;
    const bool valid = b < p.batch;
    const std::int64_t row = (valid ? b : 0) * n + r;
    const float2* X = static_cast<const float2*>(p.scratch) + row * P;
    V td[FFT::storage_size];
#pragma unroll
    for (unsigned i = 0; i < E; ++i) {
      const unsigned jj = threadIdx.x + i * FFT::stride;
      td[i] = from_f2<V>((valid && jj < P) ? X[jj] : make_float2(0.f, 0.f));
    }
    if (j > 0) __syncthreads();  // the next FFT reuses the previous one's shared memory
    FFT().execute(td, smem);
    if (!valid) continue;
    const float2* su = static_cast<const float2*>(p.saved_u) + row * n;
    float2* out = static_cast<float2*>(p.out) + row * n;
#pragma unroll
    for (unsigned i = 0; i < E; ++i) {
      const int c = static_cast<int>(threadIdx.x + i * FFT::stride) - o;
      if (c < 0 || c >= n) continue;
      float2 g = as_f2(td[i]);
      g.x *= scale;
      g.y *= scale;
      out[c] = cmul_conj_a(T[c], g);
      const float2 ug = cmul_conj_a(su[c], g);  // conj(u) g: this sample's dL/dT
      my_acc[c].x += ug.x;
      my_acc[c].y += ug.y;
    }
  }
  const unsigned tid = threadIdx.y * blockDim.x + threadIdx.x, threads = blockDim.x * blockDim.y;
  const float k = quant_param(p.quant);
  const std::int64_t slab_row = (static_cast<std::int64_t>(blockIdx.y) * n + r) * n;
  float dp = 0.f;
  __syncthreads();  // every thread row's accumulators are complete
  for (unsigned c = tid; c < static_cast<unsigned>(n); c += threads) {  // the row's N elements, all threads
    float2 G = acc[c];
    for (unsigned y = 1; y < F; ++y) {
      const float2 v = acc[y * static_cast<unsigned>(n) + c];
      G.x += v.x;
      G.y += v.y;
    }
    const QuantEval e = quant_transmission<true>(w[c], p.quant, k);
    if (p.grad_latent_partial) p.grad_latent_partial[slab_row + c] = e.dt_dw.x * G.x + e.dt_dw.y * G.y;
    dp += e.dt_dp.x * G.x + e.dt_dp.y * G.y;  // Re(conj(dT/dp) G)
  }
  if (!p.grad_param_partial) return;  // the same for every thread of the block
  pred[tid] = dp;
  __syncthreads();
  if (tid == 0) {
    float s = 0.f;
    for (unsigned x = 0; x < threads; ++x) s += pred[x];
    p.grad_param_partial[static_cast<std::int64_t>(blockIdx.y) * n + r] = s;
  }
}

template <unsigned P, class FFT>
__global__ void __launch_bounds__(FFT::max_threads_per_block, 1)
row_ifft_crop_quant_kernel(FusedPropagateParams p) {
  if constexpr (QF_FFT_BODY_ENABLED(FFT)) row_ifft_crop_quant_kernel_body<P, FFT>(p);
}

}  // namespace kernels
}  // namespace quaton

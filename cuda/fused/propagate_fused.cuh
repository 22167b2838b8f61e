// Fused modulation + angular-spectrum propagation: the three passes' device code (issue 5),
// semantics and memory layout in cpp/include/quaton/propagate_fused.h. Device code only, generic in
// the block FFT: each kernel takes the padded size P and block-FFT descriptor types with cuFFTDx's
// execution interface (value_type with .x/.y, storage_size, elements_per_thread, stride, register
// layout "element threadIdx.x + i * stride", ffts_per_block, block_dim, shared_memory_size,
// max_threads_per_block, execute(value_type*, void* smem) called by every thread of the block).
// cuda/fused/propagate_fused.cu instantiates them with cuFFTDx descriptors per GPU architecture; the
// CPU emulator tests (tests/kernels/) with the stand-in block FFT of cuda/emu/block_fft.h.
//
// QF_FFT_BODY_ENABLED(FFT): whether the current compilation pass emits the body of the kernels of
// descriptor FFT. The CUDA launcher defines it so that each architecture's pass compiles only the
// descriptors made for that architecture (the other instantiations are empty there and never
// launched on it); everywhere else every body is compiled.
#pragma once

#include <cstdint>

#include "platform.cuh"  // cuda/ is on the include path of every build
#include "quaton/propagate_fused.h"

#ifndef QF_FFT_BODY_ENABLED
#define QF_FFT_BODY_ENABLED(FFT) true
#endif

namespace quaton {
namespace kernels {

// Column pass: C adjacent columns per block = 64-byte row segments of the (B, N, P) intermediate.
constexpr unsigned kColumnsPerBlock = 8;

__device__ __forceinline__ float2 cmul(float2 a, float2 b) {
  return make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}
__device__ __forceinline__ float2 cmul_conj_a(float2 a, float2 b) {  // conj(a) * b
  return make_float2(a.x * b.x + a.y * b.y, a.x * b.y - a.y * b.x);
}

template <class V>
__device__ __forceinline__ float2 as_f2(const V& v) {
  return make_float2(v.x, v.y);
}
template <class V>
__device__ __forceinline__ V from_f2(float2 f) {
  V v;
  v.x = f.x;
  v.y = f.y;
  return v;
}

// Pass 1: X[b, r, :] = FFT_P(pad_row(m[r, :] * u[b, r, :])).
template <unsigned P, class FFT>
__device__ __forceinline__ void row_modulate_fft_kernel_body(const FusedPropagateParams& p) {
  using V = typename FFT::value_type;
  QF_DYNAMIC_SHARED(unsigned char, smem);
  const int n = p.n, o = (static_cast<int>(P) - n) / 2;
  const std::int64_t rows = p.batch * n;
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * FFT::ffts_per_block + threadIdx.y;
  const bool valid = row < rows;
  const int r = valid ? static_cast<int>(row % n) : 0;
  const float2* u = static_cast<const float2*>(p.u) + (valid ? row : 0) * n;
  const float2* m = p.modulation_in
                        ? static_cast<const float2*>(p.modulation_in) + static_cast<std::int64_t>(r) * n
                        : nullptr;
  V td[FFT::storage_size];
#pragma unroll
  for (unsigned i = 0; i < FFT::elements_per_thread; ++i) {
    const int c = static_cast<int>(threadIdx.x + i * FFT::stride) - o;
    float2 v = make_float2(0.f, 0.f);
    if (valid && c >= 0 && c < n) v = m ? cmul(m[c], u[c]) : u[c];
    td[i] = from_f2<V>(v);
  }
  FFT().execute(td, smem);
  if (!valid) return;
  float2* X = static_cast<float2*>(p.scratch) + row * P;
#pragma unroll
  for (unsigned i = 0; i < FFT::elements_per_thread; ++i) {
    const unsigned j = threadIdx.x + i * FFT::stride;
    if (j < P) X[j] = as_f2(td[i]);
  }
}

template <unsigned P, class FFT>
__global__ void __launch_bounds__(FFT::max_threads_per_block)
row_modulate_fft_kernel(FusedPropagateParams p) {
  if constexpr (QF_FFT_BODY_ENABLED(FFT)) row_modulate_fft_kernel_body<P, FFT>(p);
}


// Pass 2: for columns k0 .. k0+C-1 of sample b: FFT along the column, x Ht[k, :], inverse FFT,
// keep rows o .. o+N-1. The N x C tile goes through shared memory so global reads and writes are
// row segments of C complex values.
template <unsigned P, class FwdFFT, class InvFFT>
__device__ __forceinline__ void column_transfer_kernel_body(const FusedPropagateParams& p) {
  static_assert(FwdFFT::block_dim.x == InvFFT::block_dim.x && FwdFFT::block_dim.y == InvFFT::block_dim.y,
                "forward and inverse column FFTs must share the block shape");
  using V = typename FwdFFT::value_type;
  constexpr unsigned C = FwdFFT::ffts_per_block;
  constexpr unsigned fft_smem = FwdFFT::shared_memory_size > InvFFT::shared_memory_size
                                    ? FwdFFT::shared_memory_size : InvFFT::shared_memory_size;
  constexpr unsigned tile_offset = (fft_smem + 15u) / 16u * 16u;
  QF_DYNAMIC_SHARED(unsigned char, smem);
  float2* tile = reinterpret_cast<float2*>(smem + tile_offset);  // (N, C)

  const int n = p.n, o = (static_cast<int>(P) - n) / 2;
  const std::int64_t b = blockIdx.y;
  const unsigned k0 = blockIdx.x * C;
  const unsigned f = threadIdx.y;
  const unsigned k = k0 + f;
  const unsigned tid = threadIdx.y * blockDim.x + threadIdx.x;
  const unsigned threads = blockDim.x * blockDim.y;
  float2* X = static_cast<float2*>(p.scratch) + b * n * static_cast<std::int64_t>(P);

  for (unsigned idx = tid; idx < static_cast<unsigned>(n) * C; idx += threads) {
    const unsigned row = idx / C, col = idx % C;
    tile[idx] = (k0 + col < P) ? X[static_cast<std::int64_t>(row) * P + k0 + col] : make_float2(0.f, 0.f);
  }
  __syncthreads();
  V td[FwdFFT::storage_size];
#pragma unroll
  for (unsigned i = 0; i < FwdFFT::elements_per_thread; ++i) {
    const int c = static_cast<int>(threadIdx.x + i * FwdFFT::stride) - o;
    td[i] = from_f2<V>((c >= 0 && c < n) ? tile[c * C + f] : make_float2(0.f, 0.f));
  }
  FwdFFT().execute(td, smem);
  const float2* Ht = static_cast<const float2*>(p.transfer_t) + static_cast<std::int64_t>(k < P ? k : 0) * P;
#pragma unroll
  for (unsigned i = 0; i < FwdFFT::elements_per_thread; ++i) {
    const unsigned j = threadIdx.x + i * FwdFFT::stride;
    td[i] = from_f2<V>((k < P && j < P) ? cmul(as_f2(td[i]), Ht[j]) : make_float2(0.f, 0.f));
  }
  __syncthreads();  // the inverse FFT reuses the forward FFT's shared memory
  InvFFT().execute(td, smem);
  __syncthreads();
#pragma unroll
  for (unsigned i = 0; i < InvFFT::elements_per_thread; ++i) {
    const int c = static_cast<int>(threadIdx.x + i * InvFFT::stride) - o;
    if (c >= 0 && c < n) tile[c * C + f] = as_f2(td[i]);
  }
  __syncthreads();
  for (unsigned idx = tid; idx < static_cast<unsigned>(n) * C; idx += threads) {
    const unsigned row = idx / C, col = idx % C;
    if (k0 + col < P) X[static_cast<std::int64_t>(row) * P + k0 + col] = tile[idx];
  }
}

template <unsigned P, class FwdFFT, class InvFFT>
__global__ void __launch_bounds__(FwdFFT::max_threads_per_block)
column_transfer_kernel(FusedPropagateParams p) {
  if constexpr (QF_FFT_BODY_ENABLED(FwdFFT)) column_transfer_kernel_body<P, FwdFFT, InvFFT>(p);
}


// Pass 3: g = IFFT_P(X[b, r, :])[o : o+N] / P^2; out = g, or conj(m) g with modulation_out; optional dphi.
template <unsigned P, class FFT>
__device__ __forceinline__ void row_ifft_crop_kernel_body(const FusedPropagateParams& p) {
  using V = typename FFT::value_type;
  QF_DYNAMIC_SHARED(unsigned char, smem);
  constexpr float scale = 1.0f / (static_cast<float>(P) * static_cast<float>(P));
  const int n = p.n, o = (static_cast<int>(P) - n) / 2;
  const std::int64_t rows = p.batch * n;
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * FFT::ffts_per_block + threadIdx.y;
  const bool valid = row < rows;
  const int r = valid ? static_cast<int>(row % n) : 0;
  const float2* X = static_cast<const float2*>(p.scratch) + (valid ? row : 0) * P;
  V td[FFT::storage_size];
#pragma unroll
  for (unsigned i = 0; i < FFT::elements_per_thread; ++i) {
    const unsigned j = threadIdx.x + i * FFT::stride;
    td[i] = from_f2<V>((valid && j < P) ? X[j] : make_float2(0.f, 0.f));
  }
  FFT().execute(td, smem);
  if (!valid) return;
  const float2* m = p.modulation_out
                        ? static_cast<const float2*>(p.modulation_out) + static_cast<std::int64_t>(r) * n
                        : nullptr;
  const float2* su = p.saved_u ? static_cast<const float2*>(p.saved_u) + row * n : nullptr;
  float* dphi = p.dphi ? p.dphi + row * n : nullptr;
  float2* out = static_cast<float2*>(p.out) + row * n;
#pragma unroll
  for (unsigned i = 0; i < FFT::elements_per_thread; ++i) {
    const int c = static_cast<int>(threadIdx.x + i * FFT::stride) - o;
    if (c < 0 || c >= n) continue;
    float2 g = as_f2(td[i]);
    g.x *= scale;
    g.y *= scale;
    if (dphi) {
      const float2 um = m ? cmul(m[c], su[c]) : su[c];
      dphi[c] = um.x * g.y - um.y * g.x;  // Im(conj(m u) g)
    }
    out[c] = m ? cmul_conj_a(m[c], g) : g;
  }
}

template <unsigned P, class FFT>
__global__ void __launch_bounds__(FFT::max_threads_per_block)
row_ifft_crop_kernel(FusedPropagateParams p) {
  if constexpr (QF_FFT_BODY_ENABLED(FFT)) row_ifft_crop_kernel_body<P, FFT>(p);
}

// Launch geometry of the three passes for descriptors Row (pass 1), Col/ColInv (pass 2) and RowInv
// (pass 3), shared by the CUDA launcher and the emulator drivers (tests/kernels/).
template <unsigned P, class Row, class Col, class ColInv, class RowInv>
struct FusedGeometry {
  static_assert(Col::ffts_per_block == kColumnsPerBlock && ColInv::ffts_per_block == kColumnsPerBlock,
                "the column pass transforms kColumnsPerBlock columns per block");
  static constexpr unsigned col_fft_smem =
      Col::shared_memory_size > ColInv::shared_memory_size ? Col::shared_memory_size : ColInv::shared_memory_size;
  // pass 1 / pass 3: one row per FFT, ffts_per_block rows per block
  static unsigned row_blocks(std::int64_t rows) {
    return static_cast<unsigned>((rows + Row::ffts_per_block - 1) / Row::ffts_per_block);
  }
  static unsigned row_inv_blocks(std::int64_t rows) {
    return static_cast<unsigned>((rows + RowInv::ffts_per_block - 1) / RowInv::ffts_per_block);
  }
  // pass 2: (column groups, samples); the FFTs' shared memory, then the (N, C) tile
  static dim3 col_grid(std::int64_t batch) {
    return dim3((P + kColumnsPerBlock - 1) / kColumnsPerBlock, static_cast<unsigned>(batch));
  }
  static unsigned col_smem(int n) {
    return (col_fft_smem + 15u) / 16u * 16u + static_cast<unsigned>(n) * kColumnsPerBlock * 8u;
  }
};

}  // namespace kernels
}  // namespace quaton

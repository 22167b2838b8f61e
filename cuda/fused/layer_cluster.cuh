// A diffractive layer on chip (issue 22, item 2): one thread-block cluster per sample holds the
// sample's N x P half-transformed field in the blocks' shared memory, so the field never goes to
// global memory between the row and column FFTs (the three-pass path, propagate_fused.cuh, writes
// and re-reads a (B, N, P) spectrum). Device code only, generic in the block FFT exactly as
// propagate_fused.cuh: cuFFTDx descriptors on the GPU (cuda/fused/layer_cluster.cu), the stand-in of
// cuda/emu/block_fft.h in the CPU emulator (tests/kernels/drivers/layer_cluster_driver.cpp).
//
// What one cluster of C blocks computes for its sample b (NumPy reference:
// quaton_fast.reference.propagation.propagate, offsets o = (P - N) / 2):
//   forward:  out[b] = crop_N(IFFT2(H . FFT2(pad_P(t . u[b]))))          (t: modulation, optional)
//   adjoint:  g'     = crop_N(IFFT2(conj(H) . FFT2(pad_P(g[b]))))         (g = grad_out; conj_transfer)
//             out[b] = conj(t) . g'                                       (modulation_out)
//             dphi  += Im(conj(t . u_saved[b]) . g')   summed over the batch (atomicAdd into (N, N))
// Stages (rows of the padded field outside o .. o+N-1 are zero, so only N rows are transformed):
//   1. rows: block r owns field rows [r*R, min(N, (r+1)*R)), R = ceil(N / C); each row is padded,
//      modulated, FFT'd along x (length P) and kept in the owner's shared memory (R x P complex).
//   cluster.sync()  -- every row spectrum is written before any block reads it remotely
//   2. columns: block r owns spectrum columns [r*K, min(P, (r+1)*K)), K = ceil(P / C); each column's
//      N non-zero entries are gathered from their owners through distributed shared memory
//      (map_shared_rank), FFT'd along y, multiplied by H (or conj H), inverse-FFT'd, and rows
//      o .. o+N-1 of the result are scattered back in place (the thread that reads an element is
//      the thread that writes it back: the block FFT's register layout is the same on input and output).
//   cluster.sync()  -- every column is back before its rows are read; also the last remote access
//   3. rows: inverse FFT along x of the owned rows from local shared memory, crop, scale 1/P^2,
//      write out (and the adjoint's conj(t) and dphi). No remote access after the second sync, so a
//      block may exit without a third.
// Block: the descriptors' block_dim (stride, F): F rows or columns per step. Grid: (C, B) with
// cluster dims (C, 1, 1). Dynamic shared memory: the FFTs' workspace, then R rows of P complex at a
// row pitch of P + 1 (bank-conflict-free column gathers).
#pragma once

#include <cstdint>

#include "fused/propagate_fused.cuh"  // cmul, cmul_conj_a, as_f2, from_f2, QF_FFT_BODY_ENABLED
#include "platform.cuh"

namespace quaton {
namespace kernels {

struct LayerClusterParams {
  std::int64_t batch = 0;
  int n = 0;                               // field size N (the field is N x N)
  const float2* u = nullptr;               // (B, N, N) input: the field (forward) or grad_out (adjoint)
  const float2* modulation_in = nullptr;   // (N, N) t applied before propagation, or nullptr
  const float2* transfer_t = nullptr;      // (P, P): transfer_t[k * P + j] = H[j, k] (H unshifted)
  bool conj_transfer = false;              // propagate with conj(H) (the adjoint)
  const float2* modulation_out = nullptr;  // (N, N) t: out = conj(t) . g', or nullptr
  const float2* saved_u = nullptr;         // (B, N, N) the layer's forward input u (for dphi)
  float* dphi = nullptr;                   // (N, N) += Im(conj(t u) g') over the batch, or nullptr
  float2* out = nullptr;                   // (B, N, N)
};

// Launch geometry, shared by the CUDA launcher and the emulator driver.
template <unsigned P, class Row, class RowInv, class Col, class ColInv>
struct LayerClusterGeometry {
  static constexpr unsigned max2(unsigned a, unsigned b) { return a > b ? a : b; }
  static constexpr unsigned fft_smem = max2(max2(Row::shared_memory_size, RowInv::shared_memory_size),
                                            max2(Col::shared_memory_size, ColInv::shared_memory_size));
  static constexpr unsigned state_offset = (fft_smem + 15u) / 16u * 16u;
  // row pitch of the state in complex values: one more than P, so that the lanes of a column
  // gather (consecutive rows, one column) fall in different shared-memory banks
  static constexpr unsigned pitch = P + 1;
  __host__ __device__ static unsigned rows_per_block(int n, unsigned cluster) { return (static_cast<unsigned>(n) + cluster - 1) / cluster; }
  __host__ __device__ static unsigned cols_per_block(unsigned cluster) { return (P + cluster - 1) / cluster; }
  static unsigned smem(int n, unsigned cluster) {
    return state_offset + rows_per_block(n, cluster) * pitch * static_cast<unsigned>(sizeof(float2));
  }
  static dim3 grid(std::int64_t batch, unsigned cluster) { return dim3(cluster, static_cast<unsigned>(batch)); }
  static dim3 cluster_dims(unsigned cluster) { return dim3(cluster, 1, 1); }
};

#if QF_HAS_CLUSTERS
template <unsigned P, class Row, class RowInv, class Col, class ColInv>
__device__ __forceinline__ void layer_cluster_kernel_body(const LayerClusterParams& p) {
  static_assert(Row::block_dim.x == RowInv::block_dim.x && Row::block_dim.x == Col::block_dim.x &&
                    Row::block_dim.x == ColInv::block_dim.x && Row::block_dim.y == RowInv::block_dim.y &&
                    Row::block_dim.y == Col::block_dim.y && Row::block_dim.y == ColInv::block_dim.y,
                "the four block FFTs must share the block shape");
  namespace cg = cooperative_groups;
  using V = typename Row::value_type;
  using Geo = LayerClusterGeometry<P, Row, RowInv, Col, ColInv>;
  constexpr unsigned F = Row::ffts_per_block;
  constexpr float scale = 1.0f / (static_cast<float>(P) * static_cast<float>(P));
  QF_DYNAMIC_SHARED(unsigned char, smem);
  float2* state = reinterpret_cast<float2*>(smem + Geo::state_offset);  // (R, pitch): this block's rows

  cg::cluster_group cluster = cg::this_cluster();
  const unsigned C = cluster.num_blocks(), rank = cluster.block_rank();
  const int n = p.n, o = (static_cast<int>(P) - n) / 2;
  const int R = static_cast<int>(Geo::rows_per_block(n, C));
  const int K = static_cast<int>(Geo::cols_per_block(C));
  const int row0 = static_cast<int>(rank) * R;
  const std::int64_t b = blockIdx.y;
  const unsigned f = threadIdx.y;
  const float2* u = p.u + b * n * n;

  // 1. rows: state[i, :] = FFT_P(pad(t[r, :] . u[b, r, :])), r = row0 + i
  for (int i0 = 0; i0 < R; i0 += static_cast<int>(F)) {
    const int i = i0 + static_cast<int>(f), r = row0 + i;
    const bool valid = i < R && r < n;
    V td[Row::storage_size];
#pragma unroll
    for (unsigned e = 0; e < Row::elements_per_thread; ++e) {
      const int c = static_cast<int>(threadIdx.x + e * Row::stride) - o;
      float2 v = make_float2(0.f, 0.f);
      if (valid && c >= 0 && c < n) {
        v = u[r * n + c];
        if (p.modulation_in) v = cmul(p.modulation_in[r * n + c], v);
      }
      td[e] = from_f2<V>(v);
    }
    Row().execute(td, smem);
    if (valid) {
#pragma unroll
      for (unsigned e = 0; e < Row::elements_per_thread; ++e) {
        const unsigned j = threadIdx.x + e * Row::stride;
        if (j < P) state[i * Geo::pitch + j] = as_f2(td[e]);
      }
    }
    __syncthreads();  // the next step's FFT reuses the shared workspace
  }
  cluster.sync();

  // 2. columns k = rank*K + k_local: gather rows o .. o+N-1 from their owners, FFT, x H, IFFT, scatter
  for (int k0 = 0; k0 < K; k0 += static_cast<int>(F)) {
    const int kl = k0 + static_cast<int>(f), k = static_cast<int>(rank) * K + kl;
    const bool valid = kl < K && k < static_cast<int>(P);
    V td[Col::storage_size];
#pragma unroll
    for (unsigned e = 0; e < Col::elements_per_thread; ++e) {
      const int c = static_cast<int>(threadIdx.x + e * Col::stride) - o;  // field row of this slot
      float2 v = make_float2(0.f, 0.f);
      if (valid && c >= 0 && c < n) {
        const float2* owner = cluster.map_shared_rank(state, c / R);
        v = owner[(c % R) * static_cast<int>(Geo::pitch) + k];
      }
      td[e] = from_f2<V>(v);
    }
    Col().execute(td, smem);
    const float2* Ht = p.transfer_t + static_cast<std::int64_t>(valid ? k : 0) * P;
#pragma unroll
    for (unsigned e = 0; e < Col::elements_per_thread; ++e) {
      const unsigned j = threadIdx.x + e * Col::stride;
      float2 h = (valid && j < P) ? Ht[j] : make_float2(0.f, 0.f);
      if (p.conj_transfer) h.y = -h.y;
      td[e] = from_f2<V>((valid && j < P) ? cmul(as_f2(td[e]), h) : make_float2(0.f, 0.f));
    }
    __syncthreads();  // the inverse FFT reuses the forward FFT's shared workspace
    ColInv().execute(td, smem);
#pragma unroll
    for (unsigned e = 0; e < ColInv::elements_per_thread; ++e) {
      const int c = static_cast<int>(threadIdx.x + e * ColInv::stride) - o;
      if (valid && c >= 0 && c < n) {
        float2* owner = cluster.map_shared_rank(state, c / R);
        owner[(c % R) * static_cast<int>(Geo::pitch) + k] = as_f2(td[e]);
      }
    }
    __syncthreads();
  }
  cluster.sync();  // the last access to other blocks' shared memory: every block may exit after stage 3

  // 3. rows: g' = IFFT_P(state[i, :])[o : o+N] / P^2; out = g' or conj(t) g'; dphi += Im(conj(t u) g')
  const float2* su = p.saved_u ? p.saved_u + b * n * n : nullptr;
  float2* out = p.out + b * n * n;
  for (int i0 = 0; i0 < R; i0 += static_cast<int>(F)) {
    const int i = i0 + static_cast<int>(f), r = row0 + i;
    const bool valid = i < R && r < n;
    V td[RowInv::storage_size];
#pragma unroll
    for (unsigned e = 0; e < RowInv::elements_per_thread; ++e) {
      const unsigned j = threadIdx.x + e * RowInv::stride;
      td[e] = from_f2<V>((valid && j < P) ? state[i * Geo::pitch + j] : make_float2(0.f, 0.f));
    }
    RowInv().execute(td, smem);
    if (valid) {
      // row pointers hoisted out of the element loop (fewer live address registers)
      const float2* mrow = p.modulation_out ? p.modulation_out + r * n : nullptr;
      const float2* urow = su ? su + r * n : nullptr;
      float* drow = p.dphi ? p.dphi + r * n : nullptr;
      float2* orow = out + r * n;
#pragma unroll
      for (unsigned e = 0; e < RowInv::elements_per_thread; ++e) {
        const int c = static_cast<int>(threadIdx.x + e * RowInv::stride) - o;
        if (c < 0 || c >= n) continue;
        float2 g = as_f2(td[e]);
        g.x *= scale;
        g.y *= scale;
        if (drow) {
          const float2 um = mrow ? cmul(mrow[c], urow[c]) : urow[c];
          atomicAdd(drow + c, um.x * g.y - um.y * g.x);  // Im(conj(t u) g'), summed over samples
        }
        orow[c] = mrow ? cmul_conj_a(mrow[c], g) : g;
      }
    }
    __syncthreads();
  }
}

#endif  // QF_HAS_CLUSTERS

template <unsigned P, class Row, class RowInv, class Col, class ColInv>
__global__ void __launch_bounds__(Row::max_threads_per_block)
layer_cluster_kernel(LayerClusterParams p) {
#if QF_HAS_CLUSTERS
  if constexpr (QF_FFT_BODY_ENABLED(Row)) layer_cluster_kernel_body<P, Row, RowInv, Col, ColInv>(p);
#endif
}

}  // namespace kernels
}  // namespace quaton

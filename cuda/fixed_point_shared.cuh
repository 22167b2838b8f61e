// AOC digital twin, shared-W path (issue 23 item 2): one W (n x n), or one per ensemble cell, and
// a batch of systems; all iterations in one launch, forward and implicit adjoint; device code only.
// Semantics: cpp/include/quaton/fixed_point_cuda.h (the per-system kernels of fixed_point.cuh, whose
// per-element helpers these kernels call). Launched by cuda/fixed_point_shared.cu; run on the CPU by
// the emulator tests (tests/kernels/test_fixed_point_shared_emulated.py).
//
// Geometry (SwGeometry<T, NP, RM>): a block serves one cell c (blockIdx.y) and a tile of kTile of
// that cell's systems (batch columns; system = column * C + c). W is padded to NP x NP and kept in
// shared memory for the whole launch, column-major for W f (element (k, i) = W[i][k]) and row-major
// for the adjoint's W^T u. A warp owns kTBw columns; its lanes form kRG row groups x kCG column
// groups (lane = cg * kRG + rg), each lane RM rows x kRN = 4 columns (2 in float64) of the (NP x kTBw) tile:
// rows i = (q kRG + rg) V + e, columns (q' kCG + cg) V + e' (V = values per 16-byte vector), so that
// one 16-byte load of a warp reads kRG (or kCG) consecutive vectors (no bank conflict) and the rest
// of the warp shares them (broadcast). Per iteration a lane publishes its RM x kRN values of f(s) in
// the warp's half t & 1 of a double buffer (NP x kTBw), meets the warp at one __syncwarp, and forms
// its RM x kRN outputs as sum_k W[i][k] f[k][c]: per k, RM/V + kRN/V vector loads and RM kRN FMAs. Each
// output has two partial sums (even and odd k) added at the end, in the per-system kernel's order:
// a system follows the per-system kernel's trajectory bit for bit (same f, same sums, same
// per-element helpers); at NP <= 16 (RM = 4 = the per-system R, kRG = its TPS) its residual sums
// run in the same order too. Column norms: xor-shuffles over the kRG lanes of a column group, once
// per iteration (none per multiply-add). A warp leaves the loop when none of its columns is active.
#pragma once

#include <cstdint>

#include "fixed_point.cuh"

namespace quaton {
namespace kernels {

template <typename T, int NP, int RM>
struct SwGeometry {
  static constexpr int kV = 16 / static_cast<int>(sizeof(T));  // values per 16-byte vector
  static constexpr int kRN = sizeof(T) == 8 ? 2 : 4;            // columns per lane (float64: 2 registers each)
  static constexpr int kRG = NP / RM;                           // lanes along the rows
  static constexpr int kCG = 32 / kRG;                          // lanes along the columns
  static constexpr int kTBw = kCG * kRN;                        // columns per warp
  static constexpr int kWarps = 4;
  static constexpr int kThreads = 32 * kWarps;
  // __launch_bounds__' minimum resident blocks per SM: caps the registers (65536 / (threads x
  // blocks)) so that ptxas does not spend up to 255 on hoisting the unrolled loads: 168 (a cap of
  // 128 spilled in float32).
  static constexpr int kMinBlocks = 2;
  static constexpr int kTile = kWarps * kTBw;                   // columns per block
  static constexpr int kWVecs = NP * NP / kV;                   // W in shared memory
  static constexpr int kHalfVecs = NP * kTBw / kV;              // one half of a warp's buffer
  static constexpr int kFVecs = kWarps * 2 * kHalfVecs;         // both halves, every warp
  static constexpr int kRowVecs = RM / kV, kColVecs = kRN / kV;
  static_assert(NP % RM == 0 && 32 % kRG == 0 && kRG <= 32, "row groups tile NP and a warp");
  static_assert(RM % kV == 0 && kRN % kV == 0, "a lane's rows and columns are whole vectors");
  static_assert((kWVecs + kFVecs) * 16 <= 48 * 1024, "static shared memory <= 48 KB");
};

// Where a lane sits: its warp's columns, its row and column groups, its cell.
template <class G>
struct SwPlace {
  int warp, rg, cg, cell, cells;
  std::int64_t col0;  // the warp's first column (batch index within the cell)
  std::int64_t batch;  // columns of the cell: systems / cells

  __device__ __forceinline__ int row(int r) const {  // r < RM
    return ((r / G::kV) * G::kRG + rg) * G::kV + r % G::kV;
  }
  __device__ __forceinline__ int col(int c) const {  // c < kRN, column within the warp's tile
    return ((c / G::kV) * G::kCG + cg) * G::kV + c % G::kV;
  }
  __device__ __forceinline__ bool valid(int c) const { return col0 + col(c) < batch; }
  __device__ __forceinline__ std::int64_t system(int c) const {
    return valid(c) ? (col0 + col(c)) * cells + cell : 0;
  }
};

template <class G>
__device__ __forceinline__ SwPlace<G> sw_place(std::int64_t systems, int cells) {
  SwPlace<G> pl;
  pl.warp = static_cast<int>(threadIdx.x) / 32;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  pl.rg = lane % G::kRG;
  pl.cg = lane / G::kRG;
  pl.cell = static_cast<int>(blockIdx.y);
  pl.cells = cells;
  pl.batch = systems / cells;
  pl.col0 = static_cast<std::int64_t>(blockIdx.x) * G::kTile + pl.warp * G::kTBw;
  return pl;
}

// A lane's row and column flags as bits: rows inside n (bit r), valid columns (bit c), and the
// nonlinearity code of each row (2 bits per row).
template <class G, int RM>
struct SwFlags {
  unsigned rows_in, cols_valid;
  std::uint32_t codes;  // 2 bits per row (RM <= 16)
  __device__ __forceinline__ bool own(int r, int c) const { return ((rows_in >> r) & (cols_valid >> c) & 1u) != 0u; }
  __device__ __forceinline__ int code(int r) const { return static_cast<int>((codes >> (2 * r)) & 3u); }
};

template <class G, int RM>
__device__ __forceinline__ SwFlags<G, RM> sw_flags(const SwPlace<G>& pl, int n, const std::int8_t* nonlinearity) {
  static_assert(RM <= 16, "two bits per row in 32");
  SwFlags<G, RM> f{0u, 0u, 0u};
#pragma unroll
  for (int r = 0; r < RM; ++r) {
    const int i = pl.row(r);
    if (i < n) f.rows_in |= 1u << r;
    f.codes |= static_cast<std::uint32_t>(i < n ? nonlinearity[i] : 2) << (2 * r);
  }
#pragma unroll
  for (int c = 0; c < G::kRN; ++c)
    if (pl.valid(c)) f.cols_valid |= 1u << c;
  return f;
}

// W of this block's cell into shared memory, padded with zeros: element (k, i) at k NP + i is W[i][k]
// (transpose = false: the forward's W f) or W[k][i] (true: the adjoint's W^T u). The caller meets
// the block at __syncthreads before reading it.
template <class G, typename T, int NP>
__device__ __forceinline__ void sw_load_W(Vec16<T>* wsm, const T* Wc, int n, bool transpose) {
  for (int idx = static_cast<int>(threadIdx.x); idx < NP * NP; idx += G::kThreads) {
    const int k = idx / NP, i = idx % NP;
    const bool inside = i < n && k < n;
    wsm[idx / G::kV].v[idx % G::kV] =
        inside ? (transpose ? Wc[static_cast<std::int64_t>(k) * n + i] : Wc[static_cast<std::int64_t>(i) * n + k])
               : T(0);
  }
}

// Writes the lane's RM x kRN values x into the warp's buffer half `half` and meets the warp.
template <class G, typename T, int NP, int RM>
__device__ __forceinline__ const Vec16<T>* sw_publish(Vec16<T>* fsm, const SwPlace<G>& pl, int half,
                                                      const T (&x)[RM][G::kRN]) {
  Vec16<T>* mine = fsm + (pl.warp * 2 + half) * G::kHalfVecs;
#pragma unroll
  for (int r = 0; r < RM; ++r)
#pragma unroll
    for (int c = 0; c < G::kRN; ++c) {
      const int idx = pl.row(r) * G::kTBw + pl.col(c);
      mine[idx / G::kV].v[idx % G::kV] = x[r][c];
    }
  __syncwarp();  // the warp's values are in shared memory (and ordered before the reads)
  return mine;
}

// acc[r][c] = sum_k Wsm(k, row r) x(k, col c): per k, the lane's RM values of W and 4 of x as
// 16-byte vectors, 4 RM FMAs; two partial sums (even and odd k) as broadcast_matvec.
// kUnroll: vector steps of k unrolled (the forward unrolls all of them; the adjoint, with two call
// sites and more state live, 2, which keeps ptxas from hoisting every load and spilling).
template <class G, typename T, int NP, int RM, int kUnroll = NP / G::kV>
__device__ __forceinline__ void sw_matmul(const Vec16<T>* wsm, const Vec16<T>* x, const SwPlace<G>& pl,
                                          T (&acc)[RM][G::kRN]) {
  constexpr int V = G::kV, RN = G::kRN;
  T part[RM][RN][2];
#pragma unroll
  for (int r = 0; r < RM; ++r)
#pragma unroll
    for (int c = 0; c < RN; ++c) part[r][c][0] = part[r][c][1] = T(0);
#pragma unroll kUnroll
  for (int kq = 0; kq < NP / V; ++kq) {
#pragma unroll
    for (int e = 0; e < V; ++e) {
      const int k = kq * V + e;
      Vec16<T> wv[G::kRowVecs], xv[G::kColVecs];
#pragma unroll
      for (int q = 0; q < G::kRowVecs; ++q) wv[q] = wsm[(k * NP) / V + q * G::kRG + pl.rg];
#pragma unroll
      for (int q = 0; q < G::kColVecs; ++q) xv[q] = x[(k * G::kTBw) / V + q * G::kCG + pl.cg];
#pragma unroll
      for (int r = 0; r < RM; ++r)
#pragma unroll
        for (int c = 0; c < RN; ++c)
          part[r][c][e & 1] = fma(wv[r / V].v[r % V], xv[c / V].v[c % V], part[r][c][e & 1]);
    }
  }
#pragma unroll
  for (int r = 0; r < RM; ++r)
#pragma unroll
    for (int c = 0; c < RN; ++c) acc[r][c] = part[r][c][0] + part[r][c][1];
}

// Sum over the kRG lanes of a column group (lane = cg kRG + rg), the per-system group_sum's order.
template <class G, typename T>
__device__ __forceinline__ T sw_column_sum(T x) {
#pragma unroll
  for (int offset = G::kRG / 2; offset > 0; offset >>= 1) x += __shfl_xor_sync(kFullMask, x, offset, G::kRG);
  return x;
}

// kFull: the noise and momentum code (noise_std > 0 or p.momentum); without it the kernel holds
// no previous state (gamma is 0 for every system: the caller said so) and no float64 noise code.
template <typename T, int NP, int RM, bool kFull>
__global__ void __launch_bounds__(SwGeometry<T, NP, RM>::kThreads, SwGeometry<T, NP, RM>::kMinBlocks)
    fixed_point_shared_forward_kernel(FixedPointCudaParams p) {
  using G = SwGeometry<T, NP, RM>;
  constexpr int RN = G::kRN;
  QF_SHARED_ARRAY(Vec16<T>, wsm, G::kWVecs);
  QF_SHARED_ARRAY(Vec16<T>, fsm, G::kFVecs);
  const int n = p.n;
  const SwPlace<G> pl = sw_place<G>(p.systems, p.W_shared ? 1 : p.W_cells);
  sw_load_W<G, T, NP>(wsm, static_cast<const T*>(p.W) + static_cast<std::int64_t>(pl.cell) * n * n, n, false);

  // per-lane flags as bit sets (registers, not one per flag): own = row inside n and column valid
  T s[RM][RN], prev[RM][RN], bias[RM][RN];
  const SwFlags<G, RM> fl = sw_flags<G, RM>(pl, n, p.nonlinearity);
  T alpha_fixed[RN], beta[RN], gamma[RN];
  unsigned annealed = 0u, active = 0u;  // bit c: column c
#pragma unroll
  for (int c = 0; c < RN; ++c) {
    const bool v = pl.valid(c);
    const std::int64_t sys = pl.system(c);
    const T* b = static_cast<const T*>(p.b) + (p.b_shared ? 0 : sys * n);
    const T* s0 = p.s0 ? static_cast<const T*>(p.s0) + sys * n : nullptr;
#pragma unroll
    for (int r = 0; r < RM; ++r) {
      const int i = pl.row(r);
      const bool own = fl.own(r, c);
      bias[r][c] = own ? b[i] : T(0);
      s[r][c] = (own && s0) ? s0[i] : T(0);
      prev[r][c] = s[r][c];
    }
    const double a_start = v ? static_cast<const T*>(p.alpha_start)[sys] : 0.0;
    const double a_end = v ? static_cast<const T*>(p.alpha_end)[sys] : 0.0;
    if (!(a_end == a_start) || !isfinite(a_start)) annealed |= 1u << c;
    alpha_fixed[c] = static_cast<T>(a_start);
    beta[c] = v ? static_cast<const T*>(p.beta)[sys] : T(0);
    gamma[c] = v ? static_cast<const T*>(p.gamma)[sys] : T(0);
    if (v) active |= 1u << c;
  }
  const T lo = static_cast<T>(p.clamp_lo), hi = static_cast<T>(p.clamp_hi);
  const T tol = static_cast<T>(p.tol);
  const int T_max = p.max_iter;
  __syncthreads();  // W is in shared memory

  for (int t = 0; t <= T_max; ++t) {
    if (!__any_sync(kFullMask, active != 0u)) break;
    T x[RM][RN], acc[RM][RN];
#pragma unroll
    for (int r = 0; r < RM; ++r)
#pragma unroll
      for (int c = 0; c < RN; ++c) x[r][c] = fl.own(r, c) ? apply_f(s[r][c], fl.code(r)) : T(0);
    sw_matmul<G, T, NP, RM>(wsm, sw_publish<G, T, NP, RM>(fsm, pl, t & 1, x), pl, acc);
#pragma unroll
    for (int c = 0; c < RN; ++c) {
      // an annealed column reads its schedule's ends again (cached) instead of holding two doubles
      const bool ann = (annealed >> c) & 1u;
      const std::int64_t sys_a = ann ? pl.system(c) : 0;
      const T alpha_t = fp_alpha_t<T>(ann, alpha_fixed[c], ann ? static_cast<const T*>(p.alpha_start)[sys_a] : 0.0,
                                      ann ? static_cast<const T*>(p.alpha_end)[sys_a] : 0.0, t, T_max);
      T r2 = T(0), F2 = T(0);
#pragma unroll
      for (int r = 0; r < RM; ++r)
        acc[r][c] = fp_pre<T>(alpha_t, s[r][c], beta[c], acc[r][c], bias[r][c], fl.own(r, c), p.has_clamp, lo, hi,
                              r2, F2);
      r2 = sw_column_sum<G, T>(r2);
      F2 = sw_column_sum<G, T>(F2);
      if ((active >> c) & 1u) {
        int iterations;
        T residual;
        const std::int64_t sys = pl.system(c);
        if (fp_judge<T>(r2, F2, tol, t, T_max, iterations, residual)) {  // stops here: its results out now
          active &= ~(1u << c);
          if (pl.rg == 0) {
            p.iterations[sys] = iterations;
            static_cast<T*>(p.residual)[sys] = residual;
          }
        } else {
#pragma unroll
          for (int r = 0; r < RM; ++r)
            fp_update<T, kFull>(acc[r][c], kFull ? gamma[c] : T(0), fl.own(r, c), p.has_clamp, lo, hi, p.noise_std,
                                p.seed, sys, t, pl.row(r), s[r][c], prev[r][c]);
        }
      }
    }
  }
#pragma unroll
  for (int c = 0; c < RN; ++c) {
    if (!pl.valid(c)) continue;
    const std::int64_t sys = pl.system(c);
    T* state = static_cast<T*>(p.state) + sys * n;
#pragma unroll
    for (int r = 0; r < RM; ++r)
      if (fl.own(r, c)) state[pl.row(r)] = s[r][c];
  }
}

// The adjoint at s*: W f(s*) (the forward's layout of W), the clamp mask, then W reloaded
// transposed and v <- J^T v + g per column until its own stop; outputs u = D v, W f(s*), per-system
// grad_alpha = u.s*, grad_beta = u.W f(s*), and the block's partial sum_columns beta u f(s*)^T of
// grad_W (every thread of the block reaches the final __syncthreads: no early return).
template <typename T, int NP, int RM>
__global__ void __launch_bounds__(SwGeometry<T, NP, RM>::kThreads, SwGeometry<T, NP, RM>::kMinBlocks)
    fixed_point_shared_adjoint_kernel(FixedPointAdjointCudaParams p) {
  using G = SwGeometry<T, NP, RM>;
  constexpr int RN = G::kRN;
  QF_SHARED_ARRAY(Vec16<T>, wsm, G::kWVecs);
  QF_SHARED_ARRAY(Vec16<T>, fsm, G::kFVecs);
  const int n = p.n;
  const SwPlace<G> pl = sw_place<G>(p.systems, p.W_shared ? 1 : p.W_cells);
  const T* Wc = static_cast<const T*>(p.W) + static_cast<std::int64_t>(pl.cell) * n * n;
  sw_load_W<G, T, NP>(wsm, Wc, n, false);
  const T lo = static_cast<T>(p.clamp_lo), hi = static_cast<T>(p.clamp_hi);
  const T tol = static_cast<T>(p.tol);

  T g[RM][RN], fprime[RM][RN], x[RM][RN], acc[RM][RN];
  const SwFlags<G, RM> fl = sw_flags<G, RM>(pl, n, p.nonlinearity);
  unsigned mask_bits[RN];  // bit r: the clamp mask of row r (1 inside)
  T alpha[RN], beta[RN];
  unsigned active = 0u;  // bit c: column c
#pragma unroll
  for (int c = 0; c < RN; ++c) {
    const bool v = pl.valid(c);
    const std::int64_t sys = pl.system(c);
    const T* st = static_cast<const T*>(p.state) + sys * n;
    const T* gs = static_cast<const T*>(p.grad_state) + sys * n;
#pragma unroll
    for (int r = 0; r < RM; ++r) {
      const int i = pl.row(r);
      const bool own = fl.own(r, c);
      const T sv = own ? st[i] : T(0);
      g[r][c] = own ? gs[i] : T(0);
      x[r][c] = own ? apply_f(sv, fl.code(r)) : T(0);
      fprime[r][c] = own ? derivative_f(sv, fl.code(r)) : T(0);
    }
    alpha[c] = v ? static_cast<const T*>(p.alpha)[sys] : T(0);
    beta[c] = v ? static_cast<const T*>(p.beta)[sys] : T(0);
    if (v) active |= 1u << c;
  }
  __syncthreads();  // W (rows) is in shared memory
  // half 1 here: the loop's first write (t = 0) goes to half 0, its second (t = 1) to half 1 after
  // the __syncwarp of t = 0, which every lane reaches after these reads
  sw_matmul<G, T, NP, RM, 2>(wsm, sw_publish<G, T, NP, RM>(fsm, pl, 1, x), pl, acc);  // acc = W f(s*)
#pragma unroll
  for (int c = 0; c < RN; ++c) {
    const std::int64_t sys = pl.system(c);
    const T* b = static_cast<const T*>(p.b) + (p.b_shared ? 0 : sys * n);
    const T* st = static_cast<const T*>(p.state) + sys * n;
    T* wf_out = static_cast<T*>(p.W_f) + sys * n;
    mask_bits[c] = 0u;
#pragma unroll
    for (int r = 0; r < RM; ++r) {
      const int i = pl.row(r);
      const bool own = fl.own(r, c);
      const T m = fp_adjoint_mask<T>(alpha[c], own ? st[i] : T(0), beta[c], acc[r][c], own ? b[i] : T(0), own,
                                     p.has_clamp, lo, hi);
      if (m != T(0)) mask_bits[c] |= 1u << r;
      if (own) wf_out[i] = acc[r][c];
      x[r][c] = g[r][c];  // v_0 = g
    }
  }
  __syncthreads();  // every warp has read W (rows)
  sw_load_W<G, T, NP>(wsm, Wc, n, true);
  __syncthreads();  // W (columns) is in shared memory

  for (int t = 0; t <= p.max_iter; ++t) {
    if (!__any_sync(kFullMask, active != 0u)) break;
    {
      T u[RM][RN];  // u = D v (formed again below rather than held across the product)
#pragma unroll
      for (int r = 0; r < RM; ++r)
#pragma unroll
        for (int c = 0; c < RN; ++c) u[r][c] = ((mask_bits[c] >> r) & 1u) ? x[r][c] : T(0);
      sw_matmul<G, T, NP, RM, 2>(wsm, sw_publish<G, T, NP, RM>(fsm, pl, t & 1, u), pl, acc);
    }
#pragma unroll
    for (int c = 0; c < RN; ++c) {
      T d2 = T(0), y2 = T(0);
#pragma unroll
      for (int r = 0; r < RM; ++r)
        acc[r][c] = fp_adjoint_step<T>(alpha[c], ((mask_bits[c] >> r) & 1u) ? x[r][c] : T(0), beta[c], fprime[r][c],
                                       acc[r][c], g[r][c], x[r][c], fl.own(r, c), d2, y2);
      d2 = sw_column_sum<G, T>(d2);
      y2 = sw_column_sum<G, T>(y2);
      if ((active >> c) & 1u) {
        int iterations;
        T residual;
        if (fp_judge<T>(d2, y2, tol, t, p.max_iter, iterations, residual)) {  // stops here: results out now
          active &= ~(1u << c);
          if (pl.rg == 0) {
            const std::int64_t sys = pl.system(c);
            p.iterations[sys] = iterations;
            static_cast<T*>(p.residual)[sys] = residual;
          }
        } else {
#pragma unroll
          for (int r = 0; r < RM; ++r) x[r][c] = acc[r][c];
        }
      }
    }
  }
  // outputs: u = D v; grad_alpha, grad_beta per system; beta u and f(s*) into the warp's two halves
  T bu[RM][RN], fs[RM][RN];
#pragma unroll
  for (int c = 0; c < RN; ++c) {
    const std::int64_t sys = pl.system(c);
    const T* st = static_cast<const T*>(p.state) + sys * n;
    const T* wf = static_cast<const T*>(p.W_f) + sys * n;
    T* u_out = static_cast<T*>(p.u) + sys * n;
    T ga = T(0), gb = T(0);
#pragma unroll
    for (int r = 0; r < RM; ++r) {
      const int i = pl.row(r);
      const bool own = fl.own(r, c);
      const T u = ((mask_bits[c] >> r) & 1u) ? x[r][c] : T(0);
      const T sv = own ? st[i] : T(0);
      ga += u * sv;
      gb += u * (own ? wf[i] : T(0));
      bu[r][c] = beta[c] * u;
      fs[r][c] = own ? apply_f(sv, fl.code(r)) : T(0);
      if (own) u_out[i] = u;
    }
    ga = sw_column_sum<G, T>(ga);
    gb = sw_column_sum<G, T>(gb);
    if (pl.valid(c) && pl.rg == 0) {
      static_cast<T*>(p.grad_alpha)[sys] = ga;
      static_cast<T*>(p.grad_beta)[sys] = gb;
    }
  }
  __syncwarp();  // every lane has read the loop's last buffer before it is overwritten
  Vec16<T>* ubuf = fsm + (pl.warp * 2) * G::kHalfVecs;
  Vec16<T>* sbuf = ubuf + G::kHalfVecs;
#pragma unroll
  for (int r = 0; r < RM; ++r)
#pragma unroll
    for (int c = 0; c < RN; ++c) {
      const int idx = pl.row(r) * G::kTBw + pl.col(c);
      ubuf[idx / G::kV].v[idx % G::kV] = bu[r][c];
      sbuf[idx / G::kV].v[idx % G::kV] = fs[r][c];
    }
  __syncthreads();  // every warp's beta u and f(s*) are in shared memory
  // grad_W partial of this block: element (i, j) = sum over the block's columns (warp by warp, in
  // column order: deterministic) of (beta u)_i f_j
  T* partial = static_cast<T*>(p.grad_W_partial) +
               (static_cast<std::int64_t>(pl.cell) * gridDim.x + blockIdx.x) * n * n;
  for (int e = static_cast<int>(threadIdx.x); e < n * n; e += G::kThreads) {
    const int i = e / n, j = e % n;
    T sum = T(0);
    for (int w = 0; w < G::kWarps; ++w) {
      const Vec16<T>* ub = fsm + (w * 2) * G::kHalfVecs;
      const Vec16<T>* sb = ub + G::kHalfVecs;
      for (int cc = 0; cc < G::kTBw; ++cc) {
        const int ii = i * G::kTBw + cc, jj = j * G::kTBw + cc;
        sum = fma(ub[ii / G::kV].v[ii % G::kV], sb[jj / G::kV].v[jj % G::kV], sum);
      }
    }
    partial[e] = sum;
  }
}

// Launch geometry, shared by the CUDA launcher (fixed_point_shared.cu) and the emulator driver.
// Which forward instantiation runs: the one with noise and momentum code (kFull) when noise_std > 0
// or the caller did not rule momentum out.
inline bool fixed_point_shared_full(const FixedPointCudaParams& p) { return p.noise_std > 0.0 || p.momentum != 0; }

inline int fixed_point_shared_cells(int W_shared, int W_cells) { return W_shared ? 1 : W_cells; }

template <typename T, int NP, int RM>
inline dim3 fixed_point_shared_grid(std::int64_t systems, int cells) {
  using G = SwGeometry<T, NP, RM>;
  const std::int64_t batch = systems / cells;
  return dim3(static_cast<unsigned int>((batch + G::kTile - 1) / G::kTile), static_cast<unsigned int>(cells), 1);
}

// Runs Launch<T, NP, RM>::run(p, extra...) for the instantiation serving p.n and p.dtype (padded
// NP = 4, 8, 16, 32, 64; RM = 4 rows per lane; 8 rows spilled at NP = 64); -1: not servable (n out of range, no
// shared W, systems not a multiple of the cells, more than 65535 cells).
template <typename Params, template <typename, int, int> class Launch, class... Extra>
int dispatch_fixed_point_shared(const Params& p, Extra... extra) {
  const int cells = fixed_point_shared_cells(p.W_shared, p.W_cells);
  if (p.n < 1 || p.n > kFixedPointCudaMaxN || p.systems < 0 || cells < 1 || cells > 65535 ||
      p.systems % cells != 0)
    return -1;
  if (p.systems == 0) return 0;
  if (p.dtype == kFpFloat32) {
    if (p.n <= 4) return Launch<float, 4, 4>::run(p, extra...);
    if (p.n <= 8) return Launch<float, 8, 4>::run(p, extra...);
    if (p.n <= 16) return Launch<float, 16, 4>::run(p, extra...);
    if (p.n <= 32) return Launch<float, 32, 4>::run(p, extra...);
    return Launch<float, 64, 4>::run(p, extra...);
  }
  if (p.dtype == kFpFloat64) {
    if (p.n <= 4) return Launch<double, 4, 4>::run(p, extra...);
    if (p.n <= 8) return Launch<double, 8, 4>::run(p, extra...);
    if (p.n <= 16) return Launch<double, 16, 4>::run(p, extra...);
    if (p.n <= 32) return Launch<double, 32, 4>::run(p, extra...);
    return Launch<double, 64, 4>::run(p, extra...);
  }
  return -1;
}

// Blocks along the batch (the grad_W partials' tiles per cell) of the instantiation serving p: what
// the caller allocates (C, tiles, n, n) for and sums over; -1 when p is not servable.
template <typename T, int NP, int RM>
struct SharedTiles {
  template <class Params>
  static int run(const Params& p) {
    return static_cast<int>(fixed_point_shared_grid<T, NP, RM>(p.systems, fixed_point_shared_cells(p.W_shared, p.W_cells)).x);
  }
};

template <typename Params>
int fixed_point_shared_tiles(const Params& p) {
  return dispatch_fixed_point_shared<Params, SharedTiles>(p);
}

}  // namespace kernels
}  // namespace quaton

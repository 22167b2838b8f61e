// AOC digital twin kernels: all iterations of many small fixed-point systems in one launch,
// forward and implicit adjoint; device code only. Layout and semantics:
// cpp/include/quaton/fixed_point_cuda.h. Launched by cuda/fixed_point.cu; run on the CPU by the
// emulator tests (tests/kernels/).
#pragma once

#include <cstdint>

#include "platform.cuh"
#include "quaton/fixed_point_cuda.h"

namespace quaton {
namespace kernels {

constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kFpThreads = 128;
constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ull;
constexpr double kTwoPow53Inv = 1.1102230246251565404236316680908203125e-16;  // 2^-53

__device__ __forceinline__ std::uint64_t mix64(std::uint64_t z) {
  z ^= z >> 30;
  z *= 0xBF58476D1CE4E5B9ull;
  z ^= z >> 27;
  z *= 0x94D049BB133111EBull;
  z ^= z >> 31;
  return z;
}

// xi[system, t, j] of the counter-based recipe (float64, as in the reference).
__device__ inline double counter_normal(std::uint64_t seed, std::uint64_t system, std::uint64_t t,
                                 std::uint64_t j) {
  const std::uint64_t k2 = mix64(mix64(seed + kGolden * (system + 1)) + kGolden * (t + 1));
  const std::uint64_t a = mix64(k2 + kGolden * (2 * j + 1));
  const std::uint64_t c = mix64(k2 + kGolden * (2 * j + 2));
  const double u1 = static_cast<double>((a >> 11) + 1) * kTwoPow53Inv;
  const double u2 = static_cast<double>(c >> 11) * kTwoPow53Inv;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

__device__ __forceinline__ float tanh_t(float x) { return tanhf(x); }
__device__ __forceinline__ double tanh_t(double x) { return tanh(x); }

template <typename T>
__device__ __forceinline__ T apply_f(T x, int code) {
  if (code == 0) return tanh_t(x);
  if (code == 1) return x >= T(0) ? T(1) : T(-1);
  return x;
}

template <typename T>
__device__ __forceinline__ T derivative_f(T x, int code) {
  if (code == 0) {
    const T th = tanh_t(x);
    return T(1) - th * th;
  }
  return code == 1 ? T(0) : T(1);
}

// The per-element arithmetic of one step, shared by the per-system kernels and the shared-W kernels
// (cuda/fixed_point_shared.cuh) so that both compile to the same operations (nvcc contracts the same
// expressions into the same FMAs): a system run by either kernel follows the same trajectory bit
// for bit when its matvec sums in the same order.
template <typename T>
__device__ __forceinline__ T fp_clamp(T v, T lo, T hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

// pre = alpha(t) s + beta (W f(s)) + b and F(s) = clamp(pre); accumulates ||F(s) - s||^2 and ||F(s)||^2.
template <typename T>
__device__ __forceinline__ T fp_pre(T alpha_t, T s, T beta, T acc, T bias, bool own, bool has_clamp, T lo, T hi,
                                    T& r2, T& F2) {
  T pv = alpha_t * s + beta * acc + bias;
  T Fv = has_clamp ? fp_clamp(pv, lo, hi) : pv;
  if (!own) pv = Fv = T(0);
  const T dv = Fv - s;
  r2 += dv * dv;
  F2 += Fv * Fv;
  return pv;
}

// The convergence rule at the current state from the group-summed norms: records iterations and
// residual and returns whether the system stops here (header fixed_point_cuda.h: convergence).
template <typename T>
__device__ __forceinline__ bool fp_judge(T r2, T F2, T tol, int t, int T_max, int& iterations, T& residual) {
  const T norm = sqrt(F2) > T(1e-30) ? sqrt(F2) : T(1e-30);
  T rel = sqrt(r2) / norm;
  if (!isfinite(rel) || !isfinite(norm)) rel = T(INFINITY);
  iterations = t;
  residual = rel;
  return isinf(rel) || (tol > T(0) && rel <= tol) || t == T_max;
}

// alpha(t) in float64 in the reference's order of operations (the final check uses alpha(T-1)).
template <typename T>
__device__ __forceinline__ T fp_alpha_t(bool annealed, T alpha_fixed, double a0, double a1, int t, int T_max) {
  if (!(annealed && T_max != 1)) return alpha_fixed;
  const int ta = t < T_max ? t : T_max - 1;
  return static_cast<T>(a0 + ((a1 - a0) * ta) / (T_max - 1));
}

// The update s <- clamp(pre + gamma (s - prev) + noise) of one element (row i of system sys).
template <typename T, bool kNoise>
__device__ __forceinline__ void fp_update(T pre, T gamma, bool own, bool has_clamp, T lo, T hi, double noise_std,
                                          std::uint64_t seed, std::int64_t sys, int t, int i, T& s, T& prev) {
  T yv = pre;
  if (gamma != T(0)) yv += gamma * (s - prev);
  if (kNoise && own && noise_std > 0.0)
    yv += static_cast<T>(noise_std * counter_normal(seed, static_cast<std::uint64_t>(sys), static_cast<std::uint64_t>(t),
                                                    static_cast<std::uint64_t>(i)));
  if (has_clamp) yv = fp_clamp(yv, lo, hi);
  if (!own) yv = T(0);
  prev = s;
  s = yv;
}

// The adjoint's clamp mask at s*: 1 where y = alpha s + beta W f(s*) + b lies inside (lo, hi).
template <typename T>
__device__ __forceinline__ T fp_adjoint_mask(T alpha, T s, T beta, T Wf, T bias, bool own, bool has_clamp, T lo, T hi) {
  const T y = alpha * s + beta * Wf + bias;
  return (!has_clamp || (y > lo && y < hi)) && own ? T(1) : T(0);
}

// One element of G(v) = J^T v + g: alpha u + beta f'(s*) (W^T u) + g with u = D v; accumulates
// ||G(v) - v||^2 and ||G(v)||^2.
template <typename T>
__device__ __forceinline__ T fp_adjoint_step(T alpha, T u, T beta, T fprime, T acc, T g, T v, bool own, T& d2, T& y2) {
  const T vn = own ? alpha * u + beta * fprime * acc + g : T(0);
  const T dv = vn - v;
  d2 += dv * dv;
  y2 += vn * vn;
  return vn;
}

// W of system `sys`: (S,n,n) per system, (n,n) shared, or (C,n,n) with system s using W[s % C].
template <typename T>
__device__ __forceinline__ const T* fp_system_W(const void* W, int W_shared, int W_cells, std::int64_t sys, int n) {
  const std::int64_t m = W_shared ? 0 : (W_cells > 0 ? sys % W_cells : sys);
  return static_cast<const T*>(W) + m * n * n;
}

// Per-system geometry: a group of TPS consecutive lanes of one warp owns a system; lane `sub` of the
// group owns the R consecutive rows i = sub*R + r (r < R) of the padded size NP = TPS*R >= n: their
// rows of W (or columns, for the adjoint's W^T) and their state stay in registers. The group's
// current f(s) (or D v) is broadcast through shared memory: each lane writes its R values, the warp
// meets at __syncwarp, and every lane reads all NP values as 16-byte vectors (4 floats or 2 doubles
// per load, the same address for the whole group: a broadcast), R FMAs per value read. The buffer
// is double: iteration t writes half t & 1, so the reads of iteration t and the writes of t + 2 are
// ordered by the __syncwarp of t + 1, and one warp barrier per iteration suffices.
template <typename T>
struct alignas(16) Vec16 {
  T v[16 / sizeof(T)];
};

template <typename T, int TPS, int R>
struct FpGeometry {
  static constexpr int kPad = TPS * R;                           // NP: padded n
  static constexpr int kPerVec = 16 / static_cast<int>(sizeof(T));  // values per 16-byte load
  static constexpr int kVecs = kPad / kPerVec;                   // loads per broadcast
  // a group's buffer: an odd number of 16-byte vectors, so that the groups of one warp reading
  // vector q at once hit distinct banks (stride 4*odd banks: 8 groups, 8 distinct 4-bank sets)
  static constexpr int kStride = kVecs | 1;
  static constexpr int kSystemsPerBlock = kFpThreads / TPS;
  static constexpr int kBufferVecs = 2 * kSystemsPerBlock * kStride;  // both halves, every group
  static_assert(32 % TPS == 0, "a system's group lies inside one warp");
  static_assert(kPad % kPerVec == 0, "the padded size is a whole number of 16-byte vectors");
};

// Sum over the TPS lanes of one system's group.
template <typename T, int TPS>
__device__ __forceinline__ T group_sum(T x) {
#pragma unroll
  for (int offset = TPS / 2; offset > 0; offset >>= 1) x += __shfl_xor_sync(kFullMask, x, offset, TPS);
  return x;
}

// Where a lane's group sits: the system index, its slot in the block, and whether it exists.
struct GroupPlace {
  std::int64_t system;
  int slot;  // group index within the block: its shared-memory broadcast buffer
  int sub;   // lane within the group: owns rows sub*R .. sub*R + R - 1
  bool valid;
};

template <int TPS>
__device__ __forceinline__ GroupPlace group_place(std::int64_t systems) {
  GroupPlace g;
  g.slot = static_cast<int>(threadIdx.x) / TPS;
  g.sub = static_cast<int>(threadIdx.x) % TPS;
  g.system = static_cast<std::int64_t>(blockIdx.x) * (kFpThreads / TPS) + g.slot;
  g.valid = g.system < systems;
  return g;
}

// Writes this lane's R values x[r] (rows sub*R + r) into the group's buffer `half` (0 or 1) and
// meets the warp: afterwards every lane of the group may read all NP values.
template <typename T, int TPS, int R>
__device__ __forceinline__ const Vec16<T>* broadcast_publish(Vec16<T>* buffer, const GroupPlace& place, int half,
                                                             const T (&x)[R]) {
  using Geo = FpGeometry<T, TPS, R>;
  Vec16<T>* mine = buffer + (half * Geo::kSystemsPerBlock + place.slot) * Geo::kStride;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int i = place.sub * R + r;
    mine[i / Geo::kPerVec].v[i % Geo::kPerVec] = x[r];
  }
  __syncwarp();  // the group's values are in shared memory (and ordered before the reads)
  return mine;
}

// acc[r] = sum_j w[r][j] * x_j over the NP broadcast values x (16-byte vector loads); two partial
// sums per row (even and odd vector lanes) for independent FMA chains.
template <typename T, int TPS, int R>
__device__ __forceinline__ void broadcast_matvec(const T (&w)[R][TPS * R], const Vec16<T>* x, T (&acc)[R]) {
  using Geo = FpGeometry<T, TPS, R>;
  T part[R][2];
#pragma unroll
  for (int r = 0; r < R; ++r) part[r][0] = part[r][1] = T(0);
#pragma unroll
  for (int q = 0; q < Geo::kVecs; ++q) {
    const Vec16<T> xv = x[q];
#pragma unroll
    for (int k = 0; k < Geo::kPerVec; ++k)
#pragma unroll
      for (int r = 0; r < R; ++r) part[r][k & 1] = fma(w[r][q * Geo::kPerVec + k], xv.v[k], part[r][k & 1]);
  }
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = part[r][0] + part[r][1];
}

// w[r][j] = W[i][j] (rows, transpose = false) or W[j][i] (columns, transpose = true), i = sub*R + r.
template <typename T, int TPS, int R>
__device__ __forceinline__ void load_matrix(const T* Wsys, int n, int sub, bool valid, bool transpose,
                                            T (&w)[R][TPS * R]) {
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int i = sub * R + r;
#pragma unroll
    for (int j = 0; j < TPS * R; ++j) {
      const bool inside = valid && i < n && j < n;
      w[r][j] = inside ? (transpose ? Wsys[static_cast<std::int64_t>(j) * n + i]
                                    : Wsys[static_cast<std::int64_t>(i) * n + j])
                       : T(0);
    }
  }
}

// kNoise: p.noise_std > 0 (fixed_point_forward_noisy); the noise-free instantiation carries no
// float64 noise code in its loop (fewer registers; its compiled loop is what runs).
template <typename T, int TPS, int R, bool kNoise>
__global__ void __launch_bounds__(kFpThreads) fixed_point_forward_kernel(FixedPointCudaParams p) {
  using Geo = FpGeometry<T, TPS, R>;
  QF_SHARED_ARRAY(Vec16<T>, fbuf, Geo::kBufferVecs);
  const GroupPlace place = group_place<TPS>(p.systems);
  const int n = p.n;
  const std::int64_t sys = place.valid ? place.system : 0;
  const T* W = fp_system_W<T>(p.W, p.W_shared, p.W_cells, sys, n);
  const T* b = static_cast<const T*>(p.b) + (p.b_shared ? 0 : sys * n);
  const T* s0 = p.s0 ? static_cast<const T*>(p.s0) + sys * n : nullptr;

  T w[R][TPS * R];
  load_matrix<T, TPS, R>(W, n, place.sub, place.valid, false, w);
  T s[R], prev[R], bias[R];
  int code[R];
  bool own[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int i = place.sub * R + r;
    own[r] = place.valid && i < n;
    code[r] = i < n ? static_cast<int>(p.nonlinearity[i]) : 2;
    bias[r] = own[r] ? b[i] : T(0);
    s[r] = (own[r] && s0) ? s0[i] : T(0);
    prev[r] = s[r];
  }
  const double alpha_start = place.valid ? static_cast<const T*>(p.alpha_start)[sys] : 0.0;
  const double alpha_end = place.valid ? static_cast<const T*>(p.alpha_end)[sys] : 0.0;
  // a constant finite alpha: alpha_start + (0 * t) / (T - 1) == alpha_start exactly, without the
  // division (an infinite one takes the formula: inf - inf = NaN, as in the reference)
  const bool annealed = !(alpha_end == alpha_start) || !isfinite(alpha_start);
  const T alpha_fixed = static_cast<T>(alpha_start);  // alpha(t) in T when not annealed
  const T beta = place.valid ? static_cast<const T*>(p.beta)[sys] : T(0);
  const T gamma = place.valid ? static_cast<const T*>(p.gamma)[sys] : T(0);
  const T lo = static_cast<T>(p.clamp_lo), hi = static_cast<T>(p.clamp_hi);
  const T tol = static_cast<T>(p.tol);

  bool active = place.valid;
  int iterations = 0;
  T residual = T(INFINITY);
  const int T_max = p.max_iter;
  // t = 0 .. T: F_t(s_t) and the residual AT s_t (header: convergence); stop there or update.
  for (int t = 0; t <= T_max; ++t) {
    if (!__any_sync(kFullMask, active)) break;
    T f[R], acc[R];
#pragma unroll
    for (int r = 0; r < R; ++r) f[r] = own[r] ? apply_f(s[r], code[r]) : T(0);
    const Vec16<T>* x = broadcast_publish<T, TPS, R>(fbuf, place, t & 1, f);
    broadcast_matvec<T, TPS, R>(w, x, acc);
    const T alpha_t = fp_alpha_t<T>(annealed, alpha_fixed, alpha_start, alpha_end, t, T_max);
    T pre[R];
    T r2 = T(0), F2 = T(0);
#pragma unroll
    for (int r = 0; r < R; ++r)
      pre[r] = fp_pre<T>(alpha_t, s[r], beta, acc[r], bias[r], own[r], p.has_clamp, lo, hi, r2, F2);
    r2 = group_sum<T, TPS>(r2);
    F2 = group_sum<T, TPS>(F2);
    if (active && fp_judge<T>(r2, F2, tol, t, T_max, iterations, residual)) active = false;
    if (active) {
#pragma unroll
      for (int r = 0; r < R; ++r)
        fp_update<T, kNoise>(pre[r], gamma, own[r], p.has_clamp, lo, hi, p.noise_std, p.seed, sys, t,
                             place.sub * R + r, s[r], prev[r]);
    }
  }
  if (!place.valid) return;
  T* state = static_cast<T*>(p.state) + sys * n;
#pragma unroll
  for (int r = 0; r < R; ++r)
    if (own[r]) state[place.sub * R + r] = s[r];
  if (place.sub == 0) {
    p.iterations[sys] = iterations;
    static_cast<T*>(p.residual)[sys] = residual;
  }
}

template <typename T, int TPS, int R>
__global__ void __launch_bounds__(kFpThreads) fixed_point_adjoint_kernel(FixedPointAdjointCudaParams p) {
  using Geo = FpGeometry<T, TPS, R>;
  QF_SHARED_ARRAY(Vec16<T>, ubuf, Geo::kBufferVecs);
  const GroupPlace place = group_place<TPS>(p.systems);
  const int n = p.n;
  const std::int64_t sys = place.valid ? place.system : 0;
  const T* W = fp_system_W<T>(p.W, p.W_shared, p.W_cells, sys, n);
  const T* b = static_cast<const T*>(p.b) + (p.b_shared ? 0 : sys * n);
  const T* st = static_cast<const T*>(p.state) + sys * n;
  const T* gs = static_cast<const T*>(p.grad_state) + sys * n;
  const T alpha = place.valid ? static_cast<const T*>(p.alpha)[sys] : T(0);
  const T beta = place.valid ? static_cast<const T*>(p.beta)[sys] : T(0);
  const T lo = static_cast<T>(p.clamp_lo), hi = static_cast<T>(p.clamp_hi);
  const T tol = static_cast<T>(p.tol);

  T s[R], g[R], fs[R], fprime[R], mask[R], Wf[R];
  bool own[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int i = place.sub * R + r;
    own[r] = place.valid && i < n;
    const int code = i < n ? static_cast<int>(p.nonlinearity[i]) : 2;
    s[r] = own[r] ? st[i] : T(0);
    g[r] = own[r] ? gs[i] : T(0);
    fs[r] = own[r] ? apply_f(s[r], code) : T(0);
    fprime[r] = own[r] ? derivative_f(s[r], code) : T(0);
  }
  T w[R][TPS * R];
  load_matrix<T, TPS, R>(W, n, place.sub, place.valid, false, w);  // rows: W f(s*)
  // half 1 here: the loop's first write (t = 0) goes to half 0, its second (t = 1) to half 1 after
  // the __syncwarp of t = 0, which every lane reaches after these reads
  broadcast_matvec<T, TPS, R>(w, broadcast_publish<T, TPS, R>(ubuf, place, 1, fs), Wf);
#pragma unroll
  for (int r = 0; r < R; ++r) {
    // fp_adjoint_mask's formula, written out: called as a function here, ptxas (nvcc 13.0) gave the
    // float64 n = 32 instantiation 255 registers and a 16-byte spill instead of 202 and none
    const T y = alpha * s[r] + beta * Wf[r] + (own[r] ? b[place.sub * R + r] : T(0));
    mask[r] = (!p.has_clamp || (y > lo && y < hi)) && own[r] ? T(1) : T(0);
  }
  load_matrix<T, TPS, R>(W, n, place.sub, place.valid, true, w);  // columns: W^T u

  T vcur[R];
#pragma unroll
  for (int r = 0; r < R; ++r) vcur[r] = g[r];
  int active = place.valid;  // int, not bool: ptxas spilled a bool across the division's slow-path call
  int iterations = 0;
  T residual = T(INFINITY);
  // t = 0 .. max_iter: G(v_t) = J^T v_t + g and the residual AT v_t; stop there or take G(v_t).
  for (int t = 0; t <= p.max_iter; ++t) {
    if (!__any_sync(kFullMask, active)) break;
    T u[R], acc[R], vn[R];
#pragma unroll
    for (int r = 0; r < R; ++r) u[r] = mask[r] * vcur[r];
    broadcast_matvec<T, TPS, R>(w, broadcast_publish<T, TPS, R>(ubuf, place, t & 1, u), acc);
    T d2 = T(0), y2 = T(0);
#pragma unroll
    for (int r = 0; r < R; ++r) vn[r] = fp_adjoint_step<T>(alpha, u[r], beta, fprime[r], acc[r], g[r], vcur[r], own[r], d2, y2);
    d2 = group_sum<T, TPS>(d2);
    y2 = group_sum<T, TPS>(y2);
    if (active && fp_judge<T>(d2, y2, tol, t, p.max_iter, iterations, residual)) active = 0;
    if (active) {
#pragma unroll
      for (int r = 0; r < R; ++r) vcur[r] = vn[r];
    }
  }
  if (!place.valid) return;
  T* u_out = static_cast<T*>(p.u) + sys * n;
  T* wf_out = static_cast<T*>(p.W_f) + sys * n;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if (!own[r]) continue;
    u_out[place.sub * R + r] = mask[r] * vcur[r];
    wf_out[place.sub * R + r] = Wf[r];
  }
  if (place.sub == 0) {
    p.iterations[sys] = iterations;
    static_cast<T*>(p.residual)[sys] = residual;
  }
}

// Launch geometry and instantiation choice, shared by the CUDA launcher (fixed_point.cu) and the
// emulator drivers (tests/kernels/): blocks of kFpThreads threads, kFpThreads / TPS systems each.
inline unsigned int fixed_point_blocks(std::int64_t systems, int threads_per_system) {
  const std::int64_t per_block = kFpThreads / threads_per_system;
  return static_cast<unsigned int>((systems + per_block - 1) / per_block);
}

// Which forward instantiation runs: the one with the noise code exactly when noise_std > 0.
inline bool fixed_point_forward_noisy(const FixedPointCudaParams& p) { return p.noise_std > 0.0; }

// Runs Launch<T, TPS, R>::run(p, extra...) for the instantiation that serves p.n and p.dtype
// (TPS threads per system, R rows per thread, padded size TPS*R >= n; -1: not servable):
//   n <= 4: 1 x 4 | n <= 8: 2 x 4 | n <= 16: 4 x 4 | n <= 32: 16 x 2 | n <= 64: 32 x 2.
// R * TPS * R values of W per thread (16 .. 128 registers in float32).
template <typename Params, template <typename, int, int> class Launch, class... Extra>
int dispatch_fixed_point(const Params& p, Extra... stream) {
  if (p.n < 1 || p.n > kFixedPointCudaMaxN || p.systems < 0) return -1;
  if (p.systems == 0) return 0;
  if (p.dtype == kFpFloat32) {
    if (p.n <= 4) return Launch<float, 1, 4>::run(p, stream...);
    if (p.n <= 8) return Launch<float, 2, 4>::run(p, stream...);
    if (p.n <= 16) return Launch<float, 4, 4>::run(p, stream...);
    if (p.n <= 32) return Launch<float, 16, 2>::run(p, stream...);
    return Launch<float, 32, 2>::run(p, stream...);
  }
  if (p.dtype == kFpFloat64) {
    if (p.n <= 4) return Launch<double, 1, 4>::run(p, stream...);
    if (p.n <= 8) return Launch<double, 2, 4>::run(p, stream...);
    if (p.n <= 16) return Launch<double, 4, 4>::run(p, stream...);
    if (p.n <= 32) return Launch<double, 16, 2>::run(p, stream...);
    return Launch<double, 32, 2>::run(p, stream...);
  }
  return -1;
}

}  // namespace kernels
}  // namespace quaton

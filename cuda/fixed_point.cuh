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
__device__ double counter_normal(std::uint64_t seed, std::uint64_t system, std::uint64_t t,
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

// Sum over the G lanes of one system's group.
template <typename T, int G>
__device__ __forceinline__ T group_sum(T x) {
#pragma unroll
  for (int offset = G / 2; offset > 0; offset >>= 1) x += __shfl_xor_sync(kFullMask, x, offset, G);
  return x;
}

// acc[v] = sum_j w[v][j] * x_j, where x_j (j = vj*G + l) lives in slot vj of lane l of the group.
template <typename T, int G, int VPT>
__device__ __forceinline__ void group_matvec(const T (&w)[VPT][G * VPT], const T (&x)[VPT],
                                             T (&acc)[VPT]) {
#pragma unroll
  for (int v = 0; v < VPT; ++v) acc[v] = T(0);
#pragma unroll
  for (int vj = 0; vj < VPT; ++vj) {
#pragma unroll
    for (int l = 0; l < G; ++l) {
      const T xj = __shfl_sync(kFullMask, x[vj], l, G);
#pragma unroll
      for (int v = 0; v < VPT; ++v) acc[v] = fma(w[v][vj * G + l], xj, acc[v]);
    }
  }
}

// Where a lane's group sits: the system index and whether it exists.
struct GroupPlace {
  std::int64_t system;
  int sub;  // lane within the group: owns variables sub, sub + G, ...
  bool valid;
};

template <int G>
__device__ __forceinline__ GroupPlace group_place(std::int64_t systems) {
  const int lane = threadIdx.x & 31;
  const std::int64_t warp = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  GroupPlace g;
  g.system = warp * (32 / G) + lane / G;
  g.sub = lane & (G - 1);
  g.valid = g.system < systems;
  return g;
}

// w[v][j] = W[i][j] (rows, transpose = false) or W[j][i] (columns, transpose = true), i = v*G+sub.
template <typename T, int G, int VPT>
__device__ __forceinline__ void load_matrix(const T* Wsys, int n, int sub, bool valid, bool transpose,
                                            T (&w)[VPT][G * VPT]) {
#pragma unroll
  for (int v = 0; v < VPT; ++v) {
    const int i = v * G + sub;
#pragma unroll
    for (int j = 0; j < G * VPT; ++j) {
      const bool inside = valid && i < n && j < n;
      w[v][j] = inside ? (transpose ? Wsys[static_cast<std::int64_t>(j) * n + i]
                                    : Wsys[static_cast<std::int64_t>(i) * n + j])
                       : T(0);
    }
  }
}

template <typename T, int G, int VPT>
__global__ void __launch_bounds__(kFpThreads) fixed_point_forward_kernel(FixedPointCudaParams p) {
  const GroupPlace place = group_place<G>(p.systems);
  const int n = p.n;
  const std::int64_t sys = place.valid ? place.system : 0;
  const T* W = static_cast<const T*>(p.W) + (p.W_shared ? 0 : sys * n * n);
  const T* b = static_cast<const T*>(p.b) + (p.b_shared ? 0 : sys * n);
  const T* s0 = p.s0 ? static_cast<const T*>(p.s0) + sys * n : nullptr;

  T w[VPT][G * VPT];
  load_matrix<T, G, VPT>(W, n, place.sub, place.valid, false, w);
  T s[VPT], prev[VPT], bias[VPT];
  int code[VPT];
  bool own[VPT];
#pragma unroll
  for (int v = 0; v < VPT; ++v) {
    const int i = v * G + place.sub;
    own[v] = place.valid && i < n;
    code[v] = i < n ? static_cast<int>(p.nonlinearity[i]) : 2;
    bias[v] = own[v] ? b[i] : T(0);
    s[v] = (own[v] && s0) ? s0[i] : T(0);
    prev[v] = s[v];
  }
  const double alpha_start = place.valid ? static_cast<const T*>(p.alpha_start)[sys] : 0.0;
  const double alpha_end = place.valid ? static_cast<const T*>(p.alpha_end)[sys] : 0.0;
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
    T f[VPT], acc[VPT];
#pragma unroll
    for (int v = 0; v < VPT; ++v) f[v] = own[v] ? apply_f(s[v], code[v]) : T(0);
    group_matvec<T, G, VPT>(w, f, acc);
    // alpha(t) in float64, in the reference's order of operations; the final check uses alpha(T-1)
    const int ta = t < T_max ? t : T_max - 1;
    const double alpha_t =
        T_max == 1 ? alpha_start : alpha_start + ((alpha_end - alpha_start) * ta) / (T_max - 1);
    T pre[VPT];
    T r2 = T(0), F2 = T(0);
#pragma unroll
    for (int v = 0; v < VPT; ++v) {
      T pv = static_cast<T>(alpha_t) * s[v] + beta * acc[v] + bias[v];
      T Fv = p.has_clamp ? (pv < lo ? lo : (pv > hi ? hi : pv)) : pv;
      if (!own[v]) pv = Fv = T(0);
      const T dv = Fv - s[v];
      r2 += dv * dv;
      F2 += Fv * Fv;
      pre[v] = pv;
    }
    r2 = group_sum<T, G>(r2);
    F2 = group_sum<T, G>(F2);
    if (active) {
      const T norm = sqrt(F2) > T(1e-30) ? sqrt(F2) : T(1e-30);
      T rel = sqrt(r2) / norm;
      if (!isfinite(rel) || !isfinite(norm)) rel = T(INFINITY);
      iterations = t;
      residual = rel;
      if (isinf(rel) || (tol > T(0) && rel <= tol) || t == T_max) active = false;
    }
    if (active) {
#pragma unroll
      for (int v = 0; v < VPT; ++v) {
        T yv = pre[v];
        if (gamma != T(0)) yv += gamma * (s[v] - prev[v]);
        if (p.noise_std > 0.0 && own[v])
          yv += static_cast<T>(p.noise_std * counter_normal(p.seed, static_cast<std::uint64_t>(sys),
                                                            static_cast<std::uint64_t>(t),
                                                            static_cast<std::uint64_t>(v * G + place.sub)));
        if (p.has_clamp) yv = yv < lo ? lo : (yv > hi ? hi : yv);
        if (!own[v]) yv = T(0);
        prev[v] = s[v];
        s[v] = yv;
      }
    }
  }
  if (!place.valid) return;
  T* state = static_cast<T*>(p.state) + sys * n;
#pragma unroll
  for (int v = 0; v < VPT; ++v)
    if (own[v]) state[v * G + place.sub] = s[v];
  if (place.sub == 0) {
    p.iterations[sys] = iterations;
    static_cast<T*>(p.residual)[sys] = residual;
  }
}

template <typename T, int G, int VPT>
__global__ void __launch_bounds__(kFpThreads) fixed_point_adjoint_kernel(FixedPointAdjointCudaParams p) {
  const GroupPlace place = group_place<G>(p.systems);
  const int n = p.n;
  const std::int64_t sys = place.valid ? place.system : 0;
  const T* W = static_cast<const T*>(p.W) + (p.W_shared ? 0 : sys * n * n);
  const T* b = static_cast<const T*>(p.b) + (p.b_shared ? 0 : sys * n);
  const T* st = static_cast<const T*>(p.state) + sys * n;
  const T* gs = static_cast<const T*>(p.grad_state) + sys * n;
  const T alpha = place.valid ? static_cast<const T*>(p.alpha)[sys] : T(0);
  const T beta = place.valid ? static_cast<const T*>(p.beta)[sys] : T(0);
  const T lo = static_cast<T>(p.clamp_lo), hi = static_cast<T>(p.clamp_hi);
  const T tol = static_cast<T>(p.tol);

  T s[VPT], g[VPT], fs[VPT], fprime[VPT], mask[VPT], Wf[VPT];
  bool own[VPT];
#pragma unroll
  for (int v = 0; v < VPT; ++v) {
    const int i = v * G + place.sub;
    own[v] = place.valid && i < n;
    const int code = i < n ? static_cast<int>(p.nonlinearity[i]) : 2;
    s[v] = own[v] ? st[i] : T(0);
    g[v] = own[v] ? gs[i] : T(0);
    fs[v] = own[v] ? apply_f(s[v], code) : T(0);
    fprime[v] = own[v] ? derivative_f(s[v], code) : T(0);
  }
  T w[VPT][G * VPT];
  load_matrix<T, G, VPT>(W, n, place.sub, place.valid, false, w);  // rows: W f(s*)
  group_matvec<T, G, VPT>(w, fs, Wf);
#pragma unroll
  for (int v = 0; v < VPT; ++v) {
    const T y = alpha * s[v] + beta * Wf[v] + (own[v] ? b[v * G + place.sub] : T(0));
    mask[v] = (!p.has_clamp || (y > lo && y < hi)) && own[v] ? T(1) : T(0);
  }
  load_matrix<T, G, VPT>(W, n, place.sub, place.valid, true, w);  // columns: W^T u

  T vcur[VPT];
#pragma unroll
  for (int v = 0; v < VPT; ++v) vcur[v] = g[v];
  bool active = place.valid;
  int iterations = 0;
  T residual = T(INFINITY);
  // t = 0 .. max_iter: G(v_t) = J^T v_t + g and the residual AT v_t; stop there or take G(v_t).
  for (int t = 0; t <= p.max_iter; ++t) {
    if (!__any_sync(kFullMask, active)) break;
    T u[VPT], acc[VPT], vn[VPT];
#pragma unroll
    for (int v = 0; v < VPT; ++v) u[v] = mask[v] * vcur[v];
    group_matvec<T, G, VPT>(w, u, acc);
    T d2 = T(0), y2 = T(0);
#pragma unroll
    for (int v = 0; v < VPT; ++v) {
      vn[v] = own[v] ? alpha * u[v] + beta * fprime[v] * acc[v] + g[v] : T(0);
      const T dv = vn[v] - vcur[v];
      d2 += dv * dv;
      y2 += vn[v] * vn[v];
    }
    d2 = group_sum<T, G>(d2);
    y2 = group_sum<T, G>(y2);
    if (active) {
      const T norm = sqrt(y2) > T(1e-30) ? sqrt(y2) : T(1e-30);
      T rel = sqrt(d2) / norm;
      if (!isfinite(rel) || !isfinite(norm)) rel = T(INFINITY);
      iterations = t;
      residual = rel;
      if (isinf(rel) || (tol > T(0) && rel <= tol) || t == p.max_iter) active = false;
    }
    if (active) {
#pragma unroll
      for (int v = 0; v < VPT; ++v) vcur[v] = vn[v];
    }
  }
  if (!place.valid) return;
  T* u_out = static_cast<T*>(p.u) + sys * n;
  T* wf_out = static_cast<T*>(p.W_f) + sys * n;
#pragma unroll
  for (int v = 0; v < VPT; ++v) {
    if (!own[v]) continue;
    u_out[v * G + place.sub] = mask[v] * vcur[v];
    wf_out[v * G + place.sub] = Wf[v];
  }
  if (place.sub == 0) {
    p.iterations[sys] = iterations;
    static_cast<T*>(p.residual)[sys] = residual;
  }
}

// Launch geometry and instantiation choice, shared by the CUDA launcher (fixed_point.cu) and the
// emulator drivers (tests/kernels/): blocks of kFpThreads threads, 32 / G systems per warp.
inline unsigned int fixed_point_blocks(std::int64_t systems, int group) {
  const std::int64_t warps = (systems + (32 / group) - 1) / (32 / group);
  const std::int64_t threads = warps * 32;
  return static_cast<unsigned int>((threads + kFpThreads - 1) / kFpThreads);
}

// Runs Launch<T, G, VPT>::run(p, extra...) for the instantiation that serves p.n and p.dtype:
// G = the next power of two >= n (at most 32), VPT = 2 for n in (32, 64]. -1: not servable.
template <typename Params, template <typename, int, int> class Launch, class... Extra>
int dispatch_fixed_point(const Params& p, Extra... stream) {
  if (p.n < 1 || p.n > kFixedPointCudaMaxN || p.systems < 0) return -1;
  if (p.systems == 0) return 0;
  if (p.dtype == kFpFloat32) {
    if (p.n <= 2) return Launch<float, 2, 1>::run(p, stream...);
    if (p.n <= 4) return Launch<float, 4, 1>::run(p, stream...);
    if (p.n <= 8) return Launch<float, 8, 1>::run(p, stream...);
    if (p.n <= 16) return Launch<float, 16, 1>::run(p, stream...);
    if (p.n <= 32) return Launch<float, 32, 1>::run(p, stream...);
    return Launch<float, 32, 2>::run(p, stream...);
  }
  if (p.dtype == kFpFloat64) {
    if (p.n <= 2) return Launch<double, 2, 1>::run(p, stream...);
    if (p.n <= 4) return Launch<double, 4, 1>::run(p, stream...);
    if (p.n <= 8) return Launch<double, 8, 1>::run(p, stream...);
    if (p.n <= 16) return Launch<double, 16, 1>::run(p, stream...);
    if (p.n <= 32) return Launch<double, 32, 1>::run(p, stream...);
    return Launch<double, 32, 2>::run(p, stream...);
  }
  return -1;
}

}  // namespace kernels
}  // namespace quaton

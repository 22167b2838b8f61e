// AOC digital twin: batched fixed-point iteration and its implicit adjoint, multi-threaded C++ CPU
// kernels (float64). Semantics and the noise recipe: cpp/include/quaton/fixed_point.h.
//
// Each worker thread takes a contiguous block of systems and runs every system to its stopping
// step before moving on (W, state and workspace stay in L1 for n = 16). The inner loops run over
// the n variables with unit stride (W is transposed once per system into a workspace) so GCC
// vectorises them; the hot functions are compiled for AVX-512 / AVX2+FMA / baseline and picked at
// load time (target_clones). tanh is a branch-free, vectorisable float64 implementation accurate
// to a few ulp (|err| < 3e-16), so states agree with the NumPy reference to ~1e-13.
#include "quaton/fixed_point.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if !defined(QF_NO_TARGET_CLONES) && defined(__GNUC__) && !defined(__clang__) && \
    (defined(__x86_64__) || defined(_M_X64)) && \
    defined(__linux__)
#define QF_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define QF_CLONES
#endif
#if defined(__GNUC__)
#define QF_INLINE static inline __attribute__((always_inline))
#pragma GCC diagnostic ignored "-Wpsabi"
#else
#define QF_INLINE static inline
#endif

namespace quaton {
namespace {

constexpr std::uint64_t kG = 0x9E3779B97F4A7C15ull;

inline std::uint64_t mix64(std::uint64_t z) {
  z ^= z >> 30;
  z *= 0xBF58476D1CE4E5B9ull;
  z ^= z >> 27;
  z *= 0x94D049BB133111EBull;
  z ^= z >> 31;
  return z;
}

inline std::uint64_t step_key(std::uint64_t seed, std::uint64_t system, std::uint64_t t) {
  return mix64(mix64(seed + kG * (system + 1)) + kG * (t + 1));
}

inline double normal_from_key(std::uint64_t k2, std::uint64_t j) {
  const std::uint64_t a = mix64(k2 + kG * (2 * j + 1));
  const std::uint64_t c = mix64(k2 + kG * (2 * j + 2));
  const double u1 = static_cast<double>((a >> 11) + 1) * 0x1.0p-53;
  const double u2 = static_cast<double>(c >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

inline double bits_to_double(std::uint64_t u) {
  double d;
  std::memcpy(&d, &u, sizeof d);
  return d;
}
inline std::uint64_t double_to_bits(double d) {
  std::uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

// exp(x) for x in [0, 40]: x = k ln2 + r, |r| <= ln2/2, Taylor to r^13, times 2^k.
inline double exp_0_40(double x) {
  const double shift = 0x1.8p52;
  const double kd = x * 1.4426950408889634 + shift;
  const double k = kd - shift;
  const double r = (x - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const double scale = bits_to_double((double_to_bits(kd) + 1023u) << 52);
  return p * scale;
}

// Branch-free float64 tanh (Cephes rational form for |x| < 0.625, 1 - 2/(e^{2|x|}+1) above).
inline double fast_tanh(double x) {
  const double z = x * x;
  const double pn = (-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z -
                    1.61468768441708447952e3;
  const double pd = ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z +
                    4.84406305325125486048e3;
  const double small = x + x * z * (pn / pd);
  const double a2 = std::min(2.0 * std::fabs(x), 40.0);
  const double large = std::copysign(1.0 - 2.0 / (exp_0_40(a2) + 1.0), x);
  return std::fabs(x) < 0.625 ? small : large;
}

inline double sign_pm1(double x) { return x >= 0.0 ? 1.0 : -1.0; }

struct NonlinInfo {
  bool all_tanh = true, all_identity = true, any_tanh = false;
};

NonlinInfo classify(const std::int8_t* codes, int n) {
  NonlinInfo info;
  for (int j = 0; j < n; ++j) {
    info.all_tanh &= codes[j] == kFpTanh;
    info.all_identity &= codes[j] == kFpIdentity;
    info.any_tanh |= codes[j] == kFpTanh;
  }
  return info;
}

// f(s) and, when fp != nullptr, f'(s).
inline void apply_f(const double* __restrict s, const std::int8_t* __restrict codes, int n,
                    const NonlinInfo& info, double* __restrict f) {
  if (info.all_tanh) {
    for (int j = 0; j < n; ++j) f[j] = fast_tanh(s[j]);
  } else if (info.all_identity) {
    for (int j = 0; j < n; ++j) f[j] = s[j];
  } else if (info.any_tanh) {
    for (int j = 0; j < n; ++j) {
      const double x = s[j];
      const double th = fast_tanh(x);
      f[j] = codes[j] == kFpTanh ? th : (codes[j] == kFpSign ? sign_pm1(x) : x);
    }
  } else {
    for (int j = 0; j < n; ++j) {
      const double x = s[j];
      f[j] = codes[j] == kFpSign ? sign_pm1(x) : x;
    }
  }
}

void transpose(const double* __restrict W, int n, double* __restrict WT) {
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) WT[j * n + i] = W[i * n + j];
}

// acc = W x with WT = W^T (row j of WT = column j of W), unit-stride inner loop.
inline void matvec_T(const double* __restrict WT, const double* __restrict x, int n,
                     double* __restrict acc) {
  for (int i = 0; i < n; ++i) acc[i] = 0.0;
  for (int j = 0; j < n; ++j) {
    const double xj = x[j];
    const double* __restrict col = WT + static_cast<std::size_t>(j) * n;
    for (int i = 0; i < n; ++i) acc[i] += col[i] * xj;
  }
}

// ---- forward: blocks of kLanes systems, one system per SIMD lane (GCC/Clang vector extensions).
// The nonlinearity is chosen per variable, hence uniform across lanes; a lane whose system has
// stopped keeps computing but its state is frozen by a mask and never written again.
constexpr int kLanes = 8;
typedef double vd __attribute__((vector_size(8 * kLanes)));
typedef long long vi __attribute__((vector_size(8 * kLanes)));

QF_INLINE vd splat(double x) { return vd{} + x; }

QF_INLINE vd vtanh(const vd& x) {
  const vd z = x * x;
  const vd pn = (-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z -
                1.61468768441708447952e3;
  const vd pd = ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z +
                4.84406305325125486048e3;
  const vd small = x + x * z * (pn / pd);
  const vi sign_bit = (vi)x & (vi{} + (long long)0x8000000000000000ull);
  const vd ax = (vd)((vi)x & (vi{} + 0x7FFFFFFFFFFFFFFFll));
  vd a2 = 2.0 * ax;
  a2 = a2 < 40.0 ? a2 : splat(40.0);
  const double shift = 0x1.8p52;
  const vd kd = a2 * 1.4426950408889634 + shift;
  const vd k = kd - shift;
  const vd r = (a2 - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
  vd p = splat(1.0 / 6227020800.0);
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const vd scale = (vd)(((vi)kd + 1023) << 52);
  const vd large = (vd)((vi)(1.0 - 2.0 / (p * scale + 1.0)) | sign_bit);
  return ax < 0.625 ? small : large;
}

// 64-byte aligned array of vd (std::vector does not reliably honour the vector type's alignment).
class VdBuffer {
 public:
  explicit VdBuffer(std::size_t count)
      : ptr_(static_cast<vd*>(std::aligned_alloc(64, std::max<std::size_t>(count, 1) * sizeof(vd)))) {
    if (!ptr_) throw std::bad_alloc();
  }
  ~VdBuffer() { std::free(ptr_); }
  VdBuffer(const VdBuffer&) = delete;
  VdBuffer& operator=(const VdBuffer&) = delete;
  vd* data() { return ptr_; }

 private:
  vd* ptr_;
};

struct BlockWork {
  VdBuffer W, b, s, sp, y, f;
  BlockWork(int n, bool W_shared)
      : W(W_shared ? 0 : static_cast<std::size_t>(n) * n), b(n), s(n), sp(n), y(n), f(n) {}
};

QF_CLONES
void forward_block(const FixedPointParams& p, std::int64_t first, int lanes, const double* WT,
                   BlockWork& w) {
  const int n = p.n;
  const int T = p.max_iter;
  const std::size_t nn = static_cast<std::size_t>(n) * n;
  vd* __restrict Wb = w.W.data();
  vd* __restrict bb = w.b.data();
  vd* __restrict s = w.s.data();
  vd* __restrict sp = w.sp.data();
  vd* __restrict y = w.y.data();
  vd* __restrict f = w.f.data();
  const std::int8_t* codes = p.nonlinearity;
  vd a0 = {}, da = {}, be = {}, ga = {};
  vi mask = {};
  bool any_gamma = false;
  for (int l = 0; l < kLanes; ++l) {
    const bool real = l < lanes;
    const std::int64_t i = first + l;
    a0[l] = real ? p.alpha_start[i] : 0.0;
    da[l] = real ? p.alpha_end[i] - p.alpha_start[i] : 0.0;
    be[l] = real ? p.beta[i] : 0.0;
    ga[l] = real ? p.gamma[i] : 0.0;
    any_gamma |= ga[l] != 0.0;
    mask[l] = real ? -1 : 0;
  }
  for (int k = 0; k < n; ++k) {
    for (int l = 0; l < kLanes; ++l) {
      const std::int64_t i = first + l;
      const bool real = l < lanes;
      bb[k][l] = real ? (p.b_shared ? p.b[k] : p.b[i * n + k]) : 0.0;
      s[k][l] = real && p.s0 ? p.s0[i * n + k] : 0.0;
    }
    sp[k] = s[k];
  }
  if (!p.W_shared) {
    for (int l = 0; l < kLanes; ++l) {
      const double* Wi = p.W + static_cast<std::size_t>(first + l) * nn;
      // transposed: Wb[j*n + k] = W[k][j], so the matvec's inner loop over k is unit stride
      for (int k = 0; k < n; ++k)
        for (int j = 0; j < n; ++j) Wb[static_cast<std::size_t>(j) * n + k][l] = l < lanes ? Wi[k * n + j] : 0.0;
    }
  }
  const bool noise = p.noise_std > 0.0;
  const double lo = p.clamp_lo, hi = p.clamp_hi;
  const double denom = T > 1 ? static_cast<double>(T - 1) : 1.0;
  int active = lanes;
  bool act[kLanes];
  for (int l = 0; l < kLanes; ++l) act[l] = l < lanes;
  // Step t = 0 .. T: F_t(s_t) and the residual at s_t; stop there, or update (header: convergence).
  for (int t = 0; t <= T && active > 0; ++t) {
    const int ta = t < T ? t : T - 1;  // alpha of the last step for the final check
    const vd at = T > 1 ? a0 + da * static_cast<double>(ta) / denom : a0;
    for (int j = 0; j < n; ++j) {
      const vd x = s[j];
      f[j] = codes[j] == kFpTanh ? vtanh(x) : codes[j] == kFpSign ? (x >= 0.0 ? splat(1.0) : splat(-1.0)) : x;
    }
    vd r2 = {}, F2 = {};
    // y = W f, accumulated over j in order; n independent accumulators (no FMA latency chain)
    for (int k = 0; k < n; ++k) y[k] = vd{};
    for (int j = 0; j < n; ++j) {
      const vd fj = f[j];
      if (p.W_shared) {
        const double* __restrict col = WT + static_cast<std::size_t>(j) * n;
        for (int k = 0; k < n; ++k) y[k] += col[k] * fj;
      } else {
        const vd* __restrict col = Wb + static_cast<std::size_t>(j) * n;
        for (int k = 0; k < n; ++k) y[k] += col[k] * fj;
      }
    }
    for (int k = 0; k < n; ++k) {
      const vd pre = at * s[k] + be * y[k] + bb[k];  // pre-clamp F_t(s_t)
      vd Fk = pre;
      if (p.has_clamp) {
        Fk = Fk > lo ? Fk : splat(lo);
        Fk = Fk < hi ? Fk : splat(hi);
      }
      const vd d = Fk - s[k];
      r2 += d * d;
      F2 += Fk * Fk;
      y[k] = pre;
    }
    for (int l = 0; l < kLanes; ++l) {
      if (!act[l]) continue;
      const double sc = std::max(std::sqrt(F2[l]), kFixedPointTiny);
      double rel = std::sqrt(r2[l]) / sc;
      if (!std::isfinite(rel) || !std::isfinite(sc)) rel = HUGE_VAL;
      const std::int64_t i = first + l;
      p.iterations[i] = t;
      p.residual[i] = rel;
      if (rel == HUGE_VAL || (p.tol > 0.0 && rel <= p.tol) || t == T) {
        act[l] = false;
        mask[l] = 0;
        --active;
      }
    }
    if (active == 0) break;
    if (any_gamma)
      for (int k = 0; k < n; ++k) y[k] += ga * (s[k] - sp[k]);
    if (noise) {
      for (int l = 0; l < kLanes; ++l) {
        if (!act[l]) continue;
        const std::uint64_t key = step_key(p.seed, static_cast<std::uint64_t>(first + l), static_cast<std::uint64_t>(t));
        for (int k = 0; k < n; ++k) y[k][l] += p.noise_std * normal_from_key(key, static_cast<std::uint64_t>(k));
      }
    }
    for (int k = 0; k < n; ++k) {
      vd yk = y[k];
      if (p.has_clamp) {
        yk = yk > lo ? yk : splat(lo);
        yk = yk < hi ? yk : splat(hi);
      }
      sp[k] = (vd)(((vi)s[k] & mask) | ((vi)sp[k] & ~mask));
      s[k] = (vd)(((vi)yk & mask) | ((vi)s[k] & ~mask));
    }
  }
  for (int l = 0; l < lanes; ++l)
    for (int k = 0; k < n; ++k) p.state[(first + l) * n + k] = s[k][l];
}

struct AdjointWork {
  std::vector<double> WT, f, fp, D, v, vn, u, acc;
  explicit AdjointWork(int n)
      : WT(static_cast<std::size_t>(n) * n), f(n), fp(n), D(n), v(n), vn(n), u(n), acc(n) {}
};

// One system's adjoint iteration v <- J^T v + g, then the parameter gradients.
// gW: where to accumulate beta u f^T ((n,n) block; += when W shared, = otherwise).
QF_CLONES
void adjoint_one(const FixedPointAdjointParams& p, const NonlinInfo& info, std::int64_t i,
                 const double* __restrict W, const double* __restrict WT, double* __restrict gW,
                 AdjointWork& w) {
  const int n = p.n;
  const double* __restrict s = p.state + i * n;
  const double* __restrict g = p.grad_state + i * n;
  const double* __restrict bi = p.b_shared ? p.b : p.b + i * n;
  double* __restrict f = w.f.data();
  double* __restrict fp = w.fp.data();
  double* __restrict D = w.D.data();
  double* __restrict v = w.v.data();
  double* __restrict vn = w.vn.data();
  double* __restrict u = w.u.data();
  double* __restrict acc = w.acc.data();
  const double al = p.alpha[i], be = p.beta[i];
  apply_f(s, p.nonlinearity, n, info, f);
  for (int k = 0; k < n; ++k) {
    const std::int8_t c = p.nonlinearity[k];
    const double th = f[k];
    fp[k] = c == kFpTanh ? 1.0 - th * th : (c == kFpIdentity ? 1.0 : 0.0);
  }
  matvec_T(WT, f, n, acc);  // acc = W f(s*)
  if (p.has_clamp) {
    for (int k = 0; k < n; ++k) {
      const double y = al * s[k] + be * acc[k] + bi[k];
      D[k] = (y > p.clamp_lo && y < p.clamp_hi) ? 1.0 : 0.0;
    }
  } else {
    for (int k = 0; k < n; ++k) D[k] = 1.0;
  }
  std::memcpy(v, g, sizeof(double) * n);
  int steps = 0;
  double res = HUGE_VAL;
  // t = 0 .. max_iter: G(v_t) = J^T v_t + g, residual at v_t; stop there or take v_{t+1} = G(v_t).
  for (int t = 0; t <= p.max_iter; ++t) {
    for (int k = 0; k < n; ++k) u[k] = D[k] * v[k];
    // (W^T u)_k = sum_j W[j,k] u_j : rows of W are unit stride in k
    double* __restrict wtu = vn;
    for (int k = 0; k < n; ++k) wtu[k] = 0.0;
    for (int j = 0; j < n; ++j) {
      const double uj = u[j];
      const double* __restrict row = W + static_cast<std::size_t>(j) * n;
      for (int k = 0; k < n; ++k) wtu[k] += row[k] * uj;
    }
    double d2 = 0.0, s2 = 0.0;
    for (int k = 0; k < n; ++k) {
      const double x = al * u[k] + be * fp[k] * wtu[k] + g[k];
      const double d = x - v[k];
      d2 += d * d;
      s2 += x * x;
      vn[k] = x;
    }
    const double sc = std::max(std::sqrt(s2), kFixedPointTiny);
    double rel = std::sqrt(d2) / sc;
    if (!std::isfinite(rel) || !std::isfinite(sc)) rel = HUGE_VAL;
    steps = t;
    res = rel;
    if (rel == HUGE_VAL || (p.tol > 0.0 && rel <= p.tol) || t == p.max_iter) break;
    std::swap(v, vn);
  }
  for (int k = 0; k < n; ++k) u[k] = D[k] * v[k];
  double gbeta = 0.0, galpha = 0.0;
  for (int k = 0; k < n; ++k) {
    gbeta += u[k] * acc[k];
    galpha += u[k] * s[k];
  }
  std::memcpy(p.v + i * n, v, sizeof(double) * n);
  std::memcpy(p.grad_b + i * n, u, sizeof(double) * n);
  p.grad_beta[i] = gbeta;
  p.grad_alpha[i] = galpha;
  p.iterations[i] = steps;
  p.residual[i] = res;
  if (p.W_shared) {
    for (int r = 0; r < n; ++r) {
      const double bu = be * u[r];
      double* __restrict row = gW + static_cast<std::size_t>(r) * n;
      for (int c = 0; c < n; ++c) row[c] += bu * f[c];
    }
  } else {
    for (int r = 0; r < n; ++r) {
      const double bu = be * u[r];
      double* __restrict row = gW + static_cast<std::size_t>(r) * n;
      for (int c = 0; c < n; ++c) row[c] = bu * f[c];
    }
  }
}

int resolve_threads(int requested, std::int64_t systems) {
  int t = requested > 0 ? requested : static_cast<int>(std::thread::hardware_concurrency());
  if (t < 1) t = 1;
  if (static_cast<std::int64_t>(t) > systems) t = static_cast<int>(std::max<std::int64_t>(systems, 1));
  return t;
}

// Run body(worker, begin, end) on `threads` contiguous blocks; rethrow the first exception.
template <class Body>
void parallel_blocks(std::int64_t systems, int threads, Body body) {
  if (threads <= 1) {
    body(0, std::int64_t{0}, systems);
    return;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(threads);
  pool.reserve(threads);
  for (int w = 0; w < threads; ++w) {
    const std::int64_t begin = systems * w / threads;
    const std::int64_t end = systems * (w + 1) / threads;
    pool.emplace_back([&, w, begin, end] {
      try {
        body(w, begin, end);
      } catch (...) {
        errors[w] = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

void require(bool ok, const char* func, const std::string& what) {
  if (!ok) throw std::invalid_argument(std::string(func) + ": " + what);
}

void check_codes(const char* func, const std::int8_t* codes, int n) {
  require(codes != nullptr, func, "nonlinearity is null");
  for (int j = 0; j < n; ++j)
    require(codes[j] >= 0 && codes[j] <= 2, func,
            "nonlinearity codes must be 0 (tanh), 1 (sign) or 2 (identity)");
}

}  // namespace

double fixed_point_normal(std::uint64_t seed, std::uint64_t system, std::uint64_t t, std::uint64_t j) {
  return normal_from_key(step_key(seed, system, t), j);
}

void fixed_point_forward_cpu(const FixedPointParams& p) {
  const char* fn = "fixed_point_forward_cpu";
  require(p.systems >= 0, fn, "systems must be >= 0");
  require(p.n >= 1 && p.n <= kFixedPointMaxN, fn, "n must be in [1, 256]");
  require(p.max_iter >= 1 && p.max_iter < 2147483647, fn, "max_iter must be in [1, 2**31 - 2]");
  require(p.tol >= 0.0, fn, "tol must be >= 0");
  require(p.noise_std >= 0.0, fn, "noise_std must be >= 0");
  require(!p.has_clamp || p.clamp_lo < p.clamp_hi, fn, "clamp needs lo < hi");
  require(p.W && p.b && p.alpha_start && p.alpha_end && p.beta && p.gamma && p.state &&
              p.iterations && p.residual,
          fn, "null array pointer");
  check_codes(fn, p.nonlinearity, p.n);
  if (p.systems == 0) return;
  const std::int64_t blocks = (p.systems + kLanes - 1) / kLanes;
  const int threads = resolve_threads(p.threads, blocks);
  parallel_blocks(blocks, threads, [&](int, std::int64_t begin, std::int64_t end) {
    BlockWork w(p.n, p.W_shared != 0);
    std::vector<double> WT(p.W_shared ? static_cast<std::size_t>(p.n) * p.n : 0);
    if (p.W_shared) transpose(p.W, p.n, WT.data());
    for (std::int64_t blk = begin; blk < end; ++blk) {
      const std::int64_t first = blk * kLanes;
      const int lanes = static_cast<int>(std::min<std::int64_t>(kLanes, p.systems - first));
      forward_block(p, first, lanes, WT.data(), w);
    }
  });
}

void fixed_point_adjoint_cpu(const FixedPointAdjointParams& p) {
  const char* fn = "fixed_point_adjoint_cpu";
  require(p.systems >= 0, fn, "systems must be >= 0");
  require(p.n >= 1 && p.n <= kFixedPointMaxN, fn, "n must be in [1, 256]");
  require(p.max_iter >= 1 && p.max_iter < 2147483647, fn, "max_iter must be in [1, 2**31 - 2]");
  require(p.tol >= 0.0, fn, "tol must be >= 0");
  require(!p.has_clamp || p.clamp_lo < p.clamp_hi, fn, "clamp needs lo < hi");
  require(p.W && (p.b || !p.has_clamp) && p.state && p.grad_state && p.alpha && p.beta && p.v &&
              p.grad_b && p.grad_W && p.grad_beta && p.grad_alpha && p.iterations && p.residual,
          fn, "null array pointer");
  check_codes(fn, p.nonlinearity, p.n);
  const std::size_t nn = static_cast<std::size_t>(p.n) * p.n;
  if (p.W_shared) std::fill(p.grad_W, p.grad_W + nn, 0.0);
  if (p.systems == 0) return;
  const NonlinInfo info = classify(p.nonlinearity, p.n);
  const int threads = resolve_threads(p.threads, p.systems);
  // Shared W: one partial gradient per worker, summed in worker order (deterministic for a
  // given thread count).
  std::vector<double> partial(p.W_shared ? nn * threads : 0, 0.0);
  parallel_blocks(p.systems, threads, [&](int worker, std::int64_t begin, std::int64_t end) {
    AdjointWork w(p.n);
    if (p.W_shared) transpose(p.W, p.n, w.WT.data());
    for (std::int64_t i = begin; i < end; ++i) {
      const double* Wi = p.W_shared ? p.W : p.W + static_cast<std::size_t>(i) * nn;
      if (!p.W_shared) transpose(Wi, p.n, w.WT.data());
      double* gW = p.W_shared ? partial.data() + nn * worker : p.grad_W + static_cast<std::size_t>(i) * nn;
      adjoint_one(p, info, i, Wi, w.WT.data(), gW, w);
    }
  });
  if (p.W_shared) {
    for (int w = 0; w < threads; ++w)
      for (std::size_t k = 0; k < nn; ++k) p.grad_W[k] += partial[nn * w + k];
  }
}

}  // namespace quaton

// AOC-DT replica solver, multi-threaded C++ CPU kernel. Semantics and layout: quaton/solver.h.
//
// Speed notes: a block holds kSolverBlock replicas side by side, so for every nonzero J_ij the
// kernel does one vector multiply-add acc[0..16) += J_ij * s[j, 0..16); the spin state of a block
// ((n, 16) float32, 51 KB for n = 800) stays in L1/L2. The block kernel is compiled three times
// (AVX-512, AVX2, baseline SSE2) and the best one for the running CPU is chosen at load time
// (GCC/Clang target_clones). This file is compiled with -ffp-contract=off (CMakeLists.txt), so no
// multiply-add is fused and the float32 arithmetic is exactly the operation order in solver.h.
#include "quaton/solver.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(__GNUC__)
// Passing vrow between inlined helpers of the clones: the ABI note does not apply (nothing exported).
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define QF_SOLVER_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define QF_SOLVER_CLONES
#endif

namespace quaton {
namespace {

constexpr int W = kSolverBlock;

// One row of a block: the W lanes of variable i. GCC/Clang vector extension: lowered to one
// AVX-512, two AVX2 or four SSE registers per clone; element-wise IEEE float32 arithmetic.
typedef float vrow __attribute__((vector_size(W * sizeof(float))));
constexpr std::size_t kRowAlign = 64;  // explicit: alignof(vrow) depends on the compile target
typedef double vrowd __attribute__((vector_size(W * sizeof(double))));

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("solver_run_cpu: " + what);
}

// y = sum over row i of J_ij * s_j, in CSR order (or j = 0..n-1 for dense), starting from 0.
__attribute__((always_inline)) inline vrow row_sum(const SolverParams& p, int i, const vrow* __restrict s) {
  vrow y = {};
  if (p.dense) {
    const float* __restrict row = p.dense + static_cast<std::size_t>(i) * p.n;
    for (int j = 0; j < p.n; ++j) y += row[j] * s[j];
  } else {
    const std::int32_t* __restrict ix = p.indices;
    const float* __restrict d = p.data;
    const std::int64_t end = p.indptr[i + 1];
    for (std::int64_t jj = p.indptr[i]; jj < end; ++jj) y += d[jj] * s[ix[jj]];
  }
  return y;
}

// The same sum with four independent accumulators (no serial add-latency chain). Only used when
// every partial sum is an exact float32 integer (integer J, binary variables, row |J| sums
// < 2^24), so the order of the additions cannot change the result.
__attribute__((always_inline)) inline vrow row_sum_exact(const SolverParams& p, int i, const vrow* __restrict s) {
  vrow y0 = {}, y1 = {}, y2 = {}, y3 = {};
  if (p.dense) {
    const float* __restrict row = p.dense + static_cast<std::size_t>(i) * p.n;
    int j = 0;
    for (; j + 4 <= p.n; j += 4) {
      y0 += row[j] * s[j];
      y1 += row[j + 1] * s[j + 1];
      y2 += row[j + 2] * s[j + 2];
      y3 += row[j + 3] * s[j + 3];
    }
    for (; j < p.n; ++j) y0 += row[j] * s[j];
  } else {
    const std::int32_t* __restrict ix = p.indices;
    const float* __restrict d = p.data;
    const std::int64_t end = p.indptr[i + 1];
    std::int64_t jj = p.indptr[i];
    for (; jj + 4 <= end; jj += 4) {
      y0 += d[jj] * s[ix[jj]];
      y1 += d[jj + 1] * s[ix[jj + 1]];
      y2 += d[jj + 2] * s[ix[jj + 2]];
      y3 += d[jj + 3] * s[ix[jj + 3]];
    }
    for (; jj < end; ++jj) y0 += d[jj] * s[ix[jj]];
  }
  return (y0 + y1) + (y2 + y3);
}

// True when every spin sum is order-independent (see row_sum_exact).
bool sums_are_exact(const SolverParams& p) {
  for (int i = 0; i < p.n; ++i)
    if (p.continuous[i]) return false;
  const auto integral = [](float v) { return std::nearbyint(v) == v; };
  for (int i = 0; i < p.n; ++i) {
    double abs_sum = 0.0;
    if (p.dense) {
      for (int j = 0; j < p.n; ++j) {
        const float v = p.dense[static_cast<std::size_t>(i) * p.n + j];
        if (!integral(v)) return false;
        abs_sum += std::fabs(v);
      }
    } else {
      for (std::int64_t jj = p.indptr[i]; jj < p.indptr[i + 1]; ++jj) {
        if (!integral(p.data[jj])) return false;
        abs_sum += std::fabs(p.data[jj]);
      }
    }
    if (abs_sum >= 16777216.0) return false;  // 2^24
  }
  return true;
}

// Runs one block of replicas [r0, r0 + valid) for all T steps; lanes >= valid repeat the last
// valid replica and are dropped. work: 4 * n rows (x, xprev, s, best s).
QF_SOLVER_CLONES
void run_block(const SolverParams& p, bool exact_sums, std::int64_t r0, int valid, vrow* work) {
  const int n = p.n;
  const std::int64_t R = p.replicas;
  vrow* __restrict x = work;
  vrow* __restrict xp = work + n;
  vrow* __restrict s = work + 2 * n;
  vrow* __restrict bs = work + 3 * n;
  vrow a0, gam, dtg;
  double best[W];
  for (int k = 0; k < W; ++k) {
    const std::int64_t r = r0 + std::min(k, valid - 1);
    a0[k] = p.a0[r];
    gam[k] = p.gamma[r];
    dtg[k] = p.dt * p.g[r];
    best[k] = std::numeric_limits<double>::infinity();
  }
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < W; ++k) x[i][k] = p.x0[static_cast<std::size_t>(i) * R + r0 + std::min(k, valid - 1)];
    xp[i] = x[i];
    bs[i] = vrow{};
  }
  const vrow one = vrow{} + 1.0f, mone = vrow{} - 1.0f;
  const vrow lo = vrow{} + p.clamp_lo, hi = vrow{} + p.clamp_hi;
  const int T = p.steps;
  for (int t = 0; t < T; ++t) {
    for (int i = 0; i < n; ++i) s[i] = p.continuous[i] ? x[i] : (x[i] >= 0.0f ? one : mone);
    const bool check = (t + 1) % p.check_every == 0 || t == T - 1;
    const float af = static_cast<float>(1.0 - static_cast<double>(t) / static_cast<double>(T));
    const vrow dta = p.dt * (a0 * af);
    vrowd es = {}, eh = {};
    for (int i = 0; i < n; ++i) {
      const vrow y = exact_sums ? row_sum_exact(p, i, s) : row_sum(p, i, s);
      const float h = p.h[i];
      if (check) {
        vrowd sd, yd;
        for (int k = 0; k < W; ++k) {
          sd[k] = s[i][k];
          yd[k] = y[k];
        }
        es += sd * yd;
        eh += static_cast<double>(h) * sd;
      }
      const vrow xo = x[i];
      vrow xn = ((xo + dtg * (y + h)) - dta * xo) + gam * (xo - xp[i]);
      xn = xn < lo ? lo : xn;
      xn = xn > hi ? hi : xn;
      xp[i] = xo;
      x[i] = xn;
    }
    if (check) {
      const vrowd e = -0.5 * es - eh;
      for (int k = 0; k < W; ++k)
        if (e[k] < best[k]) {
          best[k] = e[k];
          for (int i = 0; i < n; ++i) bs[i][k] = s[i][k];
        }
    }
  }
  for (int k = 0; k < valid; ++k) {
    p.best_energy[r0 + k] = best[k];
    for (int i = 0; i < n; ++i) p.best_state[static_cast<std::size_t>(i) * R + r0 + k] = bs[i][k];
  }
}

struct AlignedFree {
  void operator()(void* q) const { ::operator delete(q, std::align_val_t(kRowAlign)); }
};

void validate(const SolverParams& p) {
  require(p.n >= 1, "n must be >= 1, got " + std::to_string(p.n));
  require(p.replicas >= 1, "replicas must be >= 1, got " + std::to_string(p.replicas));
  require(p.steps >= 1, "steps must be >= 1, got " + std::to_string(p.steps));
  require(p.check_every >= 1, "check_every must be >= 1, got " + std::to_string(p.check_every));
  require((p.dense != nullptr) != (p.indptr != nullptr), "give exactly one of a CSR or a dense J");
  require(p.h && p.continuous && p.x0 && p.a0 && p.g && p.gamma && p.best_energy && p.best_state,
          "null array pointer");
  require(std::isfinite(p.dt) && p.dt > 0.0f, "dt must be a positive finite number");
  require(p.clamp_lo <= p.clamp_hi, "clamp_lo must be <= clamp_hi");
  if (p.indptr) {
    require(p.indices && p.data, "CSR indices/data are null");
    require(p.indptr[0] == 0 && p.indptr[p.n] == p.nnz,
            "CSR indptr must start at 0 and end at nnz = " + std::to_string(p.nnz));
    for (int i = 0; i < p.n; ++i)
      require(p.indptr[i] <= p.indptr[i + 1], "CSR indptr must be non-decreasing (row " + std::to_string(i) + ")");
    for (std::int64_t jj = 0; jj < p.nnz; ++jj)
      require(p.indices[jj] >= 0 && p.indices[jj] < p.n,
              "CSR column index " + std::to_string(p.indices[jj]) + " out of range [0, " + std::to_string(p.n) + ")");
  }
}

}  // namespace

void solver_run_cpu(const SolverParams& p) {
  validate(p);
  const bool exact_sums = sums_are_exact(p);
  const std::int64_t blocks = (p.replicas + W - 1) / W;
  int threads = p.threads > 0 ? p.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(threads, blocks)));
  auto worker = [&](int w) {
    // 64-byte aligned rows (std::vector<vrow> would drop the vector type's alignment attribute).
    const std::size_t bytes = 4 * static_cast<std::size_t>(p.n) * sizeof(vrow);
    std::unique_ptr<void, AlignedFree> work(::operator new(bytes, std::align_val_t(kRowAlign)));
    for (std::int64_t b = blocks * w / threads; b < blocks * (w + 1) / threads; ++b) {
      const std::int64_t r0 = b * W;
      run_block(p, exact_sums, r0, static_cast<int>(std::min<std::int64_t>(W, p.replicas - r0)), static_cast<vrow*>(work.get()));
    }
  };
  if (threads == 1) {
    worker(0);
    return;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(threads);
  for (int w = 0; w < threads; ++w)
    pool.emplace_back([&, w] {
      try {
        worker(w);
      } catch (...) {
        errors[w] = std::current_exception();
      }
    });
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace quaton

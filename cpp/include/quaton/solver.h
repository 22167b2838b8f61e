// AOC-DT replica solver (SPEC B1/B3), C++ CPU kernel: T steps of R independent replicas in one call.
//
// Canonical energy E(x) = -1/2 x^T J x - h^T x (offset added by the caller). Replica r, step
// t = 0 .. T-1, all arithmetic float32 in exactly this order (the NumPy reference
// python/quaton_fast/solve/aoc_solver.py::_run_batch_numpy does the same operations, so both give
// bit-identical states when the spin sums are summed in the same order, see below):
//   s_i     = continuous[i] ? x_i : (x_i >= 0 ? 1 : -1)
//   y_i     = sum_{jj in row i, CSR order} J[jj] * s_{col[jj]}          (starts from 0.0f)
//             (when J is integer-valued, all variables binary and every row's sum of |J| < 2^24,
//             each partial sum is an exact float32 integer and the kernel sums in any order)
//   a       = a0_r * float(1 - t/T)                                    (t/T in double)
//   x_i    <- clamp(((x_i + (dt*g_r)*(y_i + h_i)) - (dt*a)*x_i) + gamma_r*(x_i - xprev_i), lo, hi)
//   xprev_i <- old x_i                                  (xprev = x0 at t = 0)
// At every step with (t+1) % check_every == 0 and at t = T-1 the energy of the sign state s (taken
// before the update) is evaluated in double, E = -0.5 * sum_i s_i*y_i - sum_i h_i*s_i; when it is
// strictly lower than the replica's best so far, best_energy[r] and best_state[:, r] take it.
//
// Layout: x0 and best_state are (n, R) row-major (replica index fastest). Internally replicas run
// in blocks of kSolverBlock lanes, each block a contiguous (n, kSolverBlock) array, so the sum over
// neighbours j is one vector multiply-add per nonzero; threads take whole blocks (replicas are
// independent, so there is no synchronisation inside the T steps and the result does not depend
// on the thread count). J is CSR (indptr int64 (n+1,), indices int32 (nnz,), data float32) or
// dense float32 (n, n) row-major (then the sum runs over j = 0..n-1 in order).
#pragma once

#include <cstdint>

namespace quaton {

constexpr int kSolverBlock = 16;  // replicas per vector block (one AVX-512 or two AVX2 registers)

struct SolverParams {
  int n = 0;                                // variables
  std::int64_t replicas = 0;                // R
  const std::int64_t* indptr = nullptr;     // CSR (n+1,), or nullptr when dense is given
  const std::int32_t* indices = nullptr;    // CSR (nnz,)
  const float* data = nullptr;              // CSR (nnz,)
  std::int64_t nnz = 0;                     // CSR length of indices/data (== indptr[n])
  const float* dense = nullptr;             // (n, n) row-major, or nullptr when CSR is given
  const float* h = nullptr;                 // (n,)
  const std::uint8_t* continuous = nullptr; // (n,) 0 = binary (sign), 1 = continuous (identity)
  const float* x0 = nullptr;                // (n, R) initial states
  const float* a0 = nullptr;                // (R,) annealing start a(0); a(t) = a0*(1 - t/T)
  const float* g = nullptr;                 // (R,) coupling gain (already divided by ||J||_2)
  const float* gamma = nullptr;             // (R,) momentum
  float dt = 0.5f;
  float clamp_lo = -1.0f, clamp_hi = 1.0f;
  int steps = 1;                            // T >= 1
  int check_every = 1;                      // >= 1
  int threads = 0;                          // <= 0: std::thread::hardware_concurrency()
  double* best_energy = nullptr;            // out (R,), without offset
  float* best_state = nullptr;              // out (n, R)
};

// Throws std::invalid_argument on inconsistent parameters (null pointers, sizes, index range).
void solver_run_cpu(const SolverParams& p);

}  // namespace quaton

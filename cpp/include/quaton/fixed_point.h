// AOC digital twin: batched fixed-point iteration (SPEC B1), C++ CPU kernels. float64.
//
// S independent systems of n variables (n <= 256 on CPU). Step t = 0 .. max_iter-1:
//   y       = alpha(t)*s_t + beta*W*f(s_t) + b + gamma*(s_t - s_{t-1}) + noise_std*xi[i,t,:]
//   s_{t+1} = clamp(y, lo, hi)                       (s_{-1} = s_0)
//   alpha(t) = alpha_start + (alpha_end - alpha_start) * t / (T - 1)   (alpha_start if T == 1)
// f per variable: code 0 = tanh, 1 = sign (sign(0) = +1), 2 = identity.
// Convergence (same in the NumPy reference, CUDA and torch): F_t(s) = clamp(alpha(min(t,T-1))*s +
// beta*W*f(s) + b) is the step's map WITHOUT momentum and noise; rho(s) = ||F_t(s)-s||_2 /
// max(||F_t(s)||_2, 1e-30), +inf when not finite. At t = 0 .. T the kernel computes F_t(s_t) (the
// same matvec feeds the update) and stops at s_t when (tol > 0 and rho <= tol), rho = +inf
// (diverged) or t == T; otherwise s_{t+1} = clamp(y). Outputs at the RETURNED state:
// iterations[i] = t (updates applied, 0..T), residual[i] = rho(s_t); converged := residual <= tol.
// Convergence needs a contractive map, e.g. |alpha| + |beta|*||W||_2*max|f'| < 1 and gamma = 0.
//
// Counter-based noise (identical recipe in python/quaton_fast/reference/fixed_point.py and CUDA),
// uint64 arithmetic mod 2^64, G = 0x9E3779B97F4A7C15:
//   mix64(z): z ^= z>>30; z *= 0xBF58476D1CE4E5B9; z ^= z>>27; z *= 0x94D049BB133111EB; z ^= z>>31
//   k1 = mix64(seed + G*(system+1)); k2 = mix64(k1 + G*(t+1))
//   a = mix64(k2 + G*(2j+1)); c = mix64(k2 + G*(2j+2))
//   u1 = ((a>>11)+1) * 2^-53 in (0,1];  u2 = (c>>11) * 2^-53 in [0,1)
//   xi = sqrt(-2*log(u1)) * cos(6.283185307179586*u2)
// `system` is the global index of the system in the batch (0..S-1).
//
// Adjoint (implicit backward at a converged state s*): J = D(alpha I + beta W diag(f'(s*))),
// D = diag(lo < y < hi) for y = alpha s* + beta W f(s*) + b (D = I without clamp). Iterate
// v <- G(v) = J^T v + g from v = g with the forward's stopping rule (residual ||G(v)-v||/
// max(||G(v)||,1e-30) at the returned v, iterations = updates applied); then u = D v and
//   grad_b = u, grad_W = beta u f(s*)^T, grad_beta = u.(W f(s*)), grad_alpha = u.s*.
#pragma once

#include <cstdint>

namespace quaton {

enum FixedPointNonlinearity : std::int8_t { kFpTanh = 0, kFpSign = 1, kFpIdentity = 2 };

constexpr int kFixedPointMaxN = 256;
constexpr double kFixedPointTiny = 1e-30;

struct FixedPointParams {
  std::int64_t systems = 0;  // S
  int n = 0;                 // variables per system, 1 .. kFixedPointMaxN
  const double* W = nullptr;            // (S,n,n) or (n,n) when W_shared, row-major
  int W_shared = 0;
  const double* b = nullptr;            // (S,n) or (n,) when b_shared
  int b_shared = 0;
  const double* s0 = nullptr;           // (S,n); nullptr = zeros
  const double* alpha_start = nullptr;  // (S,)
  const double* alpha_end = nullptr;    // (S,)  (== alpha_start for a constant alpha)
  const double* beta = nullptr;         // (S,)
  const double* gamma = nullptr;        // (S,)
  const std::int8_t* nonlinearity = nullptr;  // (n,) codes 0/1/2
  int has_clamp = 0;
  double clamp_lo = -1.0, clamp_hi = 1.0;
  double noise_std = 0.0;
  std::uint64_t seed = 0;
  double tol = 0.0;
  int max_iter = 1;                     // <= INT_MAX - 1 (t runs to max_iter inclusive)
  int threads = 0;                      // <= 0: std::thread::hardware_concurrency()
  double* state = nullptr;              // out (S,n)
  std::int32_t* iterations = nullptr;   // out (S,)
  double* residual = nullptr;           // out (S,)
};

struct FixedPointAdjointParams {
  std::int64_t systems = 0;
  int n = 0;
  const double* W = nullptr;  // (S,n,n) or (n,n)
  int W_shared = 0;
  const double* b = nullptr;  // (S,n) or (n,); only read when has_clamp
  int b_shared = 0;
  const double* state = nullptr;       // (S,n) converged s*
  const double* grad_state = nullptr;  // (S,n) g = dL/ds*
  const double* alpha = nullptr;       // (S,)
  const double* beta = nullptr;        // (S,)
  const std::int8_t* nonlinearity = nullptr;
  int has_clamp = 0;
  double clamp_lo = -1.0, clamp_hi = 1.0;
  double tol = 0.0;
  int max_iter = 1;
  int threads = 0;
  double* v = nullptr;               // out (S,n) adjoint solution
  double* grad_b = nullptr;          // out (S,n) u = D v (per system; caller sums if b shared)
  double* grad_W = nullptr;          // out (S,n,n), or (n,n) summed over systems when W_shared
  double* grad_beta = nullptr;       // out (S,)
  double* grad_alpha = nullptr;      // out (S,)
  std::int32_t* iterations = nullptr;  // out (S,)
  double* residual = nullptr;          // out (S,)
};

// Standard normal xi[system, t, j] of the counter-based recipe above.
double fixed_point_normal(std::uint64_t seed, std::uint64_t system, std::uint64_t t, std::uint64_t j);

// Throw std::invalid_argument on inconsistent parameters (null pointers, n out of range, ...).
void fixed_point_forward_cpu(const FixedPointParams& p);
void fixed_point_adjoint_cpu(const FixedPointAdjointParams& p);

}  // namespace quaton

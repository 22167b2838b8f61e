// Non-ideal AOC cell (SPEC B4): batched fixed-point iteration of the linear form
//   y = alpha s + E+ p+(f(s)) - E- p-(f(s)) + k + c + gamma (s - s_prev)
// (E+, E-, k built from W and beta by python/quaton_fast/functional/aoc_hardware.py; semantics and
// units in python/quaton_fast/reference/aoc_hardware.py). Convergence rule of the ideal twin
// (reference/fixed_point.py): rho(s) = ||T(s) - s|| / max(||T(s)||, 1e-30) of the map T without
// momentum, evaluated AT the returned state; system i stops at s_t when tol > 0 and rho <= tol, when
// rho is not finite, or at t = max_iter; iterations = t (updates applied), residual = rho. float64.
#pragma once

#include <cstdint>

namespace quaton {

struct HardwareCellParams {
  std::int64_t systems = 0;
  int n = 0;
  const double* Ep = nullptr;     // (S, n, n)
  const double* En = nullptr;     // (S, n, n)
  const double* k = nullptr;      // (S, n)
  const double* c = nullptr;      // (S, n) clamped input
  const double* s0 = nullptr;     // (S, n) or nullptr (zeros)
  const double* alpha = nullptr;  // (S,)
  double gamma = 0.0;
  int fitted = 0;                 // 1: u = a s + b0; f = d u (1+|u|^c)^(-1/c) + f0 + g s; 0: tanh
  double nl[6] = {1, 0, 2, 1, 0, 0};
  int led = 0;                    // 1: p(v) = A v^3 + B v^2 + C v + D - dc per sign; 0: p = f
  double led_pos[4] = {0, 0, 1, 0};
  double led_neg[4] = {0, 0, 1, 0};
  double dc_pos = 0.0, dc_neg = 0.0;
  double tol = 1e-3;
  int max_iter = 100;
  int threads = 0;                // 0: all hardware threads
  double* state = nullptr;        // (S, n) out
  std::int32_t* iterations = nullptr;  // (S,) out
  double* residual = nullptr;     // (S,) out
};

// Throws std::invalid_argument for inconsistent parameters.
void hardware_cell_forward_cpu(const HardwareCellParams& p);

}  // namespace quaton

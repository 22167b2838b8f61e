// Non-ideal AOC cell: batched fixed-point iteration on the CPU (semantics: quaton/aoc_hardware.h).
// Each worker thread takes a contiguous block of systems and runs each to its stopping step.
#include "quaton/aoc_hardware.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

namespace quaton {
namespace {

inline double drive(const HardwareCellParams& p, double s) {
  if (!p.fitted) return std::tanh(s);
  const double u = p.nl[0] * s + p.nl[1];
  return p.nl[3] * u * std::pow(1.0 + std::pow(std::fabs(u), p.nl[2]), -1.0 / p.nl[2]) + p.nl[4] + p.nl[5] * s;
}

inline double cubic(const double* q, double v) { return ((q[0] * v + q[1]) * v + q[2]) * v + q[3]; }

void run_system(const HardwareCellParams& p, std::int64_t i, std::vector<double>& buf) {
  const int n = p.n;
  const std::size_t nn = static_cast<std::size_t>(n) * n;
  const double* Ep = p.Ep + i * nn;
  const double* En = p.En + i * nn;
  const double* k = p.k + i * n;
  const double* c = p.c + i * n;
  double* s = buf.data();
  double* prev = s + n;
  double* y = prev + n;
  double* pp = y + n;
  double* pn = pp + n;
  for (int j = 0; j < n; ++j) s[j] = prev[j] = p.s0 ? p.s0[i * n + j] : 0.0;
  const double a = p.alpha[i];
  // Convergence rule of the ideal twin (reference/fixed_point.py, "Convergence"): at step t the map
  // WITHOUT momentum, F = T(s_t), and rho = ||F - s_t|| / max(||F||, 1e-30) (+inf if not finite) are
  // evaluated; stop at s_t when tol > 0 and rho <= tol, when rho is not finite, or at t = max_iter;
  // else s_{t+1} = F + gamma (s_t - s_{t-1}).  Returned: s_t, t, rho(s_t).
  int it = 0;
  double r = std::numeric_limits<double>::infinity();
  for (int t = 0; t <= p.max_iter; ++t) {
    for (int j = 0; j < n; ++j) {
      const double f = drive(p, s[j]);
      pp[j] = p.led ? cubic(p.led_pos, f) - p.dc_pos : f;
      pn[j] = p.led ? cubic(p.led_neg, f) - p.dc_neg : f;
    }
    double dn = 0.0, sn = 0.0;
    for (int row = 0; row < n; ++row) {
      const double* ep = Ep + static_cast<std::size_t>(row) * n;
      const double* en = En + static_cast<std::size_t>(row) * n;
      double m = 0.0;
      for (int j = 0; j < n; ++j) m += ep[j] * pp[j] - en[j] * pn[j];
      const double v = a * s[row] + m + k[row] + c[row];
      y[row] = v;
      dn += (v - s[row]) * (v - s[row]);
      sn += v * v;
    }
    const double scale = std::max(std::sqrt(sn), 1e-30);
    double rho = std::sqrt(dn) / scale;
    if (!std::isfinite(rho) || !std::isfinite(scale)) rho = std::numeric_limits<double>::infinity();
    it = t;
    r = rho;
    if (!std::isfinite(rho) || (p.tol > 0.0 && rho <= p.tol) || t == p.max_iter) break;
    for (int j = 0; j < n; ++j) {
      const double nxt = p.gamma != 0.0 ? y[j] + p.gamma * (s[j] - prev[j]) : y[j];
      prev[j] = s[j];
      s[j] = nxt;
    }
  }
  for (int j = 0; j < n; ++j) p.state[i * n + j] = s[j];
  p.iterations[i] = it;
  p.residual[i] = r;
}

}  // namespace

void hardware_cell_forward_cpu(const HardwareCellParams& p) {
  if (p.systems < 0 || p.n < 1 || p.max_iter < 1 || !(p.tol >= 0.0) || !p.Ep || !p.En || !p.k || !p.c ||
      !p.alpha || !p.state || !p.iterations || !p.residual)
    throw std::invalid_argument("hardware_cell_forward_cpu(): inconsistent parameters (n >= 1, max_iter >= 1, "
                                "tol >= 0 and all arrays expected)");
  if (p.fitted && !(p.nl[2] > 0.0))
    throw std::invalid_argument("hardware_cell_forward_cpu(): argument 'nl' must have an exponent c > 0");
  int threads = p.threads > 0 ? p.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(threads, p.systems)));
  auto block = [&](std::int64_t begin, std::int64_t end) {
    std::vector<double> buf(5 * static_cast<std::size_t>(p.n));
    for (std::int64_t i = begin; i < end; ++i) run_system(p, i, buf);
  };
  if (threads <= 1) {
    block(0, p.systems);
    return;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(threads);
  for (int w = 0; w < threads; ++w) {
    const std::int64_t b = p.systems * w / threads, e = p.systems * (w + 1) / threads;
    pool.emplace_back([&, w, b, e] {
      try {
        block(b, e);
      } catch (...) {
        errors[w] = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  for (auto& err : errors)
    if (err) std::rethrow_exception(err);
}

}  // namespace quaton

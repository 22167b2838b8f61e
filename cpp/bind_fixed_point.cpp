// pybind11 front of the AOC fixed-point CPU kernels (cpp/fixed_point_cpu.cpp). Arrays arrive as
// NumPy arrays; python/quaton_fast/aoc/fixed_point.py validates values and shapes first, this file
// re-checks dtype, contiguity and shapes (cheap) and releases the GIL around the kernels.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "quaton/fixed_point.h"

namespace py = pybind11;

namespace quaton {
namespace {

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t k = 0; k < a.ndim(); ++k) s += (k ? ", " : "") + std::to_string(a.shape(k));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

template <class T>
const T* checked(const char* fn, const char* name, const py::array& a, std::vector<py::ssize_t> shape) {
  if (!py::isinstance<py::array_t<T>>(a) || !a.dtype().is(py::dtype::of<T>()))
    throw py::type_error(std::string(fn) + "(): argument '" + name + "' must be a " +
                         std::string(py::str(py::dtype::of<T>())) + " array, got dtype " +
                         std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(fn) + "(): argument '" + name + "' must be C-contiguous");
  bool ok = static_cast<std::size_t>(a.ndim()) == shape.size();
  for (std::size_t k = 0; ok && k < shape.size(); ++k) ok = a.shape(k) == shape[k];
  if (!ok) {
    std::string want = "(";
    for (std::size_t k = 0; k < shape.size(); ++k) want += (k ? ", " : "") + std::to_string(shape[k]);
    want += shape.size() == 1 ? ",)" : ")";
    throw py::value_error(std::string(fn) + "(): argument '" + name + "' must have shape " + want +
                          ", got " + shape_str(a));
  }
  return static_cast<const T*>(a.data());
}

// W: (S,n,n) or (n,n) -> (S?, n, shared)
std::pair<int, bool> matrix_dims(const char* fn, const py::array& W, py::ssize_t S) {
  if (W.ndim() == 2) return {static_cast<int>(W.shape(1)), true};
  if (W.ndim() == 3 && W.shape(0) == S) return {static_cast<int>(W.shape(2)), false};
  throw py::value_error(std::string(fn) + "(): argument 'W' must have shape (S, n, n) or (n, n) with S = " +
                        std::to_string(S) + ", got " + shape_str(W));
}

py::tuple forward(const py::array& W, const py::array& b, const std::optional<py::array>& s0,
                  const py::array& alpha_start, const py::array& alpha_end, const py::array& beta,
                  const py::array& gamma, const py::array& nonlinearity,
                  std::optional<std::pair<double, double>> clamp, double noise_std, std::uint64_t seed,
                  double tol, int max_iter, int threads) {
  const char* fn = "fixed_point_forward_cpu";
  if (alpha_start.ndim() != 1)
    throw py::value_error(std::string(fn) + "(): argument 'alpha_start' must have shape (S,), got " +
                          shape_str(alpha_start));
  const py::ssize_t S = alpha_start.shape(0);
  auto [n, W_shared] = matrix_dims(fn, W, S);
  FixedPointParams p;
  p.systems = S;
  p.n = n;
  p.W_shared = W_shared ? 1 : 0;
  p.W = W_shared ? checked<double>(fn, "W", W, {n, n}) : checked<double>(fn, "W", W, {S, n, n});
  p.b_shared = b.ndim() == 1 ? 1 : 0;
  p.b = p.b_shared ? checked<double>(fn, "b", b, {n}) : checked<double>(fn, "b", b, {S, n});
  p.s0 = s0 ? checked<double>(fn, "s0", *s0, {S, n}) : nullptr;
  p.alpha_start = checked<double>(fn, "alpha_start", alpha_start, {S});
  p.alpha_end = checked<double>(fn, "alpha_end", alpha_end, {S});
  p.beta = checked<double>(fn, "beta", beta, {S});
  p.gamma = checked<double>(fn, "gamma", gamma, {S});
  p.nonlinearity = checked<std::int8_t>(fn, "nonlinearity", nonlinearity, {n});
  if (clamp) {
    p.has_clamp = 1;
    p.clamp_lo = clamp->first;
    p.clamp_hi = clamp->second;
  }
  p.noise_std = noise_std;
  p.seed = seed;
  p.tol = tol;
  p.max_iter = max_iter;
  p.threads = threads;
  py::array_t<double> state({S, static_cast<py::ssize_t>(n)});
  py::array_t<std::int32_t> iterations(S);
  py::array_t<double> residual(S);
  p.state = state.mutable_data();
  p.iterations = iterations.mutable_data();
  p.residual = residual.mutable_data();
  {
    py::gil_scoped_release release;
    fixed_point_forward_cpu(p);
  }
  return py::make_tuple(state, iterations, residual);
}

py::tuple adjoint(const py::array& W, const py::array& b, const py::array& state,
                  const py::array& grad_state, const py::array& alpha, const py::array& beta,
                  const py::array& nonlinearity, std::optional<std::pair<double, double>> clamp,
                  double tol, int max_iter, int threads) {
  const char* fn = "fixed_point_adjoint_cpu";
  if (state.ndim() != 2)
    throw py::value_error(std::string(fn) + "(): argument 'state' must have shape (S, n), got " +
                          shape_str(state));
  const py::ssize_t S = state.shape(0);
  auto [n, W_shared] = matrix_dims(fn, W, S);
  FixedPointAdjointParams p;
  p.systems = S;
  p.n = n;
  p.W_shared = W_shared ? 1 : 0;
  p.W = W_shared ? checked<double>(fn, "W", W, {n, n}) : checked<double>(fn, "W", W, {S, n, n});
  p.b_shared = b.ndim() == 1 ? 1 : 0;
  p.b = p.b_shared ? checked<double>(fn, "b", b, {n}) : checked<double>(fn, "b", b, {S, n});
  p.state = checked<double>(fn, "state", state, {S, n});
  p.grad_state = checked<double>(fn, "grad_state", grad_state, {S, n});
  p.alpha = checked<double>(fn, "alpha", alpha, {S});
  p.beta = checked<double>(fn, "beta", beta, {S});
  p.nonlinearity = checked<std::int8_t>(fn, "nonlinearity", nonlinearity, {n});
  if (clamp) {
    p.has_clamp = 1;
    p.clamp_lo = clamp->first;
    p.clamp_hi = clamp->second;
  }
  p.tol = tol;
  p.max_iter = max_iter;
  p.threads = threads;
  const py::ssize_t nn = static_cast<py::ssize_t>(n);
  py::array_t<double> v({S, nn}), grad_b({S, nn}), grad_beta(S), grad_alpha(S), residual(S);
  py::array_t<double> grad_W = W_shared ? py::array_t<double>({nn, nn}) : py::array_t<double>({S, nn, nn});
  py::array_t<std::int32_t> iterations(S);
  p.v = v.mutable_data();
  p.grad_b = grad_b.mutable_data();
  p.grad_W = grad_W.mutable_data();
  p.grad_beta = grad_beta.mutable_data();
  p.grad_alpha = grad_alpha.mutable_data();
  p.iterations = iterations.mutable_data();
  p.residual = residual.mutable_data();
  {
    py::gil_scoped_release release;
    fixed_point_adjoint_cpu(p);
  }
  return py::make_tuple(v, grad_b, grad_W, grad_beta, grad_alpha, iterations, residual);
}

}  // namespace

void bind_fixed_point(py::module_& m) {
  m.def("fixed_point_forward_cpu", &forward, py::arg("W"), py::arg("b"), py::arg("s0"),
        py::arg("alpha_start"), py::arg("alpha_end"), py::arg("beta"), py::arg("gamma"),
        py::arg("nonlinearity"), py::arg("clamp"), py::arg("noise_std"), py::arg("seed"),
        py::arg("tol"), py::arg("max_iter"), py::arg("threads") = 0,
        "AOC fixed-point iteration on S systems (float64, C++ threads). W: (S,n,n)|(n,n); "
        "b: (S,n)|(n,); s0: (S,n)|None; alpha_start, alpha_end, beta, gamma: (S,); "
        "nonlinearity: int8 (n,); clamp: (lo, hi)|None. Returns (state (S,n), iterations int32 (S,), "
        "residual (S,)). Semantics: quaton/fixed_point.h.");
  m.def("fixed_point_adjoint_cpu", &adjoint, py::arg("W"), py::arg("b"), py::arg("state"),
        py::arg("grad_state"), py::arg("alpha"), py::arg("beta"), py::arg("nonlinearity"),
        py::arg("clamp"), py::arg("tol"), py::arg("max_iter"), py::arg("threads") = 0,
        "Implicit adjoint v = J^T v + g at a fixed point. Returns (v (S,n), grad_b (S,n) per system, "
        "grad_W (S,n,n) or (n,n) summed when W is (n,n), grad_beta (S,), grad_alpha (S,), "
        "iterations (S,), residual (S,)).");
  m.def("fixed_point_normal", &fixed_point_normal, py::arg("seed"), py::arg("system"), py::arg("t"),
        py::arg("j"), "Counter-based standard normal xi[system, t, j] (recipe in quaton/fixed_point.h).");
}

}  // namespace quaton

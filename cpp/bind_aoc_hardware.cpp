// pybind11 front of the non-ideal AOC cell kernel (cpp/aoc_hardware_cpu.cpp). Arrays arrive as float64
// NumPy arrays from python/quaton_fast/functional/aoc_hardware.py (which validated them); shapes,
// dtype and contiguity are re-checked here and the GIL is released around the kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "quaton/aoc_hardware.h"

namespace py = pybind11;

namespace quaton {
namespace {

const double* f64(const char* name, const py::array& a, const std::vector<py::ssize_t>& shape) {
  const char* fn = "aoc_hardware_forward_cpu";
  if (!a.dtype().is(py::dtype::of<double>()))
    throw py::type_error(std::string(fn) + "(): argument '" + name + "' must be a float64 array, got dtype " +
                         std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(fn) + "(): argument '" + name + "' must be C-contiguous");
  bool ok = static_cast<std::size_t>(a.ndim()) == shape.size();
  for (std::size_t d = 0; ok && d < shape.size(); ++d) ok = a.shape(d) == shape[d];
  if (!ok) throw py::value_error(std::string(fn) + "(): argument '" + name + "' has the wrong shape");
  return static_cast<const double*>(a.data());
}

template <std::size_t N>
void fill(const char* name, const std::vector<double>& v, double (&out)[N]) {
  if (v.size() != N)
    throw py::value_error(std::string("aoc_hardware_forward_cpu(): argument '") + name + "' must have " +
                          std::to_string(N) + " entries, got " + std::to_string(v.size()));
  for (std::size_t q = 0; q < N; ++q) out[q] = v[q];
}

py::tuple forward(const py::array& Ep, const py::array& En, const py::array& k, const py::array& c,
                  const std::optional<py::array>& s0, const py::array& alpha, double gamma, bool fitted,
                  const std::vector<double>& nl, bool led, const std::vector<double>& led_pos,
                  const std::vector<double>& led_neg, double dc_pos, double dc_neg, double tol, int max_iter,
                  int threads) {
  if (c.ndim() != 2) throw py::value_error("aoc_hardware_forward_cpu(): argument 'c' must have shape (S, n)");
  const py::ssize_t S = c.shape(0), n = c.shape(1);
  HardwareCellParams p;
  p.systems = S;
  p.n = static_cast<int>(n);
  p.Ep = f64("Ep", Ep, {S, n, n});
  p.En = f64("En", En, {S, n, n});
  p.k = f64("k", k, {S, n});
  p.c = f64("c", c, {S, n});
  p.s0 = s0 ? f64("s0", *s0, {S, n}) : nullptr;
  p.alpha = f64("alpha", alpha, {S});
  p.gamma = gamma;
  p.fitted = fitted ? 1 : 0;
  fill("nl", nl, p.nl);
  p.led = led ? 1 : 0;
  fill("led_pos", led_pos, p.led_pos);
  fill("led_neg", led_neg, p.led_neg);
  p.dc_pos = dc_pos;
  p.dc_neg = dc_neg;
  p.tol = tol;
  p.max_iter = max_iter;
  p.threads = threads;
  py::array_t<double> state({S, n});
  py::array_t<std::int32_t> iters({S});
  py::array_t<double> resid({S});
  p.state = state.mutable_data();
  p.iterations = iters.mutable_data();
  p.residual = resid.mutable_data();
  {
    py::gil_scoped_release release;
    hardware_cell_forward_cpu(p);
  }
  return py::make_tuple(state, iters, resid);
}

}  // namespace

void bind_aoc_hardware(py::module_& m) {
  m.def("aoc_hardware_forward_cpu", &forward,
        "Fixed points of the non-ideal AOC cell in linear form (float64; see quaton/aoc_hardware.h). "
        "Returns (state (S, n), iterations (S,) int32, residual (S,)).",
        py::arg("Ep"), py::arg("En"), py::arg("k"), py::arg("c"), py::arg("s0"), py::arg("alpha"),
        py::arg("gamma"), py::arg("fitted"), py::arg("nl"), py::arg("led"), py::arg("led_pos"),
        py::arg("led_neg"), py::arg("dc_pos"), py::arg("dc_neg"), py::arg("tol"), py::arg("max_iter"),
        py::arg("threads"));
}

}  // namespace quaton

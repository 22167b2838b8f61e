// pybind11 front of the AOC-DT replica solver kernel (cpp/solver_cpu.cpp). Arrays arrive as NumPy
// arrays; python/quaton_fast/solve/aoc_solver.py prepares them, this file checks dtype, contiguity
// and shapes and releases the GIL around the kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "quaton/solver.h"

namespace py = pybind11;

namespace quaton {
namespace {

constexpr const char* kFn = "solver_run_cpu";

std::string dims_str(const std::vector<py::ssize_t>& d) {
  std::string s = "(";
  for (std::size_t k = 0; k < d.size(); ++k) s += (k ? ", " : "") + std::to_string(d[k]);
  return s + (d.size() == 1 ? ",)" : ")");
}

template <class T>
const T* checked(const char* name, const py::array& a, std::vector<py::ssize_t> shape) {
  if (!a.dtype().is(py::dtype::of<T>()))
    throw py::type_error(std::string(kFn) + "(): argument '" + name + "' must be a " +
                         std::string(py::str(py::dtype::of<T>())) + " array, got dtype " +
                         std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(kFn) + "(): argument '" + name + "' must be C-contiguous");
  std::vector<py::ssize_t> got(a.shape(), a.shape() + a.ndim());
  if (got != shape)
    throw py::value_error(std::string(kFn) + "(): argument '" + name + "' must have shape " + dims_str(shape) +
                          ", got " + dims_str(got));
  return static_cast<const T*>(a.data());
}

py::tuple run(const std::optional<py::array>& indptr, const std::optional<py::array>& indices,
              const std::optional<py::array>& data, const std::optional<py::array>& dense, const py::array& h,
              const py::array& continuous, const py::array& x0, const py::array& a0, const py::array& g,
              const py::array& gamma, double dt, std::pair<double, double> clamp, int steps, int check_every,
              int threads) {
  if (h.ndim() != 1)
    throw py::value_error(std::string(kFn) + "(): argument 'h' must have shape (n,), got ndim " +
                          std::to_string(h.ndim()));
  if (a0.ndim() != 1)
    throw py::value_error(std::string(kFn) + "(): argument 'a0' must have shape (R,), got ndim " +
                          std::to_string(a0.ndim()));
  const py::ssize_t n = h.shape(0), R = a0.shape(0);
  if (dense.has_value() == (indptr.has_value() || indices.has_value() || data.has_value()))
    throw py::value_error(std::string(kFn) + "(): give either 'dense' or all of 'indptr', 'indices', 'data'");
  SolverParams p;
  p.n = static_cast<int>(n);
  p.replicas = R;
  if (dense) {
    p.dense = checked<float>("dense", *dense, {n, n});
  } else {
    if (!(indptr && indices && data))
      throw py::value_error(std::string(kFn) + "(): CSR J needs all of 'indptr', 'indices', 'data'");
    if (indices->ndim() != 1)
      throw py::value_error(std::string(kFn) + "(): argument 'indices' must be 1-D");
    const py::ssize_t nnz = indices->shape(0);
    p.indptr = checked<std::int64_t>("indptr", *indptr, {n + 1});
    p.indices = checked<std::int32_t>("indices", *indices, {nnz});
    p.data = checked<float>("data", *data, {nnz});
    p.nnz = nnz;
  }
  p.h = checked<float>("h", h, {n});
  p.continuous = checked<std::uint8_t>("continuous", continuous, {n});
  p.x0 = checked<float>("x0", x0, {n, R});
  p.a0 = checked<float>("a0", a0, {R});
  p.g = checked<float>("g", g, {R});
  p.gamma = checked<float>("gamma", gamma, {R});
  p.dt = static_cast<float>(dt);
  p.clamp_lo = static_cast<float>(clamp.first);
  p.clamp_hi = static_cast<float>(clamp.second);
  p.steps = steps;
  p.check_every = check_every;
  p.threads = threads;
  py::array_t<double> best_energy(R);
  py::array_t<float> best_state({n, R});
  p.best_energy = best_energy.mutable_data();
  p.best_state = best_state.mutable_data();
  {
    py::gil_scoped_release release;
    solver_run_cpu(p);
  }
  return py::make_tuple(best_energy, best_state);
}

}  // namespace

void bind_solver(py::module_& m) {
  m.def("solver_run_cpu", &run, py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("dense"),
        py::arg("h"), py::arg("continuous"), py::arg("x0"), py::arg("a0"), py::arg("g"), py::arg("gamma"),
        py::arg("dt"), py::arg("clamp"), py::arg("steps"), py::arg("check_every"), py::arg("threads") = 0,
        "AOC-DT replica solver: T steps of R replicas (float32, C++ threads, GIL released). "
        "J: CSR (indptr int64 (n+1,), indices int32 (nnz,), data float32 (nnz,)) or dense float32 (n,n); "
        "h float32 (n,); continuous uint8 (n,); x0 float32 (n,R); a0, g, gamma float32 (R,). Returns "
        "(best_energy float64 (R,), best_state float32 (n,R)). Semantics: quaton/solver.h.");
}

}  // namespace quaton

// Registration hook for the AOC fixed-point kernels (filled in by the AOC digital-twin work).
#include <pybind11/pybind11.h>

namespace quaton {
void bind_fixed_point(pybind11::module_& /*m*/) {}
}  // namespace quaton

// pybind11 bindings of the CUDA fixed-point kernels (cuda/fixed_point.cu). Pointers arrive as
// integers (tensor.data_ptr()); dtypes, shapes, devices and contiguity are checked in Python
// (python/quaton_fast/aoc/fixed_point_cuda.py) before the call. Absent from CPU-only builds.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "quaton/device_info.h"
#include "quaton/fixed_point_cuda.h"

namespace py = pybind11;

namespace quaton {

#ifdef QF_WITH_CUDA
namespace {

void check_fixed_point_launch(int code, const char* what) {
  if (code == -1) throw std::invalid_argument(std::string(what) + ": invalid parameters (n must be 1..64)");
  if (code != 0)
    throw std::runtime_error(std::string(what) + ": CUDA error " + std::to_string(code) + " (" +
                             cuda_error_string(code) + ")");
}

template <typename Ptr>
Ptr as_ptr(std::uintptr_t address) {
  return reinterpret_cast<Ptr>(address);
}

}  // namespace
#endif

void bind_fixed_point_cuda(py::module_& m) {
#ifdef QF_WITH_CUDA
  m.def(
      "fixed_point_forward_cuda",
      [](int dtype, std::int64_t systems, int n, std::uintptr_t W, bool W_shared, std::uintptr_t b,
         bool b_shared, std::uintptr_t s0, std::uintptr_t alpha_start, std::uintptr_t alpha_end,
         std::uintptr_t beta, std::uintptr_t gamma, std::uintptr_t codes, bool has_clamp, double lo,
         double hi, double noise_std, std::uint64_t seed, double tol, int max_iter, std::uintptr_t state,
         std::uintptr_t iterations, std::uintptr_t residual, std::uintptr_t stream) {
        FixedPointCudaParams p;
        p.dtype = dtype;
        p.systems = systems;
        p.n = n;
        p.W = as_ptr<const void*>(W);
        p.W_shared = W_shared;
        p.b = as_ptr<const void*>(b);
        p.b_shared = b_shared;
        p.s0 = as_ptr<const void*>(s0);
        p.alpha_start = as_ptr<const void*>(alpha_start);
        p.alpha_end = as_ptr<const void*>(alpha_end);
        p.beta = as_ptr<const void*>(beta);
        p.gamma = as_ptr<const void*>(gamma);
        p.nonlinearity = as_ptr<const std::int8_t*>(codes);
        p.has_clamp = has_clamp;
        p.clamp_lo = lo;
        p.clamp_hi = hi;
        p.noise_std = noise_std;
        p.seed = seed;
        p.tol = tol;
        p.max_iter = max_iter;
        p.state = as_ptr<void*>(state);
        p.iterations = as_ptr<std::int32_t*>(iterations);
        p.residual = as_ptr<void*>(residual);
        check_fixed_point_launch(fixed_point_forward_cuda(p, as_ptr<void*>(stream)), "fixed_point_forward_cuda");
      },
      "All iterations of S small fixed-point systems in one launch (device pointers).");
  m.def(
      "fixed_point_adjoint_cuda",
      [](int dtype, std::int64_t systems, int n, std::uintptr_t W, bool W_shared, std::uintptr_t b,
         bool b_shared, std::uintptr_t state, std::uintptr_t grad_state, std::uintptr_t alpha,
         std::uintptr_t beta, std::uintptr_t codes, bool has_clamp, double lo, double hi, double tol,
         int max_iter, std::uintptr_t u, std::uintptr_t W_f, std::uintptr_t iterations,
         std::uintptr_t residual, std::uintptr_t stream) {
        FixedPointAdjointCudaParams p;
        p.dtype = dtype;
        p.systems = systems;
        p.n = n;
        p.W = as_ptr<const void*>(W);
        p.W_shared = W_shared;
        p.b = as_ptr<const void*>(b);
        p.b_shared = b_shared;
        p.state = as_ptr<const void*>(state);
        p.grad_state = as_ptr<const void*>(grad_state);
        p.alpha = as_ptr<const void*>(alpha);
        p.beta = as_ptr<const void*>(beta);
        p.nonlinearity = as_ptr<const std::int8_t*>(codes);
        p.has_clamp = has_clamp;
        p.clamp_lo = lo;
        p.clamp_hi = hi;
        p.tol = tol;
        p.max_iter = max_iter;
        p.u = as_ptr<void*>(u);
        p.W_f = as_ptr<void*>(W_f);
        p.iterations = as_ptr<std::int32_t*>(iterations);
        p.residual = as_ptr<void*>(residual);
        check_fixed_point_launch(fixed_point_adjoint_cuda(p, as_ptr<void*>(stream)), "fixed_point_adjoint_cuda");
      },
      "Implicit adjoint at converged states: u = D v and W f(s*) per system (device pointers).");
  m.def(
      "fixed_point_forward_shared_cuda",
      [](int dtype, std::int64_t systems, int n, std::uintptr_t W, bool W_shared, int W_cells, std::uintptr_t b,
         bool b_shared, std::uintptr_t s0, std::uintptr_t alpha_start, std::uintptr_t alpha_end,
         std::uintptr_t beta, std::uintptr_t gamma, bool momentum, std::uintptr_t codes, bool has_clamp, double lo,
         double hi, double noise_std, std::uint64_t seed, double tol, int max_iter, std::uintptr_t state,
         std::uintptr_t iterations, std::uintptr_t residual, std::uintptr_t stream) {
        FixedPointCudaParams p;
        p.dtype = dtype;
        p.systems = systems;
        p.n = n;
        p.W = as_ptr<const void*>(W);
        p.W_shared = W_shared;
        p.W_cells = W_cells;
        p.b = as_ptr<const void*>(b);
        p.b_shared = b_shared;
        p.s0 = as_ptr<const void*>(s0);
        p.alpha_start = as_ptr<const void*>(alpha_start);
        p.alpha_end = as_ptr<const void*>(alpha_end);
        p.beta = as_ptr<const void*>(beta);
        p.gamma = as_ptr<const void*>(gamma);
        p.momentum = momentum;
        p.nonlinearity = as_ptr<const std::int8_t*>(codes);
        p.has_clamp = has_clamp;
        p.clamp_lo = lo;
        p.clamp_hi = hi;
        p.noise_std = noise_std;
        p.seed = seed;
        p.tol = tol;
        p.max_iter = max_iter;
        p.state = as_ptr<void*>(state);
        p.iterations = as_ptr<std::int32_t*>(iterations);
        p.residual = as_ptr<void*>(residual);
        check_fixed_point_launch(fixed_point_forward_shared_cuda(p, as_ptr<void*>(stream)),
                                 "fixed_point_forward_shared_cuda");
      },
      "Shared-W fixed point: W (n,n) or one per cell (W_cells,n,n), W in shared memory (device pointers).");
  m.def(
      "fixed_point_shared_tiles_cuda",
      [](int dtype, std::int64_t systems, int n, bool W_shared, int W_cells) {
        FixedPointAdjointCudaParams p;
        p.dtype = dtype;
        p.systems = systems;
        p.n = n;
        p.W_shared = W_shared;
        p.W_cells = W_cells;
        return fixed_point_shared_tiles_cuda(p);
      },
      "Blocks along the batch per cell of the shared-W adjoint: grad_W partials are (cells, tiles, n, n).");
  m.def(
      "fixed_point_adjoint_shared_cuda",
      [](int dtype, std::int64_t systems, int n, std::uintptr_t W, bool W_shared, int W_cells, std::uintptr_t b,
         bool b_shared, std::uintptr_t state, std::uintptr_t grad_state, std::uintptr_t alpha,
         std::uintptr_t beta, std::uintptr_t codes, bool has_clamp, double lo, double hi, double tol,
         int max_iter, std::uintptr_t u, std::uintptr_t W_f, std::uintptr_t grad_alpha, std::uintptr_t grad_beta,
         std::uintptr_t grad_W_partial, std::uintptr_t iterations, std::uintptr_t residual, std::uintptr_t stream) {
        FixedPointAdjointCudaParams p;
        p.dtype = dtype;
        p.systems = systems;
        p.n = n;
        p.W = as_ptr<const void*>(W);
        p.W_shared = W_shared;
        p.W_cells = W_cells;
        p.b = as_ptr<const void*>(b);
        p.b_shared = b_shared;
        p.state = as_ptr<const void*>(state);
        p.grad_state = as_ptr<const void*>(grad_state);
        p.alpha = as_ptr<const void*>(alpha);
        p.beta = as_ptr<const void*>(beta);
        p.nonlinearity = as_ptr<const std::int8_t*>(codes);
        p.has_clamp = has_clamp;
        p.clamp_lo = lo;
        p.clamp_hi = hi;
        p.tol = tol;
        p.max_iter = max_iter;
        p.u = as_ptr<void*>(u);
        p.W_f = as_ptr<void*>(W_f);
        p.grad_alpha = as_ptr<void*>(grad_alpha);
        p.grad_beta = as_ptr<void*>(grad_beta);
        p.grad_W_partial = as_ptr<void*>(grad_W_partial);
        p.iterations = as_ptr<std::int32_t*>(iterations);
        p.residual = as_ptr<void*>(residual);
        check_fixed_point_launch(fixed_point_adjoint_shared_cuda(p, as_ptr<void*>(stream)),
                                 "fixed_point_adjoint_shared_cuda");
      },
      "Shared-W implicit adjoint: u, W f(s*), grad_alpha, grad_beta per system and grad_W partials per block.");
#else
  (void)m;
#endif
}

}  // namespace quaton

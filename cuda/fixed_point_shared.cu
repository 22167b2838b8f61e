// Launchers of the shared-W AOC fixed-point kernels (device code: fixed_point_shared.cuh): one
// instantiation per (dtype, padded n NP, rows per lane RM), chosen from n.
#include "fixed_point_shared.cuh"

namespace quaton {
namespace {

template <typename T, int NP, int RM>
struct LaunchSharedForward {
  static int run(const FixedPointCudaParams& p, cudaStream_t stream) {
    using G = kernels::SwGeometry<T, NP, RM>;
    const dim3 grid = kernels::fixed_point_shared_grid<T, NP, RM>(p.systems, kernels::fixed_point_shared_cells(p.W_shared, p.W_cells));
    if (kernels::fixed_point_shared_full(p))
      kernels::fixed_point_shared_forward_kernel<T, NP, RM, true><<<grid, G::kThreads, 0, stream>>>(p);
    else
      kernels::fixed_point_shared_forward_kernel<T, NP, RM, false><<<grid, G::kThreads, 0, stream>>>(p);
    return static_cast<int>(cudaGetLastError());
  }
};

template <typename T, int NP, int RM>
struct LaunchSharedAdjoint {
  static int run(const FixedPointAdjointCudaParams& p, cudaStream_t stream) {
    using G = kernels::SwGeometry<T, NP, RM>;
    const dim3 grid = kernels::fixed_point_shared_grid<T, NP, RM>(p.systems, kernels::fixed_point_shared_cells(p.W_shared, p.W_cells));
    kernels::fixed_point_shared_adjoint_kernel<T, NP, RM><<<grid, G::kThreads, 0, stream>>>(p);
    return static_cast<int>(cudaGetLastError());
  }
};

}  // namespace

int fixed_point_forward_shared_cuda(const FixedPointCudaParams& params, void* stream) {
  if (!params.W || !params.b || !params.alpha_start || !params.alpha_end || !params.beta || !params.gamma ||
      !params.nonlinearity || !params.state || !params.iterations || !params.residual || params.max_iter < 1 ||
      params.max_iter == 2147483647)
    return -1;
  return kernels::dispatch_fixed_point_shared<FixedPointCudaParams, LaunchSharedForward>(
      params, static_cast<cudaStream_t>(stream));
}

int fixed_point_adjoint_shared_cuda(const FixedPointAdjointCudaParams& params, void* stream) {
  if (!params.W || !params.b || !params.state || !params.grad_state || !params.alpha || !params.beta ||
      !params.nonlinearity || !params.u || !params.W_f || !params.iterations || !params.residual ||
      !params.grad_alpha || !params.grad_beta || !params.grad_W_partial || params.max_iter < 1 ||
      params.max_iter == 2147483647)
    return -1;
  return kernels::dispatch_fixed_point_shared<FixedPointAdjointCudaParams, LaunchSharedAdjoint>(
      params, static_cast<cudaStream_t>(stream));
}

int fixed_point_shared_tiles_cuda(const FixedPointAdjointCudaParams& params) {
  return kernels::fixed_point_shared_tiles(params);
}

}  // namespace quaton

// Launchers of the AOC fixed-point kernels (device code: fixed_point.cuh): one kernel
// instantiation per (dtype, threads per system TPS, rows per thread R), chosen from n.
#include "fixed_point.cuh"

namespace quaton {
namespace {

using kernels::kFpThreads;

template <typename T, int TPS, int R>
struct LaunchForward {
  static int run(const FixedPointCudaParams& p, cudaStream_t stream) {
    const unsigned int blocks = kernels::fixed_point_blocks(p.systems, TPS);
    if (kernels::fixed_point_forward_noisy(p))
      kernels::fixed_point_forward_kernel<T, TPS, R, true><<<blocks, kFpThreads, 0, stream>>>(p);
    else
      kernels::fixed_point_forward_kernel<T, TPS, R, false><<<blocks, kFpThreads, 0, stream>>>(p);
    return static_cast<int>(cudaGetLastError());
  }
};

template <typename T, int TPS, int R>
struct LaunchAdjoint {
  static int run(const FixedPointAdjointCudaParams& p, cudaStream_t stream) {
    kernels::fixed_point_adjoint_kernel<T, TPS, R><<<kernels::fixed_point_blocks(p.systems, TPS), kFpThreads, 0, stream>>>(p);
    return static_cast<int>(cudaGetLastError());
  }
};

}  // namespace

int fixed_point_forward_cuda(const FixedPointCudaParams& params, void* stream) {
  if (!params.W || !params.b || !params.alpha_start || !params.alpha_end || !params.beta ||
      !params.gamma || !params.nonlinearity || !params.state || !params.iterations || !params.residual ||
      params.max_iter < 1 || params.max_iter == 2147483647)
    return -1;
  return kernels::dispatch_fixed_point<FixedPointCudaParams, LaunchForward>(params, static_cast<cudaStream_t>(stream));
}

int fixed_point_adjoint_cuda(const FixedPointAdjointCudaParams& params, void* stream) {
  if (!params.W || !params.b || !params.state || !params.grad_state || !params.alpha || !params.beta ||
      !params.nonlinearity || !params.u || !params.W_f || !params.iterations || !params.residual ||
      params.max_iter < 1 || params.max_iter == 2147483647)
    return -1;
  return kernels::dispatch_fixed_point<FixedPointAdjointCudaParams, LaunchAdjoint>(params, static_cast<cudaStream_t>(stream));
}

}  // namespace quaton

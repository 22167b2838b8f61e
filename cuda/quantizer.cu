// Launchers of the PSQ / hard-staircase quantizer kernels (device code: quantizer.cuh).
#include "quantizer.cuh"

namespace quaton {

int psq_forward_cuda(const PsqForwardParams& params, void* stream) {
  if (params.count == 0) return 0;
  kernels::psq_forward_kernel<<<blocks_for(params.count), kThreadsPerBlock, 0,
                       static_cast<cudaStream_t>(stream)>>>(params);
  return static_cast<int>(cudaGetLastError());
}

int psq_backward_cuda(const PsqBackwardParams& params, void* stream) {
  if (params.count == 0) return 0;
  kernels::psq_backward_kernel<<<blocks_for(params.count), kThreadsPerBlock, 0,
                        static_cast<cudaStream_t>(stream)>>>(params);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace quaton

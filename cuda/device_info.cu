// CUDA runtime queries for build_info()/has_cuda(); safe on machines without a driver.
#include <cuda_runtime.h>
#include <string>

#include "quaton/device_info.h"

namespace quaton {

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return count;
}

int cuda_runtime_version() {
  int version = 0;
  cudaRuntimeGetVersion(&version);
  return version;
}

int cuda_driver_version() {
  int version = 0;
  if (cudaDriverGetVersion(&version) != cudaSuccess) return 0;
  return version;
}

std::string cuda_error_string(int code) {
  return cudaGetErrorString(static_cast<cudaError_t>(code));
}

std::string cuda_device_name(int index) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, index) != cudaSuccess) return "";
  return prop.name;
}

CudaDeviceFacts cuda_device_facts(int index) {
  auto get = [index](cudaDeviceAttr a) {
    int v = 0;
    if (cudaDeviceGetAttribute(&v, a, index) != cudaSuccess) {
      cudaGetLastError();
      return -1;
    }
    return v;
  };
  CudaDeviceFacts f;
  f.major = get(cudaDevAttrComputeCapabilityMajor);
  f.minor = get(cudaDevAttrComputeCapabilityMinor);
  f.sm_count = get(cudaDevAttrMultiProcessorCount);
  f.smem_per_block_optin = get(cudaDevAttrMaxSharedMemoryPerBlockOptin);
  f.smem_per_sm = get(cudaDevAttrMaxSharedMemoryPerMultiprocessor);
  f.cluster_launch = get(cudaDevAttrClusterLaunch);
  f.clock_khz = get(cudaDevAttrClockRate);
  f.memory_clock_khz = get(cudaDevAttrMemoryClockRate);
  f.memory_bus_width_bits = get(cudaDevAttrGlobalMemoryBusWidth);
  return f;
}

}  // namespace quaton

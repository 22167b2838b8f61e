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

}  // namespace quaton

// What the extension was built with and what CUDA runtime/devices it sees.
#pragma once
#include <string>

namespace quaton {

#ifdef QF_WITH_CUDA
int cuda_device_count();                 // 0 when no driver or no GPU (never throws)
int cuda_runtime_version();              // e.g. 13000
int cuda_driver_version();               // 0 when no driver
std::string cuda_error_string(int code);
std::string cuda_device_name(int index);
// The attributes the kernel dispatch decides from (functional/_dispatch.py); -1 where the runtime
// could not answer. Queried on each call: callers cache the answer per device.
struct CudaDeviceFacts {
  int major = -1, minor = -1, sm_count = -1;
  int smem_per_block_optin = -1, smem_per_sm = -1;  // bytes
  int cluster_launch = -1;                          // cudaDevAttrClusterLaunch (1: thread-block clusters)
  int clock_khz = -1, memory_clock_khz = -1, memory_bus_width_bits = -1;
};
CudaDeviceFacts cuda_device_facts(int index);
#endif

}  // namespace quaton

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
#endif

}  // namespace quaton

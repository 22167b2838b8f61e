// Shared CUDA helpers: launch geometry (host) and small device functions.
#pragma once
#include <cstdint>

#include "platform.cuh"

namespace quaton {

constexpr int kThreadsPerBlock = 256;

inline unsigned int blocks_for(int64_t count, int threads = kThreadsPerBlock, int64_t cap = 65535LL * 32) {
  int64_t blocks = (count + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  return static_cast<unsigned int>(blocks < cap ? blocks : cap);
}

// Numerically stable logistic sigmoid.
__device__ __forceinline__ float stable_sigmoid(float x) {
  if (x >= 0.f) {
    const float e = __expf(-x);
    return 1.f / (1.f + e);
  }
  const float e = __expf(x);
  return e / (1.f + e);
}

}  // namespace quaton

// The on-chip diffractive layer for Hopper (issue 22 item 2): one thread-block cluster per sample
// keeps the sample's N x P half-transformed field in distributed shared memory (device code and
// semantics: cuda/fused/layer_cluster.cuh; launcher: cuda/fused/layer_cluster.cu).
//   forward:  out[b] = crop_N(IFFT2(H . FFT2(pad_P(t . u[b]))))             (t optional)
//   adjoint:  g'     = crop_N(IFFT2(conj(H) . FFT2(pad_P(g[b]))))
//             out[b] = conj(t) . g';   dphi += sum_b Im(conj(t . u_saved[b]) . g')   (N, N)
// Host-only declarations (no CUDA types): the pybind11 layer (cpp/bind_layer_cluster.cpp) calls
// these; pointers are device pointers to complex64 (float2) / float32 data, row-major, contiguous.
#pragma once

#include <cstdint>

namespace quaton {

struct LayerClusterLaunch {
  std::int64_t batch = 0;                // B, 1 .. 65535
  int n = 0;                             // N, 1 .. P
  int p = 0;                             // P, one of layer_cluster_sizes()
  const void* u = nullptr;               // (B, N, N) field (forward) or grad_out (adjoint)
  const void* modulation_in = nullptr;   // (N, N) t applied before propagating, or nullptr
  const void* transfer_t = nullptr;      // (P, P) H transposed: transfer_t[k * P + j] = H[j, k]
  int conj_transfer = 0;                 // 1: propagate with conj(H) (the adjoint)
  const void* modulation_out = nullptr;  // (N, N) t of the adjoint: out = conj(t) g', or nullptr
  const void* saved_u = nullptr;         // (B, N, N) forward input u (needed with dphi)
  float* dphi = nullptr;                 // (N, N) float32, ACCUMULATED (+=) over the batch, or nullptr
  void* out = nullptr;                   // (B, N, N)
};

// Answers of layer_cluster_support().
enum LayerClusterSupport : int {
  kClusterSupported = 0,
  kClusterArch = 1,           // not compute capability 9.0, or the device cannot launch clusters
  kClusterSizeNotCompiled = 2,  // P is not one of layer_cluster_sizes()
  kClusterSharedMemory = 3,   // ceil(N / C) rows of P complex + the FFT workspace exceed the opt-in limit, C = 8 and 16
  kClusterBadShape = 4,       // N < 1 or N > P
  kClusterDeviceQuery = 5,    // the CUDA runtime could not describe the device
  kClusterNoActiveCluster = 6,  // cudaOccupancyMaxActiveClusters says no cluster of this shape can be resident
};

#ifdef QF_WITH_CUFFTDX
// Padded sizes P compiled into the on-chip kernel (ascending), and their count.
const int* layer_cluster_sizes(int* count);
// Bytes of the block FFTs' shared workspace for padded size P (the state starts there), 0 if P
// is not compiled. The kernel's dynamic shared memory is
//   workspace + ceil(N / C) * (P + 1) * 8   bytes for a cluster of C blocks.
unsigned layer_cluster_workspace(int p);
// Whether the kernel can run (N, P) on `device` (a LayerClusterSupport code) and the cluster size
// it would launch (*cluster, 8 or 16; 0 if unsupported). Device facts and the occupancy answer
// are queried once per (device, P, cluster size, shared memory) and cached.
int layer_cluster_support(int n, int p, int device, unsigned* cluster);
// Runs the layer on the calling thread's current device and `stream`. Returns 0, a CUDA error
// code, or -1 for unsupported parameters (layer_cluster_support() not kClusterSupported, a null
// pointer, batch outside 1 .. 65535, dphi without saved_u). dphi is accumulated: zero it first.
int layer_cluster_cuda(const LayerClusterLaunch& params, void* stream);
#endif

}  // namespace quaton

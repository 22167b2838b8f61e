// Launcher of the on-chip diffractive layer (device code and semantics: layer_cluster.cuh) for
// Hopper (sm_90: thread-block clusters and distributed shared memory). One cluster of C blocks per
// sample; C = 8 (the portable maximum: the most blocks working on one sample) when the per-block
// shared memory (the FFTs' workspace + ceil(N / C) x P complex) fits the device's opt-in limit,
// else 16 (the non-portable attribute), else the size is refused.
//
// Status (issue 22): proven on the CPU emulator against the NumPy reference
// (tests/kernels/test_cluster_emulated.py); compiled for sm_90 (ptxas -v read by
// benchmarks/kernel_resources.py); never run on a GPU; not wired into Python dispatch, so nothing
// in the library calls it yet. Sizes instantiated: the padded sizes of the benchmark's on-chip
// configurations, P = 256 (N = 128, pad 2), 400 (N = 200, pad 2) and 512 (N = 128, pad 4; N = 256,
// pad 2). Other architectures compile an empty body (QF_HAS_CLUSTERS) and are refused at run time.
#include <cuda_runtime.h>

#include <cufftdx.hpp>

#include <cstdint>

#ifdef __CUDA_ARCH__
#define QF_PASS_ARCH __CUDA_ARCH__
#else
#define QF_PASS_ARCH 0
#endif
#define QF_FFT_BODY_ENABLED(FFT) (cufftdx::sm_of<FFT>::value == QF_PASS_ARCH)

#include "layer_cluster.cuh"

namespace quaton {
namespace {

using namespace cufftdx;

template <unsigned P, fft_direction Dir, unsigned FPB>
using ClusterFFT = decltype(Size<P>() + Precision<float>() + Type<fft_type::c2c>() + Direction<Dir>() +
                            FFTsPerBlock<FPB>() + SM<900>() + Block());

// One descriptor shape (cuFFTDx's suggested FFTs per block for the forward FFT) for all four
// transforms: the kernel's block is their common block_dim.
template <unsigned P>
struct ClusterPlan {
  static constexpr unsigned F = ClusterFFT<P, fft_direction::forward, 1>::suggested_ffts_per_block;
  using Fwd = ClusterFFT<P, fft_direction::forward, F>;
  using Inv = ClusterFFT<P, fft_direction::inverse, F>;
  using Geometry = kernels::LayerClusterGeometry<P, Fwd, Inv, Fwd, Inv>;
  static_assert(!Fwd::requires_workspace && !Inv::requires_workspace, "sizes needing Bluestein are not fused");
};

template <unsigned P>
int launch_size(const kernels::LayerClusterParams& p, unsigned cluster, unsigned smem_optin, cudaStream_t stream) {
  using Plan = ClusterPlan<P>;
  using Fwd = typename Plan::Fwd;
  using Inv = typename Plan::Inv;
  using Geo = typename Plan::Geometry;
  const unsigned smem = Geo::smem(p.n, cluster);
  if (smem > smem_optin) return -1;
  auto kernel = kernels::layer_cluster_kernel<P, Fwd, Inv, Fwd, Inv>;
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  if (err == cudaSuccess && cluster > 8)
    err = cudaFuncSetAttribute(kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
  if (err != cudaSuccess) return static_cast<int>(err);
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = Geo::grid(p.batch, cluster);
  cfg.blockDim = Fwd::block_dim;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  const dim3 cd = Geo::cluster_dims(cluster);
  attr[0].val.clusterDim.x = cd.x;
  attr[0].val.clusterDim.y = cd.y;
  attr[0].val.clusterDim.z = cd.z;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  return static_cast<int>(cudaLaunchKernelEx(&cfg, kernel, p));
}

}  // namespace

// The cluster size (8, else 16) whose blocks' shared memory fits `smem_optin` bytes for padded
// size P and field size n; 0 when neither does or P is not instantiated.
unsigned layer_cluster_size(int P, int n, unsigned smem_optin) {
  for (unsigned c : {8u, 16u}) {
    unsigned smem = 0;
    switch (P) {
      case 256: smem = ClusterPlan<256>::Geometry::smem(n, c); break;
      case 400: smem = ClusterPlan<400>::Geometry::smem(n, c); break;
      case 512: smem = ClusterPlan<512>::Geometry::smem(n, c); break;
      default: return 0;
    }
    if (smem <= smem_optin) return c;
  }
  return 0;
}

// Runs the layer (forward, or the adjoint with conj_transfer / modulation_out / dphi) for padded
// size P on the current device. Returns 0, a CUDA error code, or -1 when unsupported (not a
// compute capability 9.0 device, P not instantiated, no cluster size fits, batch > 65535, n > P).
int layer_cluster_cuda(const kernels::LayerClusterParams& p, int P, void* stream) {
  if (p.batch < 1 || p.batch > 65535 || p.n < 1 || p.n > P || !p.u || !p.transfer_t || !p.out) return -1;
  if (p.dphi && !p.saved_u) return -1;
  int device = 0, major = 0, smem = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return -1;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess || major != 9) return -1;
  if (cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess) return -1;
  const unsigned cluster = layer_cluster_size(P, p.n, static_cast<unsigned>(smem));
  if (!cluster) return -1;
  const auto s = static_cast<cudaStream_t>(stream);
  switch (P) {
    case 256: return launch_size<256>(p, cluster, static_cast<unsigned>(smem), s);
    case 400: return launch_size<400>(p, cluster, static_cast<unsigned>(smem), s);
    case 512: return launch_size<512>(p, cluster, static_cast<unsigned>(smem), s);
    default: return -1;
  }
}

}  // namespace quaton

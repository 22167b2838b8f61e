// Launcher of the on-chip diffractive layer (device code and semantics: layer_cluster.cuh; host
// API: cpp/include/quaton/layer_cluster.h) for Hopper (sm_90: thread-block clusters and
// distributed shared memory). One cluster of C blocks per sample; C = 8 (the portable maximum: the
// most blocks working on one sample) when the per-block shared memory (the FFTs' workspace +
// ceil(N / C) x (P + 1) complex) fits the device's opt-in limit, else 16 (the non-portable
// attribute), else the size is refused.
//
// Nothing per call on the hot path but the launch (issue 13/22): the device's facts (compute
// capability, opt-in shared memory, cluster launch support, whether this build has the sm_90
// kernel image) are queried once per device; each kernel's dynamic shared-memory attribute is
// raised to the largest size launched so far on that device (so a larger N after a smaller one is
// covered: the attribute follows the size being launched, never a stale first size) and the
// non-portable cluster attribute set once; cudaOccupancyMaxActiveClusters is asked once per
// (device, P, cluster size, rows per block) and a shape of which no cluster can be resident is
// refused instead of failing at launch.
//
// Status (issue 22): proven on the CPU emulator against the NumPy reference
// (tests/kernels/test_cluster_emulated.py); compiled for sm_90; bound to Python
// (functional/layer_cluster.py, picked by functional/_dispatch.py); never run on a GPU. Sizes
// instantiated: P = 256 (N = 128, pad 2), 400 (N = 200, pad 2) and 512 (N = 128, pad 4; N = 256,
// pad 2). Other architectures compile an empty body (QF_HAS_CLUSTERS) and are refused at run time.
#include <cuda_runtime.h>

#include <cufftdx.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>

#ifdef __CUDA_ARCH__
#define QF_PASS_ARCH __CUDA_ARCH__
#else
#define QF_PASS_ARCH 0
#endif
#define QF_FFT_BODY_ENABLED(FFT) (cufftdx::sm_of<FFT>::value == QF_PASS_ARCH)

#include "layer_cluster.cuh"
#include "quaton/layer_cluster.h"

namespace quaton {
namespace {

using namespace cufftdx;

constexpr int kMaxDevices = 64;

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
  static constexpr auto kernel = kernels::layer_cluster_kernel<P, Fwd, Inv, Fwd, Inv>;
  static constexpr unsigned max_rows = (P + 7) / 8;  // rows per block at C = 8 and N = P (the most)
};

// Per-device facts, queried once (published through a bit mask; racing writers write the same).
struct ClusterFacts {
  int code = kClusterSupported;  // kClusterArch / kClusterDeviceQuery when the device cannot run it
  unsigned smem_optin = 0;       // cudaDevAttrMaxSharedMemoryPerBlockOptin, bytes
};

bool cluster_facts(int device, ClusterFacts& out) {
  static std::atomic<std::uint64_t> known{0};
  static ClusterFacts facts[kMaxDevices];
  if (device < 0 || device >= kMaxDevices) return false;
  const std::uint64_t bit = 1ull << device;
  if (known.load(std::memory_order_acquire) & bit) {
    out = facts[device];
    return true;
  }
  ClusterFacts f;
  int major = 0, minor = 0, smem = 0, cluster_launch = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&cluster_launch, cudaDevAttrClusterLaunch, device) != cudaSuccess) {
    cudaGetLastError();
    f.code = kClusterDeviceQuery;
  } else if (major != 9 || minor != 0 || !cluster_launch) {
    f.code = kClusterArch;
  } else {
    // the build may leave sm_90 out (QF_FUSED_ARCHITECTURES): then there is no kernel image
    int current = 0;
    cudaFuncAttributes attr{};
    if (cudaGetDevice(&current) != cudaSuccess || cudaSetDevice(device) != cudaSuccess) {
      cudaGetLastError();
      f.code = kClusterDeviceQuery;
    } else {
      if (cudaFuncGetAttributes(&attr, ClusterPlan<256>::kernel) != cudaSuccess) {
        cudaGetLastError();
        f.code = kClusterArch;
      }
      cudaSetDevice(current);
    }
  }
  f.smem_optin = static_cast<unsigned>(smem);
  facts[device] = f;
  known.fetch_or(bit, std::memory_order_acq_rel);
  out = f;
  return true;
}

// Per-instantiation state on each device: the dynamic shared-memory attribute set so far (raised,
// never lowered, under a mutex on the cold path), the non-portable flag, and the occupancy answers
// per (cluster size, rows per block): -1 unknown, 0 no resident cluster, 1 fine.
template <unsigned P>
struct ClusterState {
  std::atomic<unsigned> smem_set[kMaxDevices] = {};
  std::atomic<std::uint64_t> nonportable{0};
  std::atomic<int> active[kMaxDevices][2][ClusterPlan<P>::max_rows * 2 + 1];
  std::mutex m;
  ClusterState() {
    for (auto& d : active)
      for (auto& c : d)
        for (auto& r : c) r.store(-1, std::memory_order_relaxed);
  }
  static ClusterState& get() {
    static ClusterState s;
    return s;
  }
};

// Sets the kernel's attributes for launching `smem` bytes with clusters of `cluster` blocks on
// `device` (the current device) when they are not set yet. Returns a CUDA error code or 0.
template <unsigned P>
int prepare_attributes(int device, unsigned smem, unsigned cluster) {
  auto& st = ClusterState<P>::get();
  const auto kernel = ClusterPlan<P>::kernel;
  const std::uint64_t bit = 1ull << device;
  const bool need_np = cluster > 8 && !(st.nonportable.load(std::memory_order_acquire) & bit);
  if (st.smem_set[device].load(std::memory_order_acquire) >= smem && !need_np) return 0;
  std::lock_guard<std::mutex> lock(st.m);
  if (st.smem_set[device].load(std::memory_order_acquire) < smem) {
    const cudaError_t err =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (err != cudaSuccess) return static_cast<int>(err);
    st.smem_set[device].store(smem, std::memory_order_release);
  }
  if (cluster > 8 && !(st.nonportable.load(std::memory_order_acquire) & bit)) {
    const cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
    if (err != cudaSuccess) return static_cast<int>(err);
    st.nonportable.fetch_or(bit, std::memory_order_acq_rel);
  }
  return 0;
}

template <unsigned P>
cudaLaunchConfig_t launch_config(dim3 grid, unsigned smem, unsigned cluster, cudaStream_t stream,
                                 cudaLaunchAttribute* attr) {
  using Plan = ClusterPlan<P>;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = Plan::Fwd::block_dim;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  const dim3 cd = Plan::Geometry::cluster_dims(cluster);
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = cd.x;
  attr[0].val.clusterDim.y = cd.y;
  attr[0].val.clusterDim.z = cd.z;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  return cfg;
}

// The support code for (n, P) on `device` and the cluster size; on success the attributes are set
// and the occupancy of that shape was checked (both once). `device` must be current when the
// answer is not cached yet (cudaFuncSetAttribute acts on the current device).
template <unsigned P>
int support_size(int n, int device, const ClusterFacts& facts, unsigned* cluster_out) {
  using Geo = typename ClusterPlan<P>::Geometry;
  unsigned cluster = 0, smem = 0;
  for (unsigned c : {8u, 16u}) {
    smem = Geo::smem(n, c);
    if (smem <= facts.smem_optin) {
      cluster = c;
      break;
    }
  }
  if (!cluster) return kClusterSharedMemory;
  const unsigned rows = Geo::rows_per_block(n, cluster);
  auto& slot = ClusterState<P>::get().active[device][cluster == 8 ? 0 : 1][rows];
  int active = slot.load(std::memory_order_acquire);
  if (active < 0) {
    int current = 0;
    if (cudaGetDevice(&current) != cudaSuccess || current != device) return kClusterDeviceQuery;
    if (prepare_attributes<P>(device, smem, cluster) != 0) {
      cudaGetLastError();
      return kClusterDeviceQuery;
    }
    cudaLaunchAttribute attr[1];
    const cudaLaunchConfig_t cfg = launch_config<P>(dim3(cluster, 1, 1), smem, cluster, nullptr, attr);
    int count = 0;
    if (cudaOccupancyMaxActiveClusters(&count, ClusterPlan<P>::kernel, &cfg) != cudaSuccess) {
      cudaGetLastError();
      return kClusterDeviceQuery;
    }
    active = count > 0 ? 1 : 0;
    slot.store(active, std::memory_order_release);
  }
  if (!active) return kClusterNoActiveCluster;
  *cluster_out = cluster;
  return kClusterSupported;
}

int support_dispatch(int n, int p, int device, const ClusterFacts& facts, unsigned* cluster) {
  switch (p) {
    case 256: return support_size<256>(n, device, facts, cluster);
    case 400: return support_size<400>(n, device, facts, cluster);
    case 512: return support_size<512>(n, device, facts, cluster);
    default: return kClusterSizeNotCompiled;
  }
}

template <unsigned P>
int launch_size(const LayerClusterLaunch& l, int device, unsigned cluster, cudaStream_t stream) {
  using Geo = typename ClusterPlan<P>::Geometry;
  kernels::LayerClusterParams p;
  p.batch = l.batch;
  p.n = l.n;
  p.u = static_cast<const float2*>(l.u);
  p.modulation_in = static_cast<const float2*>(l.modulation_in);
  p.transfer_t = static_cast<const float2*>(l.transfer_t);
  p.conj_transfer = l.conj_transfer != 0;
  p.modulation_out = static_cast<const float2*>(l.modulation_out);
  p.saved_u = static_cast<const float2*>(l.saved_u);
  p.dphi = l.dphi;
  p.out = static_cast<float2*>(l.out);
  const unsigned smem = Geo::smem(l.n, cluster);
  // the attribute follows the size being launched (raised when this N needs more than any before)
  if (const int err = prepare_attributes<P>(device, smem, cluster)) return err;
  cudaLaunchAttribute attr[1];
  const cudaLaunchConfig_t cfg = launch_config<P>(Geo::grid(l.batch, cluster), smem, cluster, stream, attr);
  return static_cast<int>(cudaLaunchKernelEx(&cfg, ClusterPlan<P>::kernel, p));
}

constexpr int kSizes[] = {256, 400, 512};

}  // namespace

const int* layer_cluster_sizes(int* count) {
  if (count) *count = static_cast<int>(sizeof(kSizes) / sizeof(kSizes[0]));
  return kSizes;
}

unsigned layer_cluster_workspace(int p) {
  switch (p) {
    case 256: return ClusterPlan<256>::Geometry::state_offset;
    case 400: return ClusterPlan<400>::Geometry::state_offset;
    case 512: return ClusterPlan<512>::Geometry::state_offset;
    default: return 0;
  }
}

int layer_cluster_support(int n, int p, int device, unsigned* cluster) {
  unsigned c = 0;
  if (cluster) *cluster = 0;
  if (n < 1 || n > p) return kClusterBadShape;
  ClusterFacts facts;
  if (!cluster_facts(device, facts)) return kClusterDeviceQuery;
  if (facts.code != kClusterSupported) return facts.code;
  const int code = support_dispatch(n, p, device, facts, &c);
  if (code == kClusterSupported && cluster) *cluster = c;
  return code;
}

int layer_cluster_cuda(const LayerClusterLaunch& l, void* stream_ptr) {
  if (l.batch < 1 || l.batch > 65535 || l.n < 1 || l.n > l.p || !l.u || !l.transfer_t || !l.out) return -1;
  if (l.dphi && !l.saved_u) return -1;
  int device = 0;  // the calling thread's current device: a host-side read, no driver round trip
  if (cudaGetDevice(&device) != cudaSuccess) return -1;
  unsigned cluster = 0;
  if (layer_cluster_support(l.n, l.p, device, &cluster) != kClusterSupported) return -1;
  const auto s = static_cast<cudaStream_t>(stream_ptr);
  switch (l.p) {
    case 256: return launch_size<256>(l, device, cluster, s);
    case 400: return launch_size<400>(l, device, cluster, s);
    case 512: return launch_size<512>(l, device, cluster, s);
    default: return -1;
  }
}

}  // namespace quaton

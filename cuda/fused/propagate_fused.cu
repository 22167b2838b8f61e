// Launchers of the fused modulation + angular-spectrum propagation (device code:
// propagate_fused.cuh; semantics and memory layout: cpp/include/quaton/propagate_fused.h).
//
// The kernels are instantiated with cuFFTDx block-FFT descriptors for each GPU architecture this
// file is compiled for (sm_80 A100, sm_86 RTX 30xx/A40, sm_89 RTX 40xx/L4/L40, sm_90 H100/H200;
// CMakeLists.txt). cuFFTDx tunes a descriptor to the SM<> it names, so every architecture has its
// own instantiations, and each architecture's compilation pass emits only its own (the others are
// empty there: QF_FFT_BODY_ENABLED). At run time the launcher picks the descriptors of the cubin the
// CUDA runtime loads for the device (8.0 -> sm_80; 8.6, 8.7 -> sm_86; 8.9 -> sm_89; 9.0 -> sm_90);
// any other device, or a size whose shared memory exceeds the device's per-block limit, gets -1 and
// the caller falls back to torch.fft (and says so once).
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

#include "propagate_fused.cuh"
#include "quant_rows.cuh"

namespace quaton {
namespace {

using namespace cufftdx;
using kernels::kColumnsPerBlock;

template <unsigned P, fft_direction Dir, unsigned FPB, unsigned Arch>
using BlockFFT = decltype(Size<P>() + Precision<float>() + Type<fft_type::c2c>() + Direction<Dir>() +
                          FFTsPerBlock<FPB>() + SM<Arch>() + Block());

template <unsigned P, fft_direction Dir, unsigned Arch>
using RowFFT = BlockFFT<P, Dir, BlockFFT<P, Dir, 1, Arch>::suggested_ffts_per_block, Arch>;

// Per-device one-time facts, cached so that a launch makes no device query and no attribute call
// (issue 13: nothing per call on the hot path but the launches). Devices with ordinal < 64.
struct DeviceFacts {
  unsigned arch = 0;       // the descriptors' SM for this device, 0 = none compiled
  unsigned smem_optin = 0;  // cudaDevAttrMaxSharedMemoryPerBlockOptin, bytes
};

// The descriptor architecture for compute capability major.minor (see the file comment).
unsigned fused_arch_for(int major, int minor) {
  if (major == 8 && minor == 0) return 800;
  if (major == 8 && (minor == 6 || minor == 7)) return 860;
  if (major == 8 && minor == 9) return 890;
  if (major == 9 && minor == 0) return 900;
  return 0;
}

bool device_facts(int device, DeviceFacts& out) {
  static std::atomic<std::uint64_t> known{0};
  static DeviceFacts facts[64];
  if (device < 0 || device >= 64) return false;
  const std::uint64_t bit = 1ull << device;
  if (known.load(std::memory_order_acquire) & bit) {
    out = facts[device];
    return true;
  }
  int major = 0, minor = 0, smem = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess) return false;
  DeviceFacts f;
  f.arch = fused_arch_for(major, minor);
  f.smem_optin = static_cast<unsigned>(smem);
  facts[device] = f;  // written before the bit is published; racing writers write the same value
  known.fetch_or(bit, std::memory_order_acq_rel);
  out = f;
  return true;
}

// A kernel's dynamic shared-memory attribute per device: the largest size set so far. The
// attribute must cover the size being launched; sizes that depend on N (the column pass) may grow
// from one call to the next, so it is raised whenever a launch needs more than was set (never
// lowered), under a mutex on that cold path; the hot path is one atomic load and a compare.
struct SmemAttr {
  std::atomic<unsigned> set[64] = {};
  std::mutex m;
};

template <class Kernel>
int prepare_smem(SmemAttr& attr, int device, Kernel kernel, unsigned bytes) {
  if (bytes <= 48u * 1024u) return 0;
  if (attr.set[device].load(std::memory_order_acquire) >= bytes) return 0;
  std::lock_guard<std::mutex> lock(attr.m);
  if (attr.set[device].load(std::memory_order_acquire) >= bytes) return 0;
  const int err = static_cast<int>(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                        static_cast<int>(bytes)));
  if (err == 0) attr.set[device].store(bytes, std::memory_order_release);
  return err;
}

// The descriptors of one padded size P on one architecture, and their shared-memory needs.
template <unsigned P, unsigned Arch>
struct Plan {
  using Row = RowFFT<P, fft_direction::forward, Arch>;
  using RowInv = RowFFT<P, fft_direction::inverse, Arch>;
  using Col = BlockFFT<P, fft_direction::forward, kColumnsPerBlock, Arch>;
  using ColInv = BlockFFT<P, fft_direction::inverse, kColumnsPerBlock, Arch>;
  using Geometry = kernels::FusedGeometry<P, Row, Col, ColInv, RowInv>;
  static_assert(!Row::requires_workspace && !Col::requires_workspace, "sizes needing Bluestein are not fused");
  static bool fits(int n, unsigned smem_optin) {
    return Row::shared_memory_size <= smem_optin && RowInv::shared_memory_size <= smem_optin &&
           Geometry::col_smem(n) <= smem_optin &&
           kernels::QuantRowGeometry<Row>::forward_smem(static_cast<int>(P)) <= smem_optin &&
           kernels::QuantRowGeometry<RowInv>::adjoint_smem(static_cast<int>(P)) <= smem_optin;
  }
};

// The quantized passes (issue 22 item 1; quant_rows.cuh): forward = quantized pass 1, column
// pass, plain pass 3; adjoint = plain pass 1, column pass, quantized pass 3 with the partials.
template <unsigned P, unsigned Arch>
int run_quant_size(const FusedPropagateParams& params, cudaStream_t stream, int device) {
  static SmemAttr smem_row, smem_col, smem_row_inv, smem_qrow, smem_qinv;
  using Pl = Plan<P, Arch>;
  using Row = typename Pl::Row;
  using RowInv = typename Pl::RowInv;
  using Col = typename Pl::Col;
  using ColInv = typename Pl::ColInv;
  using Geo = typename Pl::Geometry;
  using QRow = kernels::QuantRowGeometry<Row>;
  using QInv = kernels::QuantRowGeometry<RowInv>;
  FusedPropagateParams p = params;
  const std::int64_t rows = p.batch * p.n;
  const bool adjoint = p.quant_adjoint != 0;
  const unsigned J = adjoint ? QInv::samples_per_thread(p.batch, p.n) : QRow::samples_per_thread(p.batch, p.n);
  p.quant_samples_per_thread = static_cast<int>(J);
  int err;
  if (adjoint) {
    if ((err = prepare_smem(smem_row, device, kernels::row_modulate_fft_kernel<P, Row>, Row::shared_memory_size)))
      return err;
    kernels::row_modulate_fft_kernel<P, Row><<<Geo::row_blocks(rows), Row::block_dim, Row::shared_memory_size,
                                               stream>>>(p);
  } else {
    if ((err = prepare_smem(smem_qrow, device, kernels::row_quant_modulate_fft_kernel<P, Row>,
                            QRow::forward_smem(p.n))))
      return err;
    kernels::row_quant_modulate_fft_kernel<P, Row><<<QRow::grid(p.batch, p.n, J), Row::block_dim,
                                                     QRow::forward_smem(p.n), stream>>>(p);
  }
  if ((err = static_cast<int>(cudaGetLastError()))) return err;

  const unsigned col_smem = Geo::col_smem(p.n);
  if ((err = prepare_smem(smem_col, device, kernels::column_transfer_kernel<P, Col, ColInv>, col_smem))) return err;
  kernels::column_transfer_kernel<P, Col, ColInv><<<Geo::col_grid(p.batch), Col::block_dim, col_smem, stream>>>(p);
  if ((err = static_cast<int>(cudaGetLastError()))) return err;

  if (adjoint) {
    if ((err = prepare_smem(smem_qinv, device, kernels::row_ifft_crop_quant_kernel<P, RowInv>,
                            QInv::adjoint_smem(p.n))))
      return err;
    kernels::row_ifft_crop_quant_kernel<P, RowInv><<<QInv::grid(p.batch, p.n, J), RowInv::block_dim,
                                                     QInv::adjoint_smem(p.n), stream>>>(p);
  } else {
    if ((err = prepare_smem(smem_row_inv, device, kernels::row_ifft_crop_kernel<P, RowInv>,
                            RowInv::shared_memory_size)))
      return err;
    kernels::row_ifft_crop_kernel<P, RowInv><<<Geo::row_inv_blocks(rows), RowInv::block_dim,
                                               RowInv::shared_memory_size, stream>>>(p);
  }
  return static_cast<int>(cudaGetLastError());
}

template <unsigned P, unsigned Arch>
int run_size(const FusedPropagateParams& p, cudaStream_t stream, int device, unsigned smem_optin) {
  static SmemAttr smem_row, smem_col, smem_row_inv;
  using Pl = Plan<P, Arch>;
  using Row = typename Pl::Row;
  using RowInv = typename Pl::RowInv;
  using Col = typename Pl::Col;
  using ColInv = typename Pl::ColInv;
  if (!Pl::fits(p.n, smem_optin)) return -1;  // this device's shared memory is too small: torch.fft instead
  using Geo = typename Pl::Geometry;
  const unsigned col_smem = Geo::col_smem(p.n);
  const std::int64_t rows = p.batch * p.n;
  int err;

  if (p.latent) return run_quant_size<P, Arch>(p, stream, device);

  const unsigned grid1 = Geo::row_blocks(rows);
  if ((err = prepare_smem(smem_row, device, kernels::row_modulate_fft_kernel<P, Row>, Row::shared_memory_size)))
    return err;
  kernels::row_modulate_fft_kernel<P, Row><<<grid1, Row::block_dim, Row::shared_memory_size, stream>>>(p);
  if ((err = static_cast<int>(cudaGetLastError()))) return err;

  if ((err = prepare_smem(smem_col, device, kernels::column_transfer_kernel<P, Col, ColInv>, col_smem))) return err;
  const dim3 grid2 = Geo::col_grid(p.batch);
  kernels::column_transfer_kernel<P, Col, ColInv><<<grid2, Col::block_dim, col_smem, stream>>>(p);
  if ((err = static_cast<int>(cudaGetLastError()))) return err;

  const unsigned grid3 = Geo::row_inv_blocks(rows);
  if ((err = prepare_smem(smem_row_inv, device, kernels::row_ifft_crop_kernel<P, RowInv>,
                          RowInv::shared_memory_size)))
    return err;
  kernels::row_ifft_crop_kernel<P, RowInv><<<grid3, RowInv::block_dim, RowInv::shared_memory_size, stream>>>(p);
  return static_cast<int>(cudaGetLastError());
}

template <unsigned Arch>
int run_arch(const FusedPropagateParams& p, cudaStream_t stream, int device, unsigned smem_optin) {
  switch (p.p) {
    case 256: return run_size<256, Arch>(p, stream, device, smem_optin);
    case 400: return run_size<400, Arch>(p, stream, device, smem_optin);
    case 512: return run_size<512, Arch>(p, stream, device, smem_optin);
    case 1024: return run_size<1024, Arch>(p, stream, device, smem_optin);
    default: return -1;
  }
}

template <unsigned Arch>
int slabs_arch(std::int64_t batch, int n, int p) {
  auto slabs = [&](auto plan) -> int {
    using Inv = typename decltype(plan)::RowInv;
    using Q = kernels::QuantRowGeometry<Inv>;
    return static_cast<int>(Q::slabs(batch, Q::samples_per_thread(batch, n)));
  };
  switch (p) {
    case 256: return slabs(Plan<256, Arch>());
    case 400: return slabs(Plan<400, Arch>());
    case 512: return slabs(Plan<512, Arch>());
    case 1024: return slabs(Plan<1024, Arch>());
    default: return -1;
  }
}

template <unsigned Arch>
int support_arch(int n, int p, unsigned smem_optin) {
  switch (p) {
    case 256: return Plan<256, Arch>::fits(n, smem_optin) ? kFusedSupported : kFusedSharedMemory;
    case 400: return Plan<400, Arch>::fits(n, smem_optin) ? kFusedSupported : kFusedSharedMemory;
    case 512: return Plan<512, Arch>::fits(n, smem_optin) ? kFusedSupported : kFusedSharedMemory;
    case 1024: return Plan<1024, Arch>::fits(n, smem_optin) ? kFusedSupported : kFusedSharedMemory;
    default: return kFusedSizeNotCompiled;
  }
}

constexpr int kSizes[] = {256, 400, 512, 1024};

}  // namespace

const int* fused_propagate_sizes(int* count) {
  if (count) *count = static_cast<int>(sizeof(kSizes) / sizeof(kSizes[0]));
  return kSizes;
}

int fused_propagate_support(int n, int p, int device) {
  if (n < 1 || n > p) return kFusedBadShape;
  DeviceFacts facts;
  if (!device_facts(device, facts)) return kFusedDeviceQueryFailed;
  switch (facts.arch) {
    case 800: return support_arch<800>(n, p, facts.smem_optin);
    case 860: return support_arch<860>(n, p, facts.smem_optin);
    case 890: return support_arch<890>(n, p, facts.smem_optin);
    case 900: return support_arch<900>(n, p, facts.smem_optin);
    default: return kFusedArchNotCompiled;
  }
}

int fused_quant_slabs(std::int64_t batch, int n, int p, int device) {
  if (batch < 1 || n < 1 || n > p) return -1;
  DeviceFacts facts;
  if (!device_facts(device, facts)) return -1;
  switch (facts.arch) {
    case 800: return slabs_arch<800>(batch, n, p);
    case 860: return slabs_arch<860>(batch, n, p);
    case 890: return slabs_arch<890>(batch, n, p);
    case 900: return slabs_arch<900>(batch, n, p);
    default: return -1;
  }
}

int fused_propagate_cuda(const FusedPropagateParams& p, void* stream_ptr) {
  if (p.batch < 0 || p.n < 1 || p.n > p.p || !p.u || !p.transfer_t || !p.scratch || !p.out) return -1;
  if (p.dphi && !p.saved_u) return -1;
  if (p.latent) {  // the quantizer in the row passes: no stored modulation, the adjoint needs u
    if (p.modulation_in || p.modulation_out || p.dphi) return -1;
    if (p.quant_adjoint && !p.saved_u) return -1;
    if (p.quant.kind != kQuantIdentity && (!p.quant.thresholds || !p.quant.d_re || !p.quant.v_re || !p.quant.ends))
      return -1;
  }
  if (p.batch == 0) return 0;
  if (p.batch > 65535) return -1;  // column pass: one grid row per sample
  int device = 0;  // the calling thread's current device: a host-side read, no driver round trip
  if (cudaGetDevice(&device) != cudaSuccess) return -1;
  DeviceFacts facts;
  if (!device_facts(device, facts)) return -1;
  const cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  switch (facts.arch) {
    case 800: return run_arch<800>(p, stream, device, facts.smem_optin);
    case 860: return run_arch<860>(p, stream, device, facts.smem_optin);
    case 890: return run_arch<890>(p, stream, device, facts.smem_optin);
    case 900: return run_arch<900>(p, stream, device, facts.smem_optin);
    default: return -1;
  }
}

}  // namespace quaton

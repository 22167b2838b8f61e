// Fused modulation + angular-spectrum propagation, three passes with cuFFTDx block FFTs.
// Semantics and memory layout: cpp/include/quaton/propagate_fused.h. Compiled for sm_90 only
// (the descriptors carry SM<900>); other devices get -1 and the caller falls back to torch.fft.
#include <cuda_runtime.h>

#include <cufftdx.hpp>

#include <atomic>
#include <cstdint>

#include "quaton/propagate_fused.h"

namespace quaton {
namespace {

using namespace cufftdx;

constexpr unsigned kFusedArch = 900;
constexpr unsigned kColumnsPerBlock = 8;  // column pass: 8 adjacent columns = 64-byte row segments

template <unsigned P, fft_direction Dir, unsigned FPB>
using BlockFFT = decltype(Size<P>() + Precision<float>() + Type<fft_type::c2c>() + Direction<Dir>() +
                          FFTsPerBlock<FPB>() + SM<kFusedArch>() + Block());

template <unsigned P, fft_direction Dir>
using RowFFT = BlockFFT<P, Dir, BlockFFT<P, Dir, 1>::suggested_ffts_per_block>;

__device__ __forceinline__ float2 cmul(float2 a, float2 b) {
  return make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}
__device__ __forceinline__ float2 cmul_conj_a(float2 a, float2 b) {  // conj(a) * b
  return make_float2(a.x * b.x + a.y * b.y, a.x * b.y - a.y * b.x);
}

template <class V>
__device__ __forceinline__ float2 as_f2(const V& v) {
  return make_float2(v.x, v.y);
}
template <class V>
__device__ __forceinline__ V from_f2(float2 f) {
  V v;
  v.x = f.x;
  v.y = f.y;
  return v;
}

// Pass 1: X[b, r, :] = FFT_P(pad_row(m[r, :] * u[b, r, :])).
template <class FFT>
__global__ void __launch_bounds__(FFT::max_threads_per_block)
row_modulate_fft_kernel(FusedPropagateParams p) {
  using V = typename FFT::value_type;
  extern __shared__ __align__(16) unsigned char smem[];
  constexpr unsigned P = size_of<FFT>::value;
  const int n = p.n, o = (static_cast<int>(P) - n) / 2;
  const std::int64_t rows = p.batch * n;
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * FFT::ffts_per_block + threadIdx.y;
  const bool valid = row < rows;
  const int r = valid ? static_cast<int>(row % n) : 0;
  const float2* u = static_cast<const float2*>(p.u) + (valid ? row : 0) * n;
  const float2* m = p.modulation_in
                        ? static_cast<const float2*>(p.modulation_in) + static_cast<std::int64_t>(r) * n
                        : nullptr;
  V td[FFT::storage_size];
#pragma unroll
  for (unsigned i = 0; i < FFT::elements_per_thread; ++i) {
    const int c = static_cast<int>(threadIdx.x + i * FFT::stride) - o;
    float2 v = make_float2(0.f, 0.f);
    if (valid && c >= 0 && c < n) v = m ? cmul(m[c], u[c]) : u[c];
    td[i] = from_f2<V>(v);
  }
  FFT().execute(td, smem);
  if (!valid) return;
  float2* X = static_cast<float2*>(p.scratch) + row * P;
#pragma unroll
  for (unsigned i = 0; i < FFT::elements_per_thread; ++i) {
    const unsigned j = threadIdx.x + i * FFT::stride;
    if (j < P) X[j] = as_f2(td[i]);
  }
}

// Pass 2: for columns k0 .. k0+C-1 of sample b: FFT along the column, x Ht[k, :], inverse FFT,
// keep rows o .. o+N-1. The N x C tile goes through shared memory so global reads and writes are
// row segments of C complex values.
template <class FwdFFT, class InvFFT>
__global__ void __launch_bounds__(FwdFFT::max_threads_per_block)
column_transfer_kernel(FusedPropagateParams p) {
  static_assert(FwdFFT::block_dim.x == InvFFT::block_dim.x && FwdFFT::block_dim.y == InvFFT::block_dim.y,
                "forward and inverse column FFTs must share the block shape");
  using V = typename FwdFFT::value_type;
  constexpr unsigned P = size_of<FwdFFT>::value;
  constexpr unsigned C = FwdFFT::ffts_per_block;
  constexpr unsigned fft_smem = FwdFFT::shared_memory_size > InvFFT::shared_memory_size
                                    ? FwdFFT::shared_memory_size : InvFFT::shared_memory_size;
  constexpr unsigned tile_offset = (fft_smem + 15u) / 16u * 16u;
  extern __shared__ __align__(16) unsigned char smem[];
  float2* tile = reinterpret_cast<float2*>(smem + tile_offset);  // (N, C)

  const int n = p.n, o = (static_cast<int>(P) - n) / 2;
  const std::int64_t b = blockIdx.y;
  const unsigned k0 = blockIdx.x * C;
  const unsigned f = threadIdx.y;
  const unsigned k = k0 + f;
  const unsigned tid = threadIdx.y * blockDim.x + threadIdx.x;
  const unsigned threads = blockDim.x * blockDim.y;
  float2* X = static_cast<float2*>(p.scratch) + b * n * static_cast<std::int64_t>(P);

  for (unsigned idx = tid; idx < static_cast<unsigned>(n) * C; idx += threads) {
    const unsigned row = idx / C, col = idx % C;
    tile[idx] = (k0 + col < P) ? X[static_cast<std::int64_t>(row) * P + k0 + col] : make_float2(0.f, 0.f);
  }
  __syncthreads();
  V td[FwdFFT::storage_size];
#pragma unroll
  for (unsigned i = 0; i < FwdFFT::elements_per_thread; ++i) {
    const int c = static_cast<int>(threadIdx.x + i * FwdFFT::stride) - o;
    td[i] = from_f2<V>((c >= 0 && c < n) ? tile[c * C + f] : make_float2(0.f, 0.f));
  }
  FwdFFT().execute(td, smem);
  const float2* Ht = static_cast<const float2*>(p.transfer_t) + static_cast<std::int64_t>(k < P ? k : 0) * P;
#pragma unroll
  for (unsigned i = 0; i < FwdFFT::elements_per_thread; ++i) {
    const unsigned j = threadIdx.x + i * FwdFFT::stride;
    td[i] = from_f2<V>((k < P && j < P) ? cmul(as_f2(td[i]), Ht[j]) : make_float2(0.f, 0.f));
  }
  InvFFT().execute(td, smem);
  __syncthreads();
#pragma unroll
  for (unsigned i = 0; i < InvFFT::elements_per_thread; ++i) {
    const int c = static_cast<int>(threadIdx.x + i * InvFFT::stride) - o;
    if (c >= 0 && c < n) tile[c * C + f] = as_f2(td[i]);
  }
  __syncthreads();
  for (unsigned idx = tid; idx < static_cast<unsigned>(n) * C; idx += threads) {
    const unsigned row = idx / C, col = idx % C;
    if (k0 + col < P) X[static_cast<std::int64_t>(row) * P + k0 + col] = tile[idx];
  }
}

// Pass 3: g = IFFT_P(X[b, r, :])[o : o+N] / P^2; out = g, or conj(m) g with modulation_out; optional dphi.
template <class FFT>
__global__ void __launch_bounds__(FFT::max_threads_per_block)
row_ifft_crop_kernel(FusedPropagateParams p) {
  using V = typename FFT::value_type;
  extern __shared__ __align__(16) unsigned char smem[];
  constexpr unsigned P = size_of<FFT>::value;
  constexpr float scale = 1.0f / (static_cast<float>(P) * static_cast<float>(P));
  const int n = p.n, o = (static_cast<int>(P) - n) / 2;
  const std::int64_t rows = p.batch * n;
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * FFT::ffts_per_block + threadIdx.y;
  const bool valid = row < rows;
  const int r = valid ? static_cast<int>(row % n) : 0;
  const float2* X = static_cast<const float2*>(p.scratch) + (valid ? row : 0) * P;
  V td[FFT::storage_size];
#pragma unroll
  for (unsigned i = 0; i < FFT::elements_per_thread; ++i) {
    const unsigned j = threadIdx.x + i * FFT::stride;
    td[i] = from_f2<V>((valid && j < P) ? X[j] : make_float2(0.f, 0.f));
  }
  FFT().execute(td, smem);
  if (!valid) return;
  const float2* m = p.modulation_out
                        ? static_cast<const float2*>(p.modulation_out) + static_cast<std::int64_t>(r) * n
                        : nullptr;
  const float2* su = p.saved_u ? static_cast<const float2*>(p.saved_u) + row * n : nullptr;
  float* dphi = p.dphi ? p.dphi + row * n : nullptr;
  float2* out = static_cast<float2*>(p.out) + row * n;
#pragma unroll
  for (unsigned i = 0; i < FFT::elements_per_thread; ++i) {
    const int c = static_cast<int>(threadIdx.x + i * FFT::stride) - o;
    if (c < 0 || c >= n) continue;
    float2 g = as_f2(td[i]);
    g.x *= scale;
    g.y *= scale;
    if (dphi) {
      const float2 um = m ? cmul(m[c], su[c]) : su[c];
      dphi[c] = um.x * g.y - um.y * g.x;  // Im(conj(m u) g)
    }
    out[c] = m ? cmul_conj_a(m[c], g) : g;
  }
}

// Per-device one-time work, cached so that a launch makes no device query and no attribute call
// (issue 13: nothing per call on the hot path but the launches). One bit per device ordinal < 64;
// higher ordinals are simply not cached.
using DeviceBits = std::atomic<std::uint64_t>;

inline std::uint64_t device_bit(int device) { return device >= 0 && device < 64 ? (1ull << device) : 0ull; }

// Raise `kernel`'s dynamic shared-memory limit to `bytes` once per device (`done` is one flag set
// per kernel instantiation).
template <class Kernel>
int prepare_smem(DeviceBits& done, int device, Kernel kernel, unsigned bytes) {
  if (bytes <= 48u * 1024u) return 0;
  const std::uint64_t bit = device_bit(device);
  if (bit && (done.load(std::memory_order_acquire) & bit)) return 0;
  const int err = static_cast<int>(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                        static_cast<int>(bytes)));
  if (err == 0 && bit) done.fetch_or(bit, std::memory_order_acq_rel);
  return err;
}

template <unsigned P>
int run_size(const FusedPropagateParams& p, cudaStream_t stream, int device) {
  static DeviceBits smem_row{0}, smem_col{0}, smem_row_inv{0};
  using Row = RowFFT<P, fft_direction::forward>;
  using RowInv = RowFFT<P, fft_direction::inverse>;
  using Col = BlockFFT<P, fft_direction::forward, kColumnsPerBlock>;
  using ColInv = BlockFFT<P, fft_direction::inverse, kColumnsPerBlock>;
  static_assert(!Row::requires_workspace && !Col::requires_workspace, "sizes needing Bluestein are not fused");
  const std::int64_t rows = p.batch * p.n;
  int err;

  const unsigned grid1 = static_cast<unsigned>((rows + Row::ffts_per_block - 1) / Row::ffts_per_block);
  if ((err = prepare_smem(smem_row, device, row_modulate_fft_kernel<Row>, Row::shared_memory_size))) return err;
  row_modulate_fft_kernel<Row><<<grid1, Row::block_dim, Row::shared_memory_size, stream>>>(p);
  if ((err = static_cast<int>(cudaGetLastError()))) return err;

  const unsigned col_fft_smem = Col::shared_memory_size > ColInv::shared_memory_size ? Col::shared_memory_size
                                                                                      : ColInv::shared_memory_size;
  const unsigned col_smem = (col_fft_smem + 15u) / 16u * 16u + static_cast<unsigned>(p.n) * kColumnsPerBlock * 8u;
  if ((err = prepare_smem(smem_col, device, column_transfer_kernel<Col, ColInv>, col_smem))) return err;
  const dim3 grid2((P + kColumnsPerBlock - 1) / kColumnsPerBlock, static_cast<unsigned>(p.batch));
  column_transfer_kernel<Col, ColInv><<<grid2, Col::block_dim, col_smem, stream>>>(p);
  if ((err = static_cast<int>(cudaGetLastError()))) return err;

  const unsigned grid3 = static_cast<unsigned>((rows + RowInv::ffts_per_block - 1) / RowInv::ffts_per_block);
  if ((err = prepare_smem(smem_row_inv, device, row_ifft_crop_kernel<RowInv>, RowInv::shared_memory_size))) return err;
  row_ifft_crop_kernel<RowInv><<<grid3, RowInv::block_dim, RowInv::shared_memory_size, stream>>>(p);
  return static_cast<int>(cudaGetLastError());
}

constexpr int kSizes[] = {256, 400, 512, 1024};

// Whether `device` is sm_90, asked of the driver once per device ordinal (< 64) and cached.
bool device_is_sm90(int device) {
  static DeviceBits known{0}, is_sm90{0};
  const std::uint64_t bit = device_bit(device);
  if (bit && (known.load(std::memory_order_acquire) & bit)) return (is_sm90.load(std::memory_order_acquire) & bit) != 0;
  int major = 0, minor = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) return false;
  if (cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) return false;
  const bool yes = major == 9 && minor == 0;
  if (bit) {
    if (yes) is_sm90.fetch_or(bit, std::memory_order_acq_rel);
    known.fetch_or(bit, std::memory_order_acq_rel);
  }
  return yes;
}

}  // namespace

const int* fused_propagate_sizes(int* count) {
  if (count) *count = static_cast<int>(sizeof(kSizes) / sizeof(kSizes[0]));
  return kSizes;
}

int fused_propagate_cuda(const FusedPropagateParams& p, void* stream_ptr) {
  if (p.batch < 0 || p.n < 1 || p.n > p.p || !p.u || !p.transfer_t || !p.scratch || !p.out) return -1;
  if (p.dphi && !p.saved_u) return -1;
  if (p.batch == 0) return 0;
  if (p.batch > 65535) return -1;  // column pass: one grid row per sample
  int device = 0;  // the calling thread's current device: a host-side read, no driver round trip
  if (cudaGetDevice(&device) != cudaSuccess) return -1;
  if (!device_is_sm90(device)) return -1;
  const cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  switch (p.p) {
    case 256: return run_size<256>(p, stream, device);
    case 400: return run_size<400>(p, stream, device);
    case 512: return run_size<512>(p, stream, device);
    case 1024: return run_size<1024>(p, stream, device);
    default: return -1;
  }
}

}  // namespace quaton

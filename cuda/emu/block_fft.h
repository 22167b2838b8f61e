// A stand-in for a cuFFTDx block FFT, for the CPU emulator (cuda/emu/cuda_emu.h): the same
// execution interface and register layout as a cuFFTDx descriptor with Block() execution, so that
// the fused kernels (cuda/fused/propagate_fused.cuh) run unchanged on the CPU.
//
// Interface (as cuFFTDx documents it for complex-to-complex block FFTs):
//   value_type            complex value with members .x (real) and .y (imaginary)
//   elements_per_thread   E; storage_size = E registers per thread
//   stride                threads per FFT (block_dim.x); thread t holds elements t + i * stride,
//                         i < E; slots whose index is >= P are ignored on input and hold garbage
//                         on output (here: NaN, so a kernel that stores them is caught)
//   ffts_per_block        FFTs per block, one per threadIdx.y
//   block_dim             (stride, ffts_per_block, 1)
//   shared_memory_size    bytes of shared memory execute() needs (from the start of the pointer)
//   max_threads_per_block stride * ffts_per_block
//   execute(td, smem)     in-place, unnormalised: forward exp(-2 pi i jk / P), inverse exp(+2 pi i
//                         jk / P); every thread of the block must call it (it uses __syncthreads)
// What it does not promise: cuFFTDx's own shared-memory layout and its choice of E and
// ffts_per_block for a given size and architecture (benchmarks/cufftdx_traits.cu prints those);
// the kernels may not depend on either. Synchronisation: the fewest barriers a block FFT can have
// (after the threads have written their elements; for a power-of-two P also after the transform),
// none before the writes and none after the reads: cuFFTDx does not document that execute()
// synchronises on entry or exit, so a kernel that reuses the FFT's shared memory (another
// execute() included) must put its own __syncthreads() in between, and TSan catches one that does
// not.
//
// The transform is computed in double precision and rounded to float (|error| ~ 1e-7 relative):
// for a power-of-two P the FFT's first thread runs an iterative radix-2 FFT on the shared copy
// (one more barrier), otherwise every thread evaluates its outputs as a direct DFT.
#pragma once

#include <cmath>
#include <complex>
#include <cstddef>
#include <limits>
#include <vector>

#include "cuda_emu.h"

namespace qf_emu {

enum class FftDirection { forward, inverse };

namespace detail {
// exp(sign * 2 pi i m / P) for m < P, computed once per (P, sign).
template <unsigned P, int Sign>
const std::vector<double>& twiddles() {
  static const std::vector<double> table = [] {
    std::vector<double> t(2 * P);
    const double pi = 3.14159265358979323846;
    for (unsigned m = 0; m < P; ++m) {
      const double a = Sign * 2.0 * pi * static_cast<double>(m) / static_cast<double>(P);
      t[2 * m] = std::cos(a);
      t[2 * m + 1] = std::sin(a);
    }
    return t;
  }();
  return table;
}
// In-place radix-2 FFT of x[0..P) (P a power of two) with exp(Sign 2 pi i jk / P), in double.
template <unsigned P, int Sign>
void radix2_fft(float2* x) {
  static_assert((P & (P - 1)) == 0, "radix-2 needs a power of two");
  const std::vector<double>& w = twiddles<P, Sign>();
  std::vector<std::complex<double>> a(P);
  for (unsigned j = 0, r = 0; j < P; ++j) {  // bit-reversed copy
    a[r] = std::complex<double>(x[j].x, x[j].y);
    unsigned bit = P >> 1;
    for (; bit && (r & bit); bit >>= 1) r ^= bit;
    r |= bit;
  }
  for (unsigned len = 2; len <= P; len <<= 1) {
    const unsigned step = P / len;
    for (unsigned i = 0; i < P; i += len)
      for (unsigned k = 0; k < len / 2; ++k) {
        const std::complex<double> t = std::complex<double>(w[2 * k * step], w[2 * k * step + 1]) * a[i + k + len / 2];
        a[i + k + len / 2] = a[i + k] - t;
        a[i + k] += t;
      }
  }
  for (unsigned j = 0; j < P; ++j) x[j] = float2{static_cast<float>(a[j].real()), static_cast<float>(a[j].imag())};
}
}  // namespace detail

template <unsigned P, FftDirection Dir, unsigned E, unsigned FPB>
struct StandInBlockFFT {
  static_assert(P >= 2 && E >= 1 && FPB >= 1, "P >= 2, E >= 1, FPB >= 1");
  using value_type = float2;
  static constexpr unsigned size = P;
  static constexpr unsigned elements_per_thread = E;
  static constexpr unsigned storage_size = E;
  static constexpr unsigned stride = (P + E - 1) / E;
  static constexpr unsigned ffts_per_block = FPB;
  static constexpr unsigned suggested_ffts_per_block = FPB;
  static constexpr dim3 block_dim{stride, FPB, 1};
  static constexpr unsigned max_threads_per_block = stride * FPB;
  static constexpr unsigned shared_memory_size = FPB * P * sizeof(value_type);
  static constexpr bool requires_workspace = false;
  static_assert(stride * FPB <= 1024, "a block has at most 1024 threads");

  void execute(value_type* td, void* smem) const {
    constexpr int sign = Dir == FftDirection::forward ? -1 : 1;
    value_type* x = static_cast<value_type*>(smem) + static_cast<std::size_t>(threadIdx.y) * P;
    for (unsigned i = 0; i < E; ++i) {
      const unsigned j = threadIdx.x + i * stride;
      if (j < P) x[j] = td[i];
    }
    __syncthreads();
    constexpr float nan = std::numeric_limits<float>::quiet_NaN();
    if constexpr ((P & (P - 1)) == 0) {
      if (threadIdx.x == 0) detail::radix2_fft<P, sign>(x);
      __syncthreads();
      for (unsigned i = 0; i < E; ++i) {
        const unsigned k = threadIdx.x + i * stride;
        td[i] = k < P ? x[k] : value_type{nan, nan};
      }
    } else {
      const std::vector<double>& w = detail::twiddles<P, sign>();
      for (unsigned i = 0; i < E; ++i) {
        const unsigned k = threadIdx.x + i * stride;
        if (k >= P) {
          td[i] = value_type{nan, nan};
          continue;
        }
        double re = 0.0, im = 0.0;
        unsigned m = 0;  // (j * k) mod P
        for (unsigned j = 0; j < P; ++j) {
          const double a = x[j].x, b = x[j].y, c = w[2 * m], d = w[2 * m + 1];
          re += a * c - b * d;
          im += a * d + b * c;
          m += k;
          if (m >= P) m -= P;
        }
        td[i] = value_type{static_cast<float>(re), static_cast<float>(im)};
      }
    }
  }
};

}  // namespace qf_emu

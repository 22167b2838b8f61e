// Host program: the cuFFTDx launch traits of the fused propagation kernels' block FFTs
// (cuda/fused/propagate_fused.cu) for every padded size P and every architecture we build, as JSON.
// The descriptors are the launcher's: row passes use the suggested FFTs per block, the column pass
// kColumnsPerBlock = 8 adjacent columns; forward and inverse. Only the traits (constexpr) are read:
// nothing runs on a GPU. benchmarks/kernel_resources.py compiles and runs it (dynamic shared memory
// of the fused kernels); standalone:
//
//   nvcc -std=c++17 --expt-relaxed-constexpr -diag-suppress=1444 -arch=sm_90 \
//     -I<mathdx>/include -I<mathdx>/external/cutlass/include benchmarks/cufftdx_traits.cu -o traits
//   ./traits            # one JSON array on stdout
#include <cufftdx.hpp>

#include <cstdio>

using namespace cufftdx;

constexpr unsigned kColumnsPerBlock = 8;  // must match cuda/fused/propagate_fused.cu

template <unsigned P, fft_direction Dir, unsigned FPB, unsigned Arch>
using BlockFFT = decltype(Size<P>() + Precision<float>() + Type<fft_type::c2c>() + Direction<Dir>() +
                          FFTsPerBlock<FPB>() + SM<Arch>() + Block());

template <unsigned P, fft_direction Dir, unsigned Arch>
using RowFFT = BlockFFT<P, Dir, BlockFFT<P, Dir, 1, Arch>::suggested_ffts_per_block, Arch>;

static bool first = true;

template <class FFT>
void print_one(const char* role, unsigned arch) {
  constexpr unsigned P = size_of<FFT>::value;
  std::printf("%s  {\"P\": %u, \"arch\": \"sm_%u\", \"role\": \"%s\", \"block_dim\": [%u, %u, %u], "
              "\"ffts_per_block\": %u, \"elements_per_thread\": %u, \"storage_size\": %u, \"stride\": %u, "
              "\"shared_memory_size\": %u, \"max_threads_per_block\": %u, \"requires_workspace\": %s}",
              first ? "" : ",\n", P, arch / 10, role, FFT::block_dim.x, FFT::block_dim.y, FFT::block_dim.z,
              static_cast<unsigned>(FFT::ffts_per_block), static_cast<unsigned>(FFT::elements_per_thread),
              static_cast<unsigned>(FFT::storage_size), static_cast<unsigned>(FFT::stride),
              static_cast<unsigned>(FFT::shared_memory_size), static_cast<unsigned>(FFT::max_threads_per_block),
              FFT::requires_workspace ? "true" : "false");
  first = false;
}

template <unsigned P, unsigned Arch>
void print_size() {
  print_one<RowFFT<P, fft_direction::forward, Arch>>("row_forward", Arch);
  print_one<RowFFT<P, fft_direction::inverse, Arch>>("row_inverse", Arch);
  print_one<BlockFFT<P, fft_direction::forward, kColumnsPerBlock, Arch>>("column_forward", Arch);
  print_one<BlockFFT<P, fft_direction::inverse, kColumnsPerBlock, Arch>>("column_inverse", Arch);
}

template <unsigned Arch>
void print_arch() {
  print_size<256, Arch>();
  print_size<400, Arch>();
  print_size<512, Arch>();
  print_size<1024, Arch>();
}

int main() {
  std::printf("[\n");
  print_arch<800>();
  print_arch<860>();
  print_arch<890>();
  print_arch<900>();
  std::printf("\n]\n");
  return 0;
}

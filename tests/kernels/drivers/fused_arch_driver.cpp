// The fused passes on the CPU emulator with the stand-in block FFT shaped exactly like the cuFFTDx
// descriptors the CUDA build instantiates for each architecture: (P, elements per thread, row FFTs
// per block) for sm_80, sm_86, sm_89 and sm_90 (benchmarks/cufftdx_traits.cu prints them;
// docs/results/kernels.json records them, and tests/kernels/test_kernels_emulated.py checks that
// every recorded triple is compiled here). Columns: the same elements per thread, 8 FFTs per block.
// So every instantiation's logic (register slots, strides, partial blocks) runs on the CPU.
#define EMU_FUSED_CONFIGS(X)                                                                \
  X(256, 16, 2) X(256, 16, 4) X(256, 16, 8) X(400, 20, 3) X(400, 20, 6) X(400, 20, 19)     \
  X(512, 8, 1) X(512, 8, 2) X(512, 8, 3) X(1024, 16, 1) X(1024, 32, 1) X(1024, 32, 2)      \
  X(1024, 32, 4)
#include "fused_driver.cpp"

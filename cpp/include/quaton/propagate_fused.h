// Fused phase modulation + angular-spectrum propagation on CUDA with cuFFTDx (SPEC A1, issue 5).
//
// One layer, fields u (B, N, N) complex64, centred zero-padding to P x P (o = (P - N) / 2):
//   v = crop( IFFT2( H * FFT2( pad( m * u ) ) ) ),   m = exp(i phi) (N, N) or 1,
// in three passes over memory instead of torch's ~10:
//   (1) row pass:    X[b, r, :] = FFT_P( pad_row( m[r, :] * u[b, r, :] ) )   r < N (the other P - N
//                    padded rows are zero and never stored or transformed)
//   (2) column pass: X[b, :, k] = crop_rows( IFFT_P( Ht[k, :] * FFT_P( pad_col( X[b, :, k] ) ) ) )
//   (3) row pass:    out[b, r, c] = (1/P^2) IFFT_P( X[b, r, :] )[o + c]
// X (B, N, P) is the only intermediate. The adjoint (backward) is the same three passes with
// conj(H) and no modulation in pass 1; pass 3 then also forms, per sample, the phase gradient
//   dphi[b, r, c] = Im( conj(m u)[b, r, c] * g[b, r, c] )   (PyTorch's complex-gradient convention)
// and the input gradient conj(m) * g. H is passed transposed (Ht[k, j] = H[j, k]) so that the
// column pass reads it with unit stride.
//
// Quantizer inside the row passes (issue 22 item 1; set `latent`): the modulation is T(w), the
// layer's quantizer (QuantSpec, quaton/quantizer.h) evaluated in registers from the latent weights
// w (N, N) instead of a stored m. The forward's pass 1 multiplies by T(w). The adjoint's pass 3
// (quant_adjoint = 1) forms out = conj(T) g and, per (slab s, row r), the batch partial sums
//   grad_latent_partial[s, r, c] = sum_{b in slab s} Re( conj(dT/dw) conj(u_b) g_b )[r, c]
//   grad_param_partial[s, r]     = sum_c sum_{b in slab s} Re( conj(dT/dp) conj(u_b) g_b )[r, c]
// (u the forward input, saved_u). dL/dw = sum_s grad_latent_partial (S, N, N), dL/dp = sum of
// grad_param_partial (S, N): the caller's small reduction. A block handles one row r for
// fused_quant_rows_per_block() samples (S = fused_quant_slabs() slabs of the batch), so T and
// its derivatives are evaluated once per element per block, not once per sample, and no atomics
// are needed (each partial is written by exactly one thread).
#pragma once

#include <cstdint>

#include "quaton/quantizer.h"

namespace quaton {

struct FusedPropagateParams {
  std::int64_t batch = 0;           // B
  int n = 0;                        // N, 1 .. P
  int p = 0;                        // P, one of fused_propagate_sizes()
  const void* u = nullptr;          // (B, N, N) complex64: pass 1 input
  const void* modulation_in = nullptr;  // (N, N) complex64 m applied in pass 1, or nullptr (m = 1)
  const void* transfer_t = nullptr; // (P, P) complex64, Ht[k*P + j] = H[j, k] (or conj(H) for the adjoint)
  void* scratch = nullptr;          // (B, N, P) complex64 workspace X
  void* out = nullptr;              // (B, N, N) complex64: pass 3 output
  const void* modulation_out = nullptr;  // (N, N) complex64 m of the adjoint's pass 3: out = conj(m) g
                                        // and dphi uses m u (nullptr: m = 1)
  const void* saved_u = nullptr;    // (B, N, N) complex64 forward input u, for dphi (or nullptr)
  float* dphi = nullptr;            // (B, N, N) float32 per-sample phase gradient (or nullptr)
  // quantizer in the row passes (latent != nullptr; then modulation_in/out and dphi must be null)
  const float* latent = nullptr;    // (N, N) float32 latent weights w, radians
  QuantSpec quant;                  // the quantizer (tables are device pointers)
  int quant_adjoint = 0;            // 0: forward (pass 1 by T(w)); 1: adjoint (pass 3 conj(T) g + partials)
  int quant_samples_per_thread = 1; // J: samples each thread row of a block transforms (the launcher sets it)
  float* grad_latent_partial = nullptr;  // adjoint: (S, N, N) float32, or nullptr
  float* grad_param_partial = nullptr;   // adjoint: (S, N) float32 partials of dL/dp, or nullptr
};

// Answers of fused_propagate_support().
enum FusedSupport : int {
  kFusedSupported = 0,
  kFusedArchNotCompiled = 1,    // no descriptors for this GPU's compute capability
  kFusedSizeNotCompiled = 2,    // P is not one of fused_propagate_sizes()
  kFusedSharedMemory = 3,       // (P, N) needs more shared memory per block than the GPU has
  kFusedBadShape = 4,           // N < 1 or N > P
  kFusedDeviceQueryFailed = 5,  // the CUDA runtime could not describe the device
};

#ifdef QF_WITH_CUFFTDX
// Padded sizes P compiled into the fused kernels (ascending), and their count.
const int* fused_propagate_sizes(int* count);
// Whether the kernels can run (N, P) on CUDA device `device` (a FusedSupport code); the device's
// facts are queried once and cached. Compiled for compute capability 8.0, 8.6 (also used on 8.7),
// 8.9 and 9.0.
int fused_propagate_support(int n, int p, int device);
// Runs passes 1-3 (with latent: the quantized forward or adjoint). Returns the CUDA error code
// (0 = success) or -1 for unsupported parameters (fused_propagate_support() not kFusedSupported,
// a null pointer, batch > 65535, latent with modulation_in/modulation_out/dphi, a quantized
// adjoint without saved_u).
int fused_propagate_cuda(const FusedPropagateParams& params, void* stream);
// Number of batch slabs S of the quantized row passes for (batch, N, P) on `device` (the first
// dimension of grad_latent_partial / grad_param_partial); -1 if the size is not supported.
int fused_quant_slabs(std::int64_t batch, int n, int p, int device);
#endif

}  // namespace quaton

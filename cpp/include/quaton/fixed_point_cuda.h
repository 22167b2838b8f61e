// AOC digital twin: batched fixed-point iteration and its implicit adjoint on CUDA (SPEC B1/B2).
// Semantics, stopping rule and the counter-based noise recipe: cpp/include/quaton/fixed_point.h
// (the C++ CPU kernel and the NumPy reference python/quaton_fast/reference/fixed_point.py).
//
// One launch runs every iteration of every system: a group of TPS lanes of one warp owns a system,
// each lane R consecutive rows of the padded size TPS*R >= n (n <= 4: 1 x 4, <= 8: 2 x 4, <= 16:
// 4 x 4, <= 32: 16 x 2, <= 64: 32 x 2; issue 23). A lane keeps its rows of W and their state in
// registers; W f(s) is formed from f(s) broadcast through shared memory (each lane writes its R
// values, one __syncwarp, every lane reads all TPS*R values as 16-byte vectors and does R FMAs per
// value); norms are reduced with xor-shuffles over the group; a system that meets the tolerance is
// frozen and the warp leaves the loop when all its systems have stopped. Convergence is judged AT the returned
// state (residual ||F(s)-s||/max(||F(s)||,1e-30) with F the step's map without momentum and noise,
// +inf when not finite = diverged; iterations = updates applied; see fixed_point.h); the adjoint
// likewise at the returned v. max_iter must be < INT_MAX (the loop checks after the last update).
//
// The adjoint kernel returns u = D v (the gradient w.r.t. b of each system) and W f(s*); the caller
// forms grad_W = beta u f(s*)^T, grad_beta = u.(W f(s*)) and grad_alpha = u.s* with dense ops.
#pragma once

#include <cstdint>

namespace quaton {

constexpr int kFixedPointCudaMaxN = 64;

enum FixedPointDtype : int { kFpFloat32 = 0, kFpFloat64 = 1 };

// Every pointer is a device pointer; floating arrays have the dtype `dtype`.
struct FixedPointCudaParams {
  int dtype = kFpFloat32;
  std::int64_t systems = 0;             // S
  int n = 0;                            // 1 .. kFixedPointCudaMaxN
  const void* W = nullptr;              // (S,n,n), (n,n) when W_shared, (W_cells,n,n) when W_cells > 0
  int W_shared = 0;
  int W_cells = 0;                      // > 0: W is (C,n,n), system s uses W[s % C] (an ensemble of cells)
  const void* b = nullptr;              // (S,n) or (n,) when b_shared
  int b_shared = 0;
  const void* s0 = nullptr;             // (S,n); nullptr = zeros
  const void* alpha_start = nullptr;    // (S,)
  const void* alpha_end = nullptr;      // (S,)  (== alpha_start for a constant alpha)
  const void* beta = nullptr;           // (S,)
  const void* gamma = nullptr;          // (S,)
  int momentum = 1;                     // 0: the caller knows every gamma is 0 (the shared-W kernel then
                                        // holds no previous state); 1: gamma may be nonzero
  const std::int8_t* nonlinearity = nullptr;  // (n,) codes 0 tanh / 1 sign / 2 identity
  int has_clamp = 0;
  double clamp_lo = -1.0, clamp_hi = 1.0;
  double noise_std = 0.0;
  std::uint64_t seed = 0;
  double tol = 0.0;
  int max_iter = 1;
  void* state = nullptr;                // out (S,n)
  std::int32_t* iterations = nullptr;   // out (S,)
  void* residual = nullptr;             // out (S,)
};

struct FixedPointAdjointCudaParams {
  int dtype = kFpFloat32;
  std::int64_t systems = 0;
  int n = 0;
  const void* W = nullptr;              // (S,n,n), (n,n) or (W_cells,n,n) as in the forward
  int W_shared = 0;
  int W_cells = 0;
  const void* b = nullptr;              // (S,n) or (n,)
  int b_shared = 0;
  const void* state = nullptr;          // (S,n) converged s*
  const void* grad_state = nullptr;     // (S,n) g = dL/ds*
  const void* alpha = nullptr;          // (S,)
  const void* beta = nullptr;           // (S,)
  const std::int8_t* nonlinearity = nullptr;
  int has_clamp = 0;
  double clamp_lo = -1.0, clamp_hi = 1.0;
  double tol = 0.0;
  int max_iter = 1;
  void* u = nullptr;                    // out (S,n): D v
  void* W_f = nullptr;                  // out (S,n): W f(s*)
  std::int32_t* iterations = nullptr;   // out (S,)
  void* residual = nullptr;             // out (S,)
  // shared-W adjoint only (fixed_point_adjoint_shared_cuda): per-system grad_alpha = u.s*,
  // grad_beta = u.(W f(s*)), and per-block partials of grad_W = sum_s beta_s u_s f(s*)_s^T:
  // (C, tiles, n, n) with tiles = fixed_point_shared_tiles_cuda(params); the caller sums them
  // over tiles (a deterministic reduction, no atomics).
  void* grad_alpha = nullptr;           // out (S,)
  void* grad_beta = nullptr;            // out (S,)
  void* grad_W_partial = nullptr;       // out (C, tiles, n, n)
};

#ifdef QF_WITH_CUDA
// Launchers (cuda/fixed_point.cu); return the CUDA error code as an int (0 = success), or -1 for
// parameters the kernel cannot take (n out of range, null pointers).
int fixed_point_forward_cuda(const FixedPointCudaParams& params, void* stream);
int fixed_point_adjoint_cuda(const FixedPointAdjointCudaParams& params, void* stream);
// The shared-W kernels (cuda/fixed_point_shared.cu; issue 23 item 2): W (n,n) (W_shared) or one per
// cell (W_cells = C, systems % C == 0), W resident in shared memory, a warp owns a tile of systems
// (batch columns) and forms (n x n)(n x tile) products from shared memory with register tiling.
// Same semantics (and, at n <= 16 in float32, the same bits) as the per-system kernels.
int fixed_point_forward_shared_cuda(const FixedPointCudaParams& params, void* stream);
int fixed_point_adjoint_shared_cuda(const FixedPointAdjointCudaParams& params, void* stream);
// Blocks along the batch per cell of the shared-W adjoint for these parameters (-1: not servable).
int fixed_point_shared_tiles_cuda(const FixedPointAdjointCudaParams& params);
#endif

}  // namespace quaton

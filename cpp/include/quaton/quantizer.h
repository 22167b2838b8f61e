// Sigmoid-staircase quantizers of the phase of each optical neuron (SPEC A2).
// Kernel side only: raw pointers, sizes and a stream; no torch, no Python.
#pragma once
#include <cstdint>

namespace quaton {

// A level table in threshold form: Q(w) = base + sum_i steps[i] * step_i(w - thresholds[i]),
// where step_i is the logistic sigmoid sigma(k * x) (PSQ) or the Heaviside step (hard quantizer).
// Periodic tables carry the wrap-around threshold as their last entry (see reference/levels.py)
// and a period > 0: the latent w is first folded into [base, base + period)
// (x = base + ((w - base) mod period)), so forward and backward are periodic in w. period == 0:
// a table that does not span a full period (clamped ends, no fold). A non-finite w gives NaN.
struct LevelThresholds {
  const float* thresholds;  // (num_steps,) device pointer, increasing
  const float* steps;       // (num_steps,) device pointer, > 0
  int num_steps;            // n - 1 (open table) or n (periodic table)
  float base;               // q_0, radians
  float period;             // > 0: periodic table (radians); 0: not periodic
};

struct PsqForwardParams {
  const float* latent;  // (count,) latent phase weights w, radians
  float* phase;         // (count,) quantized phase, radians
  int64_t count;
  LevelThresholds table;
  float sharpness;      // k > 0; ignored when hard != 0 or sharpness_device != nullptr
  const float* sharpness_device;  // (1,) k in device memory (learnable k: no host read), or nullptr
  int hard;             // 1: Heaviside staircase (evaluation), 0: sigmoid (PSQ)
};

struct PsqBackwardParams {
  const float* latent;       // (count,)
  const float* grad_phase;   // (count,) dL/dphase
  float* grad_latent;        // (count,) dL/dw, or nullptr if not needed
  float* grad_sharpness;     // (1,) dL/dk accumulated (must be zeroed by the caller), or nullptr
  int64_t count;
  LevelThresholds table;
  float sharpness;                // k, used when sharpness_device == nullptr
  const float* sharpness_device;  // (1,) k in device memory, or nullptr
};

#ifdef QF_WITH_CUDA
// Launchers (cuda/quantizer.cu). They return the launch's error code as an int (0 = success).
int psq_forward_cuda(const PsqForwardParams& params, void* stream);
int psq_backward_cuda(const PsqBackwardParams& params, void* stream);
#endif

}  // namespace quaton

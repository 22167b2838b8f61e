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


// ---------------------------------------------------------------------------------------------
// A layer's quantizer as the fused propagation kernels evaluate it (issue 22 item 1): latent w ->
// complex transmission T(w) the field is multiplied by, and its derivatives dT/dw and dT/dp
// (p: the quantizer's scalar parameter, PSQ's sharpness k or DSQ's alpha). One set of device
// functions (cuda/quantizer.cuh: quant_transmission) serves the standalone quantizer kernels and
// the fused row passes. Formulas: python/quaton_fast/reference/quantizers.py (phase tables) and
// reference/complex_levels.py (complex tables); x = fold_latent(w) for a periodic table.
//
// Phase tables (complex_table == 0): phi(w) real, T = exp(i phi), dT/dw = i T dphi/dw.
// Complex tables (complex_table == 1): T(w) interpolates the complex levels t_i directly.
// Both use the same staircase in threshold form: value(w) = v_0 + sum_i d_i * step_i(x - c_i)
// with (phase) d_i = Delta_i real, v = the stair values, or (complex) d_i = t_{i+1} - t_i,
// v = t_0 .. t_{n-1}, t_0.
enum QuantKind : int {
  kQuantIdentity = 0,  // FP / PQ training: phi = w (no table), dphi/dw = 1
  kQuantHard = 1,      // staircase value (evaluation); derivatives 0 (not differentiable)
  kQuantSTE = 2,       // forward staircase; backward dT/dw = i T (phase straight through)
  kQuantSTESoft = 3,   // forward staircase; backward dT/dw of complex PSQ at sharpness p (issue 18)
  kQuantPSQ = 4,       // value = v_0 + sum d_i sigma(p (x - c_i)); p = k
  kQuantDSQ = 5,       // tanh soft step in each interval (Gong et al. 2019); p = alpha in (0, 1)
};

struct QuantSpec {
  int kind = kQuantIdentity;
  int complex_table = 0;   // 1: value is complex (T itself); 0: value is the phase phi
  int hard_forward = 0;    // DSQ: forward the staircase, backward the soft curve's derivative
  int num_steps = 0;       // m: len(thresholds) (n - 1 open table, n periodic)
  float base = 0.f;        // q_0 (phase of level 0), radians
  float period = 0.f;      // > 0: periodic table (fold w); 0: open table (DSQ clips, PSQ/hard clamp)
  const float* thresholds = nullptr;  // (m,) c_i, increasing
  const float* ends = nullptr;        // (m+1,) interval ends in x: q_0, q_0 + Delta_0, ... (DSQ)
  const float* d_re = nullptr;        // (m,) step coefficients d_i (phase: Delta_i)
  const float* d_im = nullptr;        // (m,) imaginary parts (complex tables), else nullptr
  const float* v_re = nullptr;        // (m+1,) staircase values (phase: stair values)
  const float* v_im = nullptr;        // (m+1,) imaginary parts (complex tables), else nullptr
  float param = 0.f;                  // k (PSQ, STE-soft) or alpha (DSQ) when param_device == nullptr
  const float* param_device = nullptr;  // (1,) the parameter in device memory (learnable), or nullptr
};

#ifdef QF_WITH_CUDA
// Launchers (cuda/quantizer.cu). They return the launch's error code as an int (0 = success).
int psq_forward_cuda(const PsqForwardParams& params, void* stream);
int psq_backward_cuda(const PsqBackwardParams& params, void* stream);
#endif

}  // namespace quaton

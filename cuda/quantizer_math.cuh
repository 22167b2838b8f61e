// Quantizer formulas as device functions (SPEC A2), the one implementation of each on the device:
// the PSQ sigmoid sums and the staircase used by the standalone quantizer kernels
// (cuda/quantizer.cuh) and quant_transmission, the per-element quantizer the fused row passes
// evaluate in registers (cuda/fused/propagate_fused.cuh, issue 22 item 1). Device functions only
// (no kernels), so any kernel header may include it. Run on the CPU by the emulator tests.
#pragma once
#include "common.cuh"
#include "quaton/quantizer.h"

namespace quaton {
namespace kernels {

// The latent's representative in the table's fundamental domain: base + ((w - base) mod period)
// in [base, base + period) for a periodic table (period > 0), w itself otherwise. d/dw = 1, so the
// forward and backward below are the periodic extensions of those inside one period
// (reference/levels.py fold_latent). floorf-based mod: the result may round to base + period,
// which the staircase maps to q_0 + period (== q_0 mod the period), as in the torch path.
__device__ __forceinline__ float fold_latent(float w, float base, float period) {
  if (period <= 0.f) return w;
  const float r = w - base;
  return base + (r - period * floorf(r / period));
}
__device__ __forceinline__ float fold_latent(float w, const LevelThresholds& t) {
  return fold_latent(w, t.base, t.period);
}

// The sigmoid staircase sums of PSQ for x and the sharpness k:
//   s = sum_i d_i sigma(k (x - c_i)),  slope = sum_i d_i sigma'_i,  uslope = sum_i d_i (x - c_i) sigma'_i
// with sigma'_i = sigma_i (1 - sigma_i), so that for Q = v_0 + s: dQ/dx = k slope, dQ/dk = uslope.
// d_i = d_re[i] + i d_im[i] (d_im == nullptr: real steps, .y stays 0). kGrad: slope and uslope too.
struct StepSums {
  float2 s, slope, uslope;
};

template <bool kGrad>
__device__ __forceinline__ StepSums sigmoid_step_sums(float x, const float* c, const float* d_re, const float* d_im,
                                                      int m, float k) {
  StepSums r{make_float2(0.f, 0.f), make_float2(0.f, 0.f), make_float2(0.f, 0.f)};
  for (int i = 0; i < m; ++i) {
    const float u = x - c[i];
    const float sg = stable_sigmoid(k * u);
    const float dr = d_re[i], di = d_im ? d_im[i] : 0.f;
    r.s.x += dr * sg;
    r.s.y += di * sg;
    if (!kGrad) continue;
    const float sl = sg * (1.f - sg);
    r.slope.x += dr * sl;
    r.slope.y += di * sl;
    r.uslope.x += dr * (u * sl);
    r.uslope.y += di * (u * sl);
  }
  return r;
}

// Number of thresholds c_i <= x: the staircase's level index (m past the last threshold).
__device__ __forceinline__ int stair_index(float x, const float* c, int m) {
  int idx = 0;
  for (int i = 0; i < m; ++i) idx += (c[i] <= x) ? 1 : 0;
  return idx;
}

__device__ __forceinline__ float quantize_one(float w, const LevelThresholds& t, float k, int hard) {
  if (!isfinite(w)) return nanf("");  // never a valid-looking level for NaN/Inf
  const float xw = fold_latent(w, t);
  if (!hard) return t.base + sigmoid_step_sums<false>(xw, t.thresholds, t.steps, nullptr, t.num_steps, k).s.x;
  float q = t.base;
  for (int i = 0; i < t.num_steps; ++i) q += t.steps[i] * (xw - t.thresholds[i] >= 0.f ? 1.f : 0.f);
  return q;
}

// ----------------------------------------------------------------------------- fused quantizer
// T(w) and its derivatives, evaluated in registers by the fused row passes (QuantSpec in
// quaton/quantizer.h; reference: reference/quantizers.py, reference/complex_levels.py).
struct QuantEval {
  float2 t;      // transmission T(w)
  float2 dt_dw;  // dT/dw (kGrad)
  float2 dt_dp;  // dT/dp, p = k (PSQ) or alpha (DSQ) (kGrad)
};

__device__ __forceinline__ float quant_param(const QuantSpec& q) {
  return q.param_device ? *q.param_device : q.param;  // device memory: the host never waits for it
}

__device__ __forceinline__ float2 quant_value_at(const QuantSpec& q, int idx) {
  return make_float2(q.v_re[idx], q.v_im ? q.v_im[idx] : 0.f);
}

__device__ __forceinline__ float2 quant_step_at(const QuantSpec& q, int i) {
  return make_float2(q.d_re[i], q.d_im ? q.d_im[i] : 0.f);
}

// DSQ in the interval holding x (reference/quantizers.py dsq, reference/complex_levels.py
// dsq_transmission): i = the last interval start ends[i] <= x (clamped to 0..m-1), width
// Delta_i = ends[i+1] - ends[i], k_i = log(2/alpha - 1) / Delta_i, s = 1/(1 - alpha)
// (= coth(k_i Delta_i / 2)), u = x - c_i, h = (s tanh(k_i u) + 1) / 2; value = v_i + d_i h;
// d value/dx = d_i s k_i sech^2 / 2; d value/dalpha = d_i (ds/dalpha tanh + s sech^2 u dk_i/dalpha) / 2
// with ds/dalpha = 1/(1 - alpha)^2 and dk_i/dalpha = -2 / (alpha (2 - alpha) Delta_i).
__device__ __forceinline__ void dsq_interval(const QuantSpec& q, float x, float alpha, bool soft_value, bool grad,
                                             float2& val, float2& dval_dx, float2& dval_dp) {
  int i = 0;
  for (int j = 0; j < q.num_steps; ++j) i += (q.ends[j] <= x) ? 1 : 0;
  i = i < 1 ? 0 : i - 1;
  const float delta = q.ends[i + 1] - q.ends[i];
  const float kk = logf(2.f / alpha - 1.f) / delta;
  const float s = 1.f / (1.f - alpha);
  const float u = x - q.thresholds[i];
  const float th = tanhf(kk * u);
  const float2 d = quant_step_at(q, i);
  if (soft_value) {
    const float h = 0.5f * (s * th + 1.f);
    const float2 v = quant_value_at(q, i);
    val = make_float2(v.x + d.x * h, v.y + d.y * h);
  }
  if (grad) {
    const float sech2 = 1.f - th * th;
    const float gx = 0.5f * s * kk * sech2;
    const float dk_da = -2.f / (alpha * (2.f - alpha) * delta);
    const float ga = 0.5f * (s * s * th + s * sech2 * u * dk_da);  // ds/dalpha = s^2
    dval_dx = make_float2(d.x * gx, d.y * gx);
    dval_dp = make_float2(d.x * ga, d.y * ga);
  }
}

// (sin phi, cos phi) for the phase of a phase table. On the GPU sincospif(phi / pi): its range
// reduction is exact, so there is no slow path (sincosf's Payne-Hanek reduction for huge arguments
// is a called subroutine that costs the fused row passes a 32-byte stack frame and, at P = 400,
// 16 bytes of spills around the call); the phase enters rounded once more (phi/pi, 2^-24
// relative). On the CPU build (emulator) sincosf, the same function to float rounding.
__device__ __forceinline__ void sincos_phase(float phi, float* sn, float* cs) {
#ifdef __CUDA_ARCH__
  sincospif(phi * 0.318309886183790671538f, sn, cs);
#else
  sincosf(phi, sn, cs);
#endif
}

// T(w) (with kGrad also dT/dw and dT/dp) of quantizer q at its parameter p (quant_param(q)).
// Phase tables: the staircase value is the phase phi, T = exp(i phi), dT/d. = i T dphi/d.;
// complex tables: the value is T itself. A non-finite w gives NaN everywhere.
template <bool kGrad>
__device__ __forceinline__ QuantEval quant_transmission(float w, const QuantSpec& q, float p) {
  const float2 zero = make_float2(0.f, 0.f);
  QuantEval e{zero, zero, zero};
  if (!isfinite(w)) {
    const float nan = nanf("");
    e.t = e.dt_dw = e.dt_dp = make_float2(nan, nan);
    return e;
  }
  float2 val = zero, dval_dx = zero, dval_dp = zero;
  if (q.kind == kQuantIdentity) {
    val.x = w;
    dval_dx.x = 1.f;
  } else {
    float x = fold_latent(w, q.base, q.period), inside = 1.f;
    if (q.period <= 0.f && q.kind == kQuantDSQ) {  // open table: DSQ clips, no gradient outside
      const float lo = q.ends[0], hi = q.ends[q.num_steps];
      inside = (w >= lo && w <= hi) ? 1.f : 0.f;
      x = fminf(fmaxf(w, lo), hi);
    }
    const bool soft_value = q.kind == kQuantPSQ || (q.kind == kQuantDSQ && !q.hard_forward);
    if (!soft_value) val = quant_value_at(q, stair_index(fold_latent(w, q.base, q.period), q.thresholds, q.num_steps));
    if (q.kind == kQuantPSQ || (kGrad && q.kind == kQuantSTESoft)) {
      const StepSums ss = sigmoid_step_sums<kGrad>(x, q.thresholds, q.d_re, q.d_im, q.num_steps, p);
      if (q.kind == kQuantPSQ) {
        const float2 v0 = quant_value_at(q, 0);
        val = make_float2(v0.x + ss.s.x, v0.y + ss.s.y);
        dval_dp = ss.uslope;
      }
      dval_dx = make_float2(p * ss.slope.x, p * ss.slope.y);
    } else if (q.kind == kQuantDSQ) {
      dsq_interval(q, x, p, soft_value, kGrad, val, dval_dx, dval_dp);
      dval_dx = make_float2(dval_dx.x * inside, dval_dx.y * inside);
      dval_dp = make_float2(dval_dp.x * inside, dval_dp.y * inside);
    }
  }
  if (q.complex_table) {
    e.t = val;
    e.dt_dw = dval_dx;
    e.dt_dp = dval_dp;
  } else {
    float sn, cs;
    sincos_phase(val.x, &sn, &cs);
    e.t = make_float2(cs, sn);
    e.dt_dw = make_float2(-sn * dval_dx.x, cs * dval_dx.x);  // i T dphi/dw
    e.dt_dp = make_float2(-sn * dval_dp.x, cs * dval_dp.x);
  }
  if (q.kind == kQuantSTE) {
    e.dt_dw = make_float2(-e.t.y, e.t.x);  // i T: the phase straight through, the amplitude held
    e.dt_dp = zero;
  } else if (q.kind == kQuantHard) {
    e.dt_dw = e.dt_dp = zero;
  }
  return e;
}

}  // namespace kernels
}  // namespace quaton

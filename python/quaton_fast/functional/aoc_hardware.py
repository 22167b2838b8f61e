"""Torch fixed point of the non-ideal AOC cell (measured non-idealities, docs/aoc_hardware.md) with implicit differentiation.

The map, its units and every convention are those of :mod:`quaton_fast.reference.aoc_hardware`
(the judge).  Here the map is evaluated in its linear form
``T(z) = alpha z + E⁺ p⁺(f(z)) - E⁻ p⁻(f(z)) + k + c``: ``E±`` (S, n, n) and ``k`` (S, n) are built from
``W`` and ``beta`` with ordinary differentiable torch ops (:func:`path_operators`), the fixed point
of ``T`` is found by iteration inside :class:`HardwareFixedPointFunction` (no trajectory kept), and its
backward solves the adjoint ``(I - J^T) v = g`` at the fixed point (``J = alpha I + E⁺ diag(p⁺'f')
- E⁻ diag(p⁻'f')``) with one batched direct solve in float64 for ``n <= 64`` (above: the plain
iteration, then a direct solve for the systems it did not solve) and
returns ``dL/dE⁺ = v p⁺^T``, ``dL/dE⁻ = -v p⁻^T``, ``dL/dk = dL/dc = v``, ``dL/dalpha = v·z*``;
autograd carries these back to ``W`` and ``beta`` (through ``max|W|``, the SLM split, the distortion
and the gain).

Convergence (exactly the ideal twin's rule, :mod:`quaton_fast.reference.fixed_point`, "Convergence"):
``F = T`` is the map without momentum (input clamp included); at step ``t = 0 .. max_iter`` the
residual ``||T(s_t) - s_t|| / max(||T(s_t)||, 1e-30)`` (+inf if not finite) is evaluated; a system
stops at ``s_t`` when ``tol > 0`` and residual <= tol, when the residual is not finite (diverged),
or at ``t = max_iter``.  The returned state is that ``s_t``, ``iterations = t`` (updates applied),
``residual`` its residual, and converged <=> residual <= tol.  Momentum never makes a small step
count as convergence.  The same rule in the NumPy reference, this torch loop and the C++ kernel.

Trust (valid or refused, as the ideal twin's backward): a system has a trustworthy implicit gradient
when its forward converged (residual <= tol at the returned state) and its adjoint residual
``||G(v) - v|| / max(||G(v)||, 1e-30)`` (``G(v) = J^T v + g``) is <= ``backward_tol`` and finite.
``unconverged='raise'`` (default) raises ``FloatingPointError`` in backward otherwise (one host
synchronisation per backward); ``'zero'`` drops those systems' gradients without synchronising and
counts the forward failures in the returned ``untrusted`` tensor (S,) bool.

Backends: the ideal profile (every switch off) runs :func:`quaton_fast.functional.fixed_point.fixed_point`
itself, so it reproduces the ideal twin bit for bit.  A non-ideal profile: ``backend='auto'`` runs
the forward iteration on the multi-threaded C++ kernel ``_C.aoc_hardware_forward_cpu`` for CPU
tensors when the extension has it (float64 inside; float32 results rounded once, as the ideal C++
path), else the torch loop (CUDA tensors: torch ops on the GPU; there is no CUDA kernel for the
non-ideal cell) and says so once (RuntimeWarning); ``'cpp'`` requires the kernel, ``'torch'`` forces
the loop, ``'cuda'`` raises.  The backward is always the torch direct solve above.
"""
from __future__ import annotations

import warnings
from typing import Dict, Optional, Tuple

import numpy as np
import torch

from .._backend import native
from .._validation import plain_scalar
from ..reference.aoc_hardware import (SLM_LEVELS, crosstalk_matrix, crosstalk_precompensation, fan_in_gains,
                                      input_limits, led_dc, nl_coeffs, slm_response_max, state_scale)
from ..reference.aoc_hardware_profile import AOCHardware
from ._fixed_point_torch import relative_residual
from .fixed_point import fixed_point as ideal_fixed_point

__all__ = ["hardware_fixed_point", "HardwareFixedPointFunction", "path_operators", "hardware_step", "led_paths",
           "output_efficiency",
           "nonlinearity", "readout", "DIRECT_MAX_N"]

_TINY = 1e-30
DIRECT_MAX_N = 64          # adjoint by one batched direct solve up to this size, by iteration above
_warned = {"native": False}


# ----------------------------------------------------------------------------- profile tensors
def _profile_tensors(hw: AOCHardware, n: int, dtype: torch.dtype, device: torch.device) -> Dict:
    """Per-width constants of the profile as tensors, cached on the (frozen) profile object."""
    cache = hw.__dict__.setdefault("_torch_cache", {})
    key = (n, dtype, str(device))
    if key in cache:
        return cache[key]
    ch = hw.channel_arrays(n)
    T = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)  # noqa: E731
    P: Dict = {"tanh": list(nl_coeffs(hw)), "kappa": state_scale(hw), "led_pos": [float(x) for x in hw.led_pos],
               "led_neg": [float(x) for x in hw.led_neg], "dc": led_dc(hw)}
    I = np.eye(n)
    h = np.zeros(n)
    fans = dict(zip(("pos", "neg"), fan_in_gains(hw, n)))
    cl_on = hw.closed_loop and not hw.cal_closed_loop
    sigma = ch["cl_scaling"] if cl_on else np.ones(n)
    for s, sgn in (("pos", 1.0), ("neg", -1.0)):
        C = crosstalk_matrix(ch[f"ratio_later_{s}"], ch[f"ratio_earlier_{s}"]) if hw.pd_crosstalk else I
        eta = ch[f"tia_{s}"] if hw.tia else np.ones(n)
        dark = ch[f"dark_{s}"] if (hw.pd_crosstalk and hw.slm_darkness and not hw.cal_dark_floor) else np.zeros(n)
        off = ch[f"pd_offset_{s}"] if hw.pd_offset else np.zeros(n)
        gout = ch[f"gain_out_{s}"] if hw.cal_gain else np.ones(n)
        P[f"L_{s}"] = T((sigma * gout)[:, None] * C * eta[None, :])
        P[f"fan_{s}"] = T(fans[s])
        dist = ch[f"distortion_{s}"].copy()
        if hw.cal_dark_floor:
            dist[:, 2] = 0.0
        P[f"dist_{s}"] = T(dist)
        P[f"rho_{s}"] = T(slm_response_max(ch[f"distortion_{s}"])[:, None])
        h += sgn * gout * (-(C - I) @ dark + off)
    K = crosstalk_precompensation(hw, n)          # cal_crosstalk: programmed clip(K± W±n, 0, 1)
    P["xt_pos"], P["xt_neg"] = (None, None) if K is None else (T(K[0]), T(K[1]))
    kap = state_scale(hw)
    P["sigma_h"] = T(sigma * h)
    P["sigma_kdc"] = T(sigma * hw.cl_ratio * ch["cl_dc_offset"] / kap) if cl_on else T(np.zeros(n))
    P["sigma_klin"] = T(sigma * hw.cl_ratio * ch["cl_linear_offset"] / kap) if cl_on else T(np.zeros(n))
    cache[key] = P
    return P


# ----------------------------------------------------------------------------- map pieces
def nonlinearity(z: torch.Tensor, hw: AOCHardware) -> Tuple[torch.Tensor, torch.Tensor]:
    """(f(kappa z), d/dz f(kappa z)): fitted saturating curve (``fitted_nonlinearity``) or tanh;
    kappa the operator's state scale (``cal_state_scale``, else 1); z in model units (V when kappa = 1)."""
    if not hw.fitted_nonlinearity:
        k = state_scale(hw)
        t = torch.tanh(k * z) if k != 1.0 else torch.tanh(z)
        return t, k * (1 - t * t)
    a, b0, c, d, f0, g = nl_coeffs(hw)
    u = a * z + b0
    base = 1 + u.abs() ** c
    return d * u * base ** (-1.0 / c) + f0 + g * z, d * a * base ** (-1.0 / c - 1.0) + g


def _led(f: torch.Tensor, hw: AOCHardware, P: Dict):
    if not hw.led:
        return f, f, None, None
    out = []
    for s, dc in (("pos", P["dc"][0]), ("neg", P["dc"][1])):
        A, B, C, D = P[f"led_{s}"]
        out.append((((A * f + B) * f + C) * f + D - dc, (3 * A * f + 2 * B) * f + C))
    return out[0][0], out[1][0], out[0][1], out[1][1]


def led_paths(f: torch.Tensor, hw: AOCHardware):
    """(p⁺, p⁻, p⁺', p⁻') of drive levels f [V] (..., n): the microLED cubics minus their DC levels
    (``led``/``led_dc_offset``); with ``led`` off ``(f, f, None, None)``."""
    return _led(f, hw, _profile_tensors(hw, f.shape[-1], f.dtype, f.device))


def output_efficiency(hw: AOCHardware, n: int, dtype=torch.float64, device="cpu") -> Tuple[float, float]:
    """Mean over channels of the output-side diagonal ``sigma_i C_ii eta_out±_i`` per sign path
    (the TIA efficiency, times the closed-loop scaling when on)."""
    P = _profile_tensors(hw, n, dtype, torch.device(device))
    return float(P["L_pos"].diagonal().mean()), float(P["L_neg"].diagonal().mean())


def _slm_inverse(w: torch.Tensor, dist: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
    """SLM pre-compensation (``cal_slm_inverse``): program the 9-bit level whose floor-free response
    ``a k^2 + b k`` is nearest to ``rho w`` (rho the row's largest response), evaluate the SLM there
    (plus the row's floor ``c``, zero under ``cal_dark_floor``).  Closed-form inverse of the increasing
    branch ``k = 2 t / (b + sqrt(b^2 + 4 a t))``, rounded to k/255, then the nearest of the three
    neighbouring levels (ties to the lower).  Straight-through gradient: d/dw = rho (the linearised
    SLM).  The NumPy reference picks the level by brute force over all 256 levels."""
    a, b, c = dist[:, 0:1], dist[:, 1:2], dist[:, 2:3]
    t = rho * w
    with torch.no_grad():
        disc = (b * b + 4 * a * t).clamp_min(0)
        k0 = torch.round(SLM_LEVELS * 2 * t / (b + disc.sqrt())).clamp(0, SLM_LEVELS)
        best_k, best_e = None, None
        for dk in (-1.0, 0.0, 1.0):
            k = (k0 + dk).clamp(0, SLM_LEVELS)
            lv = k / SLM_LEVELS
            e = (a * lv * lv + b * lv - t).abs()
            if best_k is None:
                best_k, best_e = k, e
            else:
                better = (e < best_e) | ((e == best_e) & (k < best_k))
                best_k, best_e = torch.where(better, k, best_k), torch.where(better, e, best_e)
        lv = best_k / SLM_LEVELS
        resp = a * lv * lv + b * lv
    return t + (resp - t).detach() + c


def path_operators(W: torch.Tensor, beta, hw: AOCHardware) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(E⁺, E⁻, k) of the linear form, differentiable in W and beta.

    W: (S, n, n) | (n, n) (then S = 1); beta: number | tensor scalar | (S,).
    Returns E± (S, n, n) and k (S, n) in W's dtype/device.
    """
    W3 = W.unsqueeze(0) if W.dim() == 2 else W
    S, n = W3.shape[0], W3.shape[-1]
    P = _profile_tensors(hw, n, W3.dtype, W3.device)
    M = W3.abs().amax(dim=(1, 2))
    M = torch.where(M > 0, M, torch.ones_like(M))
    Wn = W3 / M.reshape(-1, 1, 1)
    Wp, Wm = torch.relu(Wn), torch.relu(-Wn)
    if P["xt_pos"] is not None:       # crosstalk pre-compensation (reference: programmed_weights)
        a, b = P["xt_pos"] @ Wp, P["xt_neg"] @ Wm
        e = torch.relu(-torch.where(a <= b, a, b))      # a needed negative transmission, on both SLMs
        Wp, Wm = torch.clamp(a + e, 0.0, 1.0), torch.clamp(b + e, 0.0, 1.0)
    if hw.weight_distortion:
        dp, dn = P["dist_pos"], P["dist_neg"]
        if hw.cal_slm_inverse:
            Wp, Wm = _slm_inverse(Wp, dp, P["rho_pos"]), _slm_inverse(Wm, dn, P["rho_neg"])
        else:
            Wp = dp[:, 0:1] * Wp * Wp + dp[:, 1:2] * Wp + dp[:, 2:3]
            Wm = dn[:, 0:1] * Wm * Wm + dn[:, 1:2] * Wm + dn[:, 2:3]
    be = beta if isinstance(beta, torch.Tensor) else torch.as_tensor(beta, dtype=W3.dtype, device=W3.device)
    be = be.to(W3.dtype).reshape(-1)
    G = be * M                                                       # beta_hw / n = beta max|W|
    Ep = G.reshape(-1, 1, 1) * (P["L_pos"] @ Wp) * P["fan_pos"]
    En = G.reshape(-1, 1, 1) * (P["L_neg"] @ Wm) * P["fan_neg"]
    k = G.reshape(-1, 1) * P["sigma_h"] + P["sigma_kdc"] + (n * M * be).reshape(-1, 1) * P["sigma_klin"]
    return Ep, En, k


def hardware_step(z: torch.Tensor, Ep: torch.Tensor, En: torch.Tensor, k: torch.Tensor, c: torch.Tensor,
                  alpha, hw: AOCHardware) -> torch.Tensor:
    """``alpha z + E⁺ p⁺(f(z)) - E⁻ p⁻(f(z)) + k + c`` for z, c (S, n); E± (S|1, n, n); k (S|1, n)."""
    P = _profile_tensors(hw, z.shape[-1], z.dtype, z.device)
    f, _ = nonlinearity(z, hw)
    pp, pn, _, _ = _led(f, hw, P)
    m = (Ep @ pp.unsqueeze(-1)).squeeze(-1) - (En @ pn.unsqueeze(-1)).squeeze(-1)
    return alpha * z + m + k + c


def _alpha_col(alpha, S: int, like: torch.Tensor) -> torch.Tensor:
    a = alpha if isinstance(alpha, torch.Tensor) else torch.as_tensor(alpha, dtype=like.dtype)
    a = a.to(device=like.device, dtype=like.dtype)
    return a.reshape(-1, 1).expand(S, 1) if a.numel() == 1 else a.reshape(S, 1)


def _forward_torch(Ep, En, k, c, a, hw, gamma, tol, max_iter, s0):
    """Batched torch iteration (any device) with the ideal twin's convergence rule (module docstring):
    returns (state, iterations int64, residual) -- residual of the map WITHOUT momentum AT the
    returned state, +inf where not finite.  One host read per step (early exit), as the ideal loop."""
    S = c.shape[0]
    s = torch.zeros_like(c) if s0 is None else s0.detach().to(c.dtype).clone()
    prev = s.clone()
    active = torch.ones(S, dtype=torch.bool, device=c.device)
    iters = torch.zeros(S, dtype=torch.int64, device=c.device)
    resid = torch.full((S,), float("inf"), dtype=c.dtype, device=c.device)
    for t in range(max_iter + 1):
        F = hardware_step(s, Ep, En, k, c, a, hw)
        r = relative_residual(F, s)
        iters = torch.where(active, torch.full_like(iters, t), iters)
        resid = torch.where(active, r, resid)
        stop = ~torch.isfinite(r) | ((r <= tol) if tol > 0 else torch.zeros_like(active))
        active = active & ~stop
        if t == max_iter or not bool(active.any()):
            break
        y = F + gamma * (s - prev) if gamma != 0.0 else F
        m = active.unsqueeze(1)
        prev = torch.where(m, s, prev)
        s = torch.where(m, y, s)
    return s, iters, resid


def _f64(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to(torch.float64).numpy())


def _cpp_usable(c: torch.Tensor, hw: Optional[AOCHardware] = None) -> bool:
    """The C++ kernel runs the fitted curve with kappa folded into its coefficients (exact) and plain
    tanh(z); tanh(kappa z) (state scale on a profile without the fitted curve) runs the torch loop."""
    C = native()
    return C is not None and hasattr(C, "aoc_hardware_forward_cpu") and c.device.type == "cpu" \
        and c.dtype in (torch.float32, torch.float64) and (hw is None or hw.fitted_nonlinearity
                                                            or state_scale(hw) == 1.0)


def _forward_cpp(Ep, En, k, c, a, hw, gamma, tol, max_iter, s0):
    """The same iteration on the C++ kernel (float64 inside; results in c's dtype)."""
    P = _profile_tensors(hw, c.shape[1], c.dtype, c.device)
    state, it, res = native().aoc_hardware_forward_cpu(
        _f64(Ep), _f64(En), _f64(k), _f64(c), None if s0 is None else _f64(s0), _f64(a.reshape(-1)),
        float(gamma), bool(hw.fitted_nonlinearity), list(P["tanh"]), bool(hw.led),
        P["led_pos"], P["led_neg"], float(P["dc"][0]), float(P["dc"][1]), float(tol), int(max_iter),
        max(1, int(torch.get_num_threads())))
    return (torch.from_numpy(state).to(c.dtype), torch.from_numpy(it.astype(np.int64)),
            torch.from_numpy(res).to(c.dtype))


# ----------------------------------------------------------------------------- autograd
class HardwareFixedPointFunction(torch.autograd.Function):
    """apply(Ep, En, k, c, alpha, hw, gamma, tol, max_iter, s0, unconverged, use_cpp) -> (z*, iters,
    residual, converged, untrusted).  Ep/En: (S, n, n); k, c: (S, n); alpha: number | tensor scalar | (S,)."""

    @staticmethod
    def forward(ctx, Ep, En, k, c, alpha, hw, gamma, tol, max_iter, s0, unconverged, use_cpp=False,
                btol=1e-6, bmax=500):
        S, n = c.shape
        a = _alpha_col(alpha, S, c)
        with torch.no_grad():
            if use_cpp:
                s, iters, resid = _forward_cpp(Ep, En, k, c, a, hw, gamma, tol, max_iter, s0)
            else:
                s, iters, resid = _forward_torch(Ep, En, k, c, a, hw, gamma, tol, max_iter, s0)
            converged = resid <= tol          # AT the returned state (the ideal twin's rule)
        alpha_t = alpha if isinstance(alpha, torch.Tensor) else torch.as_tensor(alpha, dtype=c.dtype)
        ctx.save_for_backward(Ep, En, s, converged, alpha_t)
        ctx.hw, ctx.unconverged, ctx.alpha_is_tensor = hw, unconverged, isinstance(alpha, torch.Tensor)
        ctx.btol, ctx.bmax = btol, bmax
        untrusted = ~converged
        ctx.mark_non_differentiable(iters, resid, converged, untrusted)
        return s, iters, resid, converged, untrusted

    @staticmethod
    def backward(ctx, g, *_):
        Ep, En, z, converged, alpha = ctx.saved_tensors
        need = ctx.needs_input_grad
        none_tail = (None,) * 9          # hw, gamma, tol, max_iter, s0, unconverged, use_cpp, btol, bmax
        if g is None or not any(need[:5]):
            return (None,) * 5 + none_tail
        hw = ctx.hw
        S, n = z.shape
        a = _alpha_col(alpha, S, z)
        P = _profile_tensors(hw, n, z.dtype, z.device)
        f, fp = nonlinearity(z, hw)
        pp, pn, dpp, dpn = _led(f, hw, P)
        dp = fp if dpp is None else dpp * fp
        dn = fp if dpn is None else dpn * fp
        J = a.unsqueeze(-1) * torch.eye(n, dtype=z.dtype, device=z.device) + Ep * dp.unsqueeze(1) \
            - En * dn.unsqueeze(1)
        v, solve_res = _adjoint_solve(J, g, ctx.btol, ctx.bmax)
        ok = converged & (solve_res <= ctx.btol)
        if ctx.unconverged == "raise":
            if not bool(ok.all()):
                bad_f = int((~converged).sum())
                bad_a = int((converged & ~(solve_res <= ctx.btol)).sum())
                raise FloatingPointError(
                    f"hardware_fixed_point(): {bad_f + bad_a} of {S} systems have no trustworthy implicit "
                    f"gradient ({bad_f}: forward residual > tol at the returned state; {bad_a}: adjoint "
                    f"residual > backward_tol = {ctx.btol:g} or not finite); raise max_iter, lower the gain, "
                    "or pass unconverged='zero' to drop them. No gradient is returned.")
        v = torch.where(ok.unsqueeze(1), v, torch.zeros_like(v))
        gEp = v.unsqueeze(-1) * pp.unsqueeze(1) if need[0] else None
        gEn = -(v.unsqueeze(-1) * pn.unsqueeze(1)) if need[1] else None
        gk = v if need[2] else None
        gc = v if need[3] else None
        ga = None
        if need[4] and ctx.alpha_is_tensor:
            ga = (v * z).sum(1)
            ga = ga.sum().reshape(alpha.shape) if alpha.numel() == 1 else ga.reshape(alpha.shape)
        return (_sum_to(gEp, Ep), _sum_to(gEn, En), _sum_to(gk, None), gc, ga) + none_tail


def _sum_to(grad: Optional[torch.Tensor], like: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    if grad is None or like is None or grad.shape == like.shape:
        return grad
    return grad.sum(0, keepdim=True)


def _adjoint_solve(J: torch.Tensor, g: torch.Tensor, btol: float = 1e-6,
                   bmax: int = 500) -> Tuple[torch.Tensor, torch.Tensor]:
    """v with ``v = G(v) = J^T v + g`` per system, in float64; returns (v in g's dtype, residual).

    residual = ``||G(v) - v|| / max(||G(v)||, 1e-30)`` AT the returned v (+inf where not finite):
    the ideal twin's adjoint residual (:mod:`quaton_fast.reference.fixed_point`).  n <= DIRECT_MAX_N:
    one batched LU solve (``solve_ex``; a singular ``I - J^T`` gives NaN, i.e. refused).  Above: the
    plain iteration ``v <- G(v)`` from ``v = g`` with the forward's stop rule (btol, bmax), then a
    direct solve for the systems it did not solve (the ideal twin's ``backward_method='auto'``)."""
    S, n = g.shape
    f64 = torch.float64
    JT = J.to(f64).transpose(1, 2)
    g64 = g.to(f64)
    eye = torch.eye(n, dtype=f64, device=g.device)

    def G(x):
        return (JT @ x.unsqueeze(-1)).squeeze(-1) + g64

    def direct(JTi, gi):
        vi, info = torch.linalg.solve_ex(eye - JTi, gi.unsqueeze(-1))
        vi = vi.squeeze(-1)
        return torch.where((info != 0).unsqueeze(1), torch.full_like(vi, float("nan")), vi)

    if n <= DIRECT_MAX_N:
        v = direct(JT, g64)
    else:
        v = g64.clone()
        active = torch.ones(S, dtype=torch.bool, device=g.device)
        for t in range(bmax + 1):
            vn = G(v)
            r = relative_residual(vn, v)
            stop = ~torch.isfinite(r) | (r <= btol)
            active = active & ~stop
            if t == bmax or not bool(active.any()):
                break
            v = torch.where(active.unsqueeze(1), vn, v)
        failed = ~(relative_residual(G(v), v) <= btol)
        if bool(failed.any()):
            idx = failed.nonzero().squeeze(1)
            v = v.clone()
            v[idx] = direct(JT[idx], g64[idx])
    res = relative_residual(G(v), v)
    return v.to(g.dtype), res.to(g.dtype)


# ----------------------------------------------------------------------------- public entry
def _input_clamp(b: torch.Tensor, hw: AOCHardware, clamp: Optional[Tuple[float, float]]) -> torch.Tensor:
    lim = input_limits(hw, clamp)
    return b if lim is None else b.clamp(float(lim[0]), float(lim[1]))


def _check(W, b, hw, clamp, tol, max_iter, unconverged, backend, s0=None, alpha=0.5, beta=1.0, gamma=0.0,
           backward_tol=1e-6, backward_max_iter=500):
    func = "hardware_fixed_point"
    if not isinstance(hw, AOCHardware):
        raise TypeError(f"{func}(): argument 'hw' must be an AOCHardware profile, got {type(hw).__name__}")
    if not isinstance(W, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise TypeError(f"{func}(): arguments 'W' and 'b' must be torch.Tensor")
    if b.dim() == 1:
        b = b.unsqueeze(0)
    if b.dim() != 2 or b.shape[0] < 1 or b.shape[1] < 1 or not b.is_floating_point():
        raise ValueError(f"{func}(): argument 'b' must be a floating tensor of shape (S, n), got "
                         f"shape {tuple(b.shape)}, dtype {b.dtype}")
    S, n = b.shape
    if W.shape not in ((n, n), (S, n, n)):
        raise ValueError(f"{func}(): argument 'W' must be of shape ({n}, {n}) or ({S}, {n}, {n}), "
                         f"got shape {tuple(W.shape)}")
    if W.dtype != b.dtype or W.device != b.device:
        raise TypeError(f"{func}(): argument 'W' must have b's dtype and device ({b.dtype}, {b.device}), got "
                        f"{W.dtype}, {W.device}")
    if s0 is not None and (not isinstance(s0, torch.Tensor) or s0.shape != b.shape or s0.device != b.device):
        raise ValueError(f"{func}(): argument 's0' must be a tensor of shape {tuple(b.shape)} on {b.device}, got "
                         f"{tuple(s0.shape) if isinstance(s0, torch.Tensor) else type(s0).__name__}")
    for name, v in (("alpha", alpha), ("beta", beta)):
        if isinstance(v, torch.Tensor):
            if v.numel() not in (1, S) or v.device != b.device:
                raise ValueError(f"{func}(): argument '{name}' must be a number, a tensor scalar or shape ({S},) on "
                                 f"{b.device}, got shape {tuple(v.shape)} on {v.device}")
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"{func}(): argument '{name}' must be a number or a tensor, got {type(v).__name__}")
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)):
        raise TypeError(f"{func}(): argument 'gamma' must be a number, got {type(gamma).__name__}")
    if clamp is not None and not (isinstance(clamp, (tuple, list)) and len(clamp) == 2 and clamp[0] < clamp[1]):
        raise ValueError(f"{func}(): argument 'clamp' must be (lo, hi) with lo < hi, got {clamp!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or not 1 <= max_iter <= 2 ** 31 - 2:
        raise ValueError(f"{func}(): argument 'max_iter' must be an integer in [1, 2**31 - 2] (the kernel "
                         f"counts steps 0 .. max_iter in a C int), got {max_iter!r}")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 <= tol < float("inf"):
        raise ValueError(f"{func}(): argument 'tol' must be a finite number >= 0, got {tol!r}")
    for name, v in (("backward_tol", backward_tol), ("backward_max_iter", backward_max_iter)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < float("inf") or (
                name == "backward_max_iter" and (not isinstance(v, int) or v < 1)):
            raise ValueError(f"{func}(): argument '{name}' must be "
                             f"{'a finite number >= 0' if name == 'backward_tol' else 'an integer >= 1'}, got {v!r}")
    if unconverged not in ("raise", "zero"):
        raise ValueError(f"{func}(): argument 'unconverged' must be 'raise' or 'zero', got {unconverged!r}")
    if backend not in ("auto", "torch", "cpp", "cuda"):
        raise ValueError(f"{func}(): argument 'backend' must be 'auto', 'torch', 'cpp' or 'cuda', got {backend!r}")
    if backend == "cuda":
        raise RuntimeError(f"{func}(): argument 'backend' = 'cuda' is not available for the non-ideal cell "
                           "(no CUDA kernel yet); use 'auto' or 'torch' (torch ops on CUDA tensors)")
    if backend == "cpp" and not _cpp_usable(b, hw):
        raise RuntimeError(f"{func}(): argument 'backend' = 'cpp' needs the compiled extension with "
                           f"aoc_hardware_forward_cpu and CPU float32/float64 tensors, got device {b.device}, "
                           f"dtype {b.dtype}")
    return b


def hardware_fixed_point(W: torch.Tensor, b: torch.Tensor, hw: AOCHardware, *, alpha=0.5, beta=1.0,
                         gamma: float = 0.0, clamp: Optional[Tuple[float, float]] = None, tol: float = 1e-3,
                         max_iter: int = 100, s0: Optional[torch.Tensor] = None,
                         unconverged: str = "raise", backend: str = "auto", generic: bool = False,
                         backward_tol: float = 1e-6, backward_max_iter: int = 500):
    """Fixed point of the non-ideal cell with implicit gradients for W, b, beta (and alpha if a tensor).

    W: (S, n, n) per system or (n, n) shared; b: (S, n) input ``x + bias`` [V] before the input clamp
    (the profile's ``deq_input_min_max`` when ``input_clamp`` is on, else ``clamp``); alpha, beta:
    number | tensor scalar | (S,); gamma: momentum (forward only); tol / max_iter: stopping rule of
    the ideal twin (module docstring: residual AT the returned state, converged = residual <= tol);
    unconverged: 'raise' | 'zero' (module docstring); generic: run the non-ideal code even for an
    ideal profile (tests); backward_tol, backward_max_iter: the adjoint's tolerance (residual as the
    ideal twin's) and iteration budget (used above n = DIRECT_MAX_N).
    Returns (state (S, n), iterations (S,) int64 updates applied, residual (S,) at the returned
    state, untrusted (S,) bool = not converged).
    """
    gamma, tol, max_iter, backward_tol, backward_max_iter = (plain_scalar(v) for v in (
        gamma, tol, max_iter, backward_tol, backward_max_iter))
    alpha, beta = (v if isinstance(v, torch.Tensor) else plain_scalar(v) for v in (alpha, beta))   # NumPy / 0-d tensor numbers
    b = _check(W, b, hw, clamp, tol, max_iter, unconverged, backend, s0, alpha, beta, gamma, backward_tol,
               backward_max_iter)
    # the ideal profile hands over to today's ideal fixed point (bit for bit) only where that path
    # has the same contract: refusing untrustworthy gradients with the default adjoint settings
    if hw.is_ideal and not generic and unconverged == "raise" and backend == "auto" \
            and backward_tol == 1e-6 and backward_max_iter == 500:
        c = b if clamp is None else b.clamp(clamp[0], clamp[1])
        z, it, res = ideal_fixed_point(W, c, alpha=alpha, beta=beta, gamma=gamma, tol=tol, max_iter=max_iter,
                                       s0=s0)
        return z, it, res, ~(res <= tol)
    use_cpp = backend in ("auto", "cpp") and _cpp_usable(b, hw)
    if backend == "auto" and not use_cpp and not _warned["native"]:
        _warned["native"] = True
        warnings.warn(f"hardware_fixed_point(): no native kernel for the non-ideal AOC cell on {b.device} "
                      f"{b.dtype} tensors; running the torch loop (correct, slower)", RuntimeWarning, stacklevel=2)
    c = _input_clamp(b, hw, clamp)
    Ep, En, k = path_operators(W, beta, hw)
    S = b.shape[0]
    if Ep.shape[0] != S:
        Ep, En, k = Ep.expand(S, -1, -1), En.expand(S, -1, -1), k.expand(S, -1)
    z, it, res, _conv, untrusted = HardwareFixedPointFunction.apply(
        Ep, En, k, c, alpha, hw, float(gamma), float(tol), int(max_iter), s0, unconverged, use_cpp,
        float(backward_tol), int(backward_max_iter))
    return z, it, res, untrusted


def readout(z: torch.Tensor, sigma: float, samples: int = 40, repeats: int = 1,
            generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Sampled read-out of a fixed point: the mean of ``samples * repeats`` noisy samples
    ``z + sigma xi`` (xi standard normal, sigma in V), as the paper's 40-sample window (6.4 us at
    6.25 MHz) and its 11 repeats for regression.  z: (..., n); returns z's shape and dtype.
    The released twin has no noise model: sigma is the user's choice (0 = exact z)."""
    if sigma < 0 or samples < 1 or repeats < 1:
        raise ValueError(f"readout(): arguments 'sigma' >= 0, 'samples' >= 1 and 'repeats' >= 1 expected, "
                         f"got {sigma!r}, {samples!r}, {repeats!r}")
    if sigma == 0:
        return z
    xi = torch.randn((repeats * samples,) + tuple(z.shape), generator=generator, dtype=z.dtype,
                     device="cpu" if generator is not None else z.device).to(z.device)
    return z + sigma * xi.mean(0)

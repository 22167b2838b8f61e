"""Quantizers on complex (absorbing) level tables, and modulation by a complex transmission.

The torch side of :mod:`quaton_fast.reference.complex_levels` (the NumPy reference and the
formulas' home). A complex table enters as tensors: ``thresholds`` (n,) real (the phase midpoints
of the periodic phase table, wrap threshold included), ``transmissions`` (n,) complex (``t_i``),
``base`` = φ_0 (radians) and ``period`` (2π). :func:`complex_table_tensors` gives them from a
:class:`~quaton_fast.reference.complex_levels.ComplexLevelTable`.

Every function maps a real latent ``w`` (any shape, radians; float32 → complex64, float64 →
complex128) to a complex transmission ``T(w)`` of the same shape, with PyTorch's complex-gradient
convention: the incoming gradient is ``g = ∂L/∂Re T + i ∂L/∂Im T`` and ``dL/dw = Re(conj(dT/dw)·g)``.

Hot path: metadata checks only, no host synchronisation; a non-finite latent gives NaN + iNaN.
PSQ is O(n) per element, in chunks of thresholds (temporaries ≲ 2^22 elements), recomputed in
the backward pass (nothing (numel, n) is saved). No CUDA kernel: on a GPU these run as torch ops.
"""
from __future__ import annotations

import functools
import math

import torch

from .._backend import notice_once
from .._validation import fail, finite_real
from ..reference.complex_levels import ComplexLevelTable
from . import _checks
from .propagation import propagate
from .quantizers import fold_latent

__all__ = ["complex_table_tensors", "hard_transmission", "ste_transmission", "ste_soft_transmission",
           "psq_transmission",
           "dsq_transmission", "gumbel_softmax_transmission", "modulate_transmission_propagate"]

TWO_PI = 2.0 * math.pi
_CHUNK_ELEMENTS = 1 << 22


def complex_table_tensors(table: ComplexLevelTable, *, dtype: torch.dtype = torch.float32,
                          device: torch.device | str | None = None) -> dict:
    """``{thresholds, transmissions, base, period}`` of a complex table: (n,) real ``dtype`` and
    (n,) complex tensors on ``device``, ``base`` = φ_0 and ``period`` = 2π as Python floats."""
    if not isinstance(table, ComplexLevelTable):
        fail("complex_table_tensors", "table", "a ComplexLevelTable", type(table).__name__, TypeError)
    cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    return {"thresholds": torch.tensor(table.phase_table.thresholds, dtype=dtype, device=device),
            "transmissions": torch.tensor(table.transmissions, dtype=cdtype, device=device),
            "base": float(table.phase_table.base), "period": float(table.phase_table.period)}


def _table(func, w, thresholds, transmissions, base, period):
    """Metadata checks (free); returns thr, t_ext_re, t_ext_im ((n+1,): t_0..t_{n−1}, t_0), base, period."""
    _checks.tensor(func, "w", w, complex_ok=False, check_finite=False)
    _checks.tensor(func, "thresholds", thresholds, complex_ok=False, min_ndim=1, check_finite=False)
    _checks.tensor(func, "transmissions", transmissions, real_ok=False, min_ndim=1, check_finite=False)
    for name, t in (("thresholds", thresholds), ("transmissions", transmissions)):
        if t.dim() != 1:
            fail(func, name, "a 1-D tensor", f"shape {tuple(t.shape)}")
        _checks.same_device(func, name, t, w, "w")
    n = transmissions.numel()
    if n < 2 or thresholds.numel() != n:
        fail(func, "thresholds", f"n thresholds for n >= 2 transmissions (n = {n}; periodic table)",
             f"length {thresholds.numel()}")
    b = finite_real(func, "base", base)
    p = finite_real(func, "period", period, positive=True)
    ext = torch.cat([transmissions, transmissions[:1]])
    return (thresholds.to(w.dtype).contiguous(), ext.real.to(w.dtype).contiguous(),
            ext.imag.to(w.dtype).contiguous(), b, p)


def _nan(w: torch.Tensor) -> torch.Tensor:
    """0 where w is finite, NaN elsewhere; carries no gradient."""
    return (w - w).detach()


def _index(w, thr, base, period):
    """Staircase index 0..n into the extended (n+1,) transmissions (n ≡ level 0)."""
    return torch.searchsorted(thr, fold_latent(w, base, period).contiguous(), right=True)


def _complex(re: torch.Tensor, im: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    z = _nan(w)
    return torch.complex(re + z, im + z)


def hard_transmission(w: torch.Tensor, thresholds: torch.Tensor, transmissions: torch.Tensor, base: float,
                      *, period: float = TWO_PI) -> torch.Tensor:
    """``t[level_index(w)]``: the level nearest in phase (periodic), complex, shape of ``w``; not
    differentiable. NaN where ``w`` is not finite."""
    thr, er, ei, b, p = _table("hard_transmission", w, thresholds, transmissions, base, period)
    idx = _index(w.detach(), thr, b, p)
    return _complex(er[idx], ei[idx], w.detach())


class _STE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, thr, er, ei, base, period):  # type: ignore[override]
        idx = _index(w, thr, base, period)
        re, im = er[idx], ei[idx]
        ctx.save_for_backward(re, im)
        return _complex(re, im, w)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        re, im = ctx.saved_tensors
        # dT/dw = i·t = −Im t + i Re t;  Re(conj(dT/dw)·g) = −Im t·g.re + Re t·g.im
        return -im * g.real + re * g.imag, None, None, None, None, None


def ste_transmission(w: torch.Tensor, thresholds: torch.Tensor, transmissions: torch.Tensor, base: float,
                     *, period: float = TWO_PI) -> torch.Tensor:
    """Straight-through estimator: forward the hard level ``t_j``, backward ``dT/dw = i·t_j``
    (phase straight through, the level's amplitude held)."""
    thr, er, ei, b, p = _table("ste_transmission", w, thresholds, transmissions, base, period)
    return _STE.apply(w, thr, er, ei, b, p)


# ----------------------------------------------------------------------------- PSQ
def _psq_sums(w, k, thr, er, ei, base, period, need_k, backward):
    """Per element: (T.re, T.im) forward, or (dT/dw, dT/dk) re/im parts backward."""
    x = fold_latent(w, base, period).reshape(-1, 1)
    dr, di = er[1:] - er[:-1], ei[1:] - ei[:-1]
    n = thr.numel()
    per = max(1, _CHUNK_ELEMENTS // max(1, x.numel()))
    a_re = torch.zeros_like(x[:, 0])
    a_im = torch.zeros_like(x[:, 0])
    b_re = torch.zeros_like(x[:, 0]) if need_k else None
    b_im = torch.zeros_like(x[:, 0]) if need_k else None
    for j in range(0, n, per):
        u = x - thr[j:j + per]
        s = torch.sigmoid(k * u)
        if not backward:
            a_re = a_re + s @ dr[j:j + per]
            a_im = a_im + s @ di[j:j + per]
            continue
        slope = s * (1 - s)
        a_re = a_re + slope @ dr[j:j + per]
        a_im = a_im + slope @ di[j:j + per]
        if need_k:
            us = u * slope
            b_re = b_re + us @ dr[j:j + per]
            b_im = b_im + us @ di[j:j + per]
    return a_re, a_im, b_re, b_im


class _PSQT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, k, thr, er, ei, base, period):  # type: ignore[override]
        k_t = k if isinstance(k, torch.Tensor) else None
        ctx.save_for_backward(w, k_t, thr, er, ei)
        ctx.k_float, ctx.base, ctx.period = (None if k_t is not None else float(k)), base, period
        re, im, _, _ = _psq_sums(w, k, thr, er, ei, base, period, False, False)
        return _complex(er[0] + re.reshape(w.shape), ei[0] + im.reshape(w.shape), w)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        w, k_t, thr, er, ei = ctx.saved_tensors
        k = k_t if k_t is not None else ctx.k_float
        need_k = k_t is not None and ctx.needs_input_grad[1]
        if not (ctx.needs_input_grad[0] or need_k):
            return None, None, None, None, None, None, None
        d_re, d_im, k_re, k_im = _psq_sums(w, k, thr, er, ei, ctx.base, ctx.period, need_k, True)
        gr, gi = g.real.reshape(-1), g.imag.reshape(-1)
        grad_w = (k * (d_re * gr + d_im * gi)).reshape(w.shape) if ctx.needs_input_grad[0] else None
        grad_k = (k_re * gr + k_im * gi).sum().reshape(k_t.shape) if need_k else None
        return grad_w, grad_k, None, None, None, None, None


def psq_transmission(w: torch.Tensor, k: torch.Tensor | float, thresholds: torch.Tensor,
                     transmissions: torch.Tensor, base: float, *, period: float = TWO_PI) -> torch.Tensor:
    """Complex PSQ ``T_k(w) = t_0 + Σ_i (t_{i+1} − t_i)·σ(k·(x − c_i))``, ``x = fold_latent(w)``,
    ``t_n ≡ t_0``. ``k`` (1/rad): a Python number (checked > 0) or a 1-element floating tensor
    (differentiable, not value-checked: no host sync)."""
    thr, er, ei, b, p = _table("psq_transmission", w, thresholds, transmissions, base, period)
    if isinstance(k, torch.Tensor):
        if k.numel() != 1 or not k.is_floating_point():
            fail("psq_transmission", "k", "a 1-element floating-point tensor", f"{k.dtype} shape {tuple(k.shape)}",
                 TypeError if not k.is_floating_point() else ValueError)
        _checks.same_device("psq_transmission", "k", k, w, "w")
        k = k.reshape(()).to(w.dtype)
    else:
        k = finite_real("psq_transmission", "k", k, positive=True)
    return _PSQT.apply(w, k, thr, er, ei, b, p)


def ste_soft_transmission(w: torch.Tensor, k: float, thresholds: torch.Tensor, transmissions: torch.Tensor,
                          base: float, *, period: float = TWO_PI) -> torch.Tensor:
    """Transmission-domain straight-through estimator: forward the hard level ``t_j``
    (:func:`hard_transmission`), backward the VJP of :func:`psq_transmission` at sharpness ``k``
    (a Python number > 0): ``dL/dw = Re(conj(dT_k/dw)·g)``."""
    thr, er, ei, b, p = _table("ste_soft_transmission", w, thresholds, transmissions, base, period)
    k = finite_real("ste_soft_transmission", "k", k, positive=True)
    soft = _PSQT.apply(w, k, thr, er, ei, b, p)
    idx = _index(w.detach(), thr, b, p)
    hard = _complex(er[idx], ei[idx], w.detach())
    return hard + (soft - soft.detach())


# ----------------------------------------------------------------------------- DSQ
class _DSQT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, alpha, ends, thr, er, ei, base, period, hard_forward):  # type: ignore[override]
        a_t = alpha if isinstance(alpha, torch.Tensor) else None
        ctx.save_for_backward(w, a_t, ends, thr, er, ei)
        ctx.alpha_float, ctx.base, ctx.period = (None if a_t is not None else float(alpha)), base, period
        if hard_forward:
            idx = _index(w, thr, base, period)
            return _complex(er[idx], ei[idx], w)
        x, i, d, k, s, u = _dsq_terms(w, alpha, ends, thr, base, period)
        h = (s * torch.tanh(k * u) + 1) * 0.5
        dr, di = er[i + 1] - er[i], ei[i + 1] - ei[i]
        return _complex(er[i] + dr * h, ei[i] + di * h, w)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        w, a_t, ends, thr, er, ei = ctx.saved_tensors
        alpha = a_t if a_t is not None else ctx.alpha_float
        x, i, d, k, s, u = _dsq_terms(w, alpha, ends, thr, ctx.base, ctx.period)
        th = torch.tanh(k * u)
        sech2 = 1 - th * th
        proj = (er[i + 1] - er[i]) * g.real + (ei[i + 1] - ei[i]) * g.imag   # Re(conj(δ_i)·g)
        grad_w = proj * 0.5 * s * k * sech2 if ctx.needs_input_grad[0] else None
        grad_a = None
        if a_t is not None and ctx.needs_input_grad[1]:
            dk_da = -2 / (alpha * (2 - alpha) * d)
            ds_da = 1 / (1 - alpha) ** 2
            grad_a = (proj * 0.5 * (ds_da * th + s * sech2 * u * dk_da)).sum().reshape(a_t.shape)
        return grad_w, grad_a, None, None, None, None, None, None, None


def _dsq_terms(w, alpha, ends, thr, base, period):
    """x = fold(w); interval i (0..n−1) with ends[i] <= x; width Δ_i, k_i, s, u = x − c_i."""
    x = fold_latent(w, base, period)
    n = thr.numel()
    i = (torch.searchsorted(ends[:-1].contiguous(), x.contiguous(), right=True) - 1).clamp(0, n - 1)
    d = ends[i + 1] - ends[i]
    log_term = torch.log(2 / alpha - 1) if isinstance(alpha, torch.Tensor) else math.log(2 / alpha - 1)
    k = log_term / d
    s = 1 / (1 - alpha)
    return x, i, d, k, s, x - thr[i]


def dsq_transmission(w: torch.Tensor, alpha: torch.Tensor | float, levels: torch.Tensor,
                     thresholds: torch.Tensor, transmissions: torch.Tensor, base: float, *,
                     period: float = TWO_PI, hard_forward: bool = True) -> torch.Tensor:
    """Complex DSQ: in the phase interval ``[φ_i, φ_{i+1}]`` holding ``x = fold_latent(w)``,
    ``T = t_i + δ_i·(s·tanh(k_i(x − c_i)) + 1)/2``, ``k_i = log(2/α − 1)/Δ_i``, ``s = 1/(1 − α)``.
    ``levels`` (n,) real: the phases φ_i. ``hard_forward``: forward the hard level, backward the
    soft curve's derivative (Gong et al.'s scheme). ``alpha`` ∈ (0, 1): Python number (checked)
    or 1-element tensor (not value-checked)."""
    func = "dsq_transmission"
    thr, er, ei, b, p = _table(func, w, thresholds, transmissions, base, period)
    _checks.tensor(func, "levels", levels, complex_ok=False, min_ndim=1, check_finite=False)
    if levels.dim() != 1 or levels.numel() != thr.numel():
        fail(func, "levels", f"a 1-D tensor of {thr.numel()} phases", f"shape {tuple(levels.shape)}")
    _checks.same_device(func, "levels", levels, w, "w")
    if not isinstance(hard_forward, bool):
        fail(func, "hard_forward", "a bool", type(hard_forward).__name__, TypeError)
    if isinstance(alpha, torch.Tensor):
        if alpha.numel() != 1 or not alpha.is_floating_point():
            fail(func, "alpha", "a 1-element floating-point tensor", f"{alpha.dtype} shape {tuple(alpha.shape)}",
                 TypeError if not alpha.is_floating_point() else ValueError)
        _checks.same_device(func, "alpha", alpha, w, "w")
        alpha = alpha.reshape(()).to(w.dtype)
    else:
        a = finite_real(func, "alpha", alpha)
        if not 0 < a < 1:
            fail(func, "alpha", "in the open interval (0, 1)", a)
        alpha = a
    lv = levels.to(w.dtype)
    ends = torch.cat([lv, lv[:1] + p]).contiguous()
    return _DSQT.apply(w, alpha, ends, thr, er, ei, b, p, hard_forward)


# ----------------------------------------------------------------------------- Gumbel-softmax
def gumbel_softmax_transmission(logits: torch.Tensor, transmissions: torch.Tensor, tau: float,
                                noise: torch.Tensor | None) -> torch.Tensor:
    """Straight-through Gumbel-softmax over complex levels: forward ``t[argmax(logits + noise)]``,
    gradient through the soft value ``Σ_j softmax((logits + noise)/τ)_j·t_j``. ``logits`` (..., n),
    ``transmissions`` (n,) complex; output complex, shape ``logits.shape[:-1]``."""
    func = "gumbel_softmax_transmission"
    _checks.tensor(func, "logits", logits, complex_ok=False, min_ndim=1, check_finite=False)
    _checks.tensor(func, "transmissions", transmissions, real_ok=False, min_ndim=1, check_finite=False)
    if transmissions.dim() != 1 or logits.shape[-1] != transmissions.numel():
        fail(func, "logits", f"of shape (..., {transmissions.numel()}) (one logit per level)",
             f"shape {tuple(logits.shape)}")
    _checks.same_device(func, "transmissions", transmissions, logits, "logits")
    t = finite_real(func, "tau", tau, positive=True)
    if noise is not None:
        _checks.tensor(func, "noise", noise, complex_ok=False, check_finite=False)
        if noise.shape != logits.shape:
            fail(func, "noise", f"of the logits' shape {tuple(logits.shape)}", f"shape {tuple(noise.shape)}")
    z = logits if noise is None else logits + noise
    y_soft = torch.softmax(z / t, dim=-1)
    y_hard = torch.zeros_like(y_soft).scatter_(-1, z.argmax(dim=-1, keepdim=True), 1.0)
    y = y_hard - y_soft.detach() + y_soft
    re = (y * transmissions.real.to(logits.dtype)).sum(-1)
    im = (y * transmissions.imag.to(logits.dtype)).sum(-1)
    nan = (logits - logits).detach().sum(dim=-1)
    return torch.complex(re + nan, im + nan)


# ----------------------------------------------------------------------------- modulation
@functools.lru_cache(maxsize=None)
def _notice_torch_path(device_type: str) -> None:
    notice_once("modulate_transmission_propagate:" + device_type,
                "modulate_transmission_propagate: complex (absorbing) level tables run the torch.fft path "
                "(the fused CUDA kernels take phases only)")


def modulate_transmission_propagate(u: torch.Tensor, transmission: torch.Tensor, transfer: torch.Tensor, *,
                                    check_finite: bool = False) -> torch.Tensor:
    """``propagate(u · transmission, transfer)``: modulation by a complex transmission
    (``|t| <= 1`` for passive levels), then free-space propagation.

    u: (..., N, N) complex; transmission: (N, N) complex (complex64/complex128) on u's device;
    transfer: (P, P) complex, P >= N, unshifted FFT order. Differentiable in u and transmission
    (PyTorch's complex convention). Always the torch path (the fused kernels take phases;
    on CUDA this says so once). Metadata checks only unless ``check_finite``."""
    func = "modulate_transmission_propagate"
    _checks.square_field(func, "u", u, check_finite=check_finite)
    if not u.is_complex():
        fail(func, "u", "a complex field (complex64 or complex128)", f"dtype {u.dtype}", TypeError)
    _checks.tensor(func, "transmission", transmission, real_ok=False, check_finite=check_finite)
    if tuple(transmission.shape) != tuple(u.shape[-2:]):
        fail(func, "transmission", f"of shape {tuple(u.shape[-2:])}", f"shape {tuple(transmission.shape)}")
    _checks.same_device(func, "transmission", transmission, u, "u")
    if u.is_cuda:
        _notice_torch_path("cuda")
    return propagate(u * transmission.to(u.dtype), transfer)

"""Phase quantizers as torch autograd Functions (SPEC A2), one dispatch point per quantizer.

A level table enters as three tensors (see :class:`quaton_fast.reference.levels.LevelTable`):
``thresholds`` (m,) and ``steps`` (m,) of the staircase ``Q(w) = base + Σ_i steps_i·[w ≥ c_i]``
and ``base`` = q_0 (radians). Periodic tables carry the wrap-around threshold, so their top
step lands on q_0 + period ≡ q_0. PSQ replaces each step by ``σ(k·(w − c_i))``.

Dispatch: on a CUDA tensor with a CUDA build, PSQ runs the kernel of ``cuda/quantizer.cu``;
everywhere else it runs the torch ops below, which mirror the NumPy reference line by line.
"""
from __future__ import annotations

import math

import torch

from .._backend import has_cuda, native
from . import _checks


# ----------------------------------------------------------------------------- staircase (hard)
def staircase(w: torch.Tensor, thresholds: torch.Tensor, steps: torch.Tensor, base: float) -> torch.Tensor:
    """Hard quantizer, the k → ∞ limit of PSQ. ``w`` any shape, radians. Not differentiable
    (use :func:`ste` for a straight-through gradient)."""
    q = torch.full_like(w, float(base))
    for c, d in zip(thresholds.tolist(), steps.tolist()):
        q = q + d * (w >= c).to(w.dtype)
    return q


class _StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, thresholds, steps, base):  # type: ignore[override]
        return staircase(w, thresholds, steps, base)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return grad, None, None, None


def ste(w: torch.Tensor, thresholds: torch.Tensor, steps: torch.Tensor, base: float) -> torch.Tensor:
    """Straight-through estimator: forward = staircase, backward = identity. ``w`` any shape."""
    return _StraightThrough.apply(w, thresholds, steps, base)


# ----------------------------------------------------------------------------- PSQ
def _use_psq_kernel(w: torch.Tensor) -> bool:
    return w.is_cuda and w.dtype == torch.float32 and has_cuda()


def _psq_forward_torch(w, thresholds, steps, base, k):
    q = torch.full_like(w, float(base))
    for i in range(thresholds.numel()):
        q = q + steps[i] * torch.sigmoid(k * (w - thresholds[i]))
    return q


def _psq_backward_torch(grad, w, thresholds, steps, k):
    dq_dw = torch.zeros_like(w)
    dq_dk = torch.zeros_like(w)
    for i in range(thresholds.numel()):
        x = w - thresholds[i]
        s = torch.sigmoid(k * x)
        ds = steps[i] * s * (1 - s)
        dq_dw = dq_dw + ds * k
        dq_dk = dq_dk + ds * x
    return grad * dq_dw, (grad * dq_dk).sum()


class _PSQ(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, k, thresholds, steps, base):  # type: ignore[override]
        ctx.save_for_backward(w, k, thresholds, steps)
        ctx.base = base
        if _use_psq_kernel(w):
            wc = w.contiguous()
            out = torch.empty_like(wc)
            native().psq_forward_cuda(wc.data_ptr(), out.data_ptr(), wc.numel(),
                                      thresholds.contiguous().data_ptr(), steps.contiguous().data_ptr(),
                                      thresholds.numel(), float(base), float(k), False,
                                      torch.cuda.current_stream(w.device).cuda_stream)
            return out
        return _psq_forward_torch(w, thresholds, steps, base, k)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        w, k, thresholds, steps = ctx.saved_tensors
        need_w, need_k = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if not (need_w or need_k):
            return None, None, None, None, None
        if _use_psq_kernel(w):
            wc, gc = w.contiguous(), grad.contiguous()
            grad_w = torch.empty_like(wc) if need_w else None
            grad_k = torch.zeros(1, device=w.device, dtype=torch.float32) if need_k else None
            native().psq_backward_cuda(wc.data_ptr(), gc.data_ptr(),
                                       grad_w.data_ptr() if grad_w is not None else 0,
                                       grad_k.data_ptr() if grad_k is not None else 0, wc.numel(),
                                       thresholds.contiguous().data_ptr(), steps.contiguous().data_ptr(),
                                       thresholds.numel(), float(ctx.base), float(k),
                                       torch.cuda.current_stream(w.device).cuda_stream)
            grad_k = grad_k.reshape(k.shape).to(k.dtype) if grad_k is not None else None
        else:
            grad_w, grad_k = _psq_backward_torch(grad, w, thresholds, steps, k)
            grad_k = grad_k.reshape(k.shape)
        return (grad_w if need_w else None), (grad_k if need_k else None), None, None, None


def psq(w: torch.Tensor, k: torch.Tensor | float, thresholds: torch.Tensor, steps: torch.Tensor,
        base: float) -> torch.Tensor:
    """Progressive sigmoid quantization ``base + Σ_i steps_i·σ(k·(w − c_i))``.

    ``w`` any shape (radians); ``k`` > 0 a scalar or 0-d tensor (differentiable when it
    requires grad, for PSQ-LT)."""
    _checks.tensor("psq", "w", w, complex_ok=False)
    if not isinstance(k, torch.Tensor):
        k = torch.tensor(float(k), dtype=w.dtype, device=w.device)
    if k.numel() != 1:
        raise ValueError(f"psq(): argument 'k' must be a scalar, got shape {tuple(k.shape)}")
    if not float(k.detach()) > 0 or not math.isfinite(float(k.detach())):
        raise ValueError(f"psq(): argument 'k' must be finite and > 0, got {float(k.detach())}")
    return _PSQ.apply(w, k.to(w.dtype), thresholds.to(w.dtype), steps.to(w.dtype), float(base))


# ----------------------------------------------------------------------------- DSQ
def _dsq_parts(w, alpha, thresholds, steps, base):
    """Per-element interval quantities of DSQ: clipped x, interval width Δ, midpoint m, k, s."""
    lower = thresholds - steps / 2                      # (m,) interval starts (= the levels)
    top = float(base) + float(steps.sum())
    x = w.clamp(float(base), top)
    idx = torch.searchsorted(lower.contiguous(), x.contiguous(), right=True) - 1
    idx = idx.clamp(0, thresholds.numel() - 1)
    delta, mid = steps[idx], thresholds[idx]
    k = torch.log(2 / alpha - 1) / delta
    s = 1 / torch.tanh(0.5 * k * delta)
    inside = (w >= float(base)) & (w <= top)
    return x, delta, mid, k, s, inside, lower[idx]


class _DSQ(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, alpha, thresholds, steps, base, hard_forward):  # type: ignore[override]
        ctx.save_for_backward(w, alpha, thresholds, steps)
        ctx.base = base
        if hard_forward:
            return staircase(w.clamp(float(base), float(base) + float(steps.sum())), thresholds, steps, base)
        x, delta, mid, k, s, _, low = _dsq_parts(w, alpha, thresholds, steps, base)
        return low + delta * (s * torch.tanh(k * (x - mid)) + 1) / 2

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        w, alpha, thresholds, steps = ctx.saved_tensors
        x, delta, mid, k, s, inside, _ = _dsq_parts(w, alpha, thresholds, steps, ctx.base)
        t = torch.tanh(k * (x - mid))
        dphi_dx = s * k * (1 - t * t)
        grad_w = grad * (delta / 2) * dphi_dx * inside.to(w.dtype)
        grad_alpha = None
        if ctx.needs_input_grad[1]:
            half = 0.5 * k * delta
            ds_dk = -(0.5 * delta) / torch.sinh(half) ** 2
            dphi_dk = ds_dk * t + s * (1 - t * t) * (x - mid)
            dk_dalpha = -2 / (delta * alpha * (2 - alpha))
            grad_alpha = (grad * (delta / 2) * dphi_dk * dk_dalpha).sum().reshape(alpha.shape)
        return grad_w, grad_alpha, None, None, None, None


def dsq(w: torch.Tensor, alpha: torch.Tensor | float, thresholds: torch.Tensor, steps: torch.Tensor,
        base: float, *, hard_forward: bool = True) -> torch.Tensor:
    """Differentiable soft quantization (Gong et al., ICCV 2019) over the level intervals.

    ``w`` any shape (radians), clipped to [q_0, top]; ``alpha`` ∈ (0, 1) (smaller = harder).
    ``hard_forward``: forward is the staircase and backward the soft curve's derivative
    (Gong et al.'s training scheme); False returns the soft value itself."""
    _checks.tensor("dsq", "w", w, complex_ok=False)
    if not isinstance(alpha, torch.Tensor):
        alpha = torch.tensor(float(alpha), dtype=w.dtype, device=w.device)
    a = float(alpha.detach())
    if not 0 < a < 1:
        raise ValueError(f"dsq(): argument 'alpha' must be in (0, 1), got {a}")
    return _DSQ.apply(w, alpha.to(w.dtype), thresholds.to(w.dtype), steps.to(w.dtype), float(base),
                      bool(hard_forward))


# ----------------------------------------------------------------------------- Gumbel-softmax
def gumbel_softmax_phase(logits: torch.Tensor, levels: torch.Tensor, tau: float,
                         noise: torch.Tensor | None) -> torch.Tensor:
    """Straight-through Gumbel-softmax choice of a level per neuron.

    ``logits`` (..., n) over the ``levels`` (n,) (radians); ``noise`` (..., n) a Gumbel(0, 1)
    sample or None (then the soft weights use the logits alone). Forward value is the level of
    argmax(logits + noise); the gradient flows through softmax((logits + noise)/tau)."""
    _checks.tensor("gumbel_softmax_phase", "logits", logits, complex_ok=False, min_ndim=1)
    if logits.shape[-1] != levels.numel():
        raise ValueError(f"gumbel_softmax_phase(): argument 'logits' must have last dimension "
                         f"{levels.numel()} (one logit per level), got shape {tuple(logits.shape)}")
    if not tau > 0:
        raise ValueError(f"gumbel_softmax_phase(): argument 'tau' must be > 0, got {tau}")
    z = logits if noise is None else logits + noise
    y_soft = torch.softmax(z / tau, dim=-1)
    y_hard = torch.nn.functional.one_hot(z.argmax(dim=-1), levels.numel()).to(y_soft.dtype)
    y = y_hard - y_soft.detach() + y_soft
    return (y * levels.to(y.dtype)).sum(dim=-1)


def gumbel_argmax_phase(logits: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Deterministic evaluation of a Gumbel-softmax layer: the level of argmax(logits)."""
    return levels.to(logits.dtype)[logits.argmax(dim=-1)]

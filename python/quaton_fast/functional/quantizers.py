"""Phase quantizers as torch autograd Functions (the QuATON quantizers), one dispatch point per quantizer.

A level table enters as tensors plus two Python numbers (see
:class:`quaton_fast.reference.levels.LevelTable`): ``thresholds`` (m,) and ``steps`` (m,) of the
staircase ``Q(w) = base + Σ_i steps_i·[x ≥ c_i]``, ``base`` = q_0 (radians) and ``period``
(radians, keyword-only): the table's period, or ``None`` (the default) for a table that does
not span a full period. Pass the period for a periodic table (the quantizer modules do;
:func:`table_tensors` gives all four from a :class:`~quaton_fast.reference.levels.LevelTable`):
without it the wrap-around threshold is still there but latents outside one period clamp. Periodic tables carry the wrap-around threshold, so their top step lands on
q_0 + period ≡ q_0. PSQ replaces each step by ``σ(k·(x − c_i))``.

Periodicity: every quantizer acts on ``x = base + ((w − base) mod period)`` (:func:`fold_latent`)
for a periodic table, so forward, backward (the fold has slope 1: gradients are the periodic
extension of those inside one period, never zero outside it) and hard evaluation are periodic
in ``w``. Non-periodic tables (``period=None``) clamp at their end levels, as documented in the
NumPy reference.

Hot path: these functions do metadata checks only (type, dtype, rank, device, lengths) and no
host synchronisation (no ``.item()``, no value checks on device data). A non-finite latent
gives a NaN output (never a valid-looking level); value checks that raise belong where data are
handed in or exported (:func:`level_index` raises, and so do the quantizer modules'
``hard_phase`` / ``latent_from_phase``).

Cost: the hard quantizer is a binary search (``torch.searchsorted``), O(log m) per element, not
a Python loop over levels; PSQ is O(m) per element, evaluated in chunks of thresholds so that the
temporaries stay below ~2^22 elements.

Dispatch: on a CUDA tensor with a CUDA build, PSQ runs the kernel of ``cuda/quantizer.cu``;
everywhere else it runs the torch ops below, which mirror the NumPy reference line by line.
"""
from __future__ import annotations

import math

import torch

from .._backend import has_cuda, native
from .._validation import fail, finite_real
from ..reference.levels import LevelTable
from . import _checks

#: elements of the (numel, chunk) temporaries of the chunked PSQ sums
_PSQ_CHUNK_ELEMENTS = 1 << 22


# ----------------------------------------------------------------------------- level tables
def table_tensors(table: LevelTable, *, dtype: torch.dtype = torch.float32,
                  device: torch.device | str | None = None) -> dict:
    """``{thresholds, steps, base, period}`` of a level table, ready for ``staircase``, ``ste``,
    ``psq`` and ``dsq`` (``F.psq(w, k, **table_tensors(t))``): (m,) tensors of ``dtype`` on
    ``device``, ``base`` = q_0 and ``period`` (None if not periodic) as Python floats."""
    if not isinstance(table, LevelTable):
        fail("table_tensors", "table", "a LevelTable (see quaton_fast.quant.make_level_table)",
             type(table).__name__, TypeError)
    return {"thresholds": torch.tensor(table.thresholds, dtype=dtype, device=device),
            "steps": torch.tensor(table.steps, dtype=dtype, device=device),
            "base": float(table.base), "period": table.period}


# ----------------------------------------------------------------------------- metadata checks
def _period(func: str, period: object) -> float | None:
    if period is None:
        return None
    return finite_real(func, "period", period, positive=True)


def _table(func: str, w: torch.Tensor, thresholds: object, steps: object, base: object,
           period: object) -> tuple[torch.Tensor, torch.Tensor, float, float | None]:
    """Metadata checks of a level table given as tensors (free: no device data is read)."""
    _checks.tensor(func, "w", w, complex_ok=False, check_finite=False)
    for name, t in (("thresholds", thresholds), ("steps", steps)):
        _checks.tensor(func, name, t, complex_ok=False, min_ndim=1, check_finite=False)
        if t.dim() != 1:
            fail(func, name, "a 1-D tensor", f"shape {tuple(t.shape)}")
        _checks.same_device(func, name, t, w, "w")
    if thresholds.numel() != steps.numel():
        fail(func, "steps", f"of the same length as 'thresholds' ({thresholds.numel()})",
             f"length {steps.numel()}")
    b = finite_real(func, "base", base)
    return thresholds.to(w.dtype).contiguous(), steps.to(w.dtype).contiguous(), b, _period(func, period)


def fold_latent(w: torch.Tensor, base: float, period: float | None) -> torch.Tensor:
    """``w`` (any shape, radians) → its representative ``base + ((w − base) mod period)`` in
    ``[base, base + period)`` (may round to ``base + period``, which the staircase maps to
    ``q_0 + period`` ≡ ``q_0``); ``w`` itself when ``period`` is None. ±Inf → NaN."""
    if period is None:
        return w
    return torch.remainder(w - base, period) + base


def _nan_where_nonfinite(w: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``out`` with NaN wherever ``w`` is NaN or ±Inf (elementwise, no host sync): ``w − w`` is 0
    for finite ``w`` and NaN otherwise, and contributes no gradient (1 − 1 = 0)."""
    return out + (w - w).detach()


def _stair_values(thresholds: torch.Tensor, steps: torch.Tensor, base: float) -> torch.Tensor:
    """(m+1,) values of the staircase: q_0, q_0 + Δ_0, ... (the levels, then q_0 + period)."""
    return torch.cumsum(torch.cat([steps.new_full((1,), base), steps]), 0)


# ----------------------------------------------------------------------------- staircase (hard)
def _staircase(w, thresholds, steps, base, period):
    x = fold_latent(w, base, period)
    idx = torch.searchsorted(thresholds, x.contiguous(), right=True)  # number of c_i <= x
    return _nan_where_nonfinite(w, _stair_values(thresholds, steps, base)[idx])


def staircase(w: torch.Tensor, thresholds: torch.Tensor, steps: torch.Tensor, base: float, *,
              period: float | None = None) -> torch.Tensor:
    """Hard quantizer, the k → ∞ limit of PSQ: ``base + Σ_i steps_i·[x ≥ c_i]`` with
    ``x = fold_latent(w, base, period)``. ``w`` any shape (radians), same dtype out; NaN where
    ``w`` is not finite. Not differentiable (use :func:`ste` for a straight-through gradient).

    Raises ValueError/TypeError naming the argument for bad metadata (``thresholds`` and
    ``steps`` of different lengths, not 1-D, on another device; ``base``/``period`` not finite)."""
    thr, st, b, p = _table("staircase", w, thresholds, steps, base, period)
    return _staircase(w, thr, st, b, p)


def level_index(w: torch.Tensor, thresholds: torch.Tensor, num_levels: int, base: float, *,
                period: float | None = None) -> torch.Tensor:
    """Index (int64, 0..num_levels−1, shape of ``w``) of the level the staircase picks; the wrap
    step of a periodic table lands on level 0. For export and inspection, not the training hot
    path: it reads ``w`` on the host to refuse non-finite values (ValueError naming 'w')."""
    _checks.tensor("level_index", "w", w, complex_ok=False, check_finite=False)
    n = int(num_levels)
    thr, _, b, p = _table("level_index", w, thresholds, torch.ones_like(thresholds), base, period)
    if n < 2 or thr.numel() not in (n - 1, n):
        fail("level_index", "num_levels", f"n >= 2 with len(thresholds) in (n-1, n) = ({n - 1}, {n})",
             f"{num_levels} for {thr.numel()} thresholds")
    bad = int((~torch.isfinite(w)).sum())
    if bad:
        fail("level_index", "w", "finite (no NaN or Inf)", f"{bad} non-finite value(s) of {w.numel()}")
    idx = torch.searchsorted(thr, fold_latent(w, b, p).contiguous(), right=True)
    return idx.remainder(n)


class _StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, thresholds, steps, base, period):  # type: ignore[override]
        return _staircase(w, thresholds, steps, base, period)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return grad, None, None, None, None


def ste(w: torch.Tensor, thresholds: torch.Tensor, steps: torch.Tensor, base: float, *,
        period: float | None = None) -> torch.Tensor:
    """Straight-through estimator: forward = :func:`staircase` (periodic in ``w`` for a periodic
    table), backward = identity. ``w`` any shape."""
    thr, st, b, p = _table("ste", w, thresholds, steps, base, period)
    return _StraightThrough.apply(w, thr, st, b, p)


# ----------------------------------------------------------------------------- PSQ
def _use_psq_kernel(w: torch.Tensor) -> bool:
    return w.is_cuda and w.dtype == torch.float32 and has_cuda()


def _chunks(x: torch.Tensor, m: int):
    per = max(1, _PSQ_CHUNK_ELEMENTS // max(1, x.numel()))
    return range(0, m, per), per


def _psq_forward_torch(w, thresholds, steps, base, k, period):
    x = fold_latent(w, base, period).reshape(-1, 1)
    q = torch.full_like(x[:, 0], base)
    starts, per = _chunks(x, thresholds.numel())
    for j in starts:
        s = torch.sigmoid(k * (x - thresholds[j:j + per]))
        q = q + s @ steps[j:j + per]
    return _nan_where_nonfinite(w, q.reshape(w.shape))


def _psq_backward_torch(grad, w, thresholds, steps, base, k, period, need_k):
    x = fold_latent(w, base, period).reshape(-1, 1)
    dq_dw = torch.zeros_like(x[:, 0])
    dq_dk = torch.zeros_like(x[:, 0]) if need_k else None
    starts, per = _chunks(x, thresholds.numel())
    for j in starts:
        u = x - thresholds[j:j + per]
        s = torch.sigmoid(k * u)
        slope = s * (1 - s)
        d = steps[j:j + per]
        dq_dw = dq_dw + slope @ d
        if need_k:
            dq_dk = dq_dk + (u * slope) @ d
    grad_w = grad * (k * dq_dw).reshape(w.shape)
    grad_k = (grad.reshape(-1) * dq_dk).sum() if need_k else None
    return grad_w, grad_k


class _PSQ(torch.autograd.Function):
    """k: a Python float (fixed) or a 0-d tensor (learnable, PSQ-LT); never read on the host."""

    @staticmethod
    def forward(ctx, w, k, thresholds, steps, base, period):  # type: ignore[override]
        k_is_tensor = isinstance(k, torch.Tensor)
        ctx.save_for_backward(w, k if k_is_tensor else None, thresholds, steps)
        ctx.k_float = None if k_is_tensor else float(k)
        ctx.base, ctx.period = base, period
        if _use_psq_kernel(w):
            wc = w.contiguous()
            out = torch.empty_like(wc)
            kt = k.detach().to(torch.float32).contiguous() if k_is_tensor else None
            native().psq_forward_cuda(wc.data_ptr(), out.data_ptr(), wc.numel(),
                                      thresholds.data_ptr(), steps.data_ptr(), thresholds.numel(),
                                      float(base), 0.0 if k_is_tensor else float(k),
                                      kt.data_ptr() if kt is not None else 0,
                                      0.0 if period is None else float(period), False,
                                      torch.cuda.current_stream(w.device).cuda_stream)
            return out.reshape(w.shape)
        return _psq_forward_torch(w, thresholds, steps, base, k, period)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        w, k_t, thresholds, steps = ctx.saved_tensors
        k = k_t if k_t is not None else ctx.k_float
        need_w = ctx.needs_input_grad[0]
        need_k = k_t is not None and ctx.needs_input_grad[1]
        if not (need_w or need_k):
            return None, None, None, None, None, None
        if _use_psq_kernel(w):
            wc, gc = w.contiguous(), grad.contiguous()
            grad_w = torch.empty_like(wc) if need_w else None
            grad_k = torch.zeros(1, device=w.device, dtype=torch.float32) if need_k else None
            kt = k_t.detach().to(torch.float32).contiguous() if k_t is not None else None
            native().psq_backward_cuda(wc.data_ptr(), gc.data_ptr(),
                                       grad_w.data_ptr() if grad_w is not None else 0,
                                       grad_k.data_ptr() if grad_k is not None else 0, wc.numel(),
                                       thresholds.data_ptr(), steps.data_ptr(), thresholds.numel(),
                                       float(ctx.base), 0.0 if kt is not None else float(k),
                                       kt.data_ptr() if kt is not None else 0,
                                       0.0 if ctx.period is None else float(ctx.period),
                                       torch.cuda.current_stream(w.device).cuda_stream)
            grad_w = grad_w.reshape(w.shape) if grad_w is not None else None
            grad_k = grad_k.reshape(k_t.shape).to(k_t.dtype) if grad_k is not None else None
        else:
            grad_w, grad_k = _psq_backward_torch(grad, w, thresholds, steps, ctx.base, k, ctx.period, need_k)
            grad_k = grad_k.reshape(k_t.shape) if grad_k is not None else None
        return (grad_w if need_w else None), (grad_k if need_k else None), None, None, None, None


def psq(w: torch.Tensor, k: torch.Tensor | float, thresholds: torch.Tensor, steps: torch.Tensor,
        base: float, *, period: float | None = None) -> torch.Tensor:
    """Progressive sigmoid quantization ``base + Σ_i steps_i·σ(k·(x − c_i))``,
    ``x = fold_latent(w, base, period)`` (periodic in ``w`` for a periodic table).

    ``w`` any shape (radians); ``k`` (1/rad) a Python number (checked: finite, > 0) or a 0-d /
    1-element floating tensor (differentiable when it requires grad, for PSQ-LT). A tensor ``k``
    is NOT value-checked (that would be a host sync per step): keep it finite and > 0 where it is
    set (the PSQ module's ``k = 1/(|κ| + ε)`` is). NaN out where ``w`` is not finite."""
    thr, st, b, p = _table("psq", w, thresholds, steps, base, period)
    if isinstance(k, torch.Tensor):
        if k.numel() != 1:
            fail("psq", "k", "a scalar (one element)", f"shape {tuple(k.shape)}")
        if not k.is_floating_point():
            fail("psq", "k", "a floating-point tensor", f"dtype {k.dtype}", TypeError)
        _checks.same_device("psq", "k", k, w, "w")
        k = k.reshape(()).to(w.dtype)
    else:
        k = finite_real("psq", "k", k, positive=True)
    return _PSQ.apply(w, k, thr, st, b, p)


# ----------------------------------------------------------------------------- DSQ
def _dsq_parts(w, alpha, thresholds, steps, base, period):
    """Per-element interval quantities of DSQ: folded/clipped x, interval width Δ, midpoint m,
    k, s, the mask where the clip passes the gradient (None: everywhere) and the interval start."""
    ends = _stair_values(thresholds, steps, base)      # (m+1,) interval ends (the extended levels)
    if period is None:
        x = torch.minimum(torch.maximum(w, ends[0]), ends[-1])
        inside = (w >= ends[0]) & (w <= ends[-1])
    else:
        x = fold_latent(w, base, period)
        inside = None
    idx = torch.searchsorted(ends[:-1].contiguous(), x.contiguous(), right=True) - 1
    idx = idx.clamp(0, thresholds.numel() - 1)
    delta, mid = steps[idx], thresholds[idx]
    log_term = torch.log(2 / alpha - 1) if isinstance(alpha, torch.Tensor) else math.log(2 / alpha - 1)
    k = log_term / delta
    s = 1 / torch.tanh(0.5 * k * delta)
    return x, delta, mid, k, s, inside, ends[idx]


class _DSQ(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, alpha, thresholds, steps, base, period, hard_forward):  # type: ignore[override]
        a_is_tensor = isinstance(alpha, torch.Tensor)
        ctx.save_for_backward(w, alpha if a_is_tensor else None, thresholds, steps)
        ctx.alpha_float = None if a_is_tensor else float(alpha)
        ctx.base, ctx.period = base, period
        if hard_forward:
            return _staircase(w, thresholds, steps, base, period)
        x, delta, mid, k, s, _, low = _dsq_parts(w, alpha, thresholds, steps, base, period)
        return _nan_where_nonfinite(w, low + delta * (s * torch.tanh(k * (x - mid)) + 1) / 2)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        w, alpha_t, thresholds, steps = ctx.saved_tensors
        alpha = alpha_t if alpha_t is not None else ctx.alpha_float
        x, delta, mid, k, s, inside, _ = _dsq_parts(w, alpha, thresholds, steps, ctx.base, ctx.period)
        t = torch.tanh(k * (x - mid))
        dphi_dx = s * k * (1 - t * t)
        grad_w = grad * (delta / 2) * dphi_dx
        if inside is not None:
            grad_w = grad_w * inside.to(w.dtype)
        grad_alpha = None
        if alpha_t is not None and ctx.needs_input_grad[1]:
            half = 0.5 * k * delta
            ds_dk = -(0.5 * delta) / torch.sinh(half) ** 2
            dphi_dk = ds_dk * t + s * (1 - t * t) * (x - mid)
            dk_dalpha = -2 / (delta * alpha * (2 - alpha))
            ga = grad * (delta / 2) * dphi_dk * dk_dalpha
            if inside is not None:
                ga = ga * inside.to(w.dtype)
            grad_alpha = ga.sum().reshape(alpha_t.shape)
        return grad_w, grad_alpha, None, None, None, None, None


def dsq(w: torch.Tensor, alpha: torch.Tensor | float, thresholds: torch.Tensor, steps: torch.Tensor,
        base: float, *, period: float | None = None, hard_forward: bool = True) -> torch.Tensor:
    """Differentiable soft quantization (Gong et al., ICCV 2019) over the level intervals.

    ``w`` any shape (radians): folded into one period (periodic table) or clipped to
    [q_0, q_{n−1}] (``period=None``); ``alpha`` ∈ (0, 1) (smaller = harder), a Python number
    (checked) or a 1-element tensor (learnable; not value-checked, no host sync: keep it in (0, 1)
    where it is set, as the DSQ module's clamp does). ``hard_forward``: forward is the staircase and
    backward the soft curve's derivative (Gong et al.'s training scheme); False returns the soft
    value itself. NaN out where ``w`` is not finite."""
    thr, st, b, p = _table("dsq", w, thresholds, steps, base, period)
    if not isinstance(hard_forward, bool):
        fail("dsq", "hard_forward", "a bool", f"{type(hard_forward).__name__} {hard_forward!r}", TypeError)
    if isinstance(alpha, torch.Tensor):
        if alpha.numel() != 1:
            fail("dsq", "alpha", "a scalar (one element)", f"shape {tuple(alpha.shape)}")
        if not alpha.is_floating_point():
            fail("dsq", "alpha", "a floating-point tensor", f"dtype {alpha.dtype}", TypeError)
        _checks.same_device("dsq", "alpha", alpha, w, "w")
        alpha = alpha.reshape(()).to(w.dtype)
    else:
        a = finite_real("dsq", "alpha", alpha)
        if not 0 < a < 1:
            fail("dsq", "alpha", "in the open interval (0, 1)", a)
        alpha = a
    return _DSQ.apply(w, alpha, thr, st, b, p, bool(hard_forward))


# ----------------------------------------------------------------------------- Gumbel-softmax
def _gumbel_inputs(func: str, logits: object, levels: object) -> torch.Tensor:
    _checks.tensor(func, "logits", logits, complex_ok=False, min_ndim=1, check_finite=False)
    _checks.tensor(func, "levels", levels, complex_ok=False, min_ndim=1, check_finite=False)
    if levels.dim() != 1:
        fail(func, "levels", "a 1-D tensor", f"shape {tuple(levels.shape)}")
    _checks.same_device(func, "levels", levels, logits, "logits")
    if logits.shape[-1] != levels.numel():
        fail(func, "logits", f"of shape (..., {levels.numel()}) (one logit per level)",
             f"shape {tuple(logits.shape)}")
    return levels.to(logits.dtype)


def gumbel_softmax_phase(logits: torch.Tensor, levels: torch.Tensor, tau: float,
                         noise: torch.Tensor | None) -> torch.Tensor:
    """Straight-through Gumbel-softmax choice of a level per neuron.

    ``logits`` (..., n) over the ``levels`` (n,) (radians); ``tau`` > 0 a Python number;
    ``noise`` (..., n) a Gumbel(0, 1) sample or None (then the soft weights use the logits alone).
    Forward value is the level of argmax(logits + noise) (NaN for a neuron with a non-finite
    logit); the gradient flows through softmax((logits + noise)/tau)."""
    lv = _gumbel_inputs("gumbel_softmax_phase", logits, levels)
    t = finite_real("gumbel_softmax_phase", "tau", tau, positive=True)
    if noise is not None:
        _checks.tensor("gumbel_softmax_phase", "noise", noise, complex_ok=False, check_finite=False)
        if noise.shape != logits.shape:
            fail("gumbel_softmax_phase", "noise", f"of the logits' shape {tuple(logits.shape)}",
                 f"shape {tuple(noise.shape)}")
    z = logits if noise is None else logits + noise
    y_soft = torch.softmax(z / t, dim=-1)
    # one-hot by scatter (F.one_hot checks the index range on the host: a sync on CUDA)
    y_hard = torch.zeros_like(y_soft).scatter_(-1, z.argmax(dim=-1, keepdim=True), 1.0)
    y = y_hard - y_soft.detach() + y_soft
    out = (y * lv).sum(dim=-1)
    return out + (logits - logits).detach().sum(dim=-1)    # NaN where a logit is NaN/Inf (no host sync)


def gumbel_argmax_phase(logits: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Deterministic evaluation of a Gumbel-softmax layer: the level of argmax(logits), shape
    ``logits.shape[:-1]``; NaN for a neuron with a non-finite logit."""
    lv = _gumbel_inputs("gumbel_argmax_phase", logits, levels)
    out = lv[logits.argmax(dim=-1)]
    return out + (logits - logits).sum(dim=-1)    # NaN where a logit is NaN/Inf (no host sync)

"""Phase quantizers, forward and backward, in float64 NumPy (the tests' ground truth).

Every quantizer maps latent weights ``w`` (any shape) to phases using a
:class:`~quaton_fast.reference.levels.LevelTable` with levels ``q_j``, thresholds ``c_i``
and steps ``Δ_i`` (see :mod:`quaton_fast.reference.levels`). Gumbel-softmax is the
exception: its latent is a logit vector per neuron, shape ``(..., n)``.

Conventions
-----------
* **Periodicity.** Every quantizer acts on ``x = fold_latent(w, table)``: for a periodic table
  the latent's representative in ``[q_0, q_0 + period)``, for a non-periodic one ``w`` itself
  (see :mod:`quaton_fast.reference.levels`). Forward, backward and hard evaluation are
  therefore periodic in ``w`` (period 2π by default) for periodic tables; their gradients are
  the periodic extension of those inside one period. Non-periodic tables clamp at their ends.
* **Staircase** (hard quantizer) ``S(w) = q_0 + Σ_i Δ_i·[x >= c_i]``: ties at a threshold
  go up. For a periodic table this is nearest-level rounding with periodic distance; its top
  step gives ``q_0 + period`` (≡ ``q_0`` under ``exp(iφ)``), NOT wrapped, so that it is
  exactly the k -> ∞ limit of PSQ. Non-periodic: below ``c_0`` -> ``q_0``, above the last
  threshold -> ``q_{n-1}``.
* :func:`level_index` / :func:`hard_phase` give the level a fab would make: the staircase
  index taken mod ``n``, i.e. the wrap step lands on level 0.
* Backward functions take ``grad_out`` (same shape as the forward output) and return the
  vector-Jacobian products; gradients w.r.t. scalar hyper-parameters (k, α) are scalars
  summed over all elements.
* Inputs must be finite (NaN/Inf raise ``ValueError`` naming the argument).
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .._validation import array, fail, finite_real
from .levels import LevelTable, _real_input, fold_latent

__all__ = [
    "staircase", "level_index", "hard_phase",
    "fp_forward", "fp_backward",
    "pq_forward",
    "ste_forward", "ste_backward",
    "sigmoid", "psq_forward", "psq_backward",
    "dsq_forward", "dsq_soft", "dsq_backward",
    "sample_gumbel", "gumbel_soft_value", "gumbel_forward", "gumbel_backward", "gumbel_eval",
    "gumbel_logits_from_phase",
]


# --------------------------------------------------------------------------- helpers
def _table(func: str, table: Any) -> LevelTable:
    if not isinstance(table, LevelTable):
        fail(func, "table", "a LevelTable (see uniform_levels / level_table)",
             type(table).__name__, TypeError)
    return table


def _grad(func: str, grad_out: Any, shape: tuple) -> np.ndarray:
    g = _real_input(func, "grad_out", grad_out)
    if g.shape != tuple(shape):
        fail(func, "grad_out", f"of the forward output's shape {tuple(shape)}",
             f"shape {tuple(g.shape)}")
    return g


def _alpha(func: str, alpha: Any) -> float:
    a = finite_real(func, "alpha", alpha)
    if not 0.0 < a < 1.0:
        fail(func, "alpha", "in the open interval (0, 1)", a)
    if not np.isfinite(2.0 / a):  # subnormal α: k = log(2/α − 1)/Δ would be infinite
        fail(func, "alpha", "in the open interval (0, 1) and >= 1e-300", a)
    return a


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, stable for any finite ``x`` (no overflow warnings)."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _sigmoid_and_slope(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """σ(x) and σ(x)(1 − σ(x)) = e/(1+e)², e = exp(−|x|), both without cancellation."""
    e = np.exp(-np.abs(x))
    inv = 1.0 / (1.0 + e)
    s = np.where(x >= 0, inv, e * inv)
    return s, e * inv * inv


# --------------------------------------------------------------------------- staircase
def _stair_index(w: np.ndarray, t: LevelTable) -> np.ndarray:
    """Number of thresholds ``c_i <= x`` (0..m), ``x = fold_latent(w)``: index into
    ``t.extended_levels``. Vectorised (binary search): O(log m) per element."""
    return np.searchsorted(t.thresholds, fold_latent(w, t), side="right")


def staircase(w: Any, table: LevelTable) -> np.ndarray:
    """Hard quantizer ``q_0 + Σ_i Δ_i·[x >= c_i]``, ``x = fold_latent(w)`` (the k -> ∞ limit of
    PSQ), float64, same shape as w.

    Values are taken exactly from the levels (plus ``q_0 + period`` for the wrap step)."""
    t = _table("staircase", table)
    w = _real_input("staircase", "w", w)
    return t.extended_levels[_stair_index(w, t)]


def level_index(w: Any, table: LevelTable) -> np.ndarray:
    """Index (int64, 0..n−1) of the level the staircase picks; the wrap step maps to 0."""
    t = _table("level_index", table)
    w = _real_input("level_index", "w", w)
    return (_stair_index(w, t) % t.n).astype(np.int64)


def hard_phase(w: Any, table: LevelTable) -> np.ndarray:
    """``levels[level_index(w)]``: the phase a fab would make (always one of the levels)."""
    t = _table("hard_phase", table)
    w = _real_input("hard_phase", "w", w)
    return t.levels[_stair_index(w, t) % t.n]


# --------------------------------------------------------------------------- FP, PQ, STE
def fp_forward(w: Any) -> np.ndarray:
    """Full precision: the phase is the latent weight."""
    return _real_input("fp_forward", "w", w).copy()


def fp_backward(grad_out: Any) -> np.ndarray:
    """Identity."""
    return _real_input("fp_backward", "grad_out", grad_out).copy()


def pq_forward(w: Any, table: LevelTable, training: bool) -> np.ndarray:
    """Post-training quantization: identity while training, staircase at evaluation.

    Backward (training) is the identity, i.e. :func:`fp_backward`."""
    if not isinstance(training, (bool, np.bool_)):
        fail("pq_forward", "training", "a bool", f"{type(training).__name__} {training!r}", TypeError)
    t = _table("pq_forward", table)
    w = _real_input("pq_forward", "w", w)
    return w.copy() if training else staircase(w, t)


def ste_forward(w: Any, table: LevelTable) -> np.ndarray:
    """Straight-through estimator forward: the staircase."""
    t = _table("ste_forward", table)
    return staircase(_real_input("ste_forward", "w", w), t)


def ste_backward(grad_out: Any) -> np.ndarray:
    """Straight-through estimator backward: identity."""
    return _real_input("ste_backward", "grad_out", grad_out).copy()


# --------------------------------------------------------------------------- PSQ
def _psq_terms(func: str, w: Any, table: Any, k: Any):
    t = _table(func, table)
    w = _real_input(func, "w", w)
    k = finite_real(func, "k", k, positive=True)
    u = fold_latent(w, t)[..., None] - t.thresholds  # (..., m)
    s, slope = _sigmoid_and_slope(k * u)
    return t, w, k, u, s, slope


def psq_forward(w: Any, table: LevelTable, k: float) -> np.ndarray:
    """Progressive sigmoid quantization ``Q_k(w) = q_0 + Σ_i Δ_i·σ(k·(x − c_i))`` (k > 0),
    ``x = fold_latent(w)``.

    Periodic tables: ``Q_k`` is periodic in ``w``. At the fold point ``x = q_0`` (a level, the
    farthest point from any threshold) the one-period sum jumps by its sigmoid tails,
    ``≈ Δ_0·σ(−kΔ_0/2) + Δ_{n−1}·σ(−kΔ_{n−1}/2)`` (mod the period), e.g. 5e-7 rad at 4
    levels and k = 20 rad⁻¹, 0.2 rad at 16 levels and k = 5: the paper's formula has one
    sigmoid per threshold of one period, and this is its periodic extension."""
    t, w, k, u, s, _ = _psq_terms("psq_forward", w, table, k)
    return t.base + s @ t.steps


def psq_backward(grad_out: Any, w: Any, table: LevelTable, k: float) -> tuple[np.ndarray, float]:
    """VJP of :func:`psq_forward`: ``(grad_w, grad_k)``.

    ``dQ/dw = Σ_i Δ_i·k·σ_i(1−σ_i)``, ``dQ/dk = Σ_i Δ_i·(x − c_i)·σ_i(1−σ_i)`` (x = fold_latent(w),
    dx/dw = 1, so the gradient never vanishes outside one period of a periodic table);
    ``grad_k = Σ_elements grad_out·dQ/dk`` (a float)."""
    t, w, k, u, s, slope = _psq_terms("psq_backward", w, table, k)
    g = _grad("psq_backward", grad_out, w.shape)
    dq_dw = k * (slope @ t.steps)
    dq_dk = (u * slope) @ t.steps
    return g * dq_dw, float(np.sum(g * dq_dk))


# --------------------------------------------------------------------------- DSQ
def _dsq_terms(func: str, w: Any, table: Any, alpha: Any):
    """Per element: clipped x, inside mask, interval quantities for the soft DSQ curve."""
    t = _table(func, table)
    w = _real_input(func, "w", w)
    a = _alpha(func, alpha)
    ext = t.extended_levels  # (m+1,) interval ends
    lo, hi = float(ext[0]), float(ext[-1])
    if t.periodic:  # periodic extension: every w has an interval, the fold has slope 1
        x = fold_latent(w, t)
        inside = np.ones(w.shape, dtype=bool)
    else:  # clamped ends
        inside = (w >= lo) & (w <= hi)
        x = np.clip(w, lo, hi)
    m = t.steps.shape[0]
    i = np.clip(np.searchsorted(ext, x, side="right") - 1, 0, m - 1)
    q_i = ext[i]
    d = t.steps[i]
    mid = t.thresholds[i]  # midpoint of interval i == threshold c_i
    L = np.log(2.0 / a - 1.0)  # k·Δ_i
    kk = L / d
    s = 1.0 / (1.0 - a)  # = 1/tanh(0.5·k·Δ_i) exactly (tanh(L/2) = 1 − α)
    u = x - mid
    th = np.tanh(kk * u)
    return t, w, a, inside, q_i, d, kk, s, u, th, L


def _dsq_soft(func: str, w: Any, table: Any, alpha: Any) -> np.ndarray:
    _, _, _, _, q_i, d, _, s, _, th, _ = _dsq_terms(func, w, table, alpha)
    return q_i + d * (s * th + 1.0) * 0.5


def dsq_soft(w: Any, table: LevelTable, alpha: float) -> np.ndarray:
    """The soft DSQ curve ``q_i + Δ_i·(φ(x)+1)/2`` with ``φ(x) = s·tanh(k_i(x − m_i))``,
    x = fold_latent(w) (periodic table) or clip(w, q_0, q_{n−1})."""
    return _dsq_soft("dsq_soft", w, table, alpha)


def dsq_forward(w: Any, table: LevelTable, alpha: float, hard_forward: bool = True) -> np.ndarray:
    """Differentiable Soft Quantization (Gong et al., ICCV 2019) on a (possibly non-uniform) table.

    Inside interval ``i`` = ``[q_i, q_{i+1}]`` (and, periodic, the wrap interval
    ``[q_{n−1}, q_0 + period]``) with midpoint ``m_i = c_i`` and width ``Δ_i``::

        φ(x) = s·tanh(k_i·(x − m_i)),  k_i = log(2/α − 1)/Δ_i,  s = 1/tanh(0.5·k_i·Δ_i) = 1/(1 − α)
        soft(x) = q_i + Δ_i·(φ(x) + 1)/2,
        x = fold_latent(w) (periodic table), x = clip(w, q_0, q_{n−1}) (non-periodic)

    ``hard_forward=True`` (Gong et al.'s training forward): ``q_i + Δ_i·(sgn φ + 1)/2``, which is
    the staircase; the backward is still that of the soft curve (:func:`dsq_backward`).
    ``hard_forward=False`` returns ``soft(x)``.

    Deviations from the paper (deliberate):

    * the paper quantizes a learnable clipping range ``[l, u]`` into 2^b − 1 equal intervals; here
      the levels are fixed by the table, may be non-uniform (one ``k_i`` per interval so that α
      has the same meaning in every interval) and, for periodic tables, include the wrap interval;
    * at ``x = m_i`` exactly the paper's ``sgn(0) = 0`` would give the interval midpoint; we
      return the upper level (the staircase's tie rule), so that the output is always a level
      (or ``q_0 + period``);
    * the paper keeps α small (it is initialised at 0.2 and limited to a small range); we only
      require ``0 < α < 1``.
    """
    if not isinstance(hard_forward, (bool, np.bool_)):
        fail("dsq_forward", "hard_forward", "a bool",
             f"{type(hard_forward).__name__} {hard_forward!r}", TypeError)
    if hard_forward:
        t = _table("dsq_forward", table)
        w = _real_input("dsq_forward", "w", w)
        _alpha("dsq_forward", alpha)
        return staircase(w, t)  # clip(w) and w (fold(w) and w) have the same staircase value
    return _dsq_soft("dsq_forward", w, table, alpha)


def dsq_backward(grad_out: Any, w: Any, table: LevelTable, alpha: float) -> tuple[np.ndarray, float]:
    """VJP of the SOFT DSQ curve: ``(grad_w, grad_alpha)`` (grad_alpha summed to a float).

    ``d soft/dx = Δ_i/2·s·k_i·(1 − tanh²)``; w -> x is the fold (periodic table: derivative 1
    everywhere, the gradient is periodic in w) or the clip (non-periodic: derivative 1 for
    ``q_0 <= w <= q_{n−1}``, inclusive like ``torch.clamp``, and 0 outside, where also
    ``d soft/dα = 0``). With ``L = log(2/α − 1)``: ``dk_i/dα = −2/(α(2−α)Δ_i)``,
    ``ds/dα = 1/(1−α)²`` and ``d soft/dα = Δ_i/2·(ds/dα·tanh + s·(1 − tanh²)·(x − m_i)·dk_i/dα)``."""
    _, w, a, inside, _, d, kk, s, u, th, _ = _dsq_terms("dsq_backward", w, table, alpha)
    g = _grad("dsq_backward", grad_out, w.shape)
    sech2 = 1.0 - th * th
    dsoft_dx = np.where(inside, 0.5 * d * s * kk * sech2, 0.0)
    dk_da = -2.0 / (a * (2.0 - a) * d)
    ds_da = 1.0 / (1.0 - a) ** 2
    dsoft_da = np.where(inside, 0.5 * d * (ds_da * th + s * sech2 * u * dk_da), 0.0)
    return g * dsoft_dx, float(np.sum(g * dsoft_da))


# --------------------------------------------------------------------------- Gumbel-softmax
def sample_gumbel(shape: Any, rng: np.random.Generator) -> np.ndarray:
    """A standard Gumbel(0, 1) sample of the given shape (float64), from ``rng``."""
    if not isinstance(rng, np.random.Generator):
        fail("sample_gumbel", "rng", "a numpy.random.Generator", type(rng).__name__, TypeError)
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (int(shape),)
    if not (isinstance(shape, tuple) and all(isinstance(s, numbers.Integral) and not isinstance(s, bool)
                                             and s >= 0 for s in shape)):
        fail("sample_gumbel", "shape", "a tuple of non-negative integers", repr(shape), TypeError)
    return rng.gumbel(0.0, 1.0, size=shape).astype(np.float64)


def _logits(func: str, logits: Any, t: LevelTable) -> np.ndarray:
    z = array(func, "logits", logits, complex_ok=False, min_ndim=1)
    if z.shape[-1] != t.n:
        fail(func, "logits", f"of shape (..., n) with n = {t.n} levels", f"shape {tuple(z.shape)}")
    return np.asarray(z, dtype=np.float64)


def _gumbel_terms(func: str, logits: Any, table: Any, tau: Any, noise: Any):
    t = _table(func, table)
    z = _logits(func, logits, t)
    tau = finite_real(func, "tau", tau, positive=True)
    g = array(func, "noise", noise, complex_ok=False)
    if g.shape != z.shape:
        fail(func, "noise", f"of the logits' shape {tuple(z.shape)}", f"shape {tuple(g.shape)}")
    y = (z + g) / tau
    y = y - y.max(axis=-1, keepdims=True)
    e = np.exp(y)
    y_soft = e / e.sum(axis=-1, keepdims=True)
    return t, z, tau, z + np.asarray(g, dtype=np.float64), y_soft


def gumbel_soft_value(logits: Any, table: LevelTable, tau: float, noise: Any) -> np.ndarray:
    """The relaxed phase ``Σ_j y_soft_j·q_j``; its gradient is what :func:`gumbel_backward` returns."""
    t, _, _, _, y_soft = _gumbel_terms("gumbel_soft_value", logits, table, tau, noise)
    return y_soft @ t.levels


def gumbel_forward(logits: Any, table: LevelTable, tau: float, noise: Any) -> np.ndarray:
    """Straight-through Gumbel-softmax phase ``Σ_j y_hard_j·q_j`` = ``q[argmax(logits + noise)]``.

    ``y_soft = softmax((logits + noise)/tau)``; ``y_hard = one_hot(argmax y_soft)``. The argmax is
    taken on ``logits + noise`` (same as on ``y_soft``, softmax being monotone, but immune to
    ties created by rounding in exp). Output shape: ``logits.shape[:-1]``; always a level."""
    t, _, _, perturbed, _ = _gumbel_terms("gumbel_forward", logits, table, tau, noise)
    return t.levels[np.argmax(perturbed, axis=-1)]


def gumbel_backward(grad_out: Any, logits: Any, table: LevelTable, tau: float, noise: Any) -> np.ndarray:
    """Straight-through backward: ``grad_logits = J_softmaxᵀ·(grad_out·q)/tau``, i.e. the gradient
    of :func:`gumbel_soft_value`: ``y_soft ⊙ (g − <y_soft, g>)/tau`` with ``g_j = grad_out·q_j``."""
    t, z, tau, _, y_soft = _gumbel_terms("gumbel_backward", logits, table, tau, noise)
    go = _grad("gumbel_backward", grad_out, z.shape[:-1])
    gy = go[..., None] * t.levels
    return y_soft * (gy - np.sum(y_soft * gy, axis=-1, keepdims=True)) / tau


def gumbel_eval(logits: Any, table: LevelTable) -> np.ndarray:
    """Evaluation phase: ``q[argmax(logits)]``, deterministic (no noise is sampled)."""
    t = _table("gumbel_eval", table)
    z = _logits("gumbel_eval", logits, t)
    return t.levels[np.argmax(z, axis=-1)]


def gumbel_logits_from_phase(phase: Any, table: LevelTable, sharpness: float = 8.0) -> np.ndarray:
    """Initial logits ``(..., n)`` from full-precision phases ``(...)`` (start GS from an FP model).

    ``logits_j = −sharpness·(d(phase, q_j)/Δ̄)²`` where ``d`` is the periodic distance
    ``|((phase − q_j + P/2) mod P) − P/2|`` for a periodic table (plain ``|phase − q_j|`` otherwise)
    and ``Δ̄`` the mean level spacing (``period/n``, or ``(q_{n−1} − q_0)/(n − 1)``), so
    ``sharpness`` is dimensionless: a level one mean step away gets a logit ``sharpness`` below
    a level hit exactly. ``argmax`` of the result is the nearest level (periodic distance), so
    :func:`gumbel_eval` of the init equals nearest-level rounding of the FP phase."""
    t = _table("gumbel_logits_from_phase", table)
    x = _real_input("gumbel_logits_from_phase", "phase", phase)
    a = finite_real("gumbel_logits_from_phase", "sharpness", sharpness, positive=True)
    diff = x[..., None] - t.levels
    if t.period is not None:
        p = t.period
        dist = np.abs(np.mod(diff + 0.5 * p, p) - 0.5 * p)
        mean_step = p / t.n
    else:
        dist = np.abs(diff)
        mean_step = float(t.levels[-1] - t.levels[0]) / (t.n - 1)
    return -a * (dist / mean_step) ** 2

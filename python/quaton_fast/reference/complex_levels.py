"""Complex (absorbing) level tables and their quantizers, forward and backward (NumPy reference).

A complex level is a transmission ``t_i = a_i·exp(iφ_i)`` with ``0 < a_i <= 1``: a measured
SLM / material table, or one derived from a material (:func:`from_material`). A
:class:`ComplexLevelTable` keeps the phases as a periodic :class:`~.levels.LevelTable` (period
2π: ``q_i = φ_i``, thresholds ``c_i`` = the phase midpoints, with the wrap threshold between
``φ_{n−1}`` and ``φ_0 + 2π``) and the amplitudes ``a_i`` beside it. The wrapped transmission
sequence is ``t_0 .. t_{n−1}, t_n ≡ t_0`` (:attr:`ComplexLevelTable.extended`).

Quantizers (``x = fold_latent(w, phase_table)``, σ the logistic function, ``δ_i = t_{i+1} − t_i``)
----------------------------------------------------------------------------------------------------
* hard / staircase: ``T(w) = t_j`` with ``j = level_index(w)``: the level nearest in phase
  (periodic distance; ties go up, the wrap step lands on level 0). The k → ∞ limit of PSQ.
* PSQ: ``T_k(w) = t_0 + Σ_i δ_i·σ(k·(x − c_i))`` — the phase-only PSQ with the phase steps Δ_i
  replaced by the complex steps δ_i (chord interpolation between neighbouring levels).
* DSQ: in interval ``i`` (``[φ_i, φ_{i+1}]``, midpoint ``c_i``, width Δ_i):
  ``T(x) = t_i + δ_i·(s·tanh(k_i(x − c_i)) + 1)/2`` with ``k_i = log(2/α − 1)/Δ_i``,
  ``s = 1/(1 − α)`` (the phase DSQ's curve with Δ_i → δ_i); ``hard_forward`` gives the staircase.
* STE: forward the hard level ``t_j``; backward as if the phase went straight through with the
  level's amplitude held: ``dT/dw = i·t_j`` (for a phase-only table exactly today's STE:
  ``d exp(iφ̂)/dw = i·exp(iφ̂)``).
* Gumbel-softmax: forward ``t[argmax(z + g)]``; backward through the soft value ``Σ_j y_j t_j``,
  ``y = softmax((z + g)/τ)``.
* PQ: training forward ``exp(i·w)`` (full precision, amplitude 1), evaluation hard.

Gradient convention (PyTorch's for a real input and complex output): with the incoming
``g = ∂L/∂Re T + i·∂L/∂Im T``, ``dL/dw = Re(conj(dT/dw)·g)``; gradients w.r.t. scalar
hyper-parameters (k, α) are summed over all elements.

A table whose amplitudes are all exactly 1 is phase-only: the quantizer modules keep the
phase path for it (transmission ``exp(iφ̂(w))``, bit-identical to a plain phase table).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import array, fail, finite_real, plain_scalar
from .levels import MAX_LEVELS, TWO_PI, LevelTable, _real_input, fold_latent
from .quantizers import _alpha, _sigmoid_and_slope, _stair_index

__all__ = [
    "ComplexLevelTable", "complex_level_table", "from_material", "AMPLITUDE_SLACK",
    "hard_transmission", "psq_transmission", "psq_transmission_backward",
    "dsq_transmission", "dsq_transmission_backward", "ste_transmission", "ste_transmission_backward",
    "gumbel_transmission", "gumbel_transmission_backward", "pq_transmission",
]

#: abs(t) within this of 1 counts as exactly 1 (rounding of a computed exp(iφ)); larger |t| is refused
AMPLITUDE_SLACK = 4 * np.finfo(np.float64).eps


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _check_amplitudes(func: str, arg: str, a: np.ndarray) -> np.ndarray:
    bad = np.flatnonzero(~(a > 0))
    if bad.size:
        i = int(bad[0])
        fail(func, arg, "amplitudes |t_i| > 0 (a level that transmits nothing has no phase)",
             f"|{arg}[{i}]| = {a[i]!r}")
    bad = np.flatnonzero(a > 1.0 + AMPLITUDE_SLACK)
    if bad.size:
        i = int(bad[0])
        fail(func, arg, "amplitudes |t_i| <= 1 (a passive element cannot amplify)",
             f"|{arg}[{i}]| = {a[i]!r}")
    # within AMPLITUDE_SLACK of 1 is lossless (|exp(iφ)| computed in float64 is 1 ± a few ulps)
    return np.where(np.abs(a - 1.0) <= AMPLITUDE_SLACK, 1.0, a)


def _check_phases(func: str, arg: str, phases: np.ndarray) -> np.ndarray:
    """Phases in level order → unwrapped strictly increasing phases within one period from φ_0."""
    rel = np.mod(phases - phases[0], TWO_PI)
    rel[0] = 0.0
    d = np.diff(rel)
    bad = np.flatnonzero(~(d > 0))
    if bad.size:
        i = int(bad[0]) + 1
        fail(func, arg, "levels in increasing phase order within one 2π period, starting at level 0, "
             "no two at the same phase (sort them by phase, drop duplicates)",
             f"level {i} at phase {phases[i]!r} rad is not after level {i - 1} at {phases[i - 1]!r} rad "
             f"(mod 2π, relative to level 0)")
    return phases[0] + rel


@dataclass(frozen=True, eq=False)
class ComplexLevelTable:
    """Levels ``t_i = a_i·exp(iφ_i)``, periodic in phase (period 2π).

    Attributes
    ----------
    phase_table : :class:`LevelTable` of the phases ``φ_i`` (radians, strictly increasing within
        one period, ``period = 2π``): thresholds, steps, fold and level indices come from it.
    amplitudes : (n,) float64 in (0, 1], read-only.
    """

    phase_table: LevelTable
    amplitudes: np.ndarray
    transmissions: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        func = "ComplexLevelTable"
        if not isinstance(self.phase_table, LevelTable):
            fail(func, "phase_table", "a LevelTable", type(self.phase_table).__name__, TypeError)
        if self.phase_table.period != TWO_PI:
            fail(func, "phase_table", "a periodic table with period 2π (a transmission's phase is 2π-periodic)",
                 f"period {self.phase_table.period!r}")
        a = np.array(array(func, "amplitudes", np.asarray(self.amplitudes), complex_ok=False, min_ndim=1),
                     dtype=np.float64)
        if a.shape != (self.phase_table.n,):
            fail(func, "amplitudes", f"of shape ({self.phase_table.n},) (one per level)", f"shape {a.shape}")
        a = _check_amplitudes(func, "amplitudes", a)
        object.__setattr__(self, "amplitudes", _readonly(a))
        t = a * np.exp(1j * self.phase_table.levels)
        object.__setattr__(self, "transmissions", _readonly(t))

    @property
    def n(self) -> int:
        return self.phase_table.n

    @property
    def phases(self) -> np.ndarray:
        return self.phase_table.levels

    @property
    def phase_only(self) -> bool:
        """All amplitudes exactly 1: the quantizers take the (bit-identical) phase path."""
        return bool(np.all(self.amplitudes == 1.0))

    @property
    def extended(self) -> np.ndarray:
        """(n+1,) ``t_0 .. t_{n−1}, t_0``: the wrapped sequence (``t_n ≡ t_0`` across 2π)."""
        return _readonly(np.append(self.transmissions, self.transmissions[0]))

    @property
    def deltas(self) -> np.ndarray:
        """(n,) complex steps ``δ_i = t_{i+1} − t_i`` (``δ_{n−1} = t_0 − t_{n−1}``)."""
        return _readonly(np.diff(self.extended))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ComplexLevelTable):
            return NotImplemented
        return self.phase_table == other.phase_table and np.array_equal(self.amplitudes, other.amplitudes)

    def __hash__(self) -> int:
        return hash((hash(self.phase_table), self.amplitudes.tobytes()))


def complex_level_table(transmissions: Any) -> ComplexLevelTable:
    """A table from measured complex transmissions ``t_i`` (1-D, 2..MAX_LEVELS entries, finite).

    Requirements (ValueError naming 'transmissions' otherwise): ``0 < |t_i| <= 1`` (``|t_i|``
    within :data:`AMPLITUDE_SLACK` of 1 is taken as exactly 1; larger |t| is refused, not
    clipped), and the levels in
    increasing phase order within one 2π period starting at level 0 (phases taken mod 2π relative
    to ``arg t_0``; duplicates refused). Phases are ``arg t_0`` (in (−π, π]) plus the unwrapped
    increments."""
    func = "complex_level_table"
    if isinstance(transmissions, (list, tuple)):
        if not all(isinstance(v, numbers.Number) and not isinstance(v, bool) for v in transmissions):
            fail(func, "transmissions", "a sequence of numbers", "a non-numeric element", TypeError)
        transmissions = np.asarray(transmissions, dtype=np.complex128)
    t = array(func, "transmissions", transmissions, min_ndim=1)
    if t.ndim != 1:
        fail(func, "transmissions", "a 1-D array", f"shape {t.shape}")
    if not 2 <= t.shape[0] <= MAX_LEVELS:
        fail(func, "transmissions", f"between 2 and MAX_LEVELS = {MAX_LEVELS} levels", f"{t.shape[0]} level(s)")
    t = np.asarray(t, dtype=np.complex128)
    a = _check_amplitudes(func, "transmissions", np.abs(t))
    phases = _check_phases(func, "transmissions", np.angle(t))
    return ComplexLevelTable(LevelTable(phases, TWO_PI), a)


def from_material(n: float, kappa: float, wavelength: float, *, heights: Any = None,
                  levels: int | None = None, n_medium: float = 1.0) -> ComplexLevelTable:
    """Levels of a surface relief in an absorbing material.

    Convention: a relief of height ``h`` (metres) in a medium of complex refractive index
    ``n + iκ`` (κ >= 0 absorbs), surrounded by a medium of real index ``n_medium``, transmits,
    relative to no relief, ``t(h) = exp(−2π·κ·h/λ0)·exp(i·2π·(n − n_medium)·h/λ0)`` (λ0 the vacuum
    wavelength in metres; fields ``∝ exp(i(k z − ω t))``, so a thicker optically denser element
    delays the phase by +2π(n − n_medium)h/λ0, the convention of the phase layers, ``u·exp(+iφ)``).
    Interface (Fresnel) losses are not included.

    Give exactly one of ``heights`` (metres, >= 0, strictly increasing, spanning less than one
    phase period: ``(n − n_medium)(h_max − h_min) < λ0``) or ``levels = K`` (K >= 2 heights
    ``h_j = j·λ0/(K·(n − n_medium))``, j = 0..K−1, evenly spaced over one 2π phase period). Needs
    ``n > n_medium`` (phase increasing with height). Note that with ``levels = K`` the table does not
    depend on λ0 (``a_j = exp(−2π κ j/(K(n − n_medium)))``). Errors name the argument."""
    func = "from_material"
    n = finite_real(func, "n", n, positive=True)
    kappa = finite_real(func, "kappa", kappa)
    if kappa < 0:
        fail(func, "kappa", "an extinction coefficient >= 0 (a passive, absorbing material)", kappa)
    lam = finite_real(func, "wavelength", wavelength, positive=True)
    n_medium = finite_real(func, "n_medium", n_medium, positive=True)
    dn = n - n_medium
    if not dn > 0:
        fail(func, "n", f"> n_medium = {n_medium!r} (the relief must delay the phase)", n)
    if (heights is None) == (levels is None):
        fail(func, "heights", "exactly one of 'heights' and 'levels'",
             "both" if heights is not None else "neither", TypeError)
    levels = plain_scalar(levels)
    if levels is not None:
        if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)):
            fail(func, "levels", "an integer level count", repr(levels), TypeError)
        k = int(levels)
        if not 2 <= k <= MAX_LEVELS:
            fail(func, "levels", f"a level count in [2, MAX_LEVELS = {MAX_LEVELS}]", k)
        j = np.arange(k, dtype=np.float64)
        phases = TWO_PI * j / k
        amps = np.exp(-TWO_PI * kappa * j / (k * dn))
    else:
        h = np.asarray(heights, dtype=np.float64) if isinstance(heights, (list, tuple)) else heights
        h = array(func, "heights", h, complex_ok=False, min_ndim=1)
        if h.ndim != 1 or not 2 <= h.shape[0] <= MAX_LEVELS:
            fail(func, "heights", f"a 1-D array of 2..{MAX_LEVELS} heights (metres)", f"shape {h.shape}")
        h = np.asarray(h, dtype=np.float64)
        if np.any(h < 0):
            fail(func, "heights", "heights >= 0 (metres)", f"min {h.min()!r}")
        d = np.diff(h)
        bad = np.flatnonzero(~(d > 0))
        if bad.size:
            i = int(bad[0]) + 1
            fail(func, "heights", "strictly increasing", f"heights[{i}] = {h[i]!r} <= heights[{i - 1}] = {h[i - 1]!r}")
        phases = TWO_PI * dn * h / lam
        if not phases[-1] - phases[0] < TWO_PI:
            fail(func, "heights", f"a span (h_max − h_min) < λ0/(n − n_medium) = {lam / dn!r} m (one phase "
                 "period; levels a period apart would be the same phase)", f"span {h[-1] - h[0]!r} m")
        amps = np.exp(-TWO_PI * kappa * h / lam)
    if not np.all(amps > 0):
        fail(func, "kappa", "small enough that every level transmits (amplitude > 0 in float64)",
             f"kappa {kappa!r} (amplitude underflows to 0)")
    return ComplexLevelTable(LevelTable(phases, TWO_PI), amps)


# --------------------------------------------------------------------------- quantizers
def _ct(func: str, table: Any) -> ComplexLevelTable:
    if not isinstance(table, ComplexLevelTable):
        fail(func, "table", "a ComplexLevelTable (see complex_level_table / from_material)",
             type(table).__name__, TypeError)
    return table


def _cgrad(func: str, grad_out: Any, shape: tuple) -> np.ndarray:
    g = array(func, "grad_out", np.asarray(grad_out) if isinstance(grad_out, numbers.Number) else grad_out)
    if g.shape != tuple(shape):
        fail(func, "grad_out", f"of the forward output's shape {tuple(shape)}", f"shape {g.shape}")
    return np.asarray(g, dtype=np.complex128)


def _vjp(g: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``Re(conj(d)·g)``: the real input's gradient for ``dT/dw = d`` and incoming ``g``."""
    return d.real * g.real + d.imag * g.imag


def hard_transmission(w: Any, table: ComplexLevelTable) -> np.ndarray:
    """``t[level_index(w)]``: the level nearest in phase (periodic), complex128, shape of w."""
    t = _ct("hard_transmission", table)
    w = _real_input("hard_transmission", "w", w)
    return t.transmissions[_stair_index(w, t.phase_table) % t.n]


def _psq_terms(func, w, table, k):
    t = _ct(func, table)
    w = _real_input(func, "w", w)
    k = finite_real(func, "k", k, positive=True)
    u = fold_latent(w, t.phase_table)[..., None] - t.phase_table.thresholds
    s, slope = _sigmoid_and_slope(k * u)
    return t, w, k, u, s, slope


def psq_transmission(w: Any, table: ComplexLevelTable, k: float) -> np.ndarray:
    """``T_k(w) = t_0 + Σ_i δ_i·σ(k·(x − c_i))`` (complex128, shape of w)."""
    t, w, k, u, s, _ = _psq_terms("psq_transmission", w, table, k)
    return t.transmissions[0] + s @ t.deltas


def psq_transmission_backward(grad_out: Any, w: Any, table: ComplexLevelTable, k: float):
    """``(grad_w, grad_k)``: ``dT/dw = k·Σ δ_i σ_i(1−σ_i)``, ``dT/dk = Σ δ_i (x − c_i) σ_i(1−σ_i)``,
    ``grad = Re(conj(dT/d·)·g)`` (grad_k summed to a float)."""
    t, w, k, u, s, slope = _psq_terms("psq_transmission_backward", w, table, k)
    g = _cgrad("psq_transmission_backward", grad_out, w.shape)
    dt_dw = k * (slope @ t.deltas)
    dt_dk = (u * slope) @ t.deltas
    return _vjp(g, dt_dw), float(np.sum(_vjp(g, dt_dk)))


def _dsq_terms(func, w, table, alpha):
    t = _ct(func, table)
    w = _real_input(func, "w", w)
    a = _alpha(func, alpha)
    pt = t.phase_table
    x = fold_latent(w, pt)
    ext = pt.extended_levels
    i = np.clip(np.searchsorted(ext, x, side="right") - 1, 0, t.n - 1)
    d = pt.steps[i]
    kk = np.log(2.0 / a - 1.0) / d
    s = 1.0 / (1.0 - a)
    u = x - pt.thresholds[i]
    th = np.tanh(kk * u)
    return t, w, a, i, d, kk, s, u, th


def dsq_transmission(w: Any, table: ComplexLevelTable, alpha: float, hard_forward: bool = True) -> np.ndarray:
    """DSQ on a complex table: ``hard_forward`` → :func:`hard_transmission`; else the soft curve
    ``t_i + δ_i·(s·tanh(k_i(x − c_i)) + 1)/2`` in the phase interval i holding x."""
    if not isinstance(hard_forward, (bool, np.bool_)):
        fail("dsq_transmission", "hard_forward", "a bool", type(hard_forward).__name__, TypeError)
    t, w, a, i, d, kk, s, u, th = _dsq_terms("dsq_transmission", w, table, alpha)
    if hard_forward:
        return hard_transmission(w, t)
    return t.transmissions[i] + t.deltas[i] * (s * th + 1.0) * 0.5


def dsq_transmission_backward(grad_out: Any, w: Any, table: ComplexLevelTable, alpha: float):
    """VJP of the SOFT complex DSQ curve: ``(grad_w, grad_alpha)``; ``dT/dx = δ_i/2·s·k_i·(1 − tanh²)``,
    ``dT/dα = δ_i/2·(ds/dα·tanh + s·(1 − tanh²)·(x − c_i)·dk_i/dα)`` with ``dk_i/dα = −2/(α(2−α)Δ_i)``,
    ``ds/dα = 1/(1−α)²`` (as the phase DSQ, :func:`~.quantizers.dsq_backward`, with Δ_i → δ_i outside)."""
    t, w, a, i, d, kk, s, u, th = _dsq_terms("dsq_transmission_backward", w, table, alpha)
    g = _cgrad("dsq_transmission_backward", grad_out, w.shape)
    delta = t.deltas[i]
    sech2 = 1.0 - th * th
    dt_dx = 0.5 * delta * s * kk * sech2
    dk_da = -2.0 / (a * (2.0 - a) * d)
    ds_da = 1.0 / (1.0 - a) ** 2
    dt_da = 0.5 * delta * (ds_da * th + s * sech2 * u * dk_da)
    return _vjp(g, dt_dx), float(np.sum(_vjp(g, dt_da)))


def ste_transmission(w: Any, table: ComplexLevelTable) -> np.ndarray:
    """Straight-through forward: :func:`hard_transmission`."""
    return hard_transmission(_real_input("ste_transmission", "w", w), _ct("ste_transmission", table))


def ste_transmission_backward(grad_out: Any, w: Any, table: ComplexLevelTable) -> np.ndarray:
    """``Re(conj(i·t_j)·g)``: the phase passes straight through, the level's amplitude is held."""
    t = _ct("ste_transmission_backward", table)
    w = _real_input("ste_transmission_backward", "w", w)
    g = _cgrad("ste_transmission_backward", grad_out, w.shape)
    return _vjp(g, 1j * hard_transmission(w, t))


def pq_transmission(w: Any, table: ComplexLevelTable, training: bool) -> np.ndarray:
    """PQ: ``exp(i·w)`` while training (full precision, amplitude 1), hard level at evaluation.
    Training backward: ``Re(conj(i·exp(iw))·g)``."""
    t = _ct("pq_transmission", table)
    if not isinstance(training, (bool, np.bool_)):
        fail("pq_transmission", "training", "a bool", type(training).__name__, TypeError)
    w = _real_input("pq_transmission", "w", w)
    return np.exp(1j * w) if training else hard_transmission(w, t)


def _gumbel_soft(func, logits, table, tau, noise):
    t = _ct(func, table)
    z = array(func, "logits", logits, complex_ok=False, min_ndim=1)
    if z.shape[-1] != t.n:
        fail(func, "logits", f"of shape (..., {t.n})", f"shape {z.shape}")
    tau = finite_real(func, "tau", tau, positive=True)
    g = array(func, "noise", noise, complex_ok=False)
    if g.shape != z.shape:
        fail(func, "noise", f"of the logits' shape {z.shape}", f"shape {g.shape}")
    p = np.asarray(z, dtype=np.float64) + g
    y = p / tau
    e = np.exp(y - y.max(axis=-1, keepdims=True))
    return t, z, tau, p, e / e.sum(axis=-1, keepdims=True)


def gumbel_transmission(logits: Any, table: ComplexLevelTable, tau: float, noise: Any) -> np.ndarray:
    """Straight-through Gumbel-softmax: ``t[argmax(logits + noise)]`` (shape ``logits.shape[:-1]``)."""
    t, _, _, p, _ = _gumbel_soft("gumbel_transmission", logits, table, tau, noise)
    return t.transmissions[np.argmax(p, axis=-1)]


def gumbel_transmission_backward(grad_out: Any, logits: Any, table: ComplexLevelTable, tau: float,
                                 noise: Any) -> np.ndarray:
    """Gradient of the soft value ``Σ_j y_j t_j``: ``y ⊙ (r − <y, r>)/τ``, ``r_j = Re(conj(t_j)·g)``."""
    t, z, tau, _, y = _gumbel_soft("gumbel_transmission_backward", logits, table, tau, noise)
    g = _cgrad("gumbel_transmission_backward", grad_out, z.shape[:-1])
    r = _vjp(g[..., None], t.transmissions)
    return y * (r - np.sum(y * r, axis=-1, keepdims=True)) / tau


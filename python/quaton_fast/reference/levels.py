"""Phase level tables (NumPy reference).

A :class:`LevelTable` holds the ``n`` phase levels ``q_0 < q_1 < ... < q_{n-1}`` a
diffractive neuron may take and, for tables covering one full phase period, that
period. From them it derives the quantizer thresholds ``c_i`` and steps ``Δ_i``:

* for ``i = 0 .. n-2``: ``c_i = (q_i + q_{i+1}) / 2`` and ``Δ_i = q_{i+1} - q_i``;
* if periodic, one more (the wrap-around step to ``q_0 + period ≡ q_0``):
  ``c_{n-1} = (q_{n-1} + q_0 + period) / 2`` and ``Δ_{n-1} = q_0 + period - q_{n-1}``.

So ``m = len(thresholds) = n - 1`` (not periodic) or ``n`` (periodic), and every
quantizer in :mod:`quaton_fast.reference.quantizers` writes its output as
``q_0 + Σ_i Δ_i · step_i(x)`` with ``x = fold_latent(w, table)``.

Periodicity
-----------
Phase is only defined modulo the period: ``exp(iφ)`` does not change when φ moves by 2π. A
**periodic** table therefore quantizes the latent ``w`` through its representative in the
fundamental domain, ``x = q_0 + ((w − q_0) mod period)`` ∈ ``[q_0, q_0 + period)``
(:func:`fold_latent`), in the forward pass, in the backward pass (the derivative of the fold is
1, so gradients are the periodic extension of those inside one period and never vanish
outside it) and at hard evaluation / export. A **non-periodic** table (``period=None``, a table
that does not cover a full period, e.g. a measured range ``[0, 1.6π]``) keeps clamped ends:
below ``c_0`` → ``q_0``, above ``c_{m-1}`` → ``q_{n-1}``; soft quantizers saturate there
(zero gradient outside ``[q_0, q_{n-1}]`` for DSQ, vanishing sigmoid tails for PSQ).

Size
----
At most :data:`MAX_LEVELS` = 2^20 levels. A fab makes 2^8–2^10; beyond 2^20 uniform levels the
spacing 2π/2^20 ≈ 6e-6 rad is ~10 float32 ulps at 2π, so the float32 tables of the torch and
CUDA paths could no longer keep the levels apart (and per-neuron costs that are O(n), as in PSQ
or Gumbel-softmax, become absurd).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import array, fail, finite_real, positive_int

TWO_PI = 2.0 * math.pi

#: the largest number of levels a table may hold (see the module doc, "Size")
MAX_LEVELS = 2 ** 20

__all__ = ["LevelTable", "uniform_levels", "level_table", "wrap_phase", "fold_latent", "TWO_PI", "MAX_LEVELS"]


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _check_levels(func: str, levels: Any, period: Any) -> tuple[np.ndarray, float | None]:
    """Validate a level table; return (float64 copy of levels, period as float or None)."""
    if not isinstance(levels, np.ndarray):
        if isinstance(levels, (list, tuple)):
            if len(levels) > MAX_LEVELS:
                fail(func, "levels", f"at most MAX_LEVELS = {MAX_LEVELS} levels", f"{len(levels)} levels")
            if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in levels):
                bad = next(v for v in levels if not (isinstance(v, numbers.Real) and not isinstance(v, bool)))
                fail(func, "levels", "a sequence of real numbers",
                     f"an element {type(bad).__name__} {bad!r}"[:200], TypeError)
            levels = np.asarray(levels, dtype=np.float64)
        else:
            fail(func, "levels", "a numpy.ndarray or a sequence of real numbers",
                 type(levels).__name__, TypeError)
    array(func, "levels", levels, complex_ok=False, min_ndim=1)
    if levels.ndim != 1:
        fail(func, "levels", "a 1-D array", f"shape {tuple(levels.shape)}")
    if levels.shape[0] < 2:
        fail(func, "levels", "an array with at least 2 levels", f"{levels.shape[0]} level(s)")
    if levels.shape[0] > MAX_LEVELS:
        fail(func, "levels", f"at most MAX_LEVELS = {MAX_LEVELS} levels", f"{levels.shape[0]} levels")
    q = np.array(levels, dtype=np.float64, copy=True)
    d = np.diff(q)
    bad = np.flatnonzero(~(d > 0))
    if bad.size:
        i = int(bad[0]) + 1
        fail(func, "levels", "strictly increasing",
             f"levels[{i}] = {q[i]!r} <= levels[{i - 1}] = {q[i - 1]!r} (first offending index {i})")
    if period is None:
        return q, None
    p = finite_real(func, "period", period, positive=True)
    span = float(q[-1] - q[0])
    if not span < p:
        fail(func, "period", f"> the span of the levels q[n-1] - q[0] = {span!r} "
             "(or None for a table that is not periodic)", p)
    return q, p


@dataclass(frozen=True, eq=False)
class LevelTable:
    """Phase levels of a quantizer.

    Attributes
    ----------
    levels : (n,) float64, strictly increasing, read-only.
    period : float or None. ``None``: not periodic (ends clamp); a float: the table
        covers one phase period and there is a wrap-around step ``q_{n-1} -> q_0 + period``.
    thresholds, steps : (m,) float64 read-only (m = n-1, or n if periodic); see module doc.
    """

    levels: np.ndarray
    period: float | None = None
    thresholds: np.ndarray = field(init=False, repr=False)
    steps: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        q, p = _check_levels("LevelTable", self.levels, self.period)
        c = 0.5 * (q[:-1] + q[1:])
        d = q[1:] - q[:-1]
        if p is not None:
            top = q[0] + p
            c = np.append(c, 0.5 * (q[-1] + top))
            d = np.append(d, top - q[-1])
        object.__setattr__(self, "levels", _readonly(q))
        object.__setattr__(self, "period", p)
        object.__setattr__(self, "thresholds", _readonly(c))
        object.__setattr__(self, "steps", _readonly(d))

    # --- derived scalars -------------------------------------------------
    @property
    def n(self) -> int:
        """Number of levels."""
        return int(self.levels.shape[0])

    @property
    def base(self) -> float:
        """``q_0``."""
        return float(self.levels[0])

    @property
    def periodic(self) -> bool:
        return self.period is not None

    @property
    def top(self) -> float:
        """Largest value a (soft) quantizer can output: ``q_0 + period`` if periodic, else ``q_{n-1}``."""
        if self.period is not None:
            return float(self.levels[0] + self.period)
        return float(self.levels[-1])

    @property
    def extended_levels(self) -> np.ndarray:
        """(m+1,) the levels plus, if periodic, ``q_0 + period``: the staircase's values."""
        if self.period is None:
            return self.levels
        return _readonly(np.append(self.levels, self.levels[0] + self.period))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LevelTable):
            return NotImplemented
        return self.period == other.period and np.array_equal(self.levels, other.levels)

    def __hash__(self) -> int:
        return hash((self.levels.tobytes(), self.period))


def uniform_levels(n: int, period: float = TWO_PI) -> LevelTable:
    """``n`` uniform periodic levels ``q_i = period·i/n`` (2 <= n <= MAX_LEVELS = 2^20)."""
    n = positive_int("uniform_levels", "n", n, minimum=2)
    if n > MAX_LEVELS:
        fail("uniform_levels", "n", f"an integer <= MAX_LEVELS = {MAX_LEVELS}", n)
    p = finite_real("uniform_levels", "period", period, positive=True)
    return LevelTable(p * np.arange(n, dtype=np.float64) / n, p)


def level_table(levels: Any, period: float | None = None) -> LevelTable:
    """A custom (possibly non-uniform, e.g. measured) level table.

    ``levels``: 1-D, at least 2 entries, finite, strictly increasing (the error names the
    first offending index). ``period``: ``None`` (default) for a table that does not cover a
    full phase period (ends clamp, no wrap-around step), or the period (e.g. 2π), which must
    exceed the span ``q_{n-1} - q_0``.
    """
    q, p = _check_levels("level_table", levels, period)
    return LevelTable(q, p)


def wrap_phase(w: Any, period: float = TWO_PI) -> np.ndarray:
    """``w mod period`` in ``[0, period)`` as float64 (never equal to ``period``, never -0.0)."""
    p = finite_real("wrap_phase", "period", period, positive=True)
    w = _real_input("wrap_phase", "w", w)
    r = np.mod(w, p)
    # np.mod of a tiny negative number rounds up to exactly p: that is 0 mod p.
    r = np.where(r >= p, 0.0, r) + 0.0  # "+ 0.0" turns -0.0 into 0.0
    return r


def fold_latent(w: Any, table: LevelTable) -> np.ndarray:
    """The latent's representative in the table's fundamental domain (float64, same shape).

    Periodic table: ``x = q_0 + ((w − q_0) mod period)`` ∈ ``[q_0, q_0 + period)`` (exactly
    ``q_0`` where the float ``mod`` rounds up to ``period``). Non-periodic: ``w`` itself (the
    quantizers clamp). ``dx/dw = 1`` almost everywhere."""
    if not isinstance(table, LevelTable):
        fail("fold_latent", "table", "a LevelTable", type(table).__name__, TypeError)
    w = _real_input("fold_latent", "w", w)
    if table.period is None:
        return w
    p = table.period
    r = np.mod(w - table.base, p)
    r = np.where(r >= p, 0.0, r) + 0.0
    return table.base + r


def _real_input(func: str, arg: str, w: Any) -> np.ndarray:
    """A finite real array (or real scalar) as a float64 ndarray."""
    if isinstance(w, numbers.Real) and not isinstance(w, bool):
        w = np.asarray(w, dtype=np.float64)
    array(func, arg, w, complex_ok=False)
    if w.dtype.kind == "b":  # pragma: no cover - array() rejects bool already
        fail(func, arg, "a real array", f"dtype {w.dtype}", TypeError)
    return np.asarray(w, dtype=np.float64)

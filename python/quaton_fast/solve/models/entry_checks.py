"""Checks done once where a user hands a problem or options to the solvers (solve, bcd, ...).

Every check raises an exception naming the function, the argument, what was expected and what came
(:func:`quaton_fast._validation.fail`). Nothing here runs inside a solver's iteration: the replica
kernels only see arrays these checks have accepted (finite, right shapes, float32-representable).

Limits stated here (one place):

* ``MAX_VARIABLES`` = 2**31 - 1: the C++ kernel indexes variables with 32-bit ints.
* ``MAX_STATE_BYTES`` = 16 GiB: one (n, replicas) float32 state matrix of a restart (the loop holds
  about six of them); ``replicas * n * 4`` bytes above it is refused before anything is allocated.
* ``EXACT_MAX_BINARY`` = 20: exhaustive enumeration (``bcd(exact=True)`` blocks,
  :func:`~quaton_fast.solve.algorithms.qumo_exact.brute_force_qumo`, :func:`~quaton_fast.solve.models.problems.brute_force`)
  visits 2^k states; 2^20 = 1,048,576 is about a second of NumPy per block. bcd enumerates in
  chunks of ``EXACT_CHUNK`` = 2^16 states, so its peak memory is ~3 * 2^16 * k * 8 bytes (31 MB at
  k = 20) whatever k is; the cap bounds the time, 2^k.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..._validation import fail, plain_scalar

__all__ = ["as_qumo_arrays", "int_option", "seed_option", "real_option", "bool_option", "start_state",
           "MAX_VARIABLES", "MAX_STATE_BYTES", "EXACT_MAX_BINARY", "EXACT_CHUNK"]

MAX_VARIABLES = 2**31 - 1
MAX_STATE_BYTES = 16 << 30
EXACT_MAX_BINARY = 20

#: Largest magnitude a problem's energy terms may reach over its states (the objective and each
#: constraint row over the variable box, as sums of absolute values). The solvers normalise the
#: coefficients and reach the optimum at any finite scale (tests/solve/test_solve_degenerate.py runs
#: 1e300), but a sum that overflows float64 (largest 1.8e308) makes the energy itself inf or NaN;
#: 1e306 leaves a factor of ~100 for the sums the solvers form (objective plus penalties, the box map).
MAX_MAGNITUDE = 1e306


def check_magnitudes(func: str, terms: dict) -> None:
    """Refuse a term (argument name -> its largest magnitude over the states, computed by the caller
    with overflow allowed) that is not <= MAX_MAGNITUDE, naming the argument that carries it."""
    for arg, v in terms.items():
        if not v <= MAX_MAGNITUDE:
            fail(func, arg, f"coefficients whose terms stay below {MAX_MAGNITUDE:g} in magnitude over the "
                 "states (quaton_fast.solve.models.entry_checks.MAX_MAGNITUDE)", f"a magnitude of {v:.3g}")
EXACT_CHUNK = 1 << 16


def int_option(func: str, arg: str, value: Any, *, minimum: int = 1, allow_none: bool = False) -> int | None:
    """``value`` as int >= minimum; integral floats (5.0) are accepted, bools and 5.5 are not."""
    value = plain_scalar(value)
    if value is None and allow_none:
        return None
    none = " or None" if allow_none else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        fail(func, arg, f"an integer >= {minimum}{none}", f"{type(value).__name__} {value!r}", TypeError)
    if not isinstance(value, numbers.Integral) and not (np.isfinite(value) and float(value).is_integer()):
        fail(func, arg, f"an integer >= {minimum}{none}", repr(value))
    if int(value) < minimum:
        fail(func, arg, f"an integer >= {minimum}{none}", int(value))
    return int(value)


def seed_option(func: str, value: Any) -> int:
    """A seed: an integer >= 0 (NumPy's SeedSequence and SciPy's Sobol refuse negative seeds)."""
    return int_option(func, "seed", value, minimum=0)


def real_option(func: str, arg: str, value: Any, *, allow_none: bool = False, positive: bool = False,
                lo: float | None = None, hi: float | None = None) -> float | None:
    """``value`` as a finite float (optionally > 0, or within [lo, hi])."""
    value = plain_scalar(value)
    if value is None and allow_none:
        return None
    none = " or None" if allow_none else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        fail(func, arg, f"a real number{none}", f"{type(value).__name__} {value!r}", TypeError)
    v = float(value)
    if not np.isfinite(v):
        fail(func, arg, f"a finite number{none}", v)
    if positive and not v > 0:
        fail(func, arg, f"a number > 0{none}", v)
    if lo is not None and hi is not None and not lo <= v <= hi:
        fail(func, arg, f"a number in [{lo:g}, {hi:g}]{none}", v)
    return v


def bool_option(func: str, arg: str, value: Any, *, allow_none: bool = False) -> bool | None:
    value = plain_scalar(value)
    if value is None and allow_none:
        return None
    if not isinstance(value, (bool, np.bool_)):
        fail(func, arg, "True or False" + (" or None" if allow_none else ""),
             f"{type(value).__name__} {value!r}", TypeError)
    return bool(value)


def _real_array(func: str, what: str, value: Any) -> np.ndarray:
    """np.asarray(value) of a real dtype (bool/int/float); ``what`` names the argument's part."""
    try:
        a = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        fail(func, "problem", f"a problem whose {what} is a real array", f"{type(value).__name__} ({exc})", TypeError)
    if a.dtype.kind not in "biuf":
        fail(func, "problem", f"a problem whose {what} is a real array", f"dtype {a.dtype}", TypeError)
    return a


def as_qumo_arrays(problem, func: str = "solve") -> tuple[Any, np.ndarray, np.ndarray, float]:
    """(J, h, continuous, offset) of any supported problem, checked; binary diagonals folded.

    problem: a QUMO/QUBO/Ising/MaxCut (anything with ``to_qumo``), an object with ``J`` and optional
    ``h`` (n,), ``continuous`` (n,) bool, ``offset``; or a square matrix J. J: (n, n) float64 ndarray or
    csr_matrix, symmetric (numpy.allclose(J, J.T, rtol=1e-5, atol=1e-9*max|J|)), finite, n >= 1.
    Raises TypeError/ValueError naming ``func`` and 'problem'.
    """
    n_claimed = getattr(problem, "n", None)
    if isinstance(n_claimed, numbers.Integral) and n_claimed > MAX_VARIABLES:
        fail(func, "problem", f"a problem with at most {MAX_VARIABLES} variables", f"n = {n_claimed}")
    try:
        q = problem.to_qumo() if hasattr(problem, "to_qumo") else problem
    except MemoryError:
        fail(func, "problem", "a problem whose QUMO form fits in memory",
             f"{type(problem).__name__} with n = {n_claimed}", MemoryError)
    if isinstance(q, np.ndarray) or sp.issparse(q):
        J, h, cont, off = q, None, None, 0.0
    else:
        try:
            J = q.J
        except AttributeError:
            fail(func, "problem", "a QUMO/QUBO/Ising/MaxCut object or a square matrix J",
                 type(problem).__name__, TypeError)
        h, cont, off = getattr(q, "h", None), getattr(q, "continuous", None), getattr(q, "offset", 0.0)
    if not sp.issparse(J):
        J = _real_array(func, "J", J)
    if J.ndim != 2 or J.shape[0] != J.shape[1]:
        fail(func, "problem", "a problem with a square coupling matrix J (n, n)", f"J of shape {J.shape}")
    n = int(J.shape[0])
    if n == 0:
        fail(func, "problem", "a problem with at least one variable", "n = 0")
    if n > MAX_VARIABLES:
        fail(func, "problem", f"a problem with at most {MAX_VARIABLES} variables", f"n = {n}")
    if h is None:
        h = np.zeros(n)
    else:
        h = _real_array(func, "h", h)
        if h.size != n or h.ndim > 2:
            fail(func, "problem", f"a problem whose h has shape ({n},)", f"shape {h.shape}")
        h = h.astype(np.float64).reshape(n)
    if cont is None:
        cont = np.zeros(n, bool)
    else:
        c = _real_array(func, "continuous", cont)
        if c.size != n or c.ndim > 2:
            fail(func, "problem", f"a problem whose continuous mask has shape ({n},)", f"shape {c.shape}")
        if c.dtype != bool and not np.all((c == 0) | (c == 1)):
            fail(func, "problem", "a problem whose continuous mask is boolean (or 0/1)", f"values {np.unique(c)[:4]}")
        cont = c.astype(bool).reshape(n)
    if off is None:
        off = 0.0
    if isinstance(off, (bool, np.bool_)) or not isinstance(off, numbers.Real) or not np.isfinite(float(off)):
        fail(func, "problem", "a problem whose offset is a finite real number", f"{type(off).__name__} {off!r}")
    off = float(off)
    # checks and the diagonal fold stay sparse for sparse J (no n x n dense copy)
    J = sp.csr_matrix(J, dtype=np.float64) if sp.issparse(J) else np.asarray(J, dtype=np.float64)
    values = J.data if sp.issparse(J) else J
    if not np.all(np.isfinite(values)):
        fail(func, "problem", "a problem with finite J", "NaN/Inf entries in J")
    if not np.all(np.isfinite(h)):
        fail(func, "problem", "a problem with finite h", "NaN/Inf entries in h")
    vmax = float(np.abs(values).max()) if values.size else 0.0
    scale = max(1.0, vmax)
    # numpy.allclose(J, J.T, rtol=1e-5, atol=1e-9*scale), elementwise, for dense and sparse J
    with np.errstate(over="ignore", invalid="ignore"):
        excess = abs(J - J.T) - 1e-5 * abs(J.T)
    if (excess.max() if excess.size else 0.0) > 1e-9 * scale:
        fail(func, "problem", "a problem with a symmetric J", "an asymmetric matrix")
    # Binary diagonals are constants (x_i^2 = 1): fold them into the offset so that the iteration
    # does not feed J_ii*sign(x_i) back into x_i (which pins binaries and wrecks the search).
    d = J.diagonal() * ~cont
    if np.any(d != 0.0):
        J = (J - sp.diags(d)).tocsr() if sp.issparse(J) else J - np.diag(d)
        off -= 0.5 * float(d.sum())
    if not np.isfinite(off):
        fail(func, "problem", "a problem whose offset minus half the binary diagonal of J is finite", off)
    return J, h, cont, off


def start_state(func: str, x0: Any, cont: np.ndarray) -> np.ndarray:
    """A user's start state x0 (n,) as float64 copy: finite, binaries in {-1, 1}, continuous in [-1, 1]."""
    n = cont.size
    try:
        x = np.asarray(x0)
    except Exception as exc:
        fail(func, "x0", f"a real array of shape ({n},)", f"{type(x0).__name__} ({exc})", TypeError)
    if x.dtype.kind not in "biuf":
        fail(func, "x0", f"a real array of shape ({n},)", f"dtype {x.dtype}", TypeError)
    if x.shape != (n,):
        fail(func, "x0", f"of shape ({n},)", f"shape {x.shape}")
    x = x.astype(np.float64).copy()
    if not np.all(np.isfinite(x)):
        fail(func, "x0", "finite (no NaN or Inf)", "non-finite values")
    bad_b = ~cont & (np.abs(x) != 1.0)
    if bad_b.any():
        i = int(np.flatnonzero(bad_b)[0])
        fail(func, "x0", "-1 or +1 for every binary variable", f"x0[{i}] = {float(x[i])!r}")
    bad_c = cont & (np.abs(x) > 1.0)
    if bad_c.any():
        i = int(np.flatnonzero(bad_c)[0])
        fail(func, "x0", "in [-1, 1] for every continuous variable", f"x0[{i}] = {float(x[i])!r}")
    return x

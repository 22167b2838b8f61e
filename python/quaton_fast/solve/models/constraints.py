"""Quadratic problems with linear constraints on binary and bounded continuous variables.

``ConstrainedProblem`` keeps a problem in the SOURCE FILE's own terms (QPLIB's convention):

* objective ``obj(z) = 1/2 z^T H z + g^T z + f``, to be minimised or maximised (``sense``), in the
  file's variables z (a binary variable is z_i in {0, 1}; a continuous one z_i in [lower_i, upper_i]);
* ``A_eq z = b_eq`` and ``A_ineq z <= b_ineq`` (a ``>=`` row of a file is stored negated; a ranged
  row ``l <= a z <= u`` becomes two ``<=`` rows);
* bounds ``lower <= z <= upper`` (finite: the AOC maps every variable onto [-1, 1]).

H: (n, n) symmetric scipy.sparse CSR float64; A_eq: (m_eq, n) and A_ineq: (m_in, n) CSR float64.
Nothing is negated for a maximisation problem: ``objective(z)`` is always the file's value, and
``min_energy(z) = sign * objective(z)`` (sign = -1 for ``maximize``) is what the solvers minimise.

Violation: ``max_violation(z)`` is the largest of |A_eq z - b_eq|, max(A_ineq z - b_ineq, 0), the
bound violations and, for binaries, the distance to {lower, upper}, in the file's units.
``is_feasible(z)`` applies a per-row relative tolerance: a row's violation divided by
max(1, |b_i|, max_j |A_ij|) must be <= ``FEAS_TOL`` (1e-6).

Exact small solutions: :func:`quaton_fast.solve.algorithms.constrained_exact.brute_force_constrained`.
Solving with the AOC-DT: :func:`quaton_fast.solve.algorithms.constrained_solve.solve_constrained`, also reached
through ``solve(problem)`` (the ``aoc_solve`` hook below).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..._validation import fail
from .entry_checks import check_magnitudes

__all__ = ["ConstrainedProblem", "FEAS_TOL"]

#: relative feasibility tolerance of a constraint row (see module docstring)
FEAS_TOL = 1e-6

def _check_magnitudes(func: str, P: "ConstrainedProblem") -> None:
    """Refuse coefficients whose objective or constraint rows exceed entry_checks.MAX_MAGNITUDE over the box,
    naming the argument that carries them (never a NaN or an error about a derived quantity later)."""
    xmax = np.maximum(np.abs(P.lower), np.abs(P.upper))
    with np.errstate(over="ignore", invalid="ignore"):
        terms = {"H": 0.5 * float(xmax @ (abs(P.H) @ xmax)), "g": float(np.abs(P.g) @ xmax), "f": abs(P.f)}
        for arg, A, b in (("A_eq", P.A_eq, P.b_eq), ("A_ineq", P.A_ineq, P.b_ineq)):
            rows = abs(A) @ xmax
            terms[arg] = float(rows.max()) if rows.size else 0.0
            terms["b_" + arg[2:]] = float(np.abs(b).max()) if b.size else 0.0
    check_magnitudes(func, terms)


def _csr(func: str, arg: str, M: Any, shape: tuple[int | None, int]) -> sp.csr_matrix:
    rows, n = shape
    if M is None:
        return sp.csr_matrix((0 if rows is None else rows, n))
    try:
        M = sp.csr_matrix(M, dtype=np.float64)
    except (TypeError, ValueError) as e:
        fail(func, arg, "a real matrix (ndarray or scipy.sparse)", f"{type(M).__name__} ({e})", TypeError)
    if M.ndim != 2 or M.shape[1] != n or (rows is not None and M.shape[0] != rows):
        want = f"({rows if rows is not None else 'm'}, {n})"
        fail(func, arg, f"of shape {want}", f"shape {M.shape}")
    if not np.all(np.isfinite(M.data)):
        fail(func, arg, "finite (no NaN or Inf)", "non-finite entries")
    M.sum_duplicates()
    M.eliminate_zeros()
    return M


def _vec(func: str, arg: str, v: Any, n: int, default: float = 0.0) -> np.ndarray:
    if v is None:
        return np.full(n, float(default))
    a = np.asarray(v)
    if a.dtype.kind not in "fiub":
        fail(func, arg, "a real vector", f"dtype {a.dtype}", TypeError)
    a = np.array(a, dtype=np.float64).reshape(-1) if a.ndim <= 1 else a
    if a.shape != (n,):
        fail(func, arg, f"of shape ({n},)", f"shape {np.shape(v)}")
    if not np.all(np.isfinite(a)):
        fail(func, arg, "finite (no NaN or Inf)", "non-finite values")
    return a


@dataclass(eq=False)
class ConstrainedProblem:
    """Minimise or maximise ``1/2 z^T H z + g^T z + f`` s.t. ``A_eq z = b_eq``, ``A_ineq z <= b_ineq``,
    ``lower <= z <= upper``, z_i in {lower_i, upper_i} where ``binary[i]`` (see the module docstring).

    Raises ValueError/TypeError naming the argument for wrong shapes, non-finite data, an asymmetric
    H, lower > upper, or a binary variable whose bounds are not within {0, 1}.
    """
    H: Any
    g: Any = None
    f: float = 0.0
    sense: str = "minimize"
    lower: Any = None
    upper: Any = None
    binary: Any = None
    A_eq: Any = None
    b_eq: Any = None
    A_ineq: Any = None
    b_ineq: Any = None
    names: list | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        fn = "ConstrainedProblem"
        Hm = self.H
        if not sp.issparse(Hm):
            Hm = np.asarray(Hm)
            if Hm.ndim != 2 or Hm.shape[0] != Hm.shape[1] or Hm.shape[0] == 0:
                fail(fn, "H", "a non-empty square matrix (n, n)", f"shape {Hm.shape}")
        n = Hm.shape[0]
        if n == 0 or Hm.shape != (n, n):
            fail(fn, "H", "a non-empty square matrix (n, n)", f"shape {Hm.shape}")
        self.H = _csr(fn, "H", Hm, (n, n))
        asym = abs(self.H - self.H.T)
        if asym.nnz and asym.max() > 1e-12 * max(1.0, abs(self.H).max()):
            fail(fn, "H", "symmetric", f"max |H - H^T| = {asym.max():.3g}")
        self.g = _vec(fn, "g", self.g, n)
        if isinstance(self.f, bool) or not np.isscalar(self.f) or not np.isfinite(float(self.f)):
            fail(fn, "f", "a finite real number", repr(self.f))
        self.f = float(self.f)
        if self.sense not in ("minimize", "maximize"):
            fail(fn, "sense", "'minimize' or 'maximize'", repr(self.sense))
        b = np.zeros(n, bool) if self.binary is None else np.asarray(self.binary)
        if b.dtype != bool or b.shape != (n,):
            fail(fn, "binary", f"a bool mask of shape ({n},)", f"dtype {b.dtype}, shape {b.shape}")
        self.binary = b.copy()
        self.lower = _vec(fn, "lower", self.lower, n, 0.0)
        self.upper = _vec(fn, "upper", self.upper, n, 1.0)
        if np.any(self.upper < self.lower):
            i = int(np.argmax(self.upper < self.lower))
            fail(fn, "upper", ">= lower", f"upper[{i}] = {self.upper[i]} < lower[{i}] = {self.lower[i]}")
        bad = self.binary & ~(np.isin(self.lower, (0.0, 1.0)) & np.isin(self.upper, (0.0, 1.0)))
        if bad.any():
            i = int(np.argmax(bad))
            fail(fn, "lower", "bounds within {0, 1} for a binary variable",
                 f"[{self.lower[i]}, {self.upper[i]}] for variable {i}")
        self.A_eq = _csr(fn, "A_eq", self.A_eq, (None, n))
        self.b_eq = _vec(fn, "b_eq", self.b_eq, self.A_eq.shape[0])
        self.A_ineq = _csr(fn, "A_ineq", self.A_ineq, (None, n))
        self.b_ineq = _vec(fn, "b_ineq", self.b_ineq, self.A_ineq.shape[0])
        if self.names is not None and len(self.names) != n:
            fail(fn, "names", f"a list of {n} variable names or None", f"{len(self.names)} names")
        _check_magnitudes(fn, self)

    # ---------------------------------------------------------------------------- sizes
    @property
    def n(self) -> int:
        return int(self.H.shape[0])

    @property
    def m_eq(self) -> int:
        return int(self.A_eq.shape[0])

    @property
    def m_ineq(self) -> int:
        return int(self.A_ineq.shape[0])

    @property
    def n_binary(self) -> int:
        return int(self.binary.sum())

    @property
    def sign(self) -> float:
        """+1 for minimise, -1 for maximise: ``min_energy = sign * objective``."""
        return -1.0 if self.sense == "maximize" else 1.0

    # ------------------------------------------------------------------------ evaluation
    def _states(self, func: str, z: Any) -> tuple[np.ndarray, bool]:
        Z = np.asarray(z)
        if Z.dtype.kind not in "fiub":
            fail(func, "z", "a real array", f"dtype {Z.dtype}", TypeError)
        single = Z.ndim == 1
        if Z.ndim not in (1, 2) or Z.shape[-1] != self.n:
            fail(func, "z", f"of shape ({self.n},) or (R, {self.n})", f"shape {Z.shape}")
        Z = np.atleast_2d(Z).astype(np.float64, copy=False)
        if not np.all(np.isfinite(Z)):
            fail(func, "z", "finite (no NaN or Inf)", "non-finite values")
        return Z, single

    def objective(self, z: Any):
        """The file's objective 1/2 z^T H z + g^T z + f (its own sense, constant included);
        z (n,) -> float, (R, n) -> (R,)."""
        Z, single = self._states("ConstrainedProblem.objective", z)
        HZ = np.asarray(self.H @ Z.T).T
        v = 0.5 * np.einsum("ri,ri->r", Z, HZ) + Z @ self.g + self.f
        return float(v[0]) if single else v

    def min_energy(self, z: Any):
        """sign * objective(z): the value every solver of this package minimises."""
        v = self.objective(z)
        return self.sign * v

    def residuals(self, z: Any) -> tuple[np.ndarray, np.ndarray]:
        """(A_eq z - b_eq (m_eq,), A_ineq z - b_ineq (m_in,)) for one state z (n,)."""
        Z, _ = self._states("ConstrainedProblem.residuals", z)
        return self.A_eq @ Z[0] - self.b_eq, self.A_ineq @ Z[0] - self.b_ineq

    def _row_scales(self) -> tuple[np.ndarray, np.ndarray]:
        if not hasattr(self, "_scales"):
            def sc(A, b):
                amax = abs(A).max(axis=1).toarray().reshape(-1) if A.shape[0] else np.zeros(0)
                return np.maximum(1.0, np.maximum(np.abs(b), amax))
            self._scales = (sc(self.A_eq, self.b_eq), sc(self.A_ineq, self.b_ineq))
        return self._scales

    def violations(self, z: Any) -> dict:
        """Per kind, the largest violation of one state z (n,), in the file's units:
        {'eq', 'ineq', 'bounds', 'integrality', 'max', 'scaled_max'} (scaled_max: rows divided by
        max(1, |b_i|, max_j |A_ij|), what ``is_feasible`` compares with FEAS_TOL)."""
        Z, _ = self._states("ConstrainedProblem.violations", z)
        x = Z[0]
        req, rin = self.A_eq @ x - self.b_eq, self.A_ineq @ x - self.b_ineq
        se, si = self._row_scales()
        ve = float(np.abs(req).max(initial=0.0))
        vi = float(np.maximum(rin, 0.0).max(initial=0.0))
        vb = float(np.maximum(np.maximum(self.lower - x, x - self.upper), 0.0).max(initial=0.0))
        xb = x[self.binary]
        vint = float(np.minimum(np.abs(xb - self.lower[self.binary]),
                                np.abs(xb - self.upper[self.binary])).max(initial=0.0))
        scaled = max(float((np.abs(req) / se).max(initial=0.0)), float((np.maximum(rin, 0) / si).max(initial=0.0)),
                     vb / max(1.0, float(np.abs(self.upper).max(initial=0.0))), vint)
        return {"eq": ve, "ineq": vi, "bounds": vb, "integrality": vint, "max": max(ve, vi, vb, vint),
                "scaled_max": scaled}

    def max_violation(self, z: Any) -> float:
        """Largest violation of one state z (n,) over constraints, bounds and integrality (file units)."""
        return self.violations(z)["max"]

    def is_feasible(self, z: Any, tol: float = FEAS_TOL) -> bool:
        """True when every row's scaled violation is <= tol (see module docstring)."""
        return self.violations(z)["scaled_max"] <= tol

    def better(self, a: float, b: float) -> bool:
        """True when objective value a is strictly better than b in the file's sense."""
        return a < b if self.sense == "minimize" else a > b

    # ------------------------------------------------------------------------ conversions
    def box_qumo(self):
        """The objective alone as a QUMO in the canonical [-1, 1] variables (min_energy, no
        constraints): ``QUMO.from_box_quadratic(sign*H, sign*g, sign*f, lower, upper, binary)``;
        its ``to_original`` maps x back to z."""
        from .problems import QUMO
        s = self.sign
        return QUMO.from_box_quadratic(s * self.H, s * self.g, s * self.f, self.lower, self.upper,
                                       self.binary, meta=dict(self.meta))

    @classmethod
    def from_unconstrained(cls, problem) -> "ConstrainedProblem":
        """Wrap a QUBO (z in {0,1}) or QUMO (z = shift + scale*x) without constraints, same objective
        as its ``energy`` (sense taken from ``meta['sense']`` when the problem came from a file)."""
        from .problems import QUBO, QUMO
        meta = dict(getattr(problem, "meta", {}) or {})
        sense = meta.get("sense", "minimize")
        s = -1.0 if sense == "maximize" else 1.0
        if isinstance(problem, QUBO):
            n = problem.n
            return cls(s * 2.0 * sp.csr_matrix(problem.Q), s * problem.c, s * problem.offset, sense,
                       np.zeros(n), np.ones(n), np.ones(n, bool), meta=meta)
        if isinstance(problem, QUMO):
            d, a = problem.scale, problem.shift
            if np.any(d == 0):
                fail("ConstrainedProblem.from_unconstrained", "problem", "a QUMO with nonzero scale", "scale 0")
            # E(x) = -1/2 x^T J x - h^T x + off, x = (z - a)/d
            Dinv = sp.diags(1.0 / d)
            J = sp.csr_matrix(problem.J)
            H = -(Dinv @ J @ Dinv)
            g = -(Dinv @ (problem.h)) + (Dinv @ (J @ (a / d)))
            f = problem.offset - 0.5 * float((a / d) @ (J @ (a / d))) + float(problem.h @ (a / d))
            lo, up = a - np.abs(d), a + np.abs(d)
            return cls(s * H, s * np.asarray(g).reshape(-1), s * f, sense, lo, up, ~problem.continuous,
                       meta=meta)
        fail("ConstrainedProblem.from_unconstrained", "problem", "a QUBO or QUMO", type(problem).__name__, TypeError)

    # ------------------------------------------------------------------------ solver hook
    #: the constrained solver, registered by :mod:`quaton_fast.solve.algorithms.constrained_solve` when it is
    #: imported (``import quaton_fast.solve`` does), so this module depends on nothing above it
    _solver = None

    def aoc_solve(self, **kwargs):
        """Hook used by :func:`quaton_fast.solve.solve`: the augmented-Lagrangian AOC-DT solver."""
        if ConstrainedProblem._solver is None:
            raise RuntimeError("ConstrainedProblem.aoc_solve(): the constrained solver is not loaded; "
                               "import quaton_fast.solve (or quaton_fast.solve.algorithms.constrained_solve) first")
        return ConstrainedProblem._solver(self, **kwargs)

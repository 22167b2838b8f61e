"""Optimisation problems (QUMO, Ising, QUBO, Max-Cut) and exact conversions between conventions.

Conventions (every conversion keeps the energy of EVERY state exact, constant included):

* ``QUMO(J, h, continuous, offset)`` -- the solver's canonical form (the AOC's / Microsoft's released
  solver): minimise ``E(x) = -1/2 x^T J x - h^T x + offset`` with x_i in {-1, +1} for binary variables
  and x_i in [-1, 1] for continuous ones (``continuous`` is an (n,) bool mask). J must be symmetric;
  its diagonal is allowed. For a binary variable ``J_ii x_i^2 = J_ii`` is a constant, so it only shifts
  the energy by ``-1/2 J_ii``; :meth:`QUMO.normalised` folds those constants into ``offset`` (keeping
  the diagonal of continuous variables, where it is a genuine quadratic term).
  A QUMO made from another problem also carries an affine map back to that problem's variables,
  ``original = shift + scale * x`` (:meth:`QUMO.to_original`); e.g. for a QUBO shift = scale = 1/2
  (x01 = (1 + s)/2), for an Ising problem shift = 0, scale = 1.
* ``Ising(J, h, offset)``: minimise ``E(s) = 1/2 s^T J s + h^T s + offset``, s in {-1, 1}^n, J symmetric
  with zero diagonal (the SK files' convention: ``E_ground = min 1/2 s^T J s``).
  Note the sign: ``Ising.to_qumo()`` has ``J_qumo = -J_ising`` and ``h_qumo = -h_ising``.
* ``QUBO(Q, c, offset)``: minimise ``E(x) = x^T Q x + c^T x + offset``, x in {0, 1}^n. Q is symmetrised
  on construction ((Q + Q^T)/2, which leaves x^T Q x unchanged); x^T Q x includes the diagonal
  (x_i^2 = x_i), so :meth:`QUBO.normalised` moves diag(Q) into c. ``Ising.to_qubo()`` returns the
  normalised (zero-diagonal) form, so ``qubo.to_ising().to_qubo() == qubo.normalised()``.
* ``MaxCut(n, edges, weights)``: maximise ``cut(s) = sum_e w_e (1 - s_i s_j)/2``. Its ``energy`` is
  the Ising energy of :meth:`MaxCut.to_ising`, ``E(s) = sum_e w_e s_i s_j``, so
  ``cut = W_total/2 - E/2`` (:meth:`MaxCut.cut_from_energy`).

Coupling matrices of Ising and QUMO may be dense ``numpy.ndarray`` or ``scipy.sparse`` matrices
(``MaxCut.to_ising`` returns sparse J above ``DENSE_LIMIT`` nodes); QUBO is dense.
``energy(x)`` accepts one state (n,) -> float or a batch (R, n) -> (R,).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..._validation import fail, finite_real, positive_int
from .entry_checks import EXACT_MAX_BINARY, check_magnitudes

__all__ = ["QUMO", "Ising", "QUBO", "MaxCut", "brute_force", "qubo_state_from_spins",
           "spins_from_qubo_state", "DENSE_LIMIT"]

#: MaxCut.to_ising() builds a dense J up to this many nodes, a CSR matrix above it.
DENSE_LIMIT = 5000
#: relative tolerance of the symmetry check
_SYM_RTOL = 1e-12


# ----------------------------------------------------------------------------------------- helpers
def _abs_sum(M) -> float:
    """sum |M_ij| (dense or sparse), overflowing to inf instead of warning."""
    with np.errstate(over="ignore", invalid="ignore"):
        return float(abs(M).sum())


def _matrix(func: str, arg: str, M: Any, *, sparse_ok: bool = True):
    """Return M as float64 ndarray (or CSR when sparse), checking squareness and finiteness."""
    if sp.issparse(M):
        if not sparse_ok:
            M = M.toarray()
        else:
            M = sp.csr_matrix(M, dtype=np.float64)
            if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
                fail(func, arg, "a non-empty square matrix (n, n)", f"shape {M.shape}")
            if not np.all(np.isfinite(M.data)):
                fail(func, arg, "finite (no NaN or Inf)", "non-finite values")
            return M
    if not isinstance(M, np.ndarray):
        M = np.asarray(M)
    if M.dtype.kind not in "fiub":
        fail(func, arg, "a real matrix", f"dtype {M.dtype}", TypeError)
    M = np.array(M, dtype=np.float64)  # a copy: problems never alias the caller's arrays
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
        fail(func, arg, "a non-empty square matrix (n, n)", f"shape {M.shape}")
    if not np.all(np.isfinite(M)):
        fail(func, arg, "finite (no NaN or Inf)", "non-finite values")
    return M


def _vector(func: str, arg: str, v: Any, n: int) -> np.ndarray:
    if v is None:
        return np.zeros(n)
    v = np.asarray(v)
    if v.dtype.kind not in "fiub":
        fail(func, arg, "a real vector", f"dtype {v.dtype}", TypeError)
    v = np.array(v, dtype=np.float64)
    if v.shape != (n,):
        fail(func, arg, f"of shape ({n},)", f"shape {v.shape}")
    if not np.all(np.isfinite(v)):
        fail(func, arg, "finite (no NaN or Inf)", "non-finite values")
    return v


def _mask(func: str, arg: str, v: Any, n: int) -> np.ndarray:
    """(n,) bool mask from bools or 0/1 numbers; anything else names ``arg``."""
    m = np.asarray(v)
    if m.dtype.kind not in "biuf":
        fail(func, arg, f"a bool mask of shape ({n},)", f"dtype {m.dtype}", TypeError)
    if m.shape != (n,):
        fail(func, arg, f"a bool mask of shape ({n},)", f"shape {m.shape}")
    if m.dtype != bool and not np.all((m == 0) | (m == 1)):
        fail(func, arg, "a bool mask (True/False or 0/1)", f"values {np.unique(m)[:4]}")
    return m.astype(bool)


def _check_symmetric(func: str, arg: str, M) -> None:
    diff = abs(M - M.T)
    dmax = diff.max() if diff.shape[0] else 0.0
    scale = max(1.0, abs(M).max())
    if dmax > _SYM_RTOL * scale:
        fail(func, arg, "symmetric", f"max |M - M^T| = {float(dmax):.3g}")


def _diag(M) -> np.ndarray:
    return np.asarray(M.diagonal(), dtype=np.float64)


def _offdiag(M):
    if sp.issparse(M):
        out = M - sp.diags(M.diagonal())
        out = sp.csr_matrix(out)
        out.eliminate_zeros()
        return out
    out = M.copy()
    np.fill_diagonal(out, 0.0)
    return out


def _rowsum(M) -> np.ndarray:
    return np.asarray(M.sum(axis=1), dtype=np.float64).reshape(-1)


def _quad(M, X: np.ndarray) -> np.ndarray:
    """x^T M x for every row x of X (R, n) -> (R,)."""
    MX = np.asarray(M @ X.T).T
    return np.einsum("ri,ri->r", X, MX)


def _states(func: str, x: Any, n: int) -> tuple[np.ndarray, bool]:
    X = np.asarray(x)
    if X.dtype.kind not in "fiub":
        fail(func, "x", "a real array", f"dtype {X.dtype}", TypeError)
    single = X.ndim == 1
    if X.ndim not in (1, 2) or X.shape[-1] != n:
        fail(func, "x", f"of shape ({n},) or (R, {n})", f"shape {X.shape}")
    X = np.atleast_2d(X).astype(np.float64, copy=False)
    if not np.all(np.isfinite(X)):
        fail(func, "x", "finite (no NaN or Inf)", "non-finite values")
    return X, single


def _ret(E: np.ndarray, single: bool):
    return float(E[0]) if single else E


def _same(a, b) -> bool:
    if sp.issparse(a) or sp.issparse(b):
        a = a.toarray() if sp.issparse(a) else a
        b = b.toarray() if sp.issparse(b) else b
    return np.shape(a) == np.shape(b) and bool(np.allclose(a, b, rtol=1e-12, atol=1e-12))


def qubo_state_from_spins(s: Any) -> np.ndarray:
    """x = (1 + s)/2: spins in {-1, 1} (any shape) -> QUBO state in {0, 1}."""
    return (1.0 + np.asarray(s, dtype=np.float64)) / 2.0


def spins_from_qubo_state(x: Any) -> np.ndarray:
    """s = 2x - 1: QUBO state in {0, 1} (any shape) -> spins in {-1, 1}."""
    return 2.0 * np.asarray(x, dtype=np.float64) - 1.0


# ------------------------------------------------------------------------------------------- QUMO
@dataclass(eq=False)
class QUMO:
    """Minimise ``-1/2 x^T J x - h^T x + offset``; x_i in {-1,1} (binary) or [-1,1] (continuous).

    J: (n, n) symmetric float64 (ndarray or scipy.sparse), diagonal allowed; h: (n,);
    continuous: (n,) bool mask; shift, scale: (n,) affine map to the source problem's variables
    (``to_original(x) = shift + scale * x``); meta: free-form info (name, sense, ...).
    """
    J: Any
    h: Any = None
    continuous: Any = None
    offset: float = 0.0
    shift: Any = None
    scale: Any = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        f = "QUMO"
        self.J = _matrix(f, "J", self.J)
        n = self.J.shape[0]
        self.h = _vector(f, "h", self.h, n)
        if self.continuous is None:
            self.continuous = np.zeros(n, dtype=bool)
        c = np.asarray(self.continuous)
        if c.dtype != bool or c.shape != (n,):
            fail(f, "continuous", f"a bool mask of shape ({n},)", f"dtype {c.dtype}, shape {c.shape}")
        self.continuous = c.copy()
        self.offset = finite_real(f, "offset", self.offset)
        self.shift = _vector(f, "shift", self.shift, n)
        self.scale = np.ones(n) if self.scale is None else _vector(f, "scale", self.scale, n)
        check_magnitudes(f, {"J": 0.5 * _abs_sum(self.J), "h": _abs_sum(self.h)})
        self.validate()

    @property
    def n(self) -> int:
        return int(self.J.shape[0])

    @property
    def n_continuous(self) -> int:
        return int(self.continuous.sum())

    def validate(self) -> "QUMO":
        _check_symmetric("QUMO", "J", self.J)
        return self

    def energy(self, x: Any):
        """E(x) = -1/2 x^T J x - h^T x + offset; x (n,) -> float, (R, n) -> (R,). Domain not checked."""
        X, single = _states("QUMO.energy", x, self.n)
        return _ret(-0.5 * _quad(self.J, X) - X @ self.h + self.offset, single)

    def to_original(self, x: Any) -> np.ndarray:
        """Map canonical states (n,) or (R, n) to the source problem's variables: shift + scale*x."""
        return self.shift + self.scale * np.asarray(x, dtype=np.float64)

    def normalised(self) -> "QUMO":
        """Same energies, binary diagonals folded into the offset (J_ii -> 0, offset -= J_ii/2)."""
        d = _diag(self.J) * ~self.continuous
        J = self.J - sp.diags(d) if sp.issparse(self.J) else self.J - np.diag(d)
        return QUMO(J, self.h, self.continuous, self.offset - 0.5 * float(d.sum()),
                    self.shift, self.scale, dict(self.meta))

    @classmethod
    def from_ising(cls, ising: "Ising") -> "QUMO":
        """Exact: J_qumo = -J, h_qumo = -h, same offset; all variables binary."""
        return ising.to_qumo()

    @classmethod
    def from_qubo(cls, qubo: "QUBO") -> "QUMO":
        return qubo.to_qumo()

    @classmethod
    def from_box_quadratic(cls, H: Any, g: Any = None, f: float = 0.0, lower: Any = None,
                           upper: Any = None, binary: Any = None, meta: dict | None = None) -> "QUMO":
        """Minimise ``1/2 z^T H z + g^T z + f`` (QPLIB's convention, H symmetric) over
        z_i in {lower_i, upper_i} (binary[i] True) or z_i in [lower_i, upper_i] (continuous).

        Substituting z = a + d*x with a = (l+u)/2, d = (u-l)/2, x in {-1,1} / [-1,1]:
        ``J = -D H D``, ``h = -D (H a + g)``, ``offset = 1/2 a^T H a + g^T a + f``; the map back is
        shift = a, scale = d. Bounds must be finite with lower <= upper.
        """
        fn = "QUMO.from_box_quadratic"
        H = _matrix(fn, "H", H)
        n = H.shape[0]
        _check_symmetric(fn, "H", H)
        g = _vector(fn, "g", g, n)
        f = finite_real(fn, "f", float(f))
        lo = np.zeros(n) if lower is None else _vector(fn, "lower", lower, n)
        up = np.ones(n) if upper is None else _vector(fn, "upper", upper, n)
        if np.any(up < lo):
            i = int(np.argmax(up < lo))
            fail(fn, "upper", ">= lower", f"upper[{i}] = {up[i]} < lower[{i}] = {lo[i]}")
        b = np.ones(n, dtype=bool) if binary is None else _mask(fn, "binary", binary, n)
        a, d = (lo + up) / 2.0, (up - lo) / 2.0
        if sp.issparse(H):
            D = sp.diags(d)
            J = -(D @ H @ D)
        else:
            J = -(d[:, None] * H * d[None, :])
        Ha = np.asarray(H @ a).reshape(-1)
        h = -d * (Ha + g)
        offset = 0.5 * float(a @ Ha) + float(g @ a) + f
        return cls(J, h, ~b, offset, a, d, dict(meta or {}))

    def to_ising(self) -> "Ising":
        """Exact for all-binary problems: J_ising = -offdiag(J), h = -h, offset -= sum(J_ii)/2."""
        if self.n_continuous:
            fail("QUMO.to_ising", "self", "a QUMO without continuous variables",
                 f"{self.n_continuous} continuous variables")
        return Ising(-_offdiag(self.J), -self.h, self.offset - 0.5 * float(_diag(self.J).sum()))

    def to_qubo(self) -> "QUBO":
        """Exact for all-binary problems (via Ising, s = 2x - 1); returns the normalised QUBO."""
        return self.to_ising().to_qubo()

    def to_qumo(self) -> "QUMO":
        return self

    def same_as(self, other: "QUMO") -> bool:
        """Same J, h, mask and offset (to 1e-12); ignores shift/scale/meta."""
        return (isinstance(other, QUMO) and _same(self.J, other.J) and _same(self.h, other.h)
                and np.array_equal(self.continuous, other.continuous)
                and np.isclose(self.offset, other.offset, rtol=1e-12, atol=1e-12))


# ------------------------------------------------------------------------------------------ Ising
@dataclass(eq=False)
class Ising:
    """Minimise ``1/2 s^T J s + h^T s + offset``, s in {-1,1}^n; J (n, n) symmetric, zero diagonal."""
    J: Any
    h: Any = None
    offset: float = 0.0
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.J = _matrix("Ising", "J", self.J)
        self.h = _vector("Ising", "h", self.h, self.J.shape[0])
        self.offset = finite_real("Ising", "offset", self.offset)
        check_magnitudes("Ising", {"J": 0.5 * _abs_sum(self.J), "h": _abs_sum(self.h)})
        self.validate()

    @property
    def n(self) -> int:
        return int(self.J.shape[0])

    def validate(self) -> "Ising":
        _check_symmetric("Ising", "J", self.J)
        d = _diag(self.J)
        if np.any(d != 0):
            i = int(np.flatnonzero(d)[0])
            fail("Ising", "J", "zero on the diagonal (fold s_i^2 = 1 into offset)", f"J[{i},{i}] = {d[i]}")
        return self

    def energy(self, s: Any):
        """E(s) = 1/2 s^T J s + h^T s + offset; s (n,) -> float, (R, n) -> (R,)."""
        X, single = _states("Ising.energy", s, self.n)
        return _ret(0.5 * _quad(self.J, X) + X @ self.h + self.offset, single)

    def to_qumo(self) -> "QUMO":
        """Exact: J_qumo = -J, h_qumo = -h, same offset, all binary; the state map is the identity."""
        return QUMO(-self.J, -self.h, np.zeros(self.n, bool), self.offset, meta=dict(self.meta))

    def to_qubo(self) -> "QUBO":
        """Exact with s = 2x - 1: Q = 2J (zero diagonal), c = 2h - 2 J 1,
        offset += 1/2 1^T J 1 - sum(h)."""
        Jd = self.J.toarray() if sp.issparse(self.J) else self.J
        r = _rowsum(Jd)
        return QUBO(2.0 * Jd, 2.0 * self.h - 2.0 * r,
                    self.offset + 0.5 * float(r.sum()) - float(self.h.sum()), meta=dict(self.meta))

    @classmethod
    def from_qubo(cls, qubo: "QUBO") -> "Ising":
        return qubo.to_ising()

    def same_as(self, other: "Ising") -> bool:
        return (isinstance(other, Ising) and _same(self.J, other.J) and _same(self.h, other.h)
                and np.isclose(self.offset, other.offset, rtol=1e-12, atol=1e-12))


# ------------------------------------------------------------------------------------------- QUBO
@dataclass(eq=False)
class QUBO:
    """Minimise ``x^T Q x + c^T x + offset``, x in {0,1}^n; Q (n, n) symmetrised on construction."""
    Q: Any
    c: Any = None
    offset: float = 0.0
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        Q = _matrix("QUBO", "Q", self.Q, sparse_ok=False)
        self.c = _vector("QUBO", "c", self.c, Q.shape[0])
        self.offset = finite_real("QUBO", "offset", self.offset)
        check_magnitudes("QUBO", {"Q": _abs_sum(Q), "c": _abs_sum(self.c)})
        self.Q = 0.5 * (Q + Q.T)
        self.validate()

    @property
    def n(self) -> int:
        return int(self.Q.shape[0])

    def validate(self) -> "QUBO":
        _check_symmetric("QUBO", "Q", self.Q)
        return self

    def energy(self, x: Any):
        """E(x) = x^T Q x + c^T x + offset; x (n,) -> float, (R, n) -> (R,)."""
        X, single = _states("QUBO.energy", x, self.n)
        return _ret(_quad(self.Q, X) + X @ self.c + self.offset, single)

    def normalised(self) -> "QUBO":
        """Same energies with diag(Q) moved into c (x_i^2 = x_i)."""
        d = np.diag(self.Q).copy()
        return QUBO(self.Q - np.diag(d), self.c + d, self.offset, meta=dict(self.meta))

    def to_ising(self) -> "Ising":
        """Exact with x = (1 + s)/2: J = offdiag(Q)/2, h = (Q 1 + c)/2,
        offset += 1/4 1^T Q 1 + 1/4 tr(Q) + 1/2 sum(c)."""
        r = self.Q.sum(axis=1)
        off = self.offset + 0.25 * float(r.sum()) + 0.25 * float(np.trace(self.Q)) + 0.5 * float(self.c.sum())
        return Ising(0.5 * _offdiag(self.Q), 0.5 * (r + self.c), off, meta=dict(self.meta))

    def to_qumo(self) -> "QUMO":
        """Exact with x01 = (1 + s)/2 (QUMO.from_box_quadratic with H = 2Q, bounds 0/1);
        the returned QUMO's ``to_original`` maps spins back to {0,1} (shift = scale = 1/2)."""
        return QUMO.from_box_quadratic(2.0 * self.Q, self.c, self.offset, np.zeros(self.n),
                                       np.ones(self.n), np.ones(self.n, bool), meta=self.meta)

    @classmethod
    def from_ising(cls, ising: "Ising") -> "QUBO":
        return ising.to_qubo()

    def same_as(self, other: "QUBO") -> bool:
        return (isinstance(other, QUBO) and _same(self.Q, other.Q) and _same(self.c, other.c)
                and np.isclose(self.offset, other.offset, rtol=1e-12, atol=1e-12))


# ----------------------------------------------------------------------------------------- MaxCut
@dataclass(eq=False)
class MaxCut:
    """Maximise ``cut(s) = sum_e w_e (1 - s_i s_j)/2`` over s in {-1,1}^n.

    n: number of nodes; edges: (m, 2) int, 0-based, no self-loops (parallel edges allowed, they add);
    weights: (m,) float (default all 1). ``energy(s)`` is the Ising energy sum_e w_e s_i s_j.
    """
    n: int
    edges: Any
    weights: Any = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        f = "MaxCut"
        self.n = positive_int(f, "n", self.n)
        e = np.asarray(self.edges)
        if e.size == 0:
            e = e.reshape(0, 2)
        if e.ndim != 2 or e.shape[1] != 2:
            fail(f, "edges", "an (m, 2) integer array", f"shape {e.shape}")
        if e.dtype.kind not in "iu":
            if e.dtype.kind == "f" and np.all(np.isfinite(e)) and np.all(e == np.round(e)):
                e = e.astype(np.int64)
            else:
                fail(f, "edges", "integer node indices", f"dtype {e.dtype}", TypeError)
        self.edges = np.array(e, dtype=np.int64)
        m = self.edges.shape[0]
        self.weights = np.ones(m) if self.weights is None else _vector(f, "weights", self.weights, m)
        check_magnitudes(f, {"weights": _abs_sum(self.weights)})
        self.validate()

    @property
    def m(self) -> int:
        return int(self.edges.shape[0])

    @property
    def total_weight(self) -> float:
        return float(self.weights.sum())

    def validate(self) -> "MaxCut":
        e = self.edges
        if e.size and (e.min() < 0 or e.max() >= self.n):
            k = int(np.flatnonzero((e < 0).any(1) | (e >= self.n).any(1))[0])
            fail("MaxCut", "edges", f"node indices in [0, {self.n - 1}]", f"edge {k} = {tuple(e[k])}")
        loops = e[:, 0] == e[:, 1]
        if loops.any():
            k = int(np.flatnonzero(loops)[0])
            fail("MaxCut", "edges", "free of self-loops", f"edge {k} = {tuple(e[k])}")
        return self

    def _spins(self, func: str, s: Any) -> tuple[np.ndarray, bool]:
        return _states(func, s, self.n)

    def cut_value(self, s: Any):
        """sum_e w_e (1 - s_i s_j)/2 for s (n,) -> float or (R, n) -> (R,) (direct edge sum)."""
        X, single = self._spins("MaxCut.cut_value", s)
        prod = X[:, self.edges[:, 0]] * X[:, self.edges[:, 1]]
        return _ret(0.5 * ((1.0 - prod) @ self.weights), single)

    def energy(self, s: Any):
        """Ising energy sum_e w_e s_i s_j (= to_ising().energy(s)); minimising it maximises the cut."""
        X, single = self._spins("MaxCut.energy", s)
        prod = X[:, self.edges[:, 0]] * X[:, self.edges[:, 1]]
        return _ret(prod @ self.weights, single)

    def cut_from_energy(self, energy: Any):
        """cut = W_total/2 - E/2 for the Ising energy E of to_ising() (scalar or array)."""
        return 0.5 * self.total_weight - 0.5 * np.asarray(energy, dtype=np.float64) if np.ndim(energy) \
            else 0.5 * self.total_weight - 0.5 * float(energy)

    def energy_from_cut(self, cut: Any):
        return self.total_weight - 2.0 * np.asarray(cut, dtype=np.float64) if np.ndim(cut) \
            else self.total_weight - 2.0 * float(cut)

    def adjacency(self, sparse: bool | None = None):
        """W (n, n) symmetric with W_ij = W_ji = sum of the weights of edges {i, j}."""
        sparse = self.n > DENSE_LIMIT if sparse is None else sparse
        i, j = self.edges[:, 0], self.edges[:, 1]
        W = sp.coo_matrix((np.concatenate([self.weights, self.weights]),
                           (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(self.n, self.n))
        return W.tocsr() if sparse else W.toarray()

    def to_ising(self, sparse: bool | None = None) -> "Ising":
        """Exact: J = W (adjacency), h = 0, offset 0, so 1/2 s^T J s = sum_e w_e s_i s_j.
        sparse: CSR J (default: only when n > DENSE_LIMIT)."""
        return Ising(self.adjacency(sparse), None, 0.0, meta=dict(self.meta))

    def to_qumo(self, sparse: bool | None = None) -> "QUMO":
        """QUMO with J = -W: its energy equals :meth:`energy` for every state."""
        return self.to_ising(sparse).to_qumo()


# ------------------------------------------------------------------------------------ brute force
_CHUNK = 1 << 16


def brute_force(problem: Any, continuous_values: Any = None) -> tuple[np.ndarray, float]:
    """Exact minimum of ``problem.energy`` over all 2^n binary states (n <= 20), vectorised in chunks.

    Returns (best_state, best_energy); ties go to the first state in enumeration order (bit k of
    the state index is variable k). States are {-1, 1} for Ising / MaxCut / QUMO and {0, 1} for QUBO.
    For MaxCut the energy is the Ising energy (cut = problem.cut_from_energy(E)).
    QUMO with continuous variables: the continuous part is NOT optimised -- pass
    ``continuous_values`` (n_continuous,) to fix it; only the binary part is enumerated.
    """
    fn = "brute_force"
    if not hasattr(problem, "energy") or not hasattr(problem, "n"):
        fail(fn, "problem", "a QUMO, Ising, QUBO or MaxCut", type(problem).__name__, TypeError)
    n = int(problem.n)
    cont = getattr(problem, "continuous", np.zeros(n, bool))
    bidx = np.flatnonzero(~cont)
    nb = bidx.size
    if nb > EXACT_MAX_BINARY:
        fail(fn, "problem", f"at most {EXACT_MAX_BINARY} binary variables (2^n states enumerated)", f"{nb}")
    base = np.zeros(n)
    if cont.any():
        if continuous_values is None:
            fail(fn, "continuous_values", f"an array of the {int(cont.sum())} continuous values "
                 "(brute force does not optimise continuous variables)", "None")
        cv = _vector(fn, "continuous_values", continuous_values, int(cont.sum()))
        if np.any(np.abs(cv) > 1):
            fail(fn, "continuous_values", "in [-1, 1]", f"max |v| = {np.abs(cv).max()}")
        base[cont] = cv
    low = 0.0 if isinstance(problem, QUBO) else -1.0
    best_e, best_x = np.inf, None
    total = 1 << nb
    bits = np.arange(nb, dtype=np.int64)
    for start in range(0, total, _CHUNK):
        idx = np.arange(start, min(total, start + _CHUNK), dtype=np.int64)
        B = ((idx[:, None] >> bits[None, :]) & 1).astype(np.float64)
        X = np.broadcast_to(base, (idx.size, n)).copy()
        X[:, bidx] = low + (1.0 - low) * B
        E = np.atleast_1d(problem.energy(X))
        k = int(np.argmin(E))
        if E[k] < best_e:
            best_e, best_x = float(E[k]), X[k].copy()
    return best_x, best_e

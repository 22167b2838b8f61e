"""Exact minima of small QUMO problems: continuous part for fixed binaries, brute force over binaries.

Canonical energy (the AOC paper's QUMO convention): ``E(x) = -1/2 x^T J x - h^T x + offset``, binary x_i in {-1, 1},
continuous x_i in [-1, 1]. With the binary part x_B fixed, the continuous part solves the
box-constrained QP

    min_{x_C in [-1, 1]}  1/2 x_C^T H x_C + g^T x_C,   H = -J_CC,  g = -(h_C + J_CB x_B),

which is convex when H is positive semi-definite (both worked problems of this package are: their
continuous variables enter through sums of squares). :func:`continuous_optimum` solves it with a
primal active-set method and checks the KKT conditions, so a non-convex or badly solved QP is
reported, not returned silently.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from ..._validation import fail, positive_int
from .aoc_solver import qumo_energy
from ..models.entry_checks import EXACT_MAX_BINARY, as_qumo_arrays

__all__ = ["continuous_optimum", "brute_force_qumo"]

_KKT_TOL = 1e-7


def _box_qp(H: np.ndarray, g: np.ndarray) -> np.ndarray:
    """argmin 1/2 x^T H x + g^T x over [-1, 1]^k for PSD H (k, k): primal active-set method.

    The working set W holds variables fixed at a bound. On the free face each step is the Newton
    step ``-H_FF^+ grad_F`` or, when the gradient has a component in the null space of H_FF (the
    face problem is unbounded there), the descent direction ``-P_null grad_F`` followed to the
    first bound; a bound met joins W; at a face minimiser the bound with the most negative
    multiplier leaves W. Exact up to rounding for convex QPs; returns x (k,).
    """
    k = g.size
    x = np.zeros(k)
    W = np.zeros(k, bool)
    tol = 1e-12 * max(1.0, float(np.abs(H).max()), float(np.abs(g).max()))
    for _ in range(50 * k + 100):
        F = ~W
        grad = H @ x + g
        p = np.zeros(k)
        unbounded = False
        if F.any():
            w, V = np.linalg.eigh(H[np.ix_(F, F)])
            big = w > 1e-10 * max(1.0, float(w.max()))
            c = V.T @ grad[F]
            null_part = V[:, ~big] @ c[~big]
            if np.linalg.norm(null_part) > tol:
                p[F], unbounded = -null_part, True
            else:
                p[F] = -V[:, big] @ (c[big] / w[big])
        if not unbounded and np.max(np.abs(p), initial=0.0) <= 1e-14:
            mult = np.where(x >= 1.0, -grad, grad)       # >= 0 at a KKT point, on W
            mult = np.where(W, mult, np.inf)
            i = int(np.argmin(mult))
            if mult[i] >= -tol:
                return x
            W[i] = False
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            room = np.where(p > 0, (1.0 - x) / p, np.where(p < 0, (-1.0 - x) / p, np.inf))
        room[W] = np.inf
        j = int(np.argmin(room))
        alpha = float(room[j]) if unbounded else min(1.0, float(room[j]))
        x = x + alpha * p
        if unbounded or alpha < 1.0:
            x[j] = 1.0 if p[j] > 0 else -1.0
            W[j] = True
        x = np.clip(x, -1.0, 1.0)
    # degenerate cycling (rare): fall back to L-BFGS-B; the caller's KKT check judges the result
    f = lambda z: (0.5 * z @ H @ z + g @ z, H @ z + g)  # noqa: E731
    res = minimize(f, x, jac=True, method="L-BFGS-B", bounds=[(-1.0, 1.0)] * k,
                   options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 20000})
    return np.clip(res.x, -1.0, 1.0)


def _kkt_violation(H: np.ndarray, g: np.ndarray, x: np.ndarray) -> float:
    grad = H @ x + g
    proj = np.where(x <= -1 + 1e-9, np.minimum(grad, 0), np.where(x >= 1 - 1e-9, np.maximum(grad, 0), grad))
    return float(np.max(np.abs(proj))) if proj.size else 0.0


def continuous_optimum(problem, binary_values) -> tuple[np.ndarray, float]:
    """Fix the binary variables of a QUMO and minimise exactly over its continuous ones.

    problem: QUMO (or anything with ``to_qumo``); binary_values: (n_binary,) in {-1, 1}, in the
    order of the binary variables. Returns (x (n,), energy). Raises ValueError when the continuous
    block is not convex (``-J_CC`` not PSD) or the QP's KKT conditions are violated by > 1e-7
    (relative to the gradient scale).
    """
    fn = "continuous_optimum"
    J, h, cont, off = as_qumo_arrays(problem, fn)
    J = J.toarray() if hasattr(J, "toarray") else J
    bidx, cidx = np.flatnonzero(~cont), np.flatnonzero(cont)
    xb = np.asarray(binary_values)
    if xb.dtype.kind not in "biuf":
        fail(fn, "binary_values", "a real array", f"dtype {xb.dtype}", TypeError)
    xb = xb.astype(np.float64).reshape(-1)
    if xb.shape != (bidx.size,):
        fail(fn, "binary_values", f"of shape ({bidx.size},)", f"shape {xb.shape}")
    if not np.all(np.isin(xb, (-1.0, 1.0))):
        fail(fn, "binary_values", "entries in {-1, 1}", f"values {np.unique(xb)[:5]}")
    x = np.zeros(h.size)
    x[bidx] = xb
    if cidx.size:
        H = -J[np.ix_(cidx, cidx)]
        g = -(h[cidx] + J[np.ix_(cidx, bidx)] @ xb)
        ev_min = float(np.linalg.eigvalsh(H)[0])
        scale = max(1.0, float(np.abs(H).max()), float(np.abs(g).max()))
        if ev_min < -1e-9 * scale:
            fail(fn, "problem", "a QUMO whose continuous block -J_CC is positive semi-definite",
                 f"smallest eigenvalue {ev_min:.3g}")
        x[cidx] = _box_qp(H, g)
        viol = _kkt_violation(H, g, x[cidx])
        if viol > _KKT_TOL * scale:
            raise RuntimeError(f"{fn}(): box QP not solved to KKT tolerance (violation {viol:.3g})")
    return x, float(qumo_energy(J, h, x, off))


def brute_force_qumo(problem, *, max_binary: int = 16) -> tuple[np.ndarray, float]:
    """Exact QUMO minimum: all 2^n_binary binary states, each with :func:`continuous_optimum`.

    Returns (x (n,), energy) of the first minimiser in enumeration order (bit k = binary variable k).
    max_binary caps the enumeration (2^16 box QPs take a while; the default is for tests); it may
    not exceed ``EXACT_MAX_BINARY`` = 20 (2^20 box QPs, hours of Python: the exhaustive-search limit
    shared with bcd(exact=True) and problems.brute_force). Memory is O(n^2) whatever max_binary.
    """
    fn = "brute_force_qumo"
    max_binary = positive_int(fn, "max_binary", max_binary)
    if max_binary > EXACT_MAX_BINARY:
        fail(fn, "max_binary", f"<= {EXACT_MAX_BINARY} (2^max_binary states enumerated)", max_binary)
    J, h, cont, off = as_qumo_arrays(problem, fn)
    nb = int((~cont).sum())
    if nb > max_binary:
        fail(fn, "problem", f"at most max_binary={max_binary} binary variables", nb)
    best_x, best_e = None, np.inf
    for idx in range(1 << nb):
        xb = np.array([1.0 if (idx >> k) & 1 else -1.0 for k in range(nb)])
        x, e = continuous_optimum(problem, xb)
        if e < best_e - 1e-12:
            best_x, best_e = x, e
    return best_x, best_e

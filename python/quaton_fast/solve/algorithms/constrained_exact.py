"""Exact optimum of small constrained problems (the judge of the constrained-solver tests).

Binary variables are enumerated (at most ``max_binary``, vectorised in chunks). For each binary
assignment the continuous variables solve the linearly constrained QP

    min 1/2 y^T Q y + q^T y   s.t.   E y = e,  G y <= r   (bounds are rows of G),

exactly by FACE ENUMERATION: a quadratic attains its minimum over a bounded polyhedron at a
stationary point of its restriction to some face (if the restriction is unbounded below on a face
the minimum lies on that face's boundary, a smaller face). For every active set S of at most k
inequality rows (k = number of continuous variables) the KKT system
``[Q C^T; C 0] [y; mu] = [-q; d]`` (C = [E; G_S]) is solved by least squares; consistent solutions
that satisfy all rows are candidates, and the best candidate is the minimum. No convexity is needed;
the cost is sum_{j<=k} C(m_G, j) small solves, so this is for tests (k <= 6).
"""
from __future__ import annotations

import itertools
from math import comb

import numpy as np

from ..._validation import fail, positive_int
from ..models.constraints import FEAS_TOL, ConstrainedProblem

__all__ = ["brute_force_constrained", "continuous_qp_exact"]

_CHUNK = 1 << 14


def continuous_qp_exact(Q, q, E, e, G, r, *, tol: float = 1e-9):
    """argmin 1/2 y^T Q y + q^T y s.t. E y = e, G y <= r over a bounded polyhedron, by face
    enumeration (module docstring). Q (k, k) symmetric, E (m_e, k), G (m_g, k) dense.
    Returns (y (k,), value) or (None, inf) when the polyhedron is empty."""
    k = q.size
    best_y, best_v = None, np.inf
    mg = G.shape[0]
    if sum(comb(mg, j) for j in range(min(k, mg) + 1)) > 200_000:
        fail("continuous_qp_exact", "G", "at most ~2e5 faces to enumerate", f"{mg} rows, {k} variables")
    scale = 1.0 + max(np.abs(r).max(initial=0.0), np.abs(e).max(initial=0.0))
    for j in range(min(k, mg) + 1):
        for S in itertools.combinations(range(mg), j):
            C = np.vstack([E, G[list(S)]]) if S else E
            d = np.concatenate([e, r[list(S)]]) if S else e
            mc = C.shape[0]
            K = np.block([[Q, C.T], [C, np.zeros((mc, mc))]])
            rhs = np.concatenate([-q, d])
            sol, *_ = np.linalg.lstsq(K, rhs, rcond=None)
            if np.abs(K @ sol - rhs).max(initial=0.0) > 1e-8 * (1.0 + np.abs(rhs).max(initial=0.0)):
                continue
            y = sol[:k]
            if E.shape[0] and np.abs(E @ y - e).max() > tol * scale:
                continue
            if mg and (G @ y - r).max() > tol * scale:
                continue
            v = 0.5 * y @ Q @ y + q @ y
            if v < best_v - 1e-12:
                best_y, best_v = y, float(v)
    return best_y, best_v


def brute_force_constrained(problem: ConstrainedProblem, *, max_binary: int = 20,
                            max_continuous: int = 6):
    """Exact optimum of a small :class:`ConstrainedProblem`.

    Returns ``(z (n,), objective)`` of the best feasible point in the FILE'S sense (ties: first in
    enumeration order, bit k = binary variable k at its upper bound), or ``(None, None)`` when no
    point is feasible (tolerance FEAS_TOL, scaled per row as in ``is_feasible``).
    """
    fn = "brute_force_constrained"
    if not isinstance(problem, ConstrainedProblem):
        fail(fn, "problem", "a ConstrainedProblem", type(problem).__name__, TypeError)
    max_binary = positive_int(fn, "max_binary", max_binary)
    bidx = np.flatnonzero(problem.binary)
    cidx = np.flatnonzero(~problem.binary)
    nb, nc = bidx.size, cidx.size
    if nb > max_binary:
        fail(fn, "problem", f"at most max_binary={max_binary} binary variables", nb)
    if nc > max_continuous:
        fail(fn, "problem", f"at most max_continuous={max_continuous} continuous variables", nc)
    s = problem.sign
    lo, up = problem.lower, problem.upper
    se, si = problem._row_scales()
    Ae, Ai = problem.A_eq.toarray(), problem.A_ineq.toarray()
    H = problem.H.toarray()
    best_z, best_e = None, np.inf
    bits = np.arange(nb, dtype=np.int64)
    if nc == 0:
        for start in range(0, 1 << nb, _CHUNK):
            idx = np.arange(start, min(1 << nb, start + _CHUNK), dtype=np.int64)
            B = ((idx[:, None] >> bits[None, :]) & 1).astype(np.float64)
            Z = np.empty((idx.size, problem.n))
            Z[:, bidx] = lo[bidx] + (up[bidx] - lo[bidx]) * B
            ok = np.ones(idx.size, bool)
            if Ae.shape[0]:
                ok &= (np.abs(Z @ Ae.T - problem.b_eq) / se).max(axis=1) <= FEAS_TOL
            if Ai.shape[0]:
                ok &= (np.maximum(Z @ Ai.T - problem.b_ineq, 0) / si).max(axis=1) <= FEAS_TOL
            if not ok.any():
                continue
            E = s * problem.objective(Z)
            E[~ok] = np.inf
            k = int(np.argmin(E))
            if E[k] < best_e:
                best_e, best_z = float(E[k]), Z[k].copy()
    else:
        Q = s * H[np.ix_(cidx, cidx)]
        k = nc
        Gb = np.vstack([np.eye(k), -np.eye(k)])
        rb = np.concatenate([up[cidx], -lo[cidx]])
        for idx in range(1 << nb):
            zb = lo[bidx] + (up[bidx] - lo[bidx]) * ((idx >> bits) & 1)
            q = s * (problem.g[cidx] + H[np.ix_(cidx, bidx)] @ zb)
            const = s * (0.5 * zb @ H[np.ix_(bidx, bidx)] @ zb + problem.g[bidx] @ zb + problem.f)
            E_, e_ = Ae[:, cidx], problem.b_eq - Ae[:, bidx] @ zb
            G_ = np.vstack([Ai[:, cidx], Gb])
            r_ = np.concatenate([problem.b_ineq - Ai[:, bidx] @ zb, rb])
            y, v = continuous_qp_exact(Q, q, E_, e_, G_, r_)
            if y is None:
                continue
            z = np.empty(problem.n)
            z[bidx], z[cidx] = zb, y
            if not problem.is_feasible(z):
                continue
            if v + const < best_e - 1e-12:
                best_e, best_z = float(v + const), z
    if best_z is None:
        return None, None
    return best_z, float(problem.objective(best_z))

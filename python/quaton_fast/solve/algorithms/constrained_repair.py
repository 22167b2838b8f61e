"""Feasibility repair and feasible local descent for states of a ConstrainedProblem.

Both work in the file's variables z and move binaries between their two bounds (a "flip",
``delta_j = lower_j + upper_j - 2 z_j``), vectorised over all candidate flips through the sparse
columns of A_eq and A_ineq:

* :func:`repair` -- greedy 1-flip descent on the scaled L1 violation
  ``V(z) = sum_i |A_eq z - b_eq|_i / s_i + sum_i max(A_ineq z - b_ineq, 0)_i / s_i``
  (s_i = max(1, |b_i|, max_j |A_ij|), the same scaling as ``is_feasible``): each step takes the flip
  with the largest decrease of V, ties broken by the objective; it stops when the state is feasible
  or no flip decreases V. Continuous variables (if any) are then re-optimised with the binaries
  fixed (SLSQP on the continuous QP, see :func:`optimise_continuous`).
* :func:`polish` -- feasible descent: repeatedly takes the best flip that keeps every row feasible
  and lowers ``min_energy``; then, for problems with equality rows, the best feasible SWAP (one
  binary up, one down) -- the move that keeps assignment rows (sum = 1) feasible.
"""
from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp

from ..models.constraints import FEAS_TOL, ConstrainedProblem

__all__ = ["repair", "polish", "optimise_continuous"]


class _State:
    def __init__(self, p: ConstrainedProblem, z: np.ndarray):
        self.p, self.z = p, z.astype(np.float64).copy()
        if not hasattr(p, "_csc"):
            p._csc = (p.A_eq.tocsc(), p.A_ineq.tocsc(), p.H.tocsc(), np.asarray(p.H.diagonal()).reshape(-1))
        self.Ae, self.Ai, self.Hc, self.Hd = p._csc
        self.se, self.si = p._row_scales()
        self.req = p.A_eq @ self.z - p.b_eq
        self.rin = p.A_ineq @ self.z - p.b_ineq
        self.grad = p.H @ self.z + p.g
        self.flip_ok = p.binary & (p.lower != p.upper)

    def delta(self) -> np.ndarray:
        p = self.p
        return np.where(self.flip_ok, p.lower + p.upper - 2.0 * self.z, 0.0)

    def dobj(self, d: np.ndarray) -> np.ndarray:
        return self.p.sign * (d * self.grad + 0.5 * self.Hd * d * d)

    def _col_change(self, A, r, s, d, kind):
        """Per column j: change of the violation if z_j moves by d_j; and count of rows made infeasible."""
        n = self.p.n
        if A.nnz == 0:
            return np.zeros(n), np.zeros(n)
        cols = np.repeat(np.arange(n), np.diff(A.indptr))
        rows = A.indices
        new = r[rows] + A.data * d[cols]
        if kind == "eq":
            old_v, new_v = np.abs(r[rows]), np.abs(new)
        else:
            old_v, new_v = np.maximum(r[rows], 0), np.maximum(new, 0)
        dv = np.bincount(cols, (new_v - old_v) / s[rows], minlength=n)
        bad = np.bincount(cols, (new_v / s[rows]) > FEAS_TOL, minlength=n)
        return dv, bad

    def violation(self) -> float:
        return float(np.abs(self.req / self.se).sum() + np.maximum(self.rin / self.si, 0).sum())

    def feasible(self) -> bool:
        return (np.abs(self.req / self.se).max(initial=0) <= FEAS_TOL
                and (self.rin / self.si).max(initial=0) <= FEAS_TOL)

    def apply(self, j: int, dj: float) -> None:
        self.z[j] += dj
        self.req += self.Ae[:, j].toarray().reshape(-1) * dj if self.Ae.shape[0] else 0.0
        self.rin += self.Ai[:, j].toarray().reshape(-1) * dj if self.Ai.shape[0] else 0.0
        self.grad += self.Hc[:, j].toarray().reshape(-1) * dj


def optimise_continuous(p: ConstrainedProblem, z: np.ndarray, max_continuous: int = 200) -> np.ndarray:
    """Re-optimise the continuous variables of z with the binaries fixed: SLSQP on
    min sign*objective s.t. the rows and the bounds, from z. Returns the new z when SLSQP succeeds
    and the point is no more violated than z, else z unchanged (local; for small problems)."""
    c = np.flatnonzero(~p.binary)
    if c.size == 0 or c.size > max_continuous:
        return z
    from scipy.optimize import minimize
    s = p.sign
    H = p.H.toarray()

    def full(y):
        w = z.copy()
        w[c] = y
        return w

    def f(y):
        w = full(y)
        gr = s * (H @ w + p.g)
        return s * p.objective(w), gr[c]

    cons = []   # only rows that touch a continuous variable (the others are constants here)
    for kind, A, b in (("eq", p.A_eq, p.b_eq), ("ineq", p.A_ineq, p.b_ineq)):
        if not A.shape[0]:
            continue
        Ac = A[:, c]
        rows = np.flatnonzero(np.diff(Ac.tocsr().indptr))
        if rows.size == 0:
            continue
        Ar, Acr, br = A[rows], Ac[rows].toarray(), b[rows]
        if kind == "eq":
            cons.append({"type": "eq", "fun": lambda y, Ar=Ar, br=br: Ar @ full(y) - br,
                         "jac": lambda y, Acr=Acr: Acr})
        else:
            cons.append({"type": "ineq", "fun": lambda y, Ar=Ar, br=br: br - Ar @ full(y),
                         "jac": lambda y, Acr=Acr: -Acr})
    res = minimize(f, z[c], jac=True, method="SLSQP", bounds=list(zip(p.lower[c], p.upper[c])),
                   constraints=cons, options={"maxiter": 500, "ftol": 1e-12})
    w = full(np.clip(res.x, p.lower[c], p.upper[c]))
    v_new, v_old = p.violations(w)["scaled_max"], p.violations(z)["scaled_max"]
    if v_new <= max(v_old, FEAS_TOL) and (v_new > FEAS_TOL or v_old > FEAS_TOL or
                                          p.min_energy(w) <= p.min_energy(z)):
        return w
    return z


def repair(p: ConstrainedProblem, z: np.ndarray, max_steps: int | None = None) -> np.ndarray:
    """Greedy 1-flip repair of z (n,) (module docstring); returns the repaired z (maybe still
    infeasible: check ``p.is_feasible``)."""
    if p.binary.any() and not np.all(p.binary):
        z = optimise_continuous(p, z)
    st = _State(p, z)
    steps = max_steps if max_steps is not None else 2 * p.n
    for _ in range(steps):
        if st.feasible():
            break
        d = st.delta()
        dv_e, _ = st._col_change(st.Ae, st.req, st.se, d, "eq")
        dv_i, _ = st._col_change(st.Ai, st.rin, st.si, d, "ineq")
        dv = dv_e + dv_i
        dv[~st.flip_ok] = np.inf
        best = dv.min()
        if not best < -1e-12:
            break
        cand = np.flatnonzero(dv <= best + 1e-12 * max(1.0, abs(best)))
        j = int(cand[np.argmin(st.dobj(d)[cand])])
        st.apply(j, d[j])
    z = st.z
    if not np.all(p.binary):
        z = optimise_continuous(p, z)
    return z


def polish(p: ConstrainedProblem, z: np.ndarray, max_steps: int | None = None, swaps: bool = True) -> np.ndarray:
    """Feasible descent from a feasible z (module docstring); returns z unchanged if infeasible."""
    st = _State(p, z)
    if not st.feasible():
        return z
    steps = max_steps if max_steps is not None else 10 * p.n
    for _ in range(steps):
        d = st.delta()
        _, bad_e = st._col_change(st.Ae, st.req, st.se, d, "eq")
        _, bad_i = st._col_change(st.Ai, st.rin, st.si, d, "ineq")
        de = st.dobj(d)
        ok = st.flip_ok & (bad_e == 0) & (bad_i == 0) & (de < -1e-12 * max(1.0, np.abs(st.grad).max()))
        if ok.any():
            j = int(np.flatnonzero(ok)[np.argmin(de[ok])])
            st.apply(j, d[j])
            continue
        if not (swaps and (p.m_eq or p.m_ineq) and (_best_swap(st, d, de) or (p.m_eq and _best_exchange(st)))):
            break
    z = st.z
    if not np.all(p.binary):
        w = optimise_continuous(p, z)
        if p.is_feasible(w) and p.min_energy(w) <= p.min_energy(z):
            z = w
        z = _polish_mixed(p, z)
    return z


def _polish_mixed(p: ConstrainedProblem, z: np.ndarray, max_binary: int = 24, rounds: int = 20) -> np.ndarray:
    """Mixed problems with few binaries: 1-flips and pair moves of binaries, each followed by
    re-optimising the continuous variables (:func:`optimise_continuous`); best improving feasible
    move, repeated. Skipped above ``max_binary`` binaries (the cost is O(n_b^2) small QPs)."""
    b = np.flatnonzero(p.binary & (p.lower != p.upper))
    if b.size == 0 or b.size > max_binary or not p.is_feasible(z):
        return z
    E = p.min_energy(z)
    moves = [(j,) for j in b] + list(itertools.combinations(b, 2))
    for _ in range(rounds):
        best_w, best_E = None, E - 1e-12 * max(1.0, abs(E))
        for mv in moves:
            w = z.copy()
            for j in mv:
                w[j] = p.lower[j] + p.upper[j] - w[j]
            w = optimise_continuous(p, w)
            if p.is_feasible(w):
                Ew = p.min_energy(w)
                if Ew < best_E:
                    best_w, best_E = w, Ew
        if best_w is None:
            break
        z, E = best_w, best_E
    return z


def _best_swap(st: _State, d: np.ndarray, de: np.ndarray, max_pairs: int = 4_000_000) -> bool:
    """Apply the best feasible improving pair move (j up, k down, both binaries). True if one was made."""
    p = st.p
    up = np.flatnonzero(st.flip_ok & (d > 0))
    dn = np.flatnonzero(st.flip_ok & (d < 0))
    if up.size == 0 or dn.size == 0 or up.size * dn.size > max_pairs:
        return False
    # objective change of the pair: de_j + de_k + sign * H_jk d_j d_k
    Hjk = st.Hc[:, dn][up].toarray() if sp.issparse(st.Hc) else st.Hc[np.ix_(up, dn)]
    tot = de[up][:, None] + de[dn][None, :] + p.sign * Hjk * d[up][:, None] * d[dn][None, :]
    thr = -1e-12 * max(1.0, np.abs(st.grad).max())
    order = np.argsort(tot, axis=None)
    Ae_u = st.Ae[:, up].toarray() * d[up] if st.Ae.shape[0] else None
    Ae_d = st.Ae[:, dn].toarray() * d[dn] if st.Ae.shape[0] else None
    Ai_u = st.Ai[:, up].toarray() * d[up] if st.Ai.shape[0] else None
    Ai_d = st.Ai[:, dn].toarray() * d[dn] if st.Ai.shape[0] else None
    for flat in order[:2000]:
        if tot.flat[flat] >= thr:
            return False
        a, b = divmod(int(flat), dn.size)
        j, k = int(up[a]), int(dn[b])
        if Ae_u is not None:
            req = st.req + Ae_u[:, a] + Ae_d[:, b]
            if np.abs(req / st.se).max(initial=0) > FEAS_TOL:
                continue
        if Ai_u is not None:
            rin = st.rin + Ai_u[:, a] + Ai_d[:, b]
            if (rin / st.si).max(initial=0) > FEAS_TOL:
                continue
        st.apply(j, d[j])
        st.apply(k, d[k])
        return True
    return False


def _assignment_signatures(p: ConstrainedProblem):
    """Columns whose equality part is exactly two entries equal to 1 (assignment-type variables
    x_{r,c} in one 'row' and one 'column' constraint): (sig (n, 2) int, -1 elsewhere; map
    (ra, rb) -> column)."""
    if hasattr(p, "_assign_sig"):
        return p._assign_sig
    Ae = p.A_eq.tocsc()
    sig = np.full((p.n, 2), -1)
    lookup = {}
    for j in range(p.n):
        lo, hi = Ae.indptr[j], Ae.indptr[j + 1]
        if hi - lo == 2 and np.all(Ae.data[lo:hi] == 1.0) and p.binary[j]:
            a, b = sorted(Ae.indices[lo:hi].tolist())
            sig[j] = (a, b)
            lookup[(a, b)] = j
    p._assign_sig = (sig, lookup)
    return p._assign_sig


def _best_exchange(st: _State, max_ones: int = 400) -> bool:
    """2-exchange for assignment-type equality rows: two variables at 1 with signatures (a1, b1),
    (a2, b2) move to the crossing variables (a1, b2), (a2, b1) -- every equality row keeps its sum.
    Applies the best improving feasible exchange; True if one was made."""
    p = st.p
    sig, lookup = _assignment_signatures(p)
    if not lookup:
        return False
    ones = np.flatnonzero((sig[:, 0] >= 0) & (st.z == p.upper) & (p.lower != p.upper))
    if ones.size < 2 or ones.size > max_ones:
        return False
    if not hasattr(p, "_Hdense"):
        p._Hdense = p.H.toarray() if p.n <= 4000 else None
    Hd = p._Hdense
    if Hd is None:
        return False
    best, best_mv = -1e-12 * max(1.0, np.abs(st.grad).max()), None
    for a in range(ones.size):
        j1 = int(ones[a])
        a1, b1 = sig[j1]
        for b in range(a + 1, ones.size):
            j2 = int(ones[b])
            a2, b2 = sig[j2]
            u1 = lookup.get(tuple(sorted((a1, b2))))
            u2 = lookup.get(tuple(sorted((a2, b1))))
            if u1 is None or u2 is None or len({j1, j2, u1, u2}) < 4:
                continue
            if st.z[u1] != p.lower[u1] or st.z[u2] != p.lower[u2]:
                continue
            idx = np.array([j1, j2, u1, u2])
            dd = np.array([p.lower[j1] - p.upper[j1], p.lower[j2] - p.upper[j2],
                           p.upper[u1] - p.lower[u1], p.upper[u2] - p.lower[u2]])
            dE = p.sign * (dd @ st.grad[idx] + 0.5 * dd @ Hd[np.ix_(idx, idx)] @ dd)
            if dE < best:
                best, best_mv = dE, (idx, dd)
    if best_mv is None:
        return False
    idx, dd = best_mv
    z = st.z.copy()
    z[idx] += dd
    req = p.A_eq @ z - p.b_eq
    rin = p.A_ineq @ z - p.b_ineq
    if np.abs(req / st.se).max(initial=0) > FEAS_TOL or (rin / st.si).max(initial=0) > FEAS_TOL:
        return False   # an inequality row forbids the best exchange: stop here (rare; conservative)
    for j, dj in zip(idx, dd):
        st.apply(int(j), float(dj))
    return True

"""Repair that keeps one-hot (assignment) rows satisfied: min-conflicts local search over choices.

For a problem with one-hot groups (:mod:`quaton_fast.solve.models.constraint_classes`), every group row
``sum_{j in G} z_j = 1`` is kept EXACTLY satisfied by construction, and the scaled L1 violation of
all the other rows (capacity, cover and any other row; same row scales s_i as ``is_feasible``)

    V(z) = sum_{other eq i} |a_i z - b_i| / s_i + sum_{ineq i} max(a_i z - b_i, 0) / s_i

is driven to zero by moves that never leave the group structure:

* **relocation** (a swap within a row): the group's chosen variable goes to 0, another variable of
  the same group goes to 1;
* **flip** of a binary that belongs to no group;
* **pair** of such moves in two different groups (e.g. two trucks exchange their doors), tried only
  when no single move lowers V; the first move is taken from the ``pair_width`` single moves that
  lower the violated rows most;
* when stuck, a **random escape**: a random violated row, a random single move that lowers that
  row's residual, then the moved group is tabu for a few steps (min-conflicts with tabu, the
  classical scheme for generalised-assignment feasibility).

Ties between moves of equal V are broken by the objective (``min_energy``) change. Start: each
group keeps its variable at 1 when exactly one is; otherwise the group is (re)filled greedily by
the option of least V (the options that were at 1 first, then the objective), groups in the order
of their largest capacity coefficient (first-fit-decreasing for packing rows). Continuous
variables are not moved here (``constrained_repair.repair`` re-optimises them afterwards).

Dense row matrix (rows x n) is used; problems with rows*n > ``DENSE_MAX`` are returned unchanged.
H is held dense up to n = ``DENSE_H_MAX`` (sparse columns above).
"""
from __future__ import annotations

import numpy as np

from ..models.constraint_classes import row_classes
from ..models.constraints import FEAS_TOL, ConstrainedProblem

__all__ = ["assignment_repair", "assignment_descent", "DENSE_MAX"]

DENSE_MAX = 8_000_000     # rows * n of the dense row matrix
DENSE_H_MAX = 3000        # n up to which H is held dense (72 MB at the limit)
_TABU = 7


class _Rows:
    """Dense non-group rows of p, their scales and kinds; cached on p."""

    def __init__(self, p: ConstrainedProblem):
        rc = row_classes(p)
        keep_eq = np.setdiff1d(np.arange(p.m_eq), rc.group_rows)
        se, si = p._row_scales()
        A = [p.A_eq[keep_eq].toarray(), p.A_ineq.toarray()]
        self.A = np.vstack(A) if (keep_eq.size or p.m_ineq) else np.zeros((0, p.n))
        self.b = np.concatenate([p.b_eq[keep_eq], p.b_ineq])
        self.s = np.concatenate([se[keep_eq], si])
        self.eq = np.concatenate([np.ones(keep_eq.size, bool), np.zeros(p.m_ineq, bool)])
        self.groups, self.group_of = rc.groups, rc.group_of
        self.free = p.binary & (rc.group_of < 0) & (p.lower != p.upper)
        self.H = p.H.toarray() if p.n <= DENSE_H_MAX else p.H.tocsc()   # column access per move
        self.Hd = np.asarray(p.H.diagonal()).reshape(-1)
        # fill order: largest capacity coefficient first
        w = np.abs(self.A[~self.eq]).max(axis=0) if (~self.eq).any() else np.zeros(p.n)
        self.order = np.argsort([-w[g].max() for g in self.groups], kind="stable")

    def col(self, idx) -> np.ndarray:
        """Dense columns H[:, idx] (n, len(idx))."""
        c = self.H[:, idx]
        return c if isinstance(c, np.ndarray) else c.toarray()

    def entries(self, rows, cols) -> np.ndarray:
        """H[rows[i], cols[i]] (k,)."""
        return np.asarray(self.H[rows, cols]).reshape(-1)

    def viol(self, R: np.ndarray) -> np.ndarray:
        """V of residuals R (rows,) or (rows, k) -> scalar or (k,)."""
        if R.ndim == 1:
            R = R[:, None]
        v = np.where(self.eq[:, None], np.abs(R), np.maximum(R, 0.0)) / self.s[:, None]
        return v.sum(axis=0)


def _rows_of(p: ConstrainedProblem) -> _Rows:
    r = getattr(p, "_assign_rows", None)
    if r is None:
        r = _Rows(p)
        p._assign_rows = r
    return r


def assignment_repair(p: ConstrainedProblem, z: np.ndarray, *, rng: np.random.Generator | None = None,
                      max_steps: int | None = None, pair_width: int = 24) -> np.ndarray:
    """Repair z (n,) (file variables, binaries at their bounds) keeping the one-hot groups satisfied
    (module docstring). Returns the first feasible point reached, else the least violated point seen
    (every group row satisfied); z itself when p has no one-hot group or is too large."""
    rc = row_classes(p)
    if rc.n_groups == 0 or (p.m_eq + p.m_ineq) * p.n > DENSE_MAX:
        return z
    S = _rows_of(p)
    rng = rng if rng is not None else np.random.default_rng(0)
    z = np.where(p.binary, np.where(z >= 0.5 * (p.lower + p.upper), p.upper, p.lower), z).astype(np.float64)
    n = p.n
    A, s = S.A, S.s
    r = A @ z - S.b
    grad = S.H @ z + p.g
    choice = np.full(rc.n_groups, -1, dtype=np.int64)
    for g in S.order:                         # projection onto the groups
        idx = S.groups[g]
        on = idx[z[idx] == 1.0]
        if on.size == 1:
            choice[g] = on[0]
            continue
        z[idx] = 0.0
        r -= A[:, on].sum(axis=1)
        grad -= S.col(on).sum(axis=1)
        R = r[:, None] + A[:, idx]
        v = S.viol(R)
        dobj = p.sign * (grad[idx] + 0.5 * S.Hd[idx])
        cand = np.flatnonzero(v <= v.min() + 1e-12)
        pref = cand[np.isin(idx[cand], on)]
        cand = pref if pref.size else cand
        k = int(idx[cand[np.argmin(dobj[cand])]])
        z[k], choice[g] = 1.0, k
        r += A[:, k]
        grad += S.col([k])[:, 0]
    V = float(S.viol(r)[0])
    best_z, best_V = z.copy(), V
    steps = max_steps if max_steps is not None else 20 * n
    tabu = np.zeros(rc.n_groups, dtype=np.int64)
    gof = S.group_of
    movable = (gof >= 0) | S.free
    for step in range(steps):
        if V <= 0.0 or _feasible(r, S):
            return z
        # single moves: column k -> residual change D[:, k], objective change dobj[k]
        ch = np.where(gof >= 0, choice[np.maximum(gof, 0)], -1)
        D = np.where(S.free, 1.0 - 2.0 * z, 0.0)[None, :] * A
        rel = (gof >= 0) & (z == 0.0)
        D[:, rel] = A[:, rel] - A[:, ch[rel]]
        legal = (rel | S.free) & movable
        ok = legal & ~((gof >= 0) & (tabu[np.maximum(gof, 0)] > step))
        dv = S.viol(r[:, None] + D) - V
        d = np.where(S.free, 1.0 - 2.0 * z, 0.0)
        dobj = p.sign * (d * grad + 0.5 * S.Hd * d * d)
        if rel.any():
            kk, cc = np.flatnonzero(rel), ch[rel]
            Hkc = S.entries(kk, cc)
            dobj[kk] = p.sign * (grad[kk] - grad[cc] + 0.5 * (S.Hd[kk] + S.Hd[cc]) - Hkc)
        dv_ok = np.where(ok, dv, np.inf)
        best = dv_ok.min()
        if best < -1e-12:
            cand = np.flatnonzero(dv_ok <= best + 1e-12 * max(1.0, abs(best)))
            moves = [int(cand[np.argmin(dobj[cand])])]
        else:
            moves = _pair(S, r, D, dv_ok, V, gof, pair_width) or _escape(S, r, D, ok, legal, rng)
            if not moves:
                break
        for k in moves:
            g = int(gof[k])
            if g >= 0:
                c = int(choice[g])
                z[c], z[k], choice[g] = 0.0, 1.0, k
                r += A[:, k] - A[:, c]
                hc = S.col([k, c])
                grad += hc[:, 0] - hc[:, 1]
                tabu[g] = step + 1 + _TABU if best >= -1e-12 else tabu[g]
            else:
                dk = 1.0 - 2.0 * z[k]
                z[k] += dk
                r += A[:, k] * dk
                grad += S.col([k])[:, 0] * dk
        V = float(S.viol(r)[0])
        if V < best_V:
            best_z, best_V = z.copy(), V
    return z if _feasible(r, S) else best_z


def _feasible(r: np.ndarray, S: _Rows) -> bool:
    v = np.where(S.eq, np.abs(r), np.maximum(r, 0.0)) / S.s
    return bool(v.max(initial=0.0) <= FEAS_TOL)


def _pair(S: _Rows, r, D, dv_ok, V, gof, width):
    """Best pair of single moves in different groups (or free flips) lowering V; [] if none."""
    first = np.flatnonzero(np.isfinite(dv_ok))
    if first.size == 0:
        return []
    first = first[np.argsort(dv_ok[first], kind="stable")[:width]]
    second = np.flatnonzero(np.isfinite(dv_ok))
    R = r[:, None, None] + D[:, first][:, :, None] + D[:, second][:, None, :]      # (rows, F, S)
    v = np.where(S.eq[:, None, None], np.abs(R), np.maximum(R, 0.0)) / S.s[:, None, None]
    tot = v.sum(axis=0) - V
    g1, g2 = gof[first][:, None], gof[second][None, :]
    same = (first[:, None] == second[None, :]) | ((g1 == g2) & (g1 >= 0))
    tot[same] = np.inf
    a, b = np.unravel_index(int(np.argmin(tot)), tot.shape)
    if not tot[a, b] < -1e-12:
        return []
    return [int(first[a]), int(second[b])]


def _escape(S: _Rows, r, D, ok, legal, rng):
    """A random single move lowering the residual of a random violated row, a non-tabu one if
    there is one; [] if no legal move lowers any violated row."""
    viol = np.where(S.eq, np.abs(r), np.maximum(r, 0.0)) / S.s > FEAS_TOL
    rows = np.flatnonzero(viol)
    rng.shuffle(rows)
    for allowed in (ok, legal):
        for i in rows:
            cand = np.flatnonzero(allowed & (np.sign(D[i]) == -np.sign(r[i])) & (D[i] != 0))
            if cand.size:
                return [int(rng.choice(cand))]
    return []


def assignment_descent(p: ConstrainedProblem, z: np.ndarray, *, max_rounds: int | None = None,
                       checks: int = 200_000) -> np.ndarray:
    """Feasible descent with the moves that keep one-hot groups satisfied, from a FEASIBLE z:
    the best improving feasible relocation within a group, else the best improving feasible PAIR
    of relocations in two groups (two trucks exchange doors, or a QAP 2-exchange; the ``checks``
    best improving pairs by objective change are checked for feasibility at once), repeated. The
    objective change of a pair (k1 replaces c1, k2 replaces c2) is
    ``dE1 + dE2 + sign*(H[k1,k2] - H[k1,c2] - H[c1,k2] + H[c1,c2])``.
    Returns z unchanged when it is infeasible, has no group, or is too large (rows*n > DENSE_MAX,
    n > DENSE_H_MAX)."""
    rc = row_classes(p)
    if rc.n_groups == 0 or (p.m_eq + p.m_ineq) * p.n > DENSE_MAX or p.n > DENSE_H_MAX or not p.is_feasible(z):
        return z
    S = _rows_of(p)
    Hd, A, gof = S.H, S.A, S.group_of
    z = z.astype(np.float64).copy()
    r = A @ z - S.b
    grad = Hd @ z + p.g
    E = float(p.min_energy(z))
    rounds = max_rounds if max_rounds is not None else 4 * p.n
    for _ in range(rounds):
        choice = np.full(rc.n_groups, -1, dtype=np.int64)
        on = np.flatnonzero((gof >= 0) & (z == 1.0))
        choice[gof[on]] = on
        K = np.flatnonzero((gof >= 0) & (z == 0.0))
        if K.size == 0:
            break
        C = choice[gof[K]]
        D = A[:, K] - A[:, C]                                         # (rows, |K|)
        d1 = p.sign * (grad[K] - grad[C] + 0.5 * (Hd[K, K] + Hd[C, C]) - Hd[K, C])
        thr = -1e-9 * max(1.0, abs(E))
        cand = np.flatnonzero(_rows_ok(r[:, None] + D, S) & (d1 < thr))
        moves = []
        if cand.size:
            j = int(cand[np.argmin(d1[cand])])
            moves = [(int(K[j]), int(C[j]))]
        else:
            cross = Hd[np.ix_(K, K)] - Hd[np.ix_(K, C)] - Hd[np.ix_(C, K)] + Hd[np.ix_(C, C)]
            tot = d1[:, None] + d1[None, :] + p.sign * cross
            tot[gof[K][:, None] == gof[K][None, :]] = np.inf          # same group: not a pair move
            aa, bb = np.nonzero(np.triu(tot < thr))                   # improving pairs, each once
            if aa.size:
                o = np.argsort(tot[aa, bb], kind="stable")[:checks]
                aa, bb = aa[o], bb[o]
                feas = _rows_ok(r[:, None] + D[:, aa] + D[:, bb], S)
                if feas.any():
                    f = int(np.argmax(feas))                          # the best feasible one
                    a, b = int(aa[f]), int(bb[f])
                    moves = [(int(K[a]), int(C[a])), (int(K[b]), int(C[b]))]
        if not moves:
            break
        for k, c in moves:
            z[k], z[c] = 1.0, 0.0
            r += A[:, k] - A[:, c]
            grad += Hd[:, k] - Hd[:, c]
        E = float(p.min_energy(z))
    return z


def _rows_ok(R: np.ndarray, S: _Rows) -> np.ndarray:
    """(k,) bool: residual columns R (rows, k) within FEAS_TOL on every non-group row."""
    v = np.where(S.eq[:, None], np.abs(R), np.maximum(R, 0.0)) / S.s[:, None]
    return v.max(axis=0, initial=0.0) <= FEAS_TOL

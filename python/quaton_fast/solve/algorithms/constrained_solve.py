"""Constrained problems on the AOC-DT: augmented Lagrangian around the replica solver, continuous
slacks for inequalities, repair and feasible descent of the returned states (docs/constraints.md).

Canonical variables: z = a + d*x with a = (l+u)/2, d = (u-l)/2, x in {-1,1} (binary) / [-1,1]
(continuous); every inequality row i (after dropping rows that no point of the box can violate)
gets a slack sigma_i = smax_i*(1 + u_i)/2 >= 0, u_i in [-1, 1] a CONTINUOUS QUMO variable (native to
the AOC), smax_i = b_i - min_box(a_i z) so that ``a_i z + sigma_i = b_i`` is reachable for every
feasible z. With every row divided by its 2-norm in (x, u) space, the residual is
``r(y) = M y - e`` (y = [x; u]). The objective ``F = sign*objective`` is divided by its scale
``phi`` (spectral norm of its QUMO coupling, or max |h| if larger), and the solver minimises the
augmented Lagrangian

    L(y) = F(y)/phi + lambda^T r(y) + rho/2 ||r(y)||^2,

a QUMO: ``J = J_F/phi - rho M^T M``, ``h = h_F/phi - M^T lambda + rho M^T e``. Outer loop (one
restart of R replicas = one inner solve): after each restart, with the restart's lowest-L replica
y*: ``lambda <- lambda + rho r(y*)`` (inequality multipliers kept >= 0, all clipped to
[-LAMBDA_MAX, LAMBDA_MAX]); ``rho <- min(RHO_GROWTH*rho, RHO_MAX)`` when ||r(y*)||_inf did not fall
below ``RHO_TAU`` times the best so far (the classical rule, e.g. Birgin & Martinez, Practical
Augmented Lagrangian Methods, SIAM 2014, alg. 4.1, with tau = 0.5). The ``top_k`` lowest-L replicas
of every restart are decoded to z, repaired (greedy 1-flip on the violation) and polished (feasible
1-flips and swaps) -- constrained_repair.py; problems with one-hot rows get the assignment-aware
repair first (assignment_repair.py). When no feasible point exists after a short time, a HiGHS
feasibility solve of the constraints alone gives a start point (constrained_phases.py). Only
FEASIBLE points compete for the result; ``phase`` says which phase produced the returned one.
"""
from __future__ import annotations

import numbers
import time as _time
import types
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..._validation import fail, plain_scalar
from .aoc_solver import (LocalReplicas, SolveResult, _plan, _Sampler, _validate_budget,
                         default_iterations_per_run)
from .constrained_phases import Fallback, Incumbent, constructed_point, offer_candidates
from .constrained_repair import polish, repair
from ..models.constraint_classes import row_classes
from ..models.constraints import ConstrainedProblem
from .replica_kernels import initial_states

__all__ = ["solve_constrained", "bcd_constrained", "ConstrainedSolveResult", "ALModel"]

RHO0 = 1.0
RHO_GROWTH = 2.0
RHO_TAU = 0.5
RHO_MAX = 1e4
RHO_MIN = 1e-3
R_TOL = 1e-3       # residual (normalised rows) counted as satisfied by the inner solution
LAMBDA_MAX = 1e6


@dataclass(repr=False)     # SolveResult's summarising __repr__
class ConstrainedSolveResult(SolveResult):
    """SolveResult of a constrained problem. ``feasible`` False means NO feasible point was found:
    then ``solution``/``objective``/``best_state`` are None, ``best_energy`` is inf and
    ``max_violation`` is that of the least violated point found (``least_violating``).
    objective: file's sense, constant included; solution: z (n,) in the file's variables;
    best_energy = sign*objective; trace: [(seconds, objective)] of feasible improvements.
    phase: which phase produced the returned point -- 'dynamics', 'repair', 'fallback',
    'fallback-start' or 'none' (constrained_phases.py); fallback: None if the HiGHS feasibility
    fallback did not run, else {'status': 'feasible'|'infeasible'|'unknown', 'seconds', 'started_s',
    'after_restarts', 'message'} ('infeasible': HiGHS proved that no feasible point exists)."""
    feasible: bool = False
    objective: float | None = None
    solution: np.ndarray | None = None
    max_violation: float = float("inf")
    sense: str = "minimize"
    least_violating: np.ndarray | None = None
    outer_rounds: int = 0
    penalty: float = 0.0
    phase: str = "none"
    fallback: dict | None = None


class ALModel:
    """The augmented-Lagrangian QUMO of a ConstrainedProblem (module docstring)."""

    def __init__(self, problem: ConstrainedProblem):
        self.p = problem
        q = problem.box_qumo()
        self.a, self.d = q.shift, q.scale
        n = problem.n
        J0 = sp.csr_matrix(q.J)
        d = self.d
        Aeq = sp.csr_matrix(problem.A_eq @ sp.diags(d))
        beq = problem.b_eq - problem.A_eq @ self.a
        Ain = sp.csr_matrix(problem.A_ineq @ sp.diags(d))
        bin_ = problem.b_ineq - problem.A_ineq @ self.a
        absrow = np.asarray(abs(Ain).sum(axis=1)).reshape(-1)
        keep = absrow > bin_                                  # rows some box point can violate
        self.impossible = bool(np.any(-absrow > bin_ + 1e-9 * np.maximum(1, np.abs(bin_))))
        Ain, bin_, absrow = Ain[np.flatnonzero(keep)], bin_[keep], absrow[keep]
        smax = np.maximum(bin_ + absrow, 0.0)
        self.Ain_x, self.bin_x, self.smax = Ain, bin_, smax
        m_e, m_i = Aeq.shape[0], Ain.shape[0]
        self.n, self.m_e, self.m_i = n, m_e, m_i
        self.N = n + m_i
        top = sp.hstack([Aeq, sp.csr_matrix((m_e, m_i))])
        bot = sp.hstack([Ain, sp.diags(smax / 2.0)]) if m_i else sp.csr_matrix((0, self.N))
        M = sp.vstack([top, bot]).tocsr()
        e = np.concatenate([beq, bin_ - smax / 2.0])
        w = np.sqrt(np.asarray(M.multiply(M).sum(axis=1)).reshape(-1))
        w[w == 0] = 1.0
        self.M = sp.diags(1.0 / w) @ M
        self.e = e / w
        self.MtM = (self.M.T @ self.M).tocsr()
        # residual without slacks: rows of [A_eq_x; A_in_x] / w against [b_eq_x; b_in_x] / w
        self.Mx = sp.diags(1.0 / w) @ sp.vstack([Aeq, Ain]).tocsr() if self.m else None
        self.ex = np.concatenate([beq, bin_]) / w
        self.Mte = self.M.T @ self.e
        self.cont = np.concatenate([q.continuous, np.ones(m_i, bool)])
        from .aoc_solver import _spectral_norm
        self.phi = max(_spectral_norm(J0) if J0.nnz else 0.0, float(np.abs(q.h).max(initial=0.0)), 1e-12)
        self.J0 = sp.block_diag([J0, sp.csr_matrix((m_i, m_i))]).tocsr() / self.phi
        self.h0 = np.concatenate([q.h, np.zeros(m_i)]) / self.phi
        self.is_ineq = np.concatenate([np.zeros(m_e, bool), np.ones(m_i, bool)])

    @property
    def m(self) -> int:
        return self.m_e + self.m_i

    def qumo(self, lam: np.ndarray, rho: float):
        """SimpleNamespace(J, h, continuous, offset=0) of L(y) (offset dropped: energies are
        re-evaluated on the original problem)."""
        J = (self.J0 - rho * self.MtM).tocsr() if self.m else self.J0
        h = self.h0 - (self.M.T @ lam if self.m else 0.0) + rho * self.Mte
        return types.SimpleNamespace(J=J, h=np.asarray(h).reshape(-1), continuous=self.cont, offset=0.0)

    def residual(self, y: np.ndarray) -> np.ndarray:
        """r(y) with the slacks at their best values for y's x: exact for equality rows,
        max(a x - b, 0)/w for inequality rows (sigma = b - a x is then reachable)."""
        if not self.m:
            return np.zeros(0)
        x = np.asarray(y[:self.n], dtype=np.float64)
        x = np.where(self.p.binary, np.where(x >= 0, 1.0, -1.0), np.clip(x, -1, 1))
        r = self.Mx @ x - self.ex
        r[self.m_e:] = np.maximum(r[self.m_e:], 0.0)
        return r

    def decode(self, y: np.ndarray) -> np.ndarray:
        """z (n,) in the file's variables from y (N,) (binaries exactly at their bounds)."""
        x = np.asarray(y[:self.n], dtype=np.float64)
        x = np.where(self.p.binary, np.where(x >= 0, 1.0, -1.0), np.clip(x, -1, 1))
        return self.a + self.d * x

    def encode(self, z: np.ndarray) -> np.ndarray:
        """y (N,) of a point z (n,) in the file's variables: x = (z - a)/d (0 where d = 0) and each
        slack at its value for z, u_i = 2 (b_i - a_i z)/smax_i - 1, clipped to [-1, 1]."""
        x = np.where(self.d != 0, (np.asarray(z, np.float64) - self.a) / np.where(self.d != 0, self.d, 1.0), 0.0)
        x = np.clip(x, -1.0, 1.0)
        if not self.m_i:
            return x
        sigma = self.bin_x - self.Ain_x @ x
        u = np.where(self.smax > 0, 2.0 * sigma / np.where(self.smax > 0, self.smax, 1.0) - 1.0, -1.0)
        return np.concatenate([x, np.clip(u, -1.0, 1.0)])

    def update(self, lam: np.ndarray, rho: float, r: np.ndarray, best_r: float) -> tuple[np.ndarray, float, float]:
        """One multiplier/penalty update from the residual r of the inner solution."""
        if not self.m:
            return lam, rho, 0.0
        lam = lam + rho * r
        lam[self.is_ineq] = np.maximum(lam[self.is_ineq], 0.0)
        lam = np.clip(lam, -LAMBDA_MAX, LAMBDA_MAX)
        rn = float(np.abs(r).max())
        if rn > max(R_TOL, RHO_TAU * best_r):
            rho = min(rho * RHO_GROWTH, RHO_MAX)
        elif rn <= R_TOL:
            rho = max(rho / np.sqrt(RHO_GROWTH), RHO_MIN)
        return lam, rho, rn


def _check_int(fn: str, name: str, v) -> None:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v) or int(v) != v or v < 1:
        fail(fn, name, "a positive int", repr(v))


def _result(p: ConstrainedProblem, model: ALModel, best: Incumbent, *, ttt, its, wall, restarts, hits,
            hp, rounds, rho, fallback=None) -> ConstrainedSolveResult:
    if best.z is not None:
        z = best.z
        x = np.where(model.d != 0, (z - model.a) / np.where(model.d != 0, model.d, 1.0), 0.0)
        return ConstrainedSolveResult(x, best.E, ttt, its, wall, best.trace, hp, None, restarts, hits,
                                      feasible=True, objective=float(p.objective(z)), solution=z,
                                      max_violation=p.max_violation(z), sense=p.sense, outer_rounds=rounds,
                                      penalty=rho, phase=best.phase, fallback=fallback)
    lv = best.lv_z
    return ConstrainedSolveResult(None, float("inf"), None, its, wall, [], hp, None, restarts, hits,
                                  feasible=False, objective=None, solution=None,
                                  max_violation=float("inf") if lv is None else p.max_violation(lv),
                                  sense=p.sense, least_violating=lv, outer_rounds=rounds, penalty=rho,
                                  phase="none", fallback=fallback)


def _reached(p: ConstrainedProblem, best: Incumbent, target) -> bool:
    if target is None or best.z is None:
        return False
    obj = p.objective(best.z)
    return obj <= target + 1e-9 * max(1.0, abs(target)) if p.sense == "minimize" else \
        obj >= target - 1e-9 * max(1.0, abs(target))


def solve_constrained(problem: ConstrainedProblem, *, time_limit: float | None = None,
                      max_iterations: int | None = None, replicas: int | None = None,
                      iterations_per_run: int | None = None, seed: int = 0, target: float | None = None,
                      target_cut=None, stop_at_target: bool = True, exploration_share: float = 0.3,
                      check_every: int = 5, sparse: bool | None = None, device: str = "cpu",
                      backend: str | None = None, threads: int = 0, precision: str | None = None,
                      progress: bool = True, top_k: int = 4, repair_states: bool = True,
                      rho0: float = RHO0, construct: bool = True, fallback: bool = True,
                      fallback_after: float | None = None) -> ConstrainedSolveResult:
    """Solve a ConstrainedProblem with the augmented-Lagrangian AOC-DT (module docstring).

    Same budget/hardware arguments as :func:`quaton_fast.solve.solve` (which forwards here);
    ``target`` is an OBJECTIVE VALUE IN THE FILE'S SENSE (reached when a feasible point is at least
    as good). iterations_per_run: steps per restart (default: default_iterations_per_run(n),
    at most 1000, so that the multipliers are updated often). top_k: replicas per restart that are
    repaired and polished; repair_states False disables repair and polish (ablation).
    construct: build the structure-aware start point before the first restart (phase
    'construction'; inside the time budget).
    fallback: run the HiGHS feasibility fallback when no feasible point was found after
    ``fallback_after`` seconds (None: min(1 s, 10 % of time_limit), or 10 % of max_iterations;
    0: before the first restart) -- constrained_phases.py. The result's ``phase`` says which phase
    produced the returned point.
    Returns a :class:`ConstrainedSolveResult` (``feasible`` False when no feasible point was found).
    """
    fn = "solve_constrained"
    target, top_k, max_iterations, rho0, time_limit = (plain_scalar(v) for v in (
        target, top_k, max_iterations, rho0, time_limit))   # NumPy / 0-d tensor numbers as Python ones
    if not isinstance(problem, ConstrainedProblem):
        fail(fn, "problem", "a ConstrainedProblem", type(problem).__name__, TypeError)
    if target_cut is not None:
        fail(fn, "target_cut", "None for a constrained problem (use target, in the file's sense)", target_cut)
    if target is not None and not np.isfinite(target):
        fail(fn, "target", "a finite objective value or None", target)
    _check_int(fn, "top_k", top_k)
    if max_iterations is not None:
        _check_int(fn, "max_iterations", max_iterations)
    if fallback_after is not None and (not isinstance(fallback_after, numbers.Real) or isinstance(fallback_after, bool)
                                       or not np.isfinite(fallback_after) or fallback_after < 0):
        fail(fn, "fallback_after", "a finite number of seconds >= 0 or None", repr(fallback_after))
    for name, v in (("rho0", rho0), ("time_limit", time_limit)):
        if v is not None and (not isinstance(v, numbers.Real) or isinstance(v, bool)
                              or not np.isfinite(v) or v <= 0):
            fail(fn, name, "a positive finite number" + (" or None" if name == "time_limit" else ""), repr(v))
    _validate_budget(time_limit, max_iterations, None, problem)
    p = problem
    model = ALModel(p)
    T = int(iterations_per_run or min(1000, default_iterations_per_run(model.N)))
    if max_iterations is not None:
        T = min(T, int(max_iterations))
    if time_limit is None and max_iterations is None:
        max_iterations = 20 * T
    kw = dict(max_iterations=None, replicas=replicas, iterations_per_run=T, seed=seed, check_every=check_every,
              sparse=sparse, backend=backend, threads=threads, device=device, precision=precision)
    lam, rho, best_r = np.zeros(model.m), float(rho0), np.inf
    sampler = _Sampler(int(seed))
    plan, plan_rho = _plan(model.qumo(lam, rho), **kw), rho     # set-up (torch import, norms) before the clock
    row_classes(p)                              # structure recognised before the clock (cached on p)
    t0 = _time.perf_counter()
    best = Incumbent(p, t0)
    rng = np.random.default_rng([int(seed), 24])
    fb = Fallback(p, model, enabled=fallback, after=fallback_after, time_limit=time_limit,
                  max_iterations=max_iterations)
    best_p, its, restarts, hits, ttt = None, 0, 0, 0, None
    if construct and model.m:
        fb.now = not best.offer(constructed_point(p, rng), "construction") and fallback_after is None
        if _reached(p, best, target):
            hits, ttt = 1, _time.perf_counter() - t0
    bar = None
    if progress:
        try:
            from tqdm import tqdm
            bar = tqdm(total=max_iterations or None, unit="it", desc="aoc-solve (constrained)", leave=False)
        except ImportError:
            bar = None
    while not (ttt is not None and stop_at_target):
        el = _time.perf_counter() - t0
        if fb.due(best, el, its) and fb.run(best, el, restarts):
            break                              # HiGHS proved the constraints infeasible
        el = _time.perf_counter() - t0
        # stop when the budget is spent, or when the next restart (mean duration so far) would
        # overrun it by more than half a restart
        if (time_limit is not None and restarts > 0 and el + 0.5 * el / restarts >= time_limit) or \
                (max_iterations is not None and its >= max_iterations):
            break
        q = model.qumo(lam, rho)
        if rho != plan_rho:
            plan, plan_rho = _plan(q, **kw), rho
        else:                                  # only h changed: patch the prepared plan
            plan.h = np.asarray(q.h, np.float64)
            old = plan.op
            plan.op = type(old)(old.J32, np.ascontiguousarray(q.h, np.float32), old.continuous)
            if hasattr(old, "_csr"):
                plan.op._csr = old._csr
        explore = best_p is None or (time_limit is not None and el < exploration_share * time_limit) or \
            (time_limit is None and its < exploration_share * max_iterations)
        params = sampler.explore(plan.replicas) if explore else sampler.exploit(plan.replicas, best_p)
        x0, warm = (None, None) if fb.y is None else \
            fb.warm_states(initial_states(model.N, plan.seed, restarts, range(plan.replicas)))
        e, S = LocalReplicas(plan).run_slice(params, restarts, x0)
        its += T
        restarts += 1
        Y = S.astype(np.float64)
        order = np.argsort(e, kind="stable")
        improved = offer_candidates(model, p, Y, order, int(top_k), repair_states, best, rng, warm)
        if improved or best_p is None:
            best_p = params[int(order[0])].copy()
        lam, rho, best_r = model.update(lam, rho, model.residual(Y[:, int(order[0])]), best_r)
        if _reached(p, best, target):
            hits += 1
            if ttt is None:
                ttt = _time.perf_counter() - t0
        if bar is not None:
            bar.update(T)
            bar.set_postfix(best="-" if best.z is None else f"{p.objective(best.z):.6g}", rho=f"{rho:.3g}", refresh=False)
    if bar is not None:
        bar.close()
    hp = {"backend": plan.backend, "device": plan.device, "replicas": plan.replicas, "iterations_per_run": T,
          "rho_final": rho, "phi": model.phi, "slacks": model.m_i, "rows": model.m, "top_k": int(top_k),
          "repair": bool(repair_states), "row_classes": row_classes(p).summary()}
    return _result(p, model, best, ttt=ttt, its=its, wall=_time.perf_counter() - t0, restarts=restarts,
                   hits=hits, hp=hp, rounds=restarts, rho=rho, fallback=fb.info)


def bcd_constrained(problem: ConstrainedProblem, *, block_size: int = 16, rounds: int = 10,
                    max_sweeps: int = 20, block_iterations: int = 1000, seed: int = 0,
                    rho0: float = RHO0, repair_states: bool = True) -> ConstrainedSolveResult:
    """Block coordinate descent on a constrained problem: each round runs :func:`bcd` (blocks of
    ``block_size`` variables of the augmented-Lagrangian QUMO, the rest folded into the linear
    term, slacks included) from the previous round's state, then updates the multipliers and the
    penalty as in :func:`solve_constrained` and repairs/polishes the round's state. Returns a
    ConstrainedSolveResult (feasible False if no round gave a feasible point)."""
    from .bcd import bcd
    fn = "bcd_constrained"
    if not isinstance(problem, ConstrainedProblem):
        fail(fn, "problem", "a ConstrainedProblem", type(problem).__name__, TypeError)
    _check_int(fn, "rounds", rounds)
    p = problem
    model = ALModel(p)
    lam, rho, best_r = np.zeros(model.m), float(rho0), np.inf
    t0 = _time.perf_counter()
    best = Incumbent(p, t0)
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(model.N) < 0.5, -1.0, 1.0)
    y[model.cont] = 0.0
    for k in range(int(rounds)):
        q = model.qumo(lam, rho)
        y, _ = bcd(q, block_size=block_size, max_sweeps=max_sweeps, block_iterations=block_iterations,
                   seed=seed + k, x0=y)
        z = model.decode(y)
        phase = "dynamics" if p.is_feasible(z) else "repair"
        if repair_states:
            z = polish(p, repair(p, z))
        best.offer(z, phase)
        lam, rho, best_r = model.update(lam, rho, model.residual(y), best_r)
    hp = {"block_size": block_size, "rounds": rounds, "rho_final": rho, "phi": model.phi}
    return _result(p, model, best, ttt=None, its=0, wall=_time.perf_counter() - t0, restarts=int(rounds),
                   hits=0, hp=hp, rounds=int(rounds), rho=rho)


ConstrainedProblem._solver = staticmethod(solve_constrained)   # the aoc_solve hook (constraints.py)

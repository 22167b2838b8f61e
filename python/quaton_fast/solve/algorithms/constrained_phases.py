"""Where a constrained solve's points come from: the incumbent, the candidates of each restart,
and the certified feasibility fallback (docs/constraints.md, "Feasibility first").

Phases (``ConstrainedSolveResult.phase``, printed by the CLI), for the RETURNED point:

* ``"construction"`` -- the structure-aware start, built before the first restart: every variable
  at its lower bound (continuous ones at the middle of their box), then the assignment-aware repair
  (which fills each one-hot group first-fit-decreasing and removes conflicts), the greedy repair and
  feasible descent; cheap (< 0.3 s on the shared QPLIB instances) and deterministic;
* ``"dynamics"``  -- an AOC-DT replica state that was feasible as decoded (then feasible descent);
* ``"repair"``    -- an AOC-DT replica state made feasible by repair (the greedy 1-flip repair; when
  that fails and the problem has one-hot rows, the assignment-aware repair followed by the greedy
  one), then feasible descent;
* ``"fallback"``  -- the HiGHS feasibility point of the constraints alone (objective dropped), then
  feasible descent: it is returned only when no other feasible point was as good;
* ``"fallback-start"`` -- a replica of a restart that was warm-started at the fallback point
  (decoded, repaired if needed, feasible descent);
* ``"none"``      -- no feasible point (``fallback['status'] == 'infeasible'`` then means HiGHS
  proved that none exists).

The fallback runs once, when no feasible point has been found after ``fallback_after`` seconds
(default ``min(1 s, 10 % of time_limit)``; with an iteration budget, after 10 % of it), or at once
when the construction phase ran and found none (the rows are then evidently hard for the local
moves; a restart of the dynamics can take seconds on a loaded CPU). HiGHS gets
``max(min(remaining, 1 s), remaining / 2)`` seconds of the remaining budget (10 s without a time
limit). Afterwards half of every restart's replicas start from the fallback point
(``WARM_SCALE * y_f`` plus the usual small random state), so the dynamics search around it.
"""
from __future__ import annotations

import time as _time

import numpy as np

from .assignment_repair import assignment_descent, assignment_repair
from .constrained_repair import polish, repair
from ..models.constraint_classes import row_classes
from ..models.constraints import FEAS_TOL, ConstrainedProblem
from .feasibility_milp import feasibility_point

__all__ = ["Incumbent", "improve", "offer_candidates", "constructed_point", "Fallback", "PHASES"]

PHASES = ("construction", "dynamics", "repair", "fallback", "fallback-start", "none")
WARM_SCALE = 0.5          # warm-started replicas begin at WARM_SCALE * (the fallback point in [-1, 1])
FALLBACK_SHARE = 0.1      # of the budget spent before the fallback runs
FALLBACK_AFTER_MAX = 1.0  # seconds


class Incumbent:
    """Best feasible point (with the phase that produced it) and least violated point seen."""

    def __init__(self, p: ConstrainedProblem, t0: float):
        self.p, self.t0 = p, t0
        self.z, self.E, self.trace, self.phase = None, np.inf, [], "none"
        self.lv_z, self.lv = None, np.inf

    def offer(self, z: np.ndarray, phase: str) -> bool:
        """Offer z (n,) (file variables) produced by ``phase`` (one of PHASES): kept when feasible
        and strictly better in min_energy (then traced); else remembered if least violated so far.
        Returns True when the incumbent improved."""
        v = self.p.violations(z)
        if not v["scaled_max"] <= FEAS_TOL:
            if v["scaled_max"] < self.lv:
                self.lv, self.lv_z = v["scaled_max"], z.copy()
            return False
        E = float(self.p.min_energy(z))
        if E < self.E - 1e-12 * max(1.0, abs(E)):
            self.z, self.E, self.phase = z.copy(), E, phase
            self.trace.append((_time.perf_counter() - self.t0, float(self.p.objective(z))))
            return True
        return False


def improve(p: ConstrainedProblem, z: np.ndarray) -> np.ndarray:
    """Feasible descent of z: ``polish`` (flips, swaps, QAP 2-exchanges), then, with one-hot
    groups, ``assignment_descent`` (relocations and pairs of relocations), then polish again if
    that moved z. Infeasible z are returned unchanged. (Descent first, then polish, reached worse
    local optima on QPLIB_3307: 3.2 % against 1.9 % at the same iteration budget.)"""
    z = polish(p, z)
    if row_classes(p).n_groups:
        w = assignment_descent(p, z)
        if not np.array_equal(w, z):
            z = polish(p, w)
    return z


def offer_candidates(model, p: ConstrainedProblem, Y: np.ndarray, order: np.ndarray, k: int,
                     do_repair: bool, best: Incumbent, rng: np.random.Generator,
                     warm: np.ndarray | None = None) -> bool:
    """Decode the k first replicas of ``order`` (Y: (N, R) replica states), repair and polish them
    (when ``do_repair``) and offer them to ``best`` with their phase; warm: (R,) bool, replicas
    started from the fallback point. True if the incumbent improved."""
    improved, seen = False, set()
    has_groups = row_classes(p).n_groups > 0
    for j in order[:k]:
        z = model.decode(Y[:, j])
        key = z.tobytes()
        if key in seen:
            continue
        seen.add(key)
        from_fallback = warm is not None and bool(warm[j])
        phase = "fallback-start" if from_fallback else "dynamics"
        if do_repair:
            if not p.is_feasible(z):
                if not from_fallback:
                    phase = "repair"
                w = repair(p, z)
                if has_groups and not p.is_feasible(w):
                    # a short search once a feasible point exists: new points only need to compete
                    steps = None if best.z is None else 2 * p.n
                    w = repair(p, assignment_repair(p, z, rng=rng, max_steps=steps))
                z = w
            z = improve(p, z)
        improved |= best.offer(z, phase)
    return improved


def constructed_point(p: ConstrainedProblem, rng: np.random.Generator) -> np.ndarray:
    """The "construction" phase (module docstring): z (n,), feasible or the least violated found."""
    z = np.where(p.binary, p.lower, 0.5 * (p.lower + p.upper))
    z = repair(p, assignment_repair(p, z, rng=rng))
    return improve(p, z)


class Fallback:
    """The one-time HiGHS feasibility solve and the warm starts built from its point."""

    def __init__(self, p: ConstrainedProblem, model, *, enabled: bool, after: float | None,
                 time_limit: float | None, max_iterations: int | None):
        self.p, self.model, self.enabled = p, model, bool(enabled) and (p.m_eq + p.m_ineq) > 0
        self.time_limit, self.max_iterations = time_limit, max_iterations
        if after is None:
            after = min(FALLBACK_AFTER_MAX, FALLBACK_SHARE * time_limit) if time_limit is not None else None
        self.after = after
        self.done, self.y, self.info = False, None, None
        self.now = False           # set when the construction found no feasible point

    def due(self, best: Incumbent, elapsed: float, its: int) -> bool:
        """True when the fallback should run now (enabled, not run yet, no feasible point yet, and
        the construction failed or ``after`` seconds / 10 % of the iterations have passed)."""
        if not self.enabled or self.done or best.z is not None:
            return False
        if self.now:
            return True
        if self.after is not None:
            return elapsed >= self.after
        return self.max_iterations is not None and its >= FALLBACK_SHARE * self.max_iterations

    def run(self, best: Incumbent, elapsed: float, restarts: int = 0) -> bool:
        """Solve the constraints alone; offer the (polished) point as phase 'fallback'. Returns
        True when HiGHS proved the constraints infeasible (nothing left to search)."""
        self.done = True
        if self.time_limit is not None:
            rem = max(self.time_limit - elapsed, 0.0)
            limit = max(min(rem, 1.0), 0.5 * rem)
        else:
            limit = 10.0
        res = feasibility_point(self.p, time_limit=max(limit, 0.05))
        self.info = {"status": res.status, "seconds": res.seconds, "started_s": elapsed,
                     "after_restarts": int(restarts), "message": res.message}
        if res.z is not None:
            best.offer(improve(self.p, res.z), "fallback")
            self.y = self.model.encode(res.z)
        return res.status == "infeasible"

    def warm_states(self, x0: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(x0 with its first half of replicas moved to the fallback point, the (R,) warm mask), or
        (None, None) before a fallback point exists. x0: (N, R) float32 default start states."""
        if self.y is None:
            return None, None
        R = x0.shape[1]
        warm = np.zeros(R, bool)
        warm[:max(1, R // 2)] = True
        x0 = x0.copy()
        x0[:, warm] += (WARM_SCALE * self.y).astype(np.float32)[:, None]
        return np.clip(x0, -1.0, 1.0), warm

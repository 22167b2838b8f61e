"""Certified feasibility fallback: the constraint system alone as a MILP, solved by HiGHS.

``feasibility_point(p)`` drops the objective of a ConstrainedProblem and asks HiGHS (through
``scipy.optimize.milp``, a dependency already) for ANY point with

    A_eq z = b_eq,  A_ineq z <= b_ineq,  lower <= z <= upper,  z_i integer where binary[i].

HiGHS either returns a point (checked here again with ``p.is_feasible`` after snapping binaries to
their bounds; continuous variables re-optimised by ``optimise_continuous`` if the snap left a row
slightly violated), proves that NO feasible point exists (status ``"infeasible"``: a certificate in
the sense of HiGHS's branch and bound, exact up to its tolerances), or runs out of time
(``"unknown"``). The constrained solver uses the point only as a start for the dynamics and as a
last-resort answer (docs/constraints.md, "Feasibility first").
"""
from __future__ import annotations

import time as _time
from dataclasses import dataclass

import numpy as np

from ..models.constraints import ConstrainedProblem

__all__ = ["FeasibilityResult", "feasibility_point"]


@dataclass
class FeasibilityResult:
    """status: 'feasible' (z is a feasible point, checked by ``p.is_feasible``), 'infeasible' (HiGHS
    proved the system has no solution), or 'unknown' (time limit, or HiGHS's point failed our
    check); z: (n,) float64 in the file's variables or None; seconds: wall time; message: HiGHS's."""
    status: str
    z: np.ndarray | None
    seconds: float
    message: str = ""


def feasibility_point(p: ConstrainedProblem, time_limit: float = 10.0) -> FeasibilityResult:
    """Any feasible point of p's constraints (module docstring); HiGHS limited to ``time_limit`` s."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    t0 = _time.perf_counter()
    cons = []
    if p.m_eq:
        cons.append(LinearConstraint(p.A_eq, p.b_eq, p.b_eq))
    if p.m_ineq:
        cons.append(LinearConstraint(p.A_ineq, -np.inf, p.b_ineq))
    res = milp(np.zeros(p.n), integrality=p.binary.astype(np.int64), bounds=Bounds(p.lower, p.upper),
               constraints=cons, options={"time_limit": max(float(time_limit), 1e-3), "disp": False,
                                          "presolve": True})
    msg = str(getattr(res, "message", ""))
    if res.status == 2:
        return FeasibilityResult("infeasible", None, _time.perf_counter() - t0, msg)
    if res.x is None:
        return FeasibilityResult("unknown", None, _time.perf_counter() - t0, msg)
    z = np.clip(np.asarray(res.x, dtype=np.float64), p.lower, p.upper)
    z[p.binary] = np.where(z[p.binary] >= 0.5 * (p.lower + p.upper)[p.binary], p.upper, p.lower)[p.binary]
    if not p.is_feasible(z) and not np.all(p.binary):
        from .constrained_repair import optimise_continuous
        z = optimise_continuous(p, z)
    ok = p.is_feasible(z)
    return FeasibilityResult("feasible" if ok else "unknown", z if ok else None, _time.perf_counter() - t0, msg)

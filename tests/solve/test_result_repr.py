"""A solver result prints as a summary, not its whole state (issue 25 item 12)."""
import numpy as np

from quaton_fast.solve import solve
from quaton_fast.solve.models.constraints import ConstrainedProblem
from quaton_fast.solve.models.problems import MaxCut
import scipy.sparse as sp


def test_repr_summarises_long_arrays_and_keeps_every_field():
    n = 800
    r = solve(MaxCut(n, np.c_[np.arange(n - 1), np.arange(1, n)]), max_iterations=50, progress=False)
    text = repr(r)
    assert len(text) < 1500, len(text)
    assert "best_state=array(shape=(800,), dtype=float64" in text and f"cut={r.cut!r}" in text
    for name in ("best_energy", "time_to_target", "iterations", "wall_time", "trace", "restarts"):
        assert name + "=" in text


def test_constrained_result_uses_the_same_summary():
    n = 40
    P = ConstrainedProblem(sp.eye(n, format="csr"), g=-np.ones(n), binary=np.ones(n, bool),
                           A_ineq=sp.csr_matrix(np.ones((1, n))), b_ineq=[3.0])
    r = solve(P, max_iterations=200, progress=False)
    text = repr(r)
    assert text.startswith("ConstrainedSolveResult(") and "solution=array(shape=(40,)" in text
    assert "feasible=" in text and len(text) < 2500

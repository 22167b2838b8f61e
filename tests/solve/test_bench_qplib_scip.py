"""The SCIP model of benchmarks/bench_qplib.py states the same problem (objective convention, sense,
rows): SCIP solved to optimality equals the brute force. Skips without pyscipopt (benchmark-only)."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from quaton_fast.solve.algorithms.constrained_exact import brute_force_constrained
from quaton_fast.solve.models.constraints import ConstrainedProblem

pytest.importorskip("pyscipopt")


def bench_module():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_qplib.py"
    spec = importlib.util.spec_from_file_location("bench_qplib", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("sense", ["minimize", "maximize"])
def test_scip_model_matches_brute_force(sense):
    rng = np.random.default_rng(7)
    n = 8
    H = rng.integers(-5, 6, size=(n, n)).astype(float)
    H = H + H.T
    p = ConstrainedProblem(H, rng.integers(-5, 6, n).astype(float), 1.5, sense, np.zeros(n), np.ones(n),
                           np.ones(n, bool), np.ones((1, n)), [3.0], rng.integers(0, 5, (2, n)).astype(float), [6.0, 7.0])
    _, v = brute_force_constrained(p)
    m = bench_module().scip_model(p)
    m.optimize()
    assert m.getStatus() == "optimal" and m.getObjVal() == pytest.approx(v, abs=1e-6)

"""Auxiliary-binary BCD, exact continuous box QP, restart statistics and the records file."""
import itertools
import json

import numpy as np
import pytest

from quaton_fast.solve.algorithms.aoc_solver import qumo_energy
from quaton_fast.solve.algorithms.aux_bcd import bcd_auxiliary, homogeneous_block
from quaton_fast.solve.models.problems import QUMO, brute_force
from quaton_fast.solve.algorithms.qumo_exact import brute_force_qumo, continuous_optimum
from quaton_fast.solve.statistics.trials import run_restarts, update_records


def _qumo(n, seed, n_cont=0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    J = (A + A.T) / 2
    np.fill_diagonal(J, 0)
    cont = np.zeros(n, bool)
    cont[:n_cont] = True
    if n_cont:  # make the continuous block concave in J (convex in E): J_CC = -M M^T
        M = rng.normal(size=(n_cont, n_cont))
        J[:n_cont, :n_cont] = -M @ M.T
    return QUMO(J, rng.normal(size=n), cont, 0.7)


def test_homogeneous_block_energy_identity_and_symmetry():
    q = _qumo(7, 1, n_cont=2)
    aux = homogeneous_block(q.J, q.h, q.continuous)
    assert aux.n == 8 and not aux.continuous[-1] and np.all(aux.h == 0)
    rng = np.random.default_rng(2)
    for _ in range(10):
        x = np.concatenate([rng.uniform(-1, 1, 2), np.where(rng.random(5) < 0.5, -1.0, 1.0)])
        xa = np.append(x, 1.0)
        assert aux.energy(xa) == pytest.approx(q.energy(x) - q.offset, abs=1e-12)
        assert aux.energy(-xa) == pytest.approx(aux.energy(xa), abs=1e-12)


def test_bcd_auxiliary_reaches_binary_optimum():
    q = _qumo(14, 3)
    _, e_opt = brute_force(q)
    best = min(bcd_auxiliary(q, block_size=7, seed=s, block_iterations=100, block_replicas=8).energy for s in range(6))
    assert best == pytest.approx(e_opt, abs=1e-9)


def test_bcd_auxiliary_mixed_reaches_exact_optimum():
    q = _qumo(9, 4, n_cont=3)
    _, e_opt = brute_force_qumo(q)
    tr = run_restarts(q, lambda s: bcd_auxiliary(q, block_size=7, seed=s, block_iterations=150).x, 4, e_opt)
    assert tr.success.sum() >= 1
    assert np.all(tr.energies >= e_opt - 1e-7) and np.all(tr.energies <= tr.raw_energies + 1e-9)


def test_continuous_optimum_matches_a_grid_search():
    q = _qumo(4, 5, n_cont=2)
    for xb in itertools.product((-1.0, 1.0), repeat=2):
        x, e = continuous_optimum(q, np.array(xb))
        a, b = np.meshgrid(np.linspace(-1, 1, 401), np.linspace(-1, 1, 401))
        X = np.stack([a.ravel(), b.ravel(), np.full(a.size, xb[0]), np.full(a.size, xb[1])])   # (4, 401^2)
        grid = float(qumo_energy(q.J, q.h, X, q.offset).min())
        assert e <= grid + 1e-12 and e == pytest.approx(grid, abs=1e-3)


def test_continuous_optimum_rejects_nonconvex_and_bad_binaries():
    q = _qumo(4, 6, n_cont=2)
    bad = QUMO(-q.J, q.h, q.continuous)
    with pytest.raises(ValueError, match="positive semi-definite"):
        continuous_optimum(bad, np.ones(2))
    with pytest.raises(ValueError, match="binary_values"):
        continuous_optimum(q, np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="block_size"):
        bcd_auxiliary(q, block_size=0)


def test_update_records_replaces_same_key(tmp_path):
    p = tmp_path / "r.json"
    r = {"task": "t", "dataset": "d", "method": "m", "metric": "x", "value": 1}
    update_records(p, [r, dict(r, metric="y")])
    update_records(p, [dict(r, value=2)])
    got = json.loads(p.read_text())
    assert sorted((g["metric"], g["value"]) for g in got) == [("x", 2), ("y", 1)]

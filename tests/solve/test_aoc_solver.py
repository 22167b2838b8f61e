import itertools
from pathlib import Path
import types

import numpy as np
import pytest

from quaton_fast.solve.algorithms.aoc_solver import solve, qumo_energy
from quaton_fast.cli.solve import parse_duration

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _sk_cases():
    d = DATA / "sk"
    if not d.is_dir():
        return [pytest.param(None, None, marks=pytest.mark.skip(reason=f"SK data absent: {d}"))]
    cases = []
    for n in (10, 20, 30, 40, 50, 60):
        gf = d / f"SK1_N{n}_ground_energies.npz"
        if not gf.exists():
            continue
        ge = np.load(gf)["arr_0"]
        for k in range(10):
            f = d / f"SK1_N{n}_{k}.npz"
            if f.exists():
                cases.append(pytest.param(f, float(ge[k]), id=f.stem))
    return cases


@pytest.mark.parametrize("path,ground", _sk_cases())
def test_sk_reaches_ground_energy(path, ground):
    obj = np.load(path)
    J = obj if isinstance(obj, np.ndarray) else obj[obj.files[0]]
    # E_ground = min 1/2 s^T J s  ==  canonical -1/2 s^T (-J) s
    res = solve(-J, max_iterations=40000, target=ground, progress=False, seed=1)
    assert res.best_energy == pytest.approx(ground)
    assert res.time_to_target is not None
    assert 0.5 * res.best_state @ J @ res.best_state == pytest.approx(ground)


def _brute(J, h, cont):
    n = len(h)
    best = np.inf
    for bits in itertools.product((-1.0, 1.0), repeat=n):
        x = np.array(bits)
        best = min(best, qumo_energy(J, h, x))
    return best


@pytest.mark.parametrize("seed", range(4))
def test_random_binary_qumo_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 12
    A = rng.normal(size=(n, n))
    J = (A + A.T) / 2
    np.fill_diagonal(J, 0)
    h = rng.normal(size=n)
    res = solve(types.SimpleNamespace(J=J, h=h, continuous=np.zeros(n, bool), offset=0.0),
                max_iterations=20000, progress=False, seed=seed)
    assert res.best_energy == pytest.approx(_brute(J, h, None), abs=1e-9)


def test_mixed_qumo_continuous_variable_optimum():
    # one binary s, one continuous y: E = -(s*y) - 0.3*y ... optimum s=1, y=1
    J = np.array([[0.0, 1.0], [1.0, 0.0]])
    h = np.array([0.0, 0.3])
    res = solve(types.SimpleNamespace(J=J, h=h, continuous=np.array([False, True]), offset=0.0),
                max_iterations=2000, progress=False)
    assert res.best_energy == pytest.approx(-1.3, abs=1e-3)


def test_bad_inputs_name_argument():
    J = np.zeros((3, 3))
    with pytest.raises(ValueError, match="time_limit"):
        solve(J, time_limit=-1.0)
    with pytest.raises(ValueError, match="problem"):
        solve(np.zeros((0, 0)))
    with pytest.raises(ValueError, match="replicas"):
        solve(J, replicas=0)
    with pytest.raises(ValueError, match="symmetric"):
        solve(np.array([[0.0, 1.0], [0.0, 0.0]]))


def test_parse_duration():
    assert parse_duration("10s") == 10.0
    assert parse_duration("2m") == 120.0
    assert parse_duration("500ms") == pytest.approx(0.5)
    assert parse_duration("1.5") == 1.5
    for bad in ("", "abc", "-1s", "0"):
        with pytest.raises(ValueError, match="text"):
            parse_duration(bad)


def test_cli_solve_writes_json(tmp_path):
    import json
    from quaton_fast.cli.solve import add_arguments, run
    from quaton_fast.solve.models.generators import random_sk
    import argparse
    J = random_sk(12, seed=3).J
    np.savez(tmp_path / "sk12.npz", J)
    ap = argparse.ArgumentParser()
    add_arguments(ap)
    out = tmp_path / "res.json"
    args = ap.parse_args([str(tmp_path / "sk12.npz"), "--time", "0.3s", "--no-progress", "--json", str(out)])
    assert run(args) == 0
    d = json.loads(out.read_text())
    s = np.array(d["best_state"])
    assert d["best_energy"] == pytest.approx(0.5 * s @ J @ s)
    assert d["best_energy"] == pytest.approx(_brute(-J, np.zeros(12), None))


def test_binary_diagonal_is_folded_into_the_offset():
    """A QUMO with a binary diagonal has the same energies as its normalised form; the solver must
    reach the brute-forced optimum on both (the diagonal must not act as self-feedback)."""
    from quaton_fast.solve.algorithms.aoc_solver import as_qumo_arrays
    from quaton_fast.solve.models.problems import QUMO, brute_force
    rng = np.random.default_rng(11)
    n = 10
    J = rng.normal(size=(n, n))
    J = J + J.T
    np.fill_diagonal(J, rng.uniform(20, 40, n))  # large positive self-couplings
    q = QUMO(J, rng.normal(size=n))
    Jf, h, cont, off = as_qumo_arrays(q)
    assert np.all(np.diag(Jf) == 0)
    x = rng.choice([-1.0, 1.0], size=(n, 6))
    np.testing.assert_allclose(-0.5 * np.sum(x * (Jf @ x), 0) - h @ x + off, q.energy(x.T), rtol=1e-12)
    best = brute_force(q)
    res = solve(q, max_iterations=4000, seed=0, progress=False)
    assert res.best_energy == pytest.approx(best[1], abs=1e-9)

"""Shepp-Logan compressed-sensing QUMO: phantom, measurements, exact formulation, small optimum, inputs, example."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from quaton_fast.solve import compressed_sensing as C
from quaton_fast.solve.algorithms.aoc_solver import solve
from quaton_fast.solve.algorithms.qumo_exact import brute_force_qumo, continuous_optimum
from quaton_fast.solve.statistics.trials import run_restarts

ROOT = Path(__file__).resolve().parents[2]


def test_phantom_line_and_image():
    line = C.shepp_logan_line()
    assert line.shape == (32,)
    assert set(np.round(line, 9)) == {0.0, 0.2, 1.0} and np.count_nonzero(line) == 8
    assert line[12] == 1.0 and line[19] == 1.0 and np.all(line[13:19] == 0.2)   # skull, brain, skull
    img = C.shepp_logan_image(32)
    assert img.shape == (32, 32) and img.min() == 0.0 and img.max() == 1.0
    assert np.array_equal(img[29], line)
    assert np.all(img[0] == 0) and np.all(img[:, 0] == 0)           # outside the head
    centre = C.shepp_logan_line(64, 0.0)
    assert centre[32] == pytest.approx(0.2) and centre.min() == 0.0  # brain at the centre, ventricles 0


def test_hadamard_measurements():
    A = C.measurement_matrix(32, 12, seed=3)
    assert A.shape == (20, 32)
    assert np.allclose(A @ A.T, np.eye(20))                          # orthonormal rows
    assert np.allclose(A[0], 1 / np.sqrt(32))                        # DC row kept
    B = C.measurement_matrix(32, 12, kind="bernoulli", seed=3)
    assert B.shape == (20, 32) and np.allclose(np.abs(B), 1 / np.sqrt(32))


def test_qumo_energy_is_objective():
    inst = C.cs_instance()
    q = C.cs_qumo(inst)
    assert q.n == 64 and q.n_continuous == 32
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = np.concatenate([rng.uniform(-1, 1, 32), np.where(rng.random(32) < 0.5, -1.0, 1.0)])
        u, s = C.decode_reconstruction(inst, x)
        assert q.energy(x) == pytest.approx(C.cs_objective(inst, u, s), rel=1e-10, abs=1e-10)
    planted = C.planted_state(inst)
    assert q.energy(planted) == pytest.approx(inst.lam * 8, abs=1e-12)
    assert np.allclose(C.decode_reconstruction(inst, planted)[0], inst.truth)


def test_small_instance_brute_force_optimum_is_reached_and_recovers_the_line():
    inst = C.cs_instance(8, 3, y=-0.84375, seed=1)
    assert np.count_nonzero(inst.truth) == 2
    q = C.cs_qumo(inst)
    x_opt, e_opt = brute_force_qumo(q)
    u_opt, s_opt = C.decode_reconstruction(inst, x_opt)
    assert np.all(u_opt[~s_opt] == 0)                                # the mu bound: no intensity off support
    assert e_opt == pytest.approx(inst.lam * 2, abs=1e-9)            # optimum = planted solution
    assert C.reconstruction_errors(inst, u_opt)["rmse"] < 1e-9
    tr = run_restarts(q, lambda s: solve(q, max_iterations=600, replicas=32, seed=s, progress=False).best_state,
                      3, e_opt)
    assert tr.success.sum() >= 1
    assert C.reconstruction_errors(inst, C.decode_reconstruction(inst, tr.states[tr.best])[0])["rmse"] < 1e-6


def test_planted_support_gives_exact_amplitudes():
    inst = C.cs_instance()
    q = C.cs_qumo(inst)
    x, e = continuous_optimum(q, C.planted_state(inst)[32:])
    assert e == pytest.approx(inst.lam * 8, abs=1e-9)
    assert np.allclose(C.decode_reconstruction(inst, x)[0], inst.truth, atol=1e-7)


def test_blocks_pair_amplitude_and_support():
    inst = C.cs_instance()
    blocks = C.cs_blocks(inst, 7)(np.random.default_rng(0))
    covered = set()
    for b in blocks:
        assert len(b) <= 7
        sup = [i - 32 for i in b if i >= 32]
        assert set(sup) <= set(b.tolist())                            # each support with its amplitude
        covered |= set(sup)
    assert covered == set(range(32))


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="power of 2"):
        C.measurement_matrix(24, 4)
    with pytest.raises(ValueError, match="n_dropped"):
        C.measurement_matrix(8, 8)
    with pytest.raises(ValueError, match="kind"):
        C.measurement_matrix(8, 2, kind="fourier")
    with pytest.raises(ValueError, match="y"):
        C.shepp_logan_line(32, 1.5)
    with pytest.raises(ValueError, match="lam"):
        C.cs_instance(lam=0.0)
    with pytest.raises(ValueError, match="u_max"):
        C.cs_instance(u_max=0.5)
    with pytest.raises(ValueError, match="x"):
        C.decode_reconstruction(C.cs_instance(), np.zeros(10))


def test_example_core_runs_on_a_tiny_instance(tmp_path):
    spec = importlib.util.spec_from_file_location("shepp_logan_cs", ROOT / "examples" / "shepp_logan_cs.py")
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    summary = ex.run_example(8, 3, y=-0.84375, restarts=2, bcd_restarts=1, solve_iterations=200, solve_replicas=16,
                             block_iterations=40, block_replicas=4)
    assert set(summary["results"]) == {"aoc-dt", "bcd-7+1"}
    for r in summary["results"].values():
        assert r["trials"].energies.min() >= summary["target"] - 1e-7   # target = optimum here
    pytest.importorskip("matplotlib")
    ex.save_plot(summary, str(tmp_path / "c.png"))
    assert (tmp_path / "c.png").stat().st_size > 1000
    assert all(r["task"] == "compressed-sensing" for r in ex.records(summary, "cmd"))

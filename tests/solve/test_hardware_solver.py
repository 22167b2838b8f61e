"""The AOC-DT annealed solver through the non-ideal twin (solve/algorithms/hardware_solver.py): the ideal twin
finds the brute-force optimum of tiny instances, energies are the problem's own (re-evaluated), the
hardware path is the calibrated machine map, bad input names the argument."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from quaton_fast.reference.aoc_hardware_profile import AOCHardware
from quaton_fast.solve.models.generators import planted_qumo, random_qubo
from quaton_fast.solve.algorithms.hardware_solver import hardware_anneal
from quaton_fast.solve.algorithms.qumo_exact import brute_force_qumo


def _file16():
    env = os.environ.get("QUATON_AOC_HARDWARE_DIR")
    dirs = [env] if env else [str(p / "shared" / "data" / "aoc_hardware") for p in Path(__file__).resolve().parents]
    for d in dirs:
        f = os.path.join(d, "June2024_saturation_pieces_clip2p6.yaml")
        if os.path.isfile(f):
            return f
    return None


FILE16 = _file16()


@pytest.mark.parametrize("kind", ["binary", "mixed"])
def test_ideal_twin_finds_the_brute_force_optimum_of_a_tiny_instance(kind):
    prob = random_qubo(6, seed=3) if kind == "binary" else planted_qumo(6, 2, seed=3).problem
    _, e_opt = brute_force_qumo(prob)
    r = hardware_anneal(prob, None, replicas=20, steps=300, seed=1)
    assert np.all(r.energies >= e_opt - 1e-9 * max(1, abs(e_opt)))       # nothing below the optimum
    assert np.sum(r.energies <= e_opt + 1e-9 * max(1, abs(e_opt))) >= 10


@pytest.mark.parametrize("profile", ["ideal", "file"])
def test_energies_are_the_problems_own_energy_of_the_returned_states(profile):
    if profile == "file" and FILE16 is None:
        pytest.skip("calibration file not present")
    hw = None if profile == "ideal" else AOCHardware.from_yaml(FILE16)
    q = random_qubo(8, seed=5)
    r = hardware_anneal(q, hw, replicas=7, steps=50, seed=2)
    assert set(np.unique(r.states)) <= {-1.0, 1.0}                       # sign read-out
    np.testing.assert_array_equal(r.original, (r.states + 1) / 2)        # the QUBO's own 0/1 variables
    Q = q.Q
    want = np.einsum("ri,ij,rj->r", r.original, Q, r.original) + r.original @ q.c + q.offset
    np.testing.assert_allclose(r.energies, want, rtol=1e-12, atol=1e-12)
    m = planted_qumo(8, 3, seed=1).problem
    r = hardware_anneal(m, hw, replicas=5, steps=50)
    cont = m.continuous
    assert np.all(np.abs(r.states[:, cont]) <= 1) and set(np.unique(r.states[:, ~cont])) <= {-1.0, 1.0}
    np.testing.assert_allclose(r.energies, [m.energy(x) for x in r.states], rtol=1e-12, atol=1e-12)


def test_hardware_path_with_every_effect_off_is_the_tanh_map_normalised():
    """Every effect off: drive tanh(x), paths normalised by tanh(1) -> the update uses J tanh(x)/tanh(1).
    Replayed independently here for a few steps from the same initial states (no early read-out)."""
    hw = AOCHardware.ideal(16).all_effects_off()
    q = random_qubo(5, seed=0)
    from quaton_fast.solve.models.entry_checks import as_qumo_arrays
    J, h, _, _ = as_qumo_arrays(q)
    R, T, a0, g, gam = 4, 1, 0.3, 0.3, 0.9
    r = hardware_anneal(q, hw, replicas=R, steps=T, a0=a0, g=g, gamma=gam, seed=9, check_every=1)
    x = ((torch.rand(R, 5, generator=torch.Generator().manual_seed(9), dtype=torch.float64) * 2 - 1) * 0.01).numpy()
    gain = 0.5 * g / np.linalg.norm(J, 2)
    step = lambda x, xp, a: np.clip(x + gain * (np.tanh(x) @ J.T / np.tanh(1.0) + h) - 0.5 * a * x  # noqa: E731
                                    + gam * (x - xp), -1, 1)
    sign = lambda z: np.where(z >= 0, 1.0, -1.0)                          # noqa: E731
    x1 = step(x, x, a0)                                                   # the one update, replayed by hand
    np.testing.assert_array_equal(r.states, sign(x1))                    # read out AFTER the update
    # a 2-step run: the better of the two read-outs (the first kept on ties)
    r2 = hardware_anneal(q, hw, replicas=R, steps=2, a0=a0, g=g, gamma=gam, seed=9, check_every=1)
    x2 = step(x1, x, a0 * 0.5)
    e = lambda S: -0.5 * np.einsum("ri,ij,rj->r", S, J, S) - S @ h           # noqa: E731
    s1, s2 = sign(x1), sign(x2)
    best = np.where((e(s2) < e(s1))[:, None], s2, s1)
    np.testing.assert_array_equal(r2.states, best)


@pytest.mark.parametrize("kw,name", [({"replicas": 0}, "replicas"), ({"steps": 1.5}, "steps"),
                                     ({"gamma": 1.0}, "gamma"), ({"g": -1.0}, "'g'"), ({"a0": float("nan")}, "a0"),
                                     ({"check_every": 0}, "check_every"), ({"seed": -1}, "seed"),
                                     ({"profile": "June"}, "profile"), ({"complete_continuous": 1}, "complete_continuous")])
def test_bad_input_names_the_argument(kw, name):
    with pytest.raises((TypeError, ValueError), match=name):
        hardware_anneal(random_qubo(4, seed=0), **kw)


def test_problem_larger_than_the_profile_is_refused():
    with pytest.raises(ValueError, match="problem"):
        hardware_anneal(random_qubo(20, seed=0), AOCHardware.ideal(16))
    with pytest.raises((TypeError, ValueError), match="problem"):
        hardware_anneal("not a problem")

"""The example files shipped in ``quaton_fast.examples`` (used by README and docs): each loads with
its reader, and the optimum its docstring / header states is right, by brute force written here
(independent of the package's readers' interpretation and of its solvers)."""
from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

import quaton_fast as qf
from quaton_fast import examples


def test_names_and_paths_are_installed_files():
    assert examples.names() == ["aoc_profile_synthetic.yaml", "assign4x3.gms", "assign4x3.qplib",
                                "torus4x5_seed1.txt"]
    for name in examples.names():
        p = examples.path(name)
        assert p.is_file() and p.is_absolute() and p.stat().st_size > 0
        # the installed package's copy (scripts/test.sh installs non-editably: package data in the wheel)
        assert p.parent == examples.DATA_DIR
    assert qf.examples.path("assign4x3.gms") == examples.path("assign4x3.gms")   # lazy qf.examples


@pytest.mark.parametrize("bad, exc", [("G1.txt", FileNotFoundError), ("../__init__.py", FileNotFoundError),
                                      ("data/torus4x5_seed1.txt", FileNotFoundError), (3, TypeError)])
def test_path_refuses_unknown_names(bad, exc):
    with pytest.raises(exc, match=r"examples.path\(\): argument 'name'"):
        examples.path(bad)


# ------------------------------------------------------------------------------------------ Max-Cut
def _edges_from_text(path):
    lines = path.read_text().split("\n")
    n, m = (int(t) for t in lines[0].split())
    rows = np.array([[float(t) for t in ln.split()] for ln in lines[1:1 + m]])
    assert rows.shape == (m, 3) and all(not ln.strip() for ln in lines[1 + m:])
    return n, rows[:, 0].astype(int) - 1, rows[:, 1].astype(int) - 1, rows[:, 2]


def test_maxcut_example_best_cut_by_brute_force():
    p = examples.path("torus4x5_seed1.txt")
    n, i, j, w = _edges_from_text(p)
    assert (n, i.size) == (20, 40)
    # every partition with node n-1 on side 0 (the other half is the same cuts, sides swapped)
    side = (np.arange(2 ** (n - 1))[:, None] >> np.arange(n - 1)) & 1
    side = np.concatenate([side, np.zeros((side.shape[0], 1), dtype=side.dtype)], axis=1)
    cuts = ((side[:, i] != side[:, j]) * w).sum(axis=1)
    assert cuts.max() == 12.0                        # stated in quaton_fast.examples' docstring
    assert int((cuts == 12.0).sum()) == 5
    # the package's reader sees the same graph and the same value at an optimal partition
    g = qf.solve.read_gset(p)
    assert g.n == n and np.array_equal(g.edges, np.stack([i, j], 1)) and np.array_equal(g.weights, w)
    best = side[int(np.argmax(cuts))]
    assert g.cut_value(1.0 - 2.0 * best) == pytest.approx(12.0)


def test_maxcut_example_is_the_stated_generator_output():
    from quaton_fast.solve.generators import toroidal_graph
    g = toroidal_graph(4, 5, seed=1)
    n, i, j, w = _edges_from_text(examples.path("torus4x5_seed1.txt"))
    assert g.n == n and np.array_equal(g.edges, np.stack([i, j], 1)) and np.array_equal(g.weights, w)


# ------------------------------------------------------------------------------ constrained (QPLIB/GAMS)
SIZE, CAP = [3, 2, 2, 1], 4
FLOW = {(0, 1): 5, (0, 2): 2, (1, 2): 3, (1, 3): 1, (2, 3): 4}
COST = [[1, 3, 2], [2, 1, 3], [3, 2, 1], [1, 1, 2]]


def _model(z):
    """The model as the files' headers describe it: z (12,) 0/1 with z[3i + a] = item i in slot a.
    Returns (objective, feasible)."""
    x = np.asarray(z).reshape(4, 3)
    obj = float((np.array(COST) * x).sum())
    for (i, j), f in FLOW.items():
        obj += f * sum(abs(a - b) * x[i, a] * x[j, b] for a in range(3) for b in range(3))
    feasible = bool(np.all(x.sum(1) == 1) and np.all(np.array(SIZE) @ x <= CAP))
    return obj, feasible


ALL = np.array(list(itertools.product((0.0, 1.0), repeat=12)))


def test_constrained_example_optimum_by_brute_force():
    vals = [(_model(z)[0], tuple(np.flatnonzero(z) + 1)) for z in ALL if _model(z)[1]]
    vals.sort()
    assert vals[0] == (17.0, (1, 5, 8, 10))           # stated in both files' headers
    assert vals[1][0] == 18.0                         # unique optimum
    for name in ("assign4x3.qplib", "assign4x3.gms"):
        text = examples.path(name).read_text()
        assert re.search(r"objective 17\b", text) and "x1 = x5 = x8 = x10 = 1" in text.replace("b", "x")


@pytest.mark.parametrize("name", ["assign4x3.qplib", "assign4x3.gms"])
def test_constrained_example_reads_as_the_stated_model(name):
    P = qf.solve.read_instance(examples.path(name))
    assert isinstance(P, qf.solve.ConstrainedProblem)
    assert (P.n, P.sense, int(P.binary.sum()), P.m_eq, P.m_ineq) == (12, "minimize", 12, 4, 3)
    truth = [_model(z) for z in ALL]
    np.testing.assert_allclose(P.objective(ALL), [t[0] for t in truth], rtol=0, atol=1e-12)
    assert [P.is_feasible(z) for z in ALL] == [t[1] for t in truth]


# ------------------------------------------------------------------------------------ hardware profile
def test_hardware_profile_loads_and_states_it_is_synthetic():
    pytest.importorskip("yaml")
    import yaml
    from quaton_fast.aoc.hardware import AOCHardware, calibrate
    p = examples.path("aoc_profile_synthetic.yaml")
    header = p.read_text().split("\n")[:12]
    assert any("SYNTHETIC" in ln for ln in header) and any("microsoft/aoc" in ln for ln in header)
    hw = AOCHardware.from_yaml(p)
    raw = yaml.safe_load(p.read_text())
    assert hw.n_channels == 16 and not hw.is_ideal
    np.testing.assert_array_equal(hw.fan_in_pos, raw["row_profiles"]["positive_row12"])
    np.testing.assert_array_equal(hw.distortion_neg, raw["column_wise_weights_distortion"]["negative_row12"])
    np.testing.assert_array_equal(hw.tanh_coeffs, raw["tanh_sigmoid_coeffs"] + [0.0])
    assert hw.effects["pd_crosstalk"] and not hw.effects["closed_loop"]   # no closed-loop section
    cal = calibrate(hw)                                                    # docs/aoc_hardware.md uses it
    assert cal.is_calibrated and np.isfinite(cal.state_scale) and cal.state_scale > 0

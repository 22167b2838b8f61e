"""solve() and the problem classes answer bad input with errors naming the argument (case rel19)."""
import types

import numpy as np
import pytest
import scipy.sparse as sp

from quaton_fast.solve import QUBO, QUMO, Ising, MaxCut, bcd, bcd_auxiliary, run_restarts, solve

KW = dict(max_iterations=200, progress=False)


def _mc():
    return MaxCut(3, [(0, 1), (1, 2)])


@pytest.mark.parametrize("arg, value, exc", [
    ("seed", -1, ValueError), ("seed", 1.5, ValueError), ("seed", "1", TypeError), ("seed", None, TypeError),
    ("time_limit", "1", TypeError), ("time_limit", float("nan"), ValueError), ("time_limit", 0.0, ValueError),
    ("time_limit", -1, ValueError),
    ("max_iterations", 0, ValueError), ("max_iterations", 2.5, ValueError), ("max_iterations", "9", TypeError),
    ("replicas", 0, ValueError), ("replicas", 1.5, ValueError), ("replicas", "4", TypeError),
    ("iterations_per_run", 0, ValueError), ("check_every", 0, ValueError), ("threads", "2", TypeError),
    ("target", float("inf"), ValueError), ("target", "x", TypeError),
    ("target_cut", float("nan"), ValueError),
    ("exploration_share", 1.5, ValueError), ("exploration_share", None, TypeError),
    ("stop_at_target", "yes", TypeError), ("progress", None, TypeError), ("sparse", "yes", TypeError),
])
def test_solve_options_are_named(arg, value, exc):
    kw = dict(KW)
    kw[arg] = value
    if arg == "time_limit":
        kw.pop("max_iterations")
    with pytest.raises(exc, match=rf"solve\(\): argument '{arg}'"):
        solve(_mc(), **kw)


def test_seed_accepts_numpy_integers_and_large_values():
    r1 = solve(_mc(), seed=np.int64(5), **KW)
    r2 = solve(_mc(), seed=5, **KW)
    assert r1.best_energy == r2.best_energy
    solve(_mc(), seed=2**40, **KW)


def test_replicas_beyond_the_memory_budget_are_refused_before_allocating():
    with pytest.raises(ValueError, match=r"solve\(\): argument 'replicas' must be at most"):
        solve(_mc(), replicas=2**40, **{k: v for k, v in KW.items()})


@pytest.mark.parametrize("problem, needle", [
    (types.SimpleNamespace(J=np.zeros((3, 3)), h=np.ones(2)), "h has shape (3,)"),
    (types.SimpleNamespace(J=np.zeros((3, 3)), continuous=np.ones(2, bool)), "continuous mask has shape (3,)"),
    (types.SimpleNamespace(J=np.zeros((3, 3)), continuous=np.array([0.5, 0, 1])), "boolean"),
    (types.SimpleNamespace(J=np.zeros((3, 3)), offset=float("nan")), "offset"),
    (types.SimpleNamespace(J=np.zeros((3, 3)), h=np.array(["a", "b", "c"])), "h is a real array"),
    (types.SimpleNamespace(J=np.zeros((3, 3), complex)), "J is a real array"),
    (types.SimpleNamespace(J=[[0, 1], [1]]), "J is a real array"),
    (types.SimpleNamespace(J=np.zeros((3, 2))), "square coupling matrix"),
    (types.SimpleNamespace(J=np.zeros(3)), "square coupling matrix"),
    (types.SimpleNamespace(J=np.array([[0.0, np.nan], [np.nan, 0.0]])), "finite J"),
    (types.SimpleNamespace(J=np.zeros((2, 2)), h=np.array([np.inf, 0.0])), "finite h"),
    (types.SimpleNamespace(J=np.array([[0.0, 1.0], [0.0, 0.0]])), "symmetric"),
    (types.SimpleNamespace(J=sp.csr_matrix((0, 0))), "at least one variable"),
    (types.SimpleNamespace(h=np.zeros(2)), "QUMO/QUBO/Ising/MaxCut"),
])
def test_problem_objects_are_checked_and_named(problem, needle):
    with pytest.raises((ValueError, TypeError), match=r"solve\(\): argument 'problem'") as ei:
        solve(problem, **KW)
    assert needle in str(ei.value)


def test_other_entry_points_name_themselves():
    bad = types.SimpleNamespace(J=np.zeros((3, 3)), h=np.ones(2))
    with pytest.raises(ValueError, match=r"bcd\(\): argument 'problem'"):
        bcd(bad)
    with pytest.raises(ValueError, match=r"bcd_auxiliary\(\): argument 'problem'"):
        bcd_auxiliary(bad)
    with pytest.raises(ValueError, match=r"bcd_auxiliary\(\): argument 'seed'"):
        bcd_auxiliary(QUMO(np.zeros((2, 2))), seed=-3)
    with pytest.raises(ValueError, match=r"run_restarts\(\): argument 'method'"):
        run_restarts(QUMO(np.zeros((2, 2))), lambda s: np.array([1.0, np.nan]), 1, 0.0)


@pytest.mark.parametrize("call, needle", [
    (lambda: QUMO.from_box_quadratic(np.eye(2), binary=[True, False, True]), "'binary'"),
    (lambda: QUMO.from_box_quadratic(np.eye(2), binary=[0.5, 1]), "'binary'"),
    (lambda: QUMO.from_box_quadratic(np.eye(2), binary=["a", "b"]), "'binary'"),
    (lambda: QUMO.from_box_quadratic(np.eye(2), g=np.ones(3)), "'g'"),
    (lambda: QUMO.from_box_quadratic(np.array([[0, 1], [2, 0]])), "'H'"),
    (lambda: QUMO(np.zeros((2, 3))), "'J'"),
    (lambda: QUMO(np.array([[0, 1.0], [0, 0]])), "'J'"),
    (lambda: QUMO(np.array([[np.nan]])), "'J'"),
    (lambda: QUMO(np.zeros((2, 2)), h=np.ones(3)), "'h'"),
    (lambda: QUMO(np.zeros((2, 2)), continuous=np.ones(3, bool)), "'continuous'"),
    (lambda: QUMO(np.zeros((2, 2)), offset=float("inf")), "'offset'"),
    (lambda: Ising(np.eye(2)), "'J'"),
    (lambda: Ising(np.zeros((2, 2)), h=[np.nan, 0]), "'h'"),
    (lambda: QUBO(np.zeros((2, 2)), c=np.ones(5)), "'c'"),
    (lambda: QUBO(np.array([[np.inf, 0], [0, 0]])), "'Q'"),
    (lambda: MaxCut(0, []), "'n'"),
    (lambda: MaxCut(3, [(0, 3)]), "'edges'"),
    (lambda: MaxCut(3, [(0, 1)], weights=[1.0, 2.0]), "'weights'"),
    (lambda: MaxCut(3, [(0, 0)]), "'edges'"),
])
def test_problem_constructors_name_the_argument(call, needle):
    with pytest.raises((ValueError, TypeError)) as ei:
        call()
    assert needle in str(ei.value)


@pytest.mark.parametrize("args, kw, arg", [((True, 2), {}, "successes"), ((1, -1), {}, "trials"),
                                           ((1, 2.0), {}, "trials"), ((1, 2), {"credibility": "x"}, "credibility"),
                                           ((1, 2), {"credibility": 1.0}, "credibility")])
def test_success_probability_names_the_argument(args, kw, arg):
    from quaton_fast.solve.statistics.stats import success_probability
    with pytest.raises(ValueError, match=rf"success_probability\(\): argument '{arg}'"):
        success_probability(*args, **kw)

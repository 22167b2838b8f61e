"""Feasibility first (issue 24, item 1): row classes, assignment-aware repair, the HiGHS fallback and
the phase of the returned point, judged by brute force and by the constraints themselves."""
import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from quaton_fast.solve import ConstrainedProblem, brute_force_constrained, solve
from quaton_fast.solve.algorithms.assignment_repair import assignment_descent, assignment_repair
from quaton_fast.solve.algorithms.constrained_phases import PHASES
from quaton_fast.solve.models.constraint_classes import row_classes
from quaton_fast.solve.algorithms.feasibility_milp import feasibility_point
from quaton_fast.solve.models.generators import crossdock_instance

REL = 1e-9   # objective agreement with brute force (integer data)


def all_points(n):
    return np.array(list(itertools.product((0.0, 1.0), repeat=n)))


def feasible_set(p):
    Z = all_points(p.n)
    return Z[[p.is_feasible(z) for z in Z]]


def assert_crossdock_feasible(ci, z):
    """Independent check of a crossdock point: every truck at exactly one door, every door's load
    within capacity (recomputed from the generator's groups and weights, not from the matrices)."""
    assert set(np.unique(z)) <= {0.0, 1.0}
    at = z[ci.groups]                                   # (trucks, doors)
    assert np.all(at.sum(axis=1) == 1)
    t_in = ci.groups.shape[0] // 2
    for side in (slice(0, t_in), slice(t_in, None)):
        load = ci.weights[side] @ at[side]
        assert np.all(load <= ci.capacity)


# ------------------------------------------------------------------------------ recognition
def test_row_classes_crossdock_cover_and_overlap():
    ci = crossdock_instance(trucks_in=4, trucks_out=5, doors=3, seed=1)
    rc = row_classes(ci.problem)
    assert rc.n_groups == 9 and rc.capacity.size == 6 and rc.cover.size == 0
    assert sorted(map(tuple, rc.groups)) == sorted(tuple(sorted(g)) for g in ci.groups)
    assert np.all(rc.group_of[ci.groups] == rc.group_of[ci.groups][:, :1])
    # QAP-type rows (x_rc in a row and a column constraint), a cover row, a general row
    n = 4
    A_eq = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0], [0, 1, 0, 1], [2, 0, 0, 1.0]]))
    b_eq = np.array([1, 1, 1, 1, 1.0])
    A_in = np.array([[-1, -1, -1, 0], [3, 1, 0, 0], [1, -1, 0, 0.0]])   # cover, capacity, other
    b_in = np.array([-1, 3, 0.0])
    p = ConstrainedProblem(np.zeros((n, n)), binary=np.ones(n, bool), A_eq=A_eq, b_eq=b_eq, A_ineq=A_in, b_ineq=b_in)
    rc = row_classes(p)
    assert rc.n_groups == 2 and rc.one_hot_overlapping.tolist() == [2, 3] and rc.other_eq.tolist() == [4]
    assert rc.cover.tolist() == [0] and rc.capacity.tolist() == [1] and rc.other_ineq.tolist() == [2]


# ------------------------------------------------------------------------------ the fallback
def random_rows(rng, n, m_eq, m_in):
    A_eq = rng.integers(-3, 4, (m_eq, n)).astype(float)
    A_in = rng.integers(-3, 4, (m_in, n)).astype(float)
    z0 = (rng.random(n) < 0.5).astype(float)
    b_eq = A_eq @ (z0 if rng.random() < 0.7 else (rng.random(n) < 0.5))   # sometimes infeasible
    b_in = A_in @ z0 - rng.integers(-1, 2, m_in)
    return ConstrainedProblem(np.zeros((n, n)), binary=np.ones(n, bool), A_eq=A_eq, b_eq=b_eq, A_ineq=A_in,
                              b_ineq=b_in)


def test_feasibility_point_agrees_with_brute_force():
    rng = np.random.default_rng(5)
    seen = {"feasible": 0, "infeasible": 0}
    for _ in range(16):
        p = random_rows(rng, 9, 2, 3)
        F = feasible_set(p)
        r = feasibility_point(p, time_limit=5.0)
        if F.shape[0]:
            assert r.status == "feasible" and p.is_feasible(r.z)
            assert any(np.array_equal(r.z, f) for f in F)
        else:
            assert r.status == "infeasible" and r.z is None
        seen[r.status] += 1
    assert seen["feasible"] >= 3 and seen["infeasible"] >= 3      # both branches were exercised


# --------------------------------------------------------------------- assignment-aware repair
def test_assignment_repair_keeps_groups_and_fixes_capacity():
    ci = crossdock_instance(seed=3)                 # 15 + 15 trucks, 8 doors, 240 binaries
    p = ci.problem
    rng = np.random.default_rng(0)
    for _ in range(4):
        z = np.zeros(p.n)
        z[ci.groups[np.arange(30), rng.integers(0, 8, 30)]] = 1.0
        assert not p.is_feasible(z)                 # a random assignment overloads some door
        w = assignment_repair(p, z, rng=rng)
        assert p.is_feasible(w)
        assert_crossdock_feasible(ci, w)


def test_assignment_descent_reaches_a_pair_move_local_optimum():
    ci = crossdock_instance(trucks_in=4, trucks_out=4, doors=3, tightness=0.8, capacity=90, seed=4)
    p = ci.problem
    w = assignment_descent(p, ci.planted)
    assert p.is_feasible(w) and p.min_energy(w) <= p.min_energy(ci.planted)
    assert_crossdock_feasible(ci, w)
    # independent check: no feasible move of one or two trucks to other doors improves w
    doors = [int(np.flatnonzero(w[g])[0]) for g in ci.groups]
    E = p.min_energy(w)
    T, m = ci.groups.shape
    for t1, t2 in itertools.combinations_with_replacement(range(T), 2):
        for d1, d2 in itertools.product(range(m), repeat=2):
            if (d1 == doors[t1]) or (t1 != t2 and d2 == doors[t2]) or (t1 == t2 and d1 != d2):
                continue
            v = w.copy()
            for t_, d_ in {(t1, d1), (t2, d2)}:
                v[ci.groups[t_]] = 0.0
                v[ci.groups[t_, d_]] = 1.0
            if p.is_feasible(v):
                assert p.min_energy(v) >= E - 1e-9


# ------------------------------------------- (a) small instances against brute force, phases
@pytest.mark.parametrize("seed", [0, 1])
def test_small_crossdock_optimal_and_phase(seed):
    ci = crossdock_instance(trucks_in=3, trucks_out=3, doors=3, tightness=0.95, capacity=60, seed=seed)
    p = ci.problem
    z_opt, opt = brute_force_constrained(p)
    assert z_opt is not None
    res = solve(p, max_iterations=1200, iterations_per_run=300, seed=seed, progress=False)
    assert res.feasible and p.is_feasible(res.solution)
    assert_crossdock_feasible(ci, res.solution)
    assert res.objective <= opt + REL * max(1.0, abs(opt))          # the optimum (no worse)
    assert res.phase in PHASES and res.phase != "none"
    if res.phase in ("fallback", "fallback-start"):
        assert res.fallback is not None and res.fallback["status"] == "feasible"
    # phase "dynamics" means a replica state was feasible as decoded: without repair, construction
    # and fallback, every returned point must be labelled "dynamics"
    r2 = p.aoc_solve(max_iterations=900, iterations_per_run=300, seed=seed, progress=False,
                     repair_states=False, construct=False, fallback=False)
    assert r2.phase == ("dynamics" if r2.feasible else "none") and r2.fallback is None


def test_cover_and_capacity_rows_against_brute_force():
    rng = np.random.default_rng(11)
    n = 12
    for k in range(2):
        U = np.triu(rng.integers(-5, 6, (n, n)), 1).astype(float)
        H = U + U.T
        g = rng.integers(-5, 6, n).astype(float)
        cover = -(rng.random((3, n)) < 0.3).astype(float)
        cover[:, 0] = -1.0
        cap = rng.integers(1, 9, (2, n)).astype(float)
        A_in = np.vstack([cover, cap])
        b_in = np.concatenate([-np.ones(3), [10.0, 12.0]])
        p = ConstrainedProblem(H, g, 0.0, "minimize", binary=np.ones(n, bool), A_ineq=A_in, b_ineq=b_in)
        rc = row_classes(p)
        assert rc.cover.size == 3 and rc.capacity.size == 2
        _, opt = brute_force_constrained(p)
        res = solve(p, max_iterations=6000, iterations_per_run=200, seed=k, progress=False)
        assert res.feasible and p.is_feasible(res.solution)
        assert res.objective <= opt + REL * max(1.0, abs(opt))


# ---------------------------------------------------- (b) the hard family at full size, seconds
def test_crossdock_240_binaries_feasible_in_seconds():
    ci = crossdock_instance(trucks_in=15, trucks_out=15, doors=8, tightness=0.92, seed=0)
    p = ci.problem
    assert p.n == 240 and p.m_eq == 30 and p.m_ineq == 16
    res = solve(p, time_limit=1.0, iterations_per_run=200, seed=0, progress=False)
    assert res.feasible and res.phase in PHASES
    assert_crossdock_feasible(ci, res.solution)
    assert res.trace[0][0] < 1.0
    # the dynamics' own states, repaired natively (no construction, no fallback): one short restart
    res = p.aoc_solve(max_iterations=200, iterations_per_run=200, seed=0, progress=False, construct=False,
                      fallback=False)
    assert res.feasible and res.phase in ("dynamics", "repair") and res.restarts == 1
    assert_crossdock_feasible(ci, res.solution)


# ------------------------------------------------------------------- (c) the fallback path
def unique_subset_sum(seed, n=14):
    """min 1/2 z^T H z + g^T z s.t. a^T z = b with exactly one feasible z* (checked by enumeration)."""
    rng = np.random.default_rng(seed)
    Z = all_points(n)
    while True:
        a = rng.integers(100, 1000, n).astype(float)
        z_star = (rng.random(n) < 0.5).astype(float)
        if np.sum(Z @ a == a @ z_star) == 1:
            break
    U = np.triu(rng.normal(size=(n, n)), 1)
    p = ConstrainedProblem(U + U.T, rng.normal(size=n), binary=np.ones(n, bool), A_eq=a[None, :],
                           b_eq=np.array([a @ z_star]))
    return p, z_star


def test_fallback_forced_on_a_unique_feasible_point():
    # neither the dynamics nor 1-flip repair are built to hit the one point among 2^14; the
    # fallback, forced before the first restart, must, and the result must say so
    p, z_star = unique_subset_sum(7)
    res = p.aoc_solve(max_iterations=400, iterations_per_run=200, seed=0, progress=False, construct=False,
                      fallback_after=0.0)
    assert res.fallback is not None and res.fallback["status"] == "feasible"
    assert res.feasible and np.array_equal(res.solution, z_star)
    assert res.phase == "fallback"                  # the only feasible point came from HiGHS first
    # defaults: the construction finds nothing, so the fallback runs at once, before any restart
    dflt = p.aoc_solve(max_iterations=400, iterations_per_run=200, seed=0, progress=False)
    assert dflt.phase == "fallback" and dflt.fallback["after_restarts"] == 0
    assert np.array_equal(dflt.solution, z_star)
    off = p.aoc_solve(max_iterations=400, iterations_per_run=200, seed=0, progress=False, construct=False,
                      fallback=False)
    assert off.fallback is None and off.phase in ("none", "dynamics", "repair")
    assert not off.feasible or np.array_equal(off.solution, z_star)


def test_fallback_runs_when_the_dynamics_find_nothing_and_seeds_them():
    # dynamics alone (no repair, no construction) on a tight crossdock find no feasible point in
    # the first restart; the fallback then runs by itself (10 % of the iteration budget) and later
    # restarts start half their replicas from its point
    ci = crossdock_instance(trucks_in=8, trucks_out=8, doors=4, tightness=0.95, capacity=100, seed=2)
    p = ci.problem
    res = p.aoc_solve(max_iterations=600, iterations_per_run=100, seed=0, progress=False, construct=False,
                      repair_states=False)
    assert res.fallback is not None and res.fallback["status"] == "feasible"
    assert res.feasible and res.phase in ("fallback", "fallback-start")
    assert_crossdock_feasible(ci, res.solution)
    assert res.restarts == 6


def test_fallback_certifies_infeasible_and_stops():
    # x0 + x1 = 1 and x0 + x1 >= 2 (stored as -x0 - x1 <= -2): no feasible point
    p = ConstrainedProblem(np.zeros((3, 3)), binary=np.ones(3, bool), A_eq=[[1, 1, 0]], b_eq=[1],
                           A_ineq=[[-1, -1, 0]], b_ineq=[-2])
    assert feasible_set(p).shape[0] == 0
    res = p.aoc_solve(time_limit=5.0, seed=0, progress=False, fallback_after=0.0)
    assert not res.feasible and res.phase == "none"
    assert res.fallback["status"] == "infeasible" and res.restarts == 0 and res.wall_time < 5.0


def test_fallback_after_is_checked():
    p = crossdock_instance(trucks_in=3, trucks_out=3, doors=3, capacity=60).problem
    with pytest.raises(ValueError, match="fallback_after"):
        p.aoc_solve(max_iterations=100, fallback_after=-1.0, progress=False)

"""Constrained problems: the model, the exact brute force, and the augmented-Lagrangian AOC-DT
solver, judged against independent enumeration (plain loops over states) and scipy."""
import itertools

import numpy as np
import pytest

from quaton_fast.solve import solve
from quaton_fast.solve.algorithms.constrained_exact import brute_force_constrained
from quaton_fast.solve.algorithms.constrained_solve import ConstrainedSolveResult, bcd_constrained, solve_constrained
from quaton_fast.solve.models.constraints import ConstrainedProblem
from quaton_fast.solve.models.problems import QUBO


def enumerate_binary(H, g, f, sense, Aeq, beq, Ain, bin_):
    """Independent judge: every z in {0,1}^n with plain loops."""
    best, arg = None, None
    n = len(g)
    for bits in itertools.product([0.0, 1.0], repeat=n):
        z = np.array(bits)
        if Aeq is not None and np.abs(Aeq @ z - beq).max() > 1e-9:
            continue
        if Ain is not None and (Ain @ z - bin_).max() > 1e-9:
            continue
        v = 0.5 * z @ H @ z + g @ z + f
        if best is None or (v < best - 1e-12 if sense == "minimize" else v > best + 1e-12):
            best, arg = v, z
    return arg, best


def random_problem(seed, n=9, eq=True, ineq=True, sense="minimize"):
    rng = np.random.default_rng(seed)
    H = rng.integers(-9, 10, size=(n, n)).astype(float)
    H = H + H.T
    g = rng.integers(-9, 10, size=n).astype(float)
    Aeq = beq = Ain = bin_ = None
    if eq:                                   # two one-hot groups (assignment-type rows)
        Aeq = np.zeros((2, n))
        Aeq[0, : n // 2] = 1
        Aeq[1, n // 2:] = 1
        beq = np.array([1.0, 1.0])
    if ineq:                                 # two knapsack rows
        Ain = rng.integers(1, 9, size=(2, n)).astype(float)
        bin_ = np.floor(Ain.sum(axis=1) / 3)
    return (H, g, 2.5, sense, Aeq, beq, Ain, bin_)


def make(args):
    H, g, f, sense, Aeq, beq, Ain, bin_ = args
    n = len(g)
    return ConstrainedProblem(H, g, f, sense, np.zeros(n), np.ones(n), np.ones(n, bool), Aeq, beq, Ain, bin_)


@pytest.mark.parametrize("eq, ineq, sense", [(True, False, "minimize"), (False, True, "minimize"),
                                             (True, True, "maximize"), (False, True, "maximize")])
def test_brute_force_matches_plain_enumeration(eq, ineq, sense):
    for seed in range(3):
        args = random_problem(seed, eq=eq, ineq=ineq, sense=sense)
        p = make(args)
        z, v = brute_force_constrained(p)
        z0, v0 = enumerate_binary(*args)
        assert v == pytest.approx(v0, abs=1e-9) and p.is_feasible(z)


def test_brute_force_mixed_matches_scipy_per_binary_state():
    from scipy.optimize import minimize
    rng = np.random.default_rng(5)
    n = 5
    binary = np.array([True, True, True, False, False])
    M = rng.normal(size=(n, n))
    H = M @ M.T                       # convex in the continuous block
    g = rng.normal(size=n) * 3
    lo, up = np.array([0, 0, 0, -1.0, -2.0]), np.array([1, 1, 1, 2.0, 1.0])
    Ain, bin_ = rng.normal(size=(2, n)), np.array([0.5, 1.0])
    Aeq, beq = np.array([[1.0, 1, 0, 1, -1]]), np.array([0.5])
    p = ConstrainedProblem(H, g, 0.0, "minimize", lo, up, binary, Aeq, beq, Ain, bin_)
    z, v = brute_force_constrained(p)
    best = np.inf
    for bits in itertools.product([0.0, 1.0], repeat=3):
        zb = np.array(bits)

        def obj(y):
            w = np.concatenate([zb, y])
            return 0.5 * w @ H @ w + g @ w
        cons = [{"type": "ineq", "fun": lambda y: bin_ - Ain @ np.concatenate([zb, y])},
                {"type": "eq", "fun": lambda y: Aeq @ np.concatenate([zb, y]) - beq}]
        for y0 in ([0.0, 0.0], [1.5, -1.5], [-0.5, 0.5]):
            r = minimize(obj, y0, method="SLSQP", bounds=[(-1, 2), (-2, 1)], constraints=cons,
                         options={"ftol": 1e-12, "maxiter": 500})
            w = np.concatenate([zb, r.x])
            if r.success and p.is_feasible(w):
                best = min(best, r.fun)
    assert v == pytest.approx(best, abs=1e-6) and p.is_feasible(z)


@pytest.mark.parametrize("eq, ineq, sense, seed", [(True, False, "minimize", 0), (False, True, "minimize", 1),
                                                   (True, True, "maximize", 2), (False, True, "maximize", 3),
                                                   (True, True, "minimize", 4)])
def test_solver_finds_the_feasible_optimum(eq, ineq, sense, seed):
    args = random_problem(seed, n=10, eq=eq, ineq=ineq, sense=sense)
    p = make(args)
    z0, v0 = enumerate_binary(*args)
    r = solve(p, max_iterations=6000, seed=seed, progress=False, threads=1)
    assert isinstance(r, ConstrainedSolveResult)
    assert r.feasible and r.max_violation == 0.0 and p.is_feasible(r.solution)
    assert r.objective == pytest.approx(v0, abs=1e-9)
    assert r.objective == pytest.approx(p.objective(r.solution))
    assert r.best_energy == pytest.approx(p.sign * v0)
    assert set(np.unique(r.solution)) <= {0.0, 1.0}


def test_augmented_lagrangian_alone_reaches_feasibility():
    """Without repair or polish the AL iteration itself must return feasible states."""
    for seed in range(3):
        p = make(random_problem(seed, n=10, eq=True, ineq=True))
        r = solve_constrained(p, max_iterations=8000, seed=seed, progress=False, repair_states=False, threads=1)
        assert r.feasible and p.is_feasible(r.solution)


def test_mixed_problem_optimum():
    rng = np.random.default_rng(11)
    n = 6
    binary = np.array([True, True, True, True, False, False])
    M = rng.normal(size=(2, 2))
    H = np.zeros((n, n))
    H[:4, :4] = rng.integers(-5, 6, size=(4, 4))
    H[:4, :4] += H[:4, :4].T
    H[4:, 4:] = M @ M.T + np.eye(2)
    H[:4, 4:] = rng.normal(size=(4, 2))
    H[4:, :4] = H[:4, 4:].T
    g = rng.normal(size=n) * 2
    lo, up = np.array([0, 0, 0, 0, -1.0, 0.0]), np.array([1, 1, 1, 1, 1.0, 3.0])
    Aeq, beq = np.array([[1.0, 1, 1, 0, 0, 0]]), np.array([1.0])
    Ain, bin_ = np.array([[1.0, 0, 0, 1, 1, 1]]), np.array([2.0])
    p = ConstrainedProblem(H, g, 1.0, "minimize", lo, up, binary, Aeq, beq, Ain, bin_)
    _, v = brute_force_constrained(p)
    r = solve(p, max_iterations=4000, seed=0, progress=False, threads=1)
    assert r.feasible and p.is_feasible(r.solution)
    assert r.objective == pytest.approx(v, abs=1e-5)


def test_infeasible_problem_says_so():
    n = 4
    p = ConstrainedProblem(np.eye(n), np.ones(n), 0.0, "minimize", np.zeros(n), np.ones(n), np.ones(n, bool),
                           A_eq=np.ones((1, n)), b_eq=[2.5])          # sum of binaries = 2.5: impossible
    assert brute_force_constrained(p) == (None, None)
    r = solve(p, max_iterations=2000, progress=False, threads=1)
    assert not r.feasible and r.solution is None and r.objective is None and r.best_state is None
    assert r.max_violation >= 0.5 - 1e-12


def test_target_is_in_the_files_sense():
    args = random_problem(2, n=10, eq=True, ineq=True, sense="maximize")
    p = make(args)
    _, v0 = enumerate_binary(*args)
    r = solve(p, max_iterations=3000, target=v0 + 1.0, progress=False, threads=1)   # unreachable
    assert r.time_to_target is None and r.objective <= v0 + 1e-9
    r = solve(p, max_iterations=6000, target=v0, progress=False, threads=1)
    assert r.time_to_target is not None and r.objective == pytest.approx(v0)


def test_bcd_on_constrained_problem():
    args = random_problem(4, n=10, eq=True, ineq=True)
    p = make(args)
    _, v0 = enumerate_binary(*args)
    r = bcd_constrained(p, block_size=4, rounds=6, block_iterations=300, seed=0)
    assert r.feasible and p.is_feasible(r.solution)
    assert r.objective == pytest.approx(v0, abs=1e-9)


def test_from_unconstrained_same_objective():
    rng = np.random.default_rng(0)
    Q = rng.normal(size=(5, 5))
    q = QUBO(Q, rng.normal(size=5), 0.7, meta={"sense": "maximize"})
    p = ConstrainedProblem.from_unconstrained(q)
    Z = np.array(list(itertools.product([0.0, 1.0], repeat=5)))
    assert np.allclose(p.objective(Z), -q.energy(Z), atol=1e-12) and p.sense == "maximize"
    qm = q.to_qumo()
    pm = ConstrainedProblem.from_unconstrained(qm)
    X = 2 * Z - 1
    assert np.allclose(pm.objective(qm.to_original(X)), -qm.energy(X), atol=1e-12)


@pytest.mark.parametrize("kwargs, arg", [
    (dict(H=np.ones((2, 3))), "H"), (dict(H=np.eye(2), g=[1.0, np.nan]), "g"),
    (dict(H=np.eye(2), sense="max"), "sense"), (dict(H=np.eye(2), A_eq=np.ones((1, 3))), "A_eq"),
    (dict(H=np.eye(2), A_ineq=np.ones((1, 2)), b_ineq=[1.0, 2.0]), "b_ineq"),
    (dict(H=np.eye(2), lower=[0, 2.0], upper=[1, 1.0]), "upper"),
    (dict(H=np.array([[0, 1.0], [2.0, 0]])), "H"),
])
def test_model_rejects_bad_input(kwargs, arg):
    with pytest.raises((ValueError, TypeError), match=f"'{arg}'"):
        ConstrainedProblem(**kwargs)


def qap(seed, k=4):
    """Koopmans-Beckmann QAP: x_{i,p} = 1 when facility i is at location p; rows: each facility one
    location, each location one facility. Objective sum F_ij D_pq x_ip x_jq."""
    rng = np.random.default_rng(seed)
    F = rng.integers(0, 10, (k, k)).astype(float)
    D = rng.integers(0, 10, (k, k)).astype(float)
    F, D = F + F.T, D + D.T
    np.fill_diagonal(F, 0)
    np.fill_diagonal(D, 0)
    H = np.kron(F, D)                   # index i*k + p; 1/2 x^T H x = 1/2 sum F_ij D_pq x_ip x_jq
    A = np.zeros((2 * k, k * k))
    for i in range(k):
        A[i, i * k:(i + 1) * k] = 1
        A[k + i, i::k] = 1
    p = ConstrainedProblem(H, np.zeros(k * k), 0.0, "minimize", np.zeros(k * k), np.ones(k * k),
                           np.ones(k * k, bool), A, np.ones(2 * k))
    return p, F, D


def test_polish_exchange_reaches_a_2_exchange_local_optimum():
    from quaton_fast.solve.algorithms.constrained_repair import polish
    p, F, D = qap(0)
    k = 4
    cost = lambda perm: 0.5 * sum(F[i, j] * D[perm[i], perm[j]] for i in range(k) for j in range(k))  # noqa: E731
    for perm in itertools.permutations(range(k)):
        z = np.zeros(k * k)
        z[[i * k + perm[i] for i in range(k)]] = 1
        w = polish(p, z)
        assert p.is_feasible(w) and p.objective(w) <= p.objective(z) + 1e-12
        q = [int(np.flatnonzero(w[i * k:(i + 1) * k])[0]) for i in range(k)]
        assert cost(q) == pytest.approx(p.objective(w))
        for a, b in itertools.combinations(range(k), 2):      # independent: no exchange improves
            r = list(q)
            r[a], r[b] = r[b], r[a]
            assert cost(r) >= cost(q) - 1e-12


def test_solver_on_small_qap_finds_optimum():
    p, F, D = qap(1)
    _, v = brute_force_constrained(p)
    r = solve(p, max_iterations=4000, progress=False, threads=1)
    assert r.feasible and r.objective == pytest.approx(v)


@pytest.mark.parametrize("backend", ["numpy", "cpp", "torch"])
def test_backends_agree_on_small_constrained_problem(backend):
    from quaton_fast.solve.algorithms.replica_kernels import cpp_available
    if backend == "cpp" and not cpp_available():
        pytest.skip("C++ extension not built")
    args = random_problem(1, n=8, eq=True, ineq=True)
    p = make(args)
    _, v0 = enumerate_binary(*args)
    r = solve(p, max_iterations=3000, backend=backend, progress=False, threads=1)
    assert r.feasible and r.objective == pytest.approx(v0) and r.hyperparameters["backend"] == backend

"""solve() on degenerate problems (case rel14): zero couplings, zero spectral norm, sparse J without
entries, n <= 2 sparse (ARPACK cannot run), extreme magnitudes. Truth: enumeration of every vertex
of {-1, 1}^n written here (each problem below is linear in its continuous variables, so the box
minimum is attained at a vertex), never the solver.

Also: everything solve() reports is an evaluation of what it returns (best_energy equals the
problem's own energy of best_state; binaries are +-1, continuous values in [-1, 1])."""
import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from quaton_fast.solve import QUMO, solve

KW = dict(max_iterations=400, progress=False)


def _vertex_min(J, h, offset):
    """min over x in {-1, 1}^n of -1/2 x^T J x - h^T x + offset (dense J, tiny n)."""
    J = J.toarray() if sp.issparse(J) else np.asarray(J, float)
    best = np.inf
    for v in itertools.product((-1.0, 1.0), repeat=len(h)):
        x = np.array(v)
        best = min(best, -0.5 * x @ J @ x - h @ x + offset)
    return best


def _check_report(q, r):
    x = r.best_state
    assert x.shape == (q.n,)
    assert np.all(np.isin(x[~q.continuous], (-1.0, 1.0)))
    assert np.all(np.abs(x[q.continuous]) <= 1.0)
    # the reported energy IS the energy of that state (float64, up to the summation order of two
    # formulas: QUMO.energy vs the solver's qumo_energy)
    assert r.best_energy == pytest.approx(q.energy(x), rel=1e-13, abs=1e-13)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("field", ["zero", "random"])
@pytest.mark.parametrize("kind", ["binary", "continuous", "mixed"])
def test_zero_couplings(n, sparse, field, kind):
    rng = np.random.default_rng(n)
    J = sp.csr_matrix((n, n)) if sparse else np.zeros((n, n))
    h = np.zeros(n) if field == "zero" else rng.normal(size=n)
    cont = {"binary": np.zeros(n, bool), "continuous": np.ones(n, bool),
            "mixed": np.arange(n) % 2 == 1}[kind]
    q = QUMO(J, h, cont, offset=-2.5)
    r = solve(q, **KW)
    _check_report(q, r)
    # J = 0: the minimum is -sum|h| + offset, attained at x = sign(h)
    assert r.best_energy == pytest.approx(_vertex_min(J, h, -2.5), abs=1e-9)
    assert r.best_energy == pytest.approx(-np.abs(h).sum() - 2.5, abs=1e-9)
    assert np.isfinite(r.hyperparameters["g_scaled"])


@pytest.mark.parametrize("n", [1, 2, 3])
def test_sparse_with_explicit_zero_entries(n):
    J = sp.csr_matrix((np.zeros(n), (np.arange(n), (np.arange(n) + 1) % n)), shape=(n, n))
    J = J + J.T                                    # stored entries, all 0.0
    h = np.linspace(-1, 1, n)
    q = QUMO(J, h, np.ones(n, bool))
    r = solve(q, **KW)
    _check_report(q, r)
    assert r.best_energy == pytest.approx(-np.abs(h).sum(), abs=1e-9)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_tiny_sparse_problems_match_dense(n):
    """ARPACK cannot take k = 1 of n <= 2; the same problem sparse and dense gives the same optimum."""
    rng = np.random.default_rng(7 + n)
    A = rng.normal(size=(n, n))
    J = A + A.T
    np.fill_diagonal(J, 0.0)
    h = rng.normal(size=n)
    truth = _vertex_min(J, h, 0.0)
    for M in (J, sp.csr_matrix(J)):
        q = QUMO(M, h)
        r = solve(q, **KW)
        _check_report(q, r)
        assert r.best_energy == pytest.approx(truth, abs=1e-9)


@pytest.mark.parametrize("c", [1e-300, 1e-45, 1e45, 1e300])
@pytest.mark.parametrize("sparse", [False, True])
def test_extreme_magnitudes_reach_the_optimum(c, sparse):
    """Couplings far outside float32's range: the optimum of c*E is c times the optimum of E."""
    rng = np.random.default_rng(3)
    n = 6
    A = rng.integers(-3, 4, size=(n, n)).astype(float)
    J = np.triu(A, 1)
    J = J + J.T
    h = rng.integers(-2, 3, size=n).astype(float)
    truth = _vertex_min(J, h, 0.0)
    q = QUMO(sp.csr_matrix(J * c) if sparse else J * c, h * c)
    r = solve(q, max_iterations=2000, progress=False)
    _check_report(q, r)
    assert r.best_energy == pytest.approx(truth * c, rel=1e-12)


def test_power_of_two_scaling_leaves_the_run_unchanged():
    """operator_unit: a problem scaled by 2^50 (outside [2^-40, 2^40]) runs the same trajectories."""
    rng = np.random.default_rng(11)
    n = 12
    A = rng.normal(size=(n, n))
    J = (A + A.T) / 2
    np.fill_diagonal(J, 0.0)
    h = rng.normal(size=n)
    cont = np.arange(n) % 3 == 0
    r1 = solve(QUMO(J, h, cont), max_iterations=600, progress=False)
    r2 = solve(QUMO(J * 2.0**50, h * 2.0**50, cont), max_iterations=600, progress=False)
    np.testing.assert_array_equal(r1.best_state, r2.best_state)
    assert r2.best_energy == r1.best_energy * 2.0**50


@pytest.mark.parametrize("seed", range(6))
def test_reported_energy_is_the_energy_of_the_reported_state(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 9))
    A = rng.normal(size=(n, n))
    J = A + A.T                          # diagonal kept: binary diagonals are folded by the solver
    h = rng.normal(size=n) * rng.integers(0, 2)
    cont = rng.random(n) < 0.4
    np.fill_diagonal(J, np.where(cont, -np.abs(np.diag(J)), np.diag(J)))
    q = QUMO(J, h, cont, offset=float(rng.normal()))
    r = solve(q, max_iterations=300, progress=False, seed=seed)
    _check_report(q, r)
    if r.trace:
        assert r.trace[-1][1] == r.best_energy


def test_gain_scale_of_degenerate_and_sparse_couplings():
    from quaton_fast.solve.algorithms.aoc_solver import gain_scale
    h = np.array([0.5, -2.0, 0.0])
    assert gain_scale(np.zeros((3, 3)), h) == 2.0                 # J = 0: the field's scale
    assert gain_scale(sp.csr_matrix((3, 3)), np.zeros(3)) == 1.0  # nothing to scale
    J = np.array([[0.0, 3.0], [3.0, 0.0]])
    assert gain_scale(sp.csr_matrix(J), np.zeros(2)) == pytest.approx(3.0, rel=1e-15)   # n = 2 sparse
    # a large sparse J: ARPACK from a fixed start vector gives the same norm on every call
    rng = np.random.default_rng(5)
    A = sp.random(900, 900, density=0.01, random_state=rng)
    A = (A + A.T).tocsr()
    values = {gain_scale(A, np.zeros(900)) for _ in range(4)}
    assert len(values) == 1
    assert values.pop() == pytest.approx(np.abs(np.linalg.eigvalsh(A.toarray())).max(), rel=1e-6)

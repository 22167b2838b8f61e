"""C++ replica kernel (quaton_fast._C.solver_run_cpu) against the NumPy reference, and its checks.

Exactness argument: both backends do the same float32 operations in the same order; with a CSR J
the spin sums run in the same CSR order, so states, energies and best states agree bit for bit
(also for continuous variables and non-integer couplings). With a dense J NumPy uses BLAS (order
unspecified); with integer couplings and binary variables every spin sum is exact, so the
results must agree exactly there too.
"""
import types

import numpy as np
import pytest
import scipy.sparse as sp

from quaton_fast.solve.algorithms.aoc_solver import solve
from quaton_fast.solve.models.generators import random_sk, toroidal_graph
from quaton_fast.solve.algorithms.replica_kernels import Operator, cpp_available, initial_states, run_batch

pytestmark = pytest.mark.skipif(not cpp_available(), reason="extension without solver_run_cpu")


def _params(R, seed):
    rng = np.random.default_rng(seed)
    a0 = (10 ** rng.uniform(-2, 0, R)).astype(np.float32)
    g = (10 ** rng.uniform(-2, 0, R) / 8.0).astype(np.float32)
    gam = rng.uniform(0.9, 0.99, R).astype(np.float32)
    return a0, g, gam


def _both(op, R, T, check_every, seed=0):
    a0, g, gam = _params(R, seed)
    x0 = initial_states(op.n, seed, 0, range(R))
    ref = run_batch(op, a0, g, gam, x0, T, check_every, "numpy")
    out = run_batch(op, a0, g, gam, x0, T, check_every, "cpp", threads=2)
    return ref, out


@pytest.mark.parametrize("R", [1, 5, 16, 37])
def test_csr_binary_matches_numpy_exactly(R):
    prob = toroidal_graph(6, 7, seed=R).to_qumo()
    op = Operator(sp.csr_matrix(prob.J, dtype=np.float32), np.zeros(prob.J.shape[0], np.float32),
                  np.zeros(prob.J.shape[0], bool))
    (e_ref, s_ref), (e, s) = _both(op, R, T=150, check_every=3, seed=R)
    np.testing.assert_array_equal(e, e_ref)
    np.testing.assert_array_equal(s, s_ref)


def test_csr_mixed_real_couplings_match_numpy_exactly():
    rng = np.random.default_rng(3)
    n = 30
    A = sp.random(n, n, density=0.3, random_state=4, data_rvs=lambda k: rng.normal(size=k))
    J = sp.csr_matrix((A + A.T).astype(np.float32))
    cont = rng.random(n) < 0.3
    op = Operator(J, rng.normal(size=n).astype(np.float32), cont)
    (e_ref, s_ref), (e, s) = _both(op, 21, T=120, check_every=4, seed=5)
    np.testing.assert_array_equal(s, s_ref)
    # energies: same float32 states; the double-precision sums differ only in summation order
    np.testing.assert_allclose(e, e_ref, rtol=1e-12, atol=1e-9)


def test_dense_integer_couplings_match_numpy_exactly():
    J = -random_sk(24, seed=2).J
    op = Operator(np.ascontiguousarray(J, np.float32), np.ones(24, np.float32), np.zeros(24, bool))
    (e_ref, s_ref), (e, s) = _both(op, 19, T=100, check_every=5, seed=7)
    np.testing.assert_array_equal(e, e_ref)
    np.testing.assert_array_equal(s, s_ref)


def test_thread_count_does_not_change_result():
    J = -random_sk(20, seed=1).J
    op = Operator(np.ascontiguousarray(J, np.float32), np.zeros(20, np.float32), np.zeros(20, bool))
    a0, g, gam = _params(40, 1)
    x0 = initial_states(20, 1, 0, range(40))
    one = run_batch(op, a0, g, gam, x0, 80, 2, "cpp", threads=1)
    three = run_batch(op, a0, g, gam, x0, 80, 2, "cpp", threads=3)
    np.testing.assert_array_equal(one[0], three[0])
    np.testing.assert_array_equal(one[1], three[1])


def test_best_energy_is_energy_of_best_state():
    J = -random_sk(16, seed=4).J
    op = Operator(np.ascontiguousarray(J, np.float32), np.zeros(16, np.float32), np.zeros(16, bool))
    a0, g, gam = _params(8, 2)
    e, S = run_batch(op, a0, g, gam, initial_states(16, 2, 0, range(8)), 60, 7, "cpp")
    S64 = S.astype(np.float64)
    np.testing.assert_array_equal(np.abs(S64), 1.0)
    np.testing.assert_allclose(e, -0.5 * np.einsum("ir,ir->r", S64, J @ S64), rtol=0, atol=1e-9)


def test_solve_backends_agree_on_sk():
    J = -random_sk(30, seed=5).J
    kw = dict(max_iterations=1200, iterations_per_run=300, replicas=24, seed=3, progress=False)
    a, b = solve(J, backend="numpy", **kw), solve(J, backend="cpp", **kw)
    assert a.best_energy == b.best_energy
    np.testing.assert_array_equal(a.best_state, b.best_state)
    assert b.hyperparameters["backend"] == "cpp"


def test_solve_mixed_problem_backends_agree():
    J = np.array([[0.0, 1.0], [1.0, 0.0]])
    prob = types.SimpleNamespace(J=J, h=np.array([0.0, 0.3]), continuous=np.array([False, True]), offset=0.0)
    kw = dict(max_iterations=400, iterations_per_run=200, replicas=8, progress=False, sparse=True)
    a, b = solve(prob, backend="numpy", **kw), solve(prob, backend="cpp", **kw)
    np.testing.assert_array_equal(a.best_state, b.best_state)
    assert b.best_energy == pytest.approx(-1.3, abs=1e-3)


def test_initial_states_independent_of_batching():
    full = initial_states(11, 9, 4, range(10))
    part = initial_states(11, 9, 4, range(6, 10))
    np.testing.assert_array_equal(full[:, 6:], part)
    assert np.abs(full).max() <= 0.01 and not np.array_equal(full, initial_states(11, 9, 5, range(10)))


def _raw_args(n=4, R=3):
    from quaton_fast import _C  # noqa: F401
    J = sp.csr_matrix(np.ones((n, n), np.float32) - np.eye(n, dtype=np.float32))
    return dict(indptr=J.indptr.astype(np.int64), indices=J.indices.astype(np.int32), data=J.data,
                dense=None, h=np.zeros(n, np.float32), continuous=np.zeros(n, np.uint8),
                x0=np.zeros((n, R), np.float32), a0=np.ones(R, np.float32), g=np.ones(R, np.float32),
                gamma=np.ones(R, np.float32), dt=0.5, clamp=(-1.0, 1.0), steps=5, check_every=1)


@pytest.mark.parametrize("change,exc,match", [
    (dict(x0=np.zeros((4, 2), np.float32)), ValueError, "'x0' must have shape \\(4, 3\\)"),
    (dict(h=np.zeros(4)), TypeError, "'h' must be a float32"),
    (dict(indices=np.array([0, 1, 9] + [0] * 9, np.int32)), ValueError, "column index 9 out of range"),
    (dict(steps=0), ValueError, "steps must be >= 1"),
    (dict(check_every=0), ValueError, "check_every must be >= 1"),
    (dict(dense=np.zeros((4, 4), np.float32)), ValueError, "either 'dense' or"),
    (dict(clamp=(1.0, -1.0)), ValueError, "clamp_lo"),
    (dict(gamma=np.ones(3, np.float32)[::-1][::-1].repeat(2)[::2]), ValueError, "C-contiguous"),
])
def test_kernel_rejects_bad_inputs(change, exc, match):
    from quaton_fast import _C
    args = _raw_args()
    args.update(change)
    with pytest.raises(exc, match=match):
        _C.solver_run_cpu(**args)


def test_solve_rejects_bad_backend_and_threads():
    J = -random_sk(6, seed=0).J
    with pytest.raises(ValueError, match="backend"):
        solve(J, backend="gpu", progress=False)
    with pytest.raises(ValueError, match="threads"):
        solve(J, threads=1.5, progress=False)
    with pytest.raises(ValueError, match="check_every"):
        solve(J, check_every=0, progress=False)

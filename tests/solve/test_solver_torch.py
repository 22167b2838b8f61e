"""Torch replica backend (solve/algorithms/replica_torch.py) on the CPU against the NumPy reference, the
exactness rules of its low-precision products, and the device/backend/precision checks.

Exactness argument as in test_solver_cpp.py: the torch loop does the reference's float32 ops in
the same order, one rounding per op; with integer couplings and binary variables every spin sum is
exact, so states and energies must agree bit for bit.
"""
import types

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from quaton_fast.solve.algorithms.aoc_solver import solve
from quaton_fast.solve.models.generators import random_sk, toroidal_graph
from quaton_fast.solve.algorithms.replica_kernels import Operator, initial_states, run_batch
from quaton_fast.solve.algorithms.replica_torch import choose_precision, exact_low_precisions

CPU = torch.device("cpu")


def _params(R, seed):
    rng = np.random.default_rng(seed)
    return ((10 ** rng.uniform(-2, 0, R)).astype(np.float32),
            (10 ** rng.uniform(-2, 0, R) / 8.0).astype(np.float32),
            rng.uniform(0.9, 0.99, R).astype(np.float32))


def _op(J, h=None, cont=None):
    n = J.shape[0]
    J32 = sp.csr_matrix(J, dtype=np.float32) if sp.issparse(J) else np.ascontiguousarray(J, np.float32)
    return Operator(J32, np.zeros(n, np.float32) if h is None else np.asarray(h, np.float32),
                    np.zeros(n, bool) if cont is None else np.asarray(cont, bool))


def _ref_and_torch(op, R, T, check_every, seed):
    a0, g, gam = _params(R, seed)
    x0 = initial_states(op.n, seed, 0, range(R))
    ref = run_batch(op, a0, g, gam, x0, T, check_every, "numpy")
    out = run_batch(op, a0, g, gam, x0, T, check_every, "torch", device="cpu")
    return ref, out


@pytest.mark.parametrize("R", [1, 6, 33])
def test_dense_integer_couplings_match_reference_exactly(R):
    op = _op(-random_sk(24, seed=R).J, h=np.ones(24))
    (e_ref, s_ref), (e, s) = _ref_and_torch(op, R, T=200, check_every=3, seed=R)
    np.testing.assert_array_equal(e, e_ref)
    np.testing.assert_array_equal(s, s_ref)


def test_sparse_csr_matches_reference_exactly():
    op = _op(sp.csr_matrix(toroidal_graph(6, 7, seed=2).to_qumo().J))
    (e_ref, s_ref), (e, s) = _ref_and_torch(op, 17, T=150, check_every=4, seed=9)
    np.testing.assert_array_equal(e, e_ref)
    np.testing.assert_array_equal(s, s_ref)


def test_mixed_real_problem_first_steps_match_reference():
    """Non-integer J and continuous variables: the products are BLAS sums in an unspecified order,
    so only short runs can be compared; each step differs by float32 rounding at most."""
    rng = np.random.default_rng(3)
    n = 20
    A = rng.normal(size=(n, n))
    op = _op((A + A.T) / 4, h=rng.normal(size=n), cont=rng.random(n) < 0.4)
    (e_ref, s_ref), (e, s) = _ref_and_torch(op, 8, T=5, check_every=1, seed=4)
    np.testing.assert_allclose(e, e_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s, s_ref, rtol=1e-5, atol=1e-6)


def test_solve_torch_backend_equals_numpy_backend():
    J = -random_sk(30, seed=5).J
    kw = dict(max_iterations=1200, iterations_per_run=300, replicas=24, seed=3, progress=False)
    a = solve(J, backend="numpy", **kw)
    b = solve(J, backend="torch", **kw)
    assert a.best_energy == b.best_energy
    np.testing.assert_array_equal(a.best_state, b.best_state)
    assert (b.hyperparameters["backend"], b.hyperparameters["device"], b.hyperparameters["precision"]) == \
        ("torch", "cpu", "fp32")


def test_solve_torch_mixed_problem_reaches_optimum():
    prob = types.SimpleNamespace(J=np.array([[0.0, 1.0], [1.0, 0.0]]), h=np.array([0.0, 0.3]),
                                 continuous=np.array([False, True]), offset=0.0)
    res = solve(prob, backend="torch", max_iterations=2000, replicas=8, progress=False)
    assert res.best_energy == pytest.approx(-1.3, abs=1e-3)


def test_exact_low_precisions_follow_the_mantissa_widths():
    J = -random_sk(10, seed=0).J                       # +-1 couplings
    assert exact_low_precisions(_op(J)) == ("bf16", "tf32")
    assert exact_low_precisions(_op(J * 256)) == ("bf16", "tf32")
    assert exact_low_precisions(_op(J * 257)) == ("tf32",)
    assert exact_low_precisions(_op(J * 2049)) == ()
    assert exact_low_precisions(_op(J * 0.5)) == ()     # non-integer couplings
    assert exact_low_precisions(_op(J, cont=np.arange(10) == 3)) == ()
    assert exact_low_precisions(_op(sp.csr_matrix(J * 3))) == ("bf16", "tf32")


@pytest.mark.parametrize("scale,dtype,accepted", [(256, torch.bfloat16, ("bf16", "tf32")), (2048, None, ("tf32",))])
def test_accepted_couplings_survive_the_low_precision_exactly(scale, dtype, accepted):
    """What makes bf16/tf32 exact: every accepted J_ij is representable (bf16: 8 significant bits,
    tf32: 11), spins are +-1, so each product term is exact and fp32 sums of integers < 2^24 are exact."""
    rng = np.random.default_rng(1)
    J = rng.integers(-scale, scale + 1, size=(64, 64)).astype(np.float32)
    J = np.triu(J, 1) + np.triu(J, 1).T
    assert exact_low_precisions(_op(J)) == accepted
    if dtype is not None:
        Jb = torch.from_numpy(J).to(dtype).float().numpy()
    else:   # tf32: round-to-nearest to 10 explicit mantissa bits
        bits = J.view(np.uint32).astype(np.uint64)
        Jb = ((bits + 0x1000) & ~np.uint64(0x1FFF)).astype(np.uint32).view(np.float32)
    np.testing.assert_array_equal(Jb, J)
    S = np.sign(rng.normal(size=(64, 7))).astype(np.float32)
    np.testing.assert_array_equal(Jb @ S, (J.astype(np.float64) @ S).astype(np.float32))


def test_choose_precision_checks():
    op = _op(-random_sk(8, seed=1).J)
    assert choose_precision(op, CPU) == "fp32"
    assert choose_precision(op, CPU, "fp32") == "fp32"
    with pytest.raises(ValueError, match="'precision'.*non-CUDA"):
        choose_precision(op, CPU, "bf16")
    with pytest.raises(ValueError, match="'precision'.*one of"):
        choose_precision(op, CPU, "fp16")


def test_solve_device_and_backend_checks():
    J = -random_sk(6, seed=0).J
    with pytest.raises(ValueError, match="'device'"):
        solve(J, device="not-a-device", progress=False)
    with pytest.raises(ValueError, match="'backend'.*CPU only"):
        solve(J, device="cuda", backend="cpp", progress=False)
    with pytest.raises(ValueError, match="'precision'.*backend='torch'"):
        solve(J, backend="numpy", precision="fp32", progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="'device'.*no CUDA"):
            solve(J, device="cuda", progress=False)


def test_default_replicas_depend_on_device():
    J = -random_sk(6, seed=0).J
    assert solve(J, max_iterations=200, progress=False).hyperparameters["replicas"] == 64

"""The torch replica backend on a CUDA device against the NumPy reference.

Integer couplings with binary variables: every spin sum is exact in fp32, tf32 and bf16 (see
replica_torch), and every elementwise op is one torch kernel with one float32 rounding, as in the
reference, so states and energies must agree bit for bit in each precision.
"""
from __future__ import annotations

import types

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from quaton_fast.solve.algorithms.aoc_solver import solve
from quaton_fast.solve.algorithms.qumo_exact import brute_force_qumo
from quaton_fast.solve.models.generators import random_sk, toroidal_graph
from quaton_fast.solve.algorithms.replica_kernels import Operator, initial_states, run_batch
from quaton_fast.solve.algorithms.replica_torch import bf16_product_available, choose_precision

pytestmark = pytest.mark.cuda


def _precisions():
    out = ["fp32", "tf32"]
    if torch.cuda.is_available() and bf16_product_available(torch.device("cuda")):
        out.append("bf16")
    return out


def _params(R, seed):
    rng = np.random.default_rng(seed)
    return ((10 ** rng.uniform(-2, 0, R)).astype(np.float32),
            (10 ** rng.uniform(-2, 0, R) / 8.0).astype(np.float32),
            rng.uniform(0.9, 0.99, R).astype(np.float32))


@pytest.mark.parametrize("precision", _precisions())
@pytest.mark.parametrize("R", [1, 7, 300])
def test_integer_problem_matches_reference_exactly(precision, R):
    J = -random_sk(40, seed=R).J * 3
    op = Operator(np.ascontiguousarray(J, np.float32), np.ones(40, np.float32), np.zeros(40, bool))
    a0, g, gam = _params(R, R)
    x0 = initial_states(40, R, 0, range(R))
    e_ref, s_ref = run_batch(op, a0, g, gam, x0, 250, 3, "numpy")
    e, s = run_batch(op, a0, g, gam, x0, 250, 3, "torch", device="cuda", precision=precision)
    np.testing.assert_array_equal(e, e_ref)
    np.testing.assert_array_equal(s, s_ref)


def test_sparse_torus_matches_reference_exactly():
    op = Operator(sp.csr_matrix(toroidal_graph(8, 9, seed=3).to_qumo().J, dtype=np.float32),
                  np.zeros(72, np.float32), np.zeros(72, bool))
    a0, g, gam = _params(33, 2)
    x0 = initial_states(72, 2, 0, range(33))
    ref = run_batch(op, a0, g, gam, x0, 200, 5, "numpy")
    out = run_batch(op, a0, g, gam, x0, 200, 5, "torch", device="cuda", precision="fp32")
    np.testing.assert_array_equal(out[0], ref[0])
    np.testing.assert_array_equal(out[1], ref[1])


def test_auto_precision_on_cuda():
    op = Operator(np.ascontiguousarray(-random_sk(8, seed=0).J, np.float32), np.zeros(8, np.float32),
                  np.zeros(8, bool))
    assert choose_precision(op, torch.device("cuda")) in ("bf16", "tf32")
    op.continuous[0] = True
    assert choose_precision(op, torch.device("cuda")) == "fp32"


@pytest.mark.parametrize("seed", range(3))
def test_solve_on_cuda_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 12
    A = rng.normal(size=(n, n))
    J = (A + A.T) / 2
    np.fill_diagonal(J, 0)
    h = rng.normal(size=n)
    prob = types.SimpleNamespace(J=J, h=h, continuous=np.zeros(n, bool), offset=0.0)
    res = solve(prob, max_iterations=8000, device="cuda", progress=False, seed=seed)
    assert res.best_energy == pytest.approx(brute_force_qumo(prob)[1], abs=1e-9)
    assert res.hyperparameters["device"].startswith("cuda")


def test_solve_on_cuda_equals_numpy_backend_on_integer_problem():
    J = -random_sk(30, seed=5).J
    kw = dict(max_iterations=1200, iterations_per_run=300, replicas=24, seed=3, progress=False)
    a = solve(J, backend="numpy", **kw)
    b = solve(J, device="cuda", **kw)
    assert a.best_energy == b.best_energy
    np.testing.assert_array_equal(a.best_state, b.best_state)


def test_batched_blocks_on_cuda_equal_reference_per_block():
    from quaton_fast.solve.algorithms.replica_torch import run_blocks_torch
    k, B, R = 16, 37, 64
    Js = np.stack([-random_sk(k, seed=i).J for i in range(B)])
    hs = np.zeros((B, k))
    a0, g, gam = _params(R, 5)
    x0 = np.stack([initial_states(k, 2, i, range(R)) for i in range(B)])
    e, S = run_blocks_torch(Js, hs, np.zeros((B, k), bool), a0, g, gam, x0, 200, 5, "cuda")
    for i in (0, 17, 36):
        op = Operator(Js[i].astype(np.float32), np.zeros(k, np.float32), np.zeros(k, bool))
        e_ref, s_ref = run_batch(op, a0, g, gam, x0[i], 200, 5, "numpy")
        np.testing.assert_array_equal(e[i], e_ref)
        np.testing.assert_array_equal(S[i], s_ref)

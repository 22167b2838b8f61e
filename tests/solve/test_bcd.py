import itertools
import types

import numpy as np
import pytest

from quaton_fast.solve.algorithms.aoc_solver import qumo_energy
from quaton_fast.solve.algorithms.bcd import bcd


def _problem(n, seed, cont=None):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    J = (A + A.T) / 2
    np.fill_diagonal(J, 0)
    return types.SimpleNamespace(J=J, h=rng.normal(size=n), offset=0.0,
                                 continuous=np.zeros(n, bool) if cont is None else cont)


def _brute_binary(p):
    n = len(p.h)
    return min(qumo_energy(p.J, p.h, np.array(b)) for b in itertools.product((-1.0, 1.0), repeat=n))


@pytest.mark.parametrize("exact", [True, False])
def test_bcd_reaches_small_optimum(exact):
    p = _problem(12, 3)
    # several starts; BCD is a local method, the best of few starts must hit the optimum
    best = min(bcd(p, block_size=6, exact=exact, seed=s)[1] for s in range(8))
    assert best == pytest.approx(_brute_binary(p), abs=1e-9)


def test_bcd_bad_block_size():
    with pytest.raises(ValueError, match="block_size"):
        bcd(_problem(4, 0), block_size=0)


def _block_optimal(p, x, block_size):
    """True when no block, searched exhaustively with the rest of x fixed, lowers the energy."""
    n, E = len(x), qumo_energy(p.J, p.h, x)
    for i in range(0, n, block_size):
        b = np.arange(i, min(i + block_size, n))
        for bits in itertools.product((-1.0, 1.0), repeat=len(b)):
            y = x.copy()
            y[b] = bits
            if qumo_energy(p.J, p.h, y) < E - 1e-9:
                return False
    return True


@pytest.mark.parametrize("seed", range(3))
def test_batched_bcd_converges_to_a_block_optimum(seed):
    p = _problem(14, seed)          # 14 = 3 blocks of 5, the last padded
    x, E = bcd(p, block_size=5, batched=True, seed=seed, block_iterations=300)
    assert E == pytest.approx(qumo_energy(p.J, p.h, x), abs=1e-9)
    assert _block_optimal(p, x, 5)
    assert E >= _brute_binary(p) - 1e-9


def test_batched_bcd_reaches_small_optimum():
    p = _problem(12, 3)
    best = min(bcd(p, block_size=6, batched=True, seed=s, block_iterations=300)[1] for s in range(8))
    assert best == pytest.approx(_brute_binary(p), abs=1e-9)


def test_batched_blocks_equal_single_block_runs():
    """run_blocks_torch on B integer blocks == run_batch (NumPy reference) on each block alone."""
    from quaton_fast.solve.models.generators import random_sk
    from quaton_fast.solve.algorithms.replica_kernels import Operator, initial_states, run_batch
    from quaton_fast.solve.algorithms.replica_torch import run_blocks_torch
    k, B, R = 10, 4, 9
    Js = np.stack([-random_sk(k, seed=i).J for i in range(B)])
    hs = np.stack([np.arange(k) % 3 - 1.0 for _ in range(B)])
    rng = np.random.default_rng(0)
    a0, g, gam = (rng.uniform(0.01, 1, R).astype(np.float32), rng.uniform(0.01, 0.3, R).astype(np.float32),
                  rng.uniform(0.9, 0.99, R).astype(np.float32))
    x0 = np.stack([initial_states(k, 1, i, range(R)) for i in range(B)])
    e, S = run_blocks_torch(Js, hs, np.zeros((B, k), bool), a0, g, gam, x0, 120, 4)
    for i in range(B):
        op = Operator(Js[i].astype(np.float32), hs[i].astype(np.float32), np.zeros(k, bool))
        e_ref, s_ref = run_batch(op, a0, g, gam, x0[i], 120, 4, "numpy")
        np.testing.assert_array_equal(e[i], e_ref)
        np.testing.assert_array_equal(S[i], s_ref)


def test_batched_and_exact_are_exclusive():
    with pytest.raises(ValueError, match="'exact' and 'batched'"):
        bcd(_problem(4, 0), exact=True, batched=True)

import itertools
import types

import numpy as np
import pytest

from quaton_fast.solve.aoc_solver import qumo_energy
from quaton_fast.solve.bcd import bcd


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

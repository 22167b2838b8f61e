"""bcd returns only states it evaluated, from checked starts (case rel10), and bounds exhaustive
blocks (case rel23). Truth: itertools enumeration written here, and the problem's own energy."""
import itertools
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

from quaton_fast.solve import QUMO, bcd, brute_force_qumo
from quaton_fast.solve.algorithms.bcd import _exact_block
from quaton_fast.solve.models.entry_checks import EXACT_MAX_BINARY


def _qumo(n, seed, n_cont=0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    J = A + A.T                      # with a diagonal: binary diagonals are constants
    cont = np.zeros(n, bool)
    cont[rng.permutation(n)[:n_cont]] = True
    np.fill_diagonal(J, np.where(cont, -np.abs(np.diag(J)) - n, np.diag(J)))
    return QUMO(J, rng.normal(size=n), cont, offset=float(rng.normal()))


# ------------------------------------------------------------------------------- start-state checks
def _decoupled():
    J = np.zeros((4, 4))
    J[0, 1] = J[1, 0] = 1.0          # variables 2 and 3 have no coupling and no field
    return QUMO(J)


@pytest.mark.parametrize("x0, what", [
    (np.zeros(4), r"-1 or \+1"),                              # 0 is not a binary value
    (np.array([1.0, 0.5, 1.0, 1.0]), r"-1 or \+1"),
    (np.array([1.0, np.nan, 1.0, 1.0]), "finite"),
    (np.array([1.0, np.inf, 1.0, 1.0]), "finite"),
    (np.ones(3), r"shape \(4,\)"),
    (np.ones((4, 1)), r"shape \(4,\)"),
])
def test_bad_start_state_is_refused(x0, what):
    with pytest.raises(ValueError, match=rf"bcd\(\): argument 'x0' must be .*{what}"):
        bcd(_decoupled(), block_size=2, exact=True, x0=x0)


def test_start_state_of_wrong_kind_is_refused():
    with pytest.raises(TypeError, match="'x0'"):
        bcd(_decoupled(), block_size=2, exact=True, x0=np.array(["1", "1", "1", "1"]))
    with pytest.raises(TypeError, match="'x0'"):
        bcd(_decoupled(), block_size=2, exact=True, x0=np.ones(4, complex))


def test_continuous_start_outside_the_box_is_refused():
    q = QUMO(np.zeros((2, 2)), None, np.array([False, True]))
    with pytest.raises(ValueError, match=r"'x0' must be in \[-1, 1\] for every continuous"):
        bcd(q, block_size=2, x0=np.array([1.0, 1.5]))
    x, _ = bcd(q, block_size=2, x0=np.array([1.0, 0.25]), block_iterations=50, max_sweeps=1)
    assert abs(x[1]) <= 1.0


@pytest.mark.parametrize("arg, value", [("max_sweeps", -1), ("max_sweeps", 0), ("block_size", 0),
                                        ("block_iterations", 0), ("seed", -1), ("replicas", 0)])
def test_counts_must_be_positive(arg, value):
    with pytest.raises(ValueError, match=rf"bcd\(\): argument '{arg}'"):
        kw = dict(block_size=2, exact=True)
        kw[arg] = value
        bcd(_decoupled(), **kw)


@pytest.mark.parametrize("arg, value", [("max_sweeps", 2.5), ("block_size", "2"), ("exact", "yes"),
                                        ("seed", None)])
def test_options_of_wrong_type(arg, value):
    kw = dict(block_size=2, exact=True)
    kw[arg] = value
    with pytest.raises((TypeError, ValueError), match=rf"bcd\(\): argument '{arg}'"):
        bcd(_decoupled(), **kw)


# ------------------------------------------------------------------ what bcd returns is evaluated
@pytest.mark.parametrize("mode", ["exact", "solver", "batched"])
@pytest.mark.parametrize("seed", range(3))
def test_returned_state_is_valid_and_its_energy_is_reported(mode, seed):
    n_cont = 0 if mode == "exact" else 3
    q = _qumo(9, seed, n_cont)
    rng = np.random.default_rng(100 + seed)
    x0 = np.where(rng.random(9) < 0.5, -1.0, 1.0)
    x0[q.continuous] = rng.uniform(-1, 1, n_cont)
    kw = dict(exact=mode == "exact", batched=mode == "batched", block_iterations=200)
    x, E = bcd(q, block_size=4, seed=seed, x0=x0, **kw)
    assert np.all(np.isin(x[~q.continuous], (-1.0, 1.0)))
    assert np.all(np.abs(x[q.continuous]) <= 1.0)
    assert E == pytest.approx(q.energy(x), rel=1e-12, abs=1e-12)   # the energy of the state returned
    assert E <= q.energy(x0) + 1e-12                                # never worse than the start
    # default (random) start: same guarantees
    x2, E2 = bcd(q, block_size=4, seed=seed, **kw)
    assert np.all(np.isin(x2[~q.continuous], (-1.0, 1.0)))
    assert E2 == pytest.approx(q.energy(x2), rel=1e-12, abs=1e-12)


def test_bcd_with_decoupled_variables_returns_binary_values():
    x, E = bcd(_decoupled(), block_size=2, exact=True, seed=3)
    assert set(np.abs(x)) == {1.0}
    assert E == pytest.approx(-1.0)


def test_degenerate_blocks_through_the_solver():
    """Blocks with zero couplings (and zero field) go through solve() without error (case rel14's kind)."""
    J = np.zeros((6, 6))
    J[0, 5] = J[5, 0] = 2.0
    q = QUMO(J, np.array([0, 0.5, 0, 0, -0.25, 0]), np.array([False, True, False, True, False, False]))
    x, E = bcd(q, block_size=2, block_iterations=100, seed=1)
    assert E == pytest.approx(-2.0 - 0.5 - 0.25, abs=1e-9)
    assert E == pytest.approx(q.energy(x), abs=1e-12)


# ----------------------------------------------------------------------- exhaustive-block limits
@pytest.mark.parametrize("k, seed", [(1, 0), (5, 1), (10, 2), (17, 3)])
def test_exact_block_is_the_first_enumerated_minimiser(k, seed):
    rng = np.random.default_rng(seed)
    J = rng.integers(-2, 3, size=(k, k)).astype(float)
    J = np.triu(J, 1) + np.triu(J, 1).T
    h = rng.integers(-1, 2, size=k).astype(float)       # integer data: many ties
    xb = _exact_block(J, h)
    if k <= 10:
        states = np.array(list(itertools.product((-1.0, 1.0), repeat=k)))
        e = -0.5 * np.einsum("ri,ij,rj->r", states, J, states) - states @ h
        np.testing.assert_array_equal(xb, states[int(np.argmin(e))])
    else:   # 2^17 states: check optimality against random single flips and the chunk boundary
        e_best = -0.5 * xb @ J @ xb - h @ xb
        for i in range(k):
            y = xb.copy()
            y[i] = -y[i]
            assert -0.5 * y @ J @ y - h @ y >= e_best - 1e-12


def test_exact_block_size_above_the_limit_is_refused():
    n = EXACT_MAX_BINARY + 1
    with pytest.raises(ValueError, match=rf"bcd\(\): argument 'block_size' must be <= {EXACT_MAX_BINARY}"):
        bcd(QUMO(np.zeros((n, n))), block_size=n, exact=True)
    # the limit is on the blocks actually enumerated: a block_size above n is cut to n
    x, E = bcd(QUMO(np.zeros((8, 8))), block_size=30, exact=True, max_sweeps=1)
    assert x.shape == (8,)


def test_exact_block_30_fails_fast_under_a_memory_cap():
    """Case rel23: under a 4 GB address-space cap, block_size=30 must raise the clear ValueError
    (today's main: MemoryError after building 2^30 tuples)."""
    code = textwrap.dedent("""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        import numpy as np
        from quaton_fast.solve import QUMO, bcd
        try:
            bcd(QUMO(np.zeros((30, 30))), block_size=30, exact=True)
        except ValueError as e:
            print("VALUEERROR", e)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "VALUEERROR" in out.stdout and "'block_size'" in out.stdout, out.stdout + out.stderr[-2000:]


def test_brute_force_qumo_has_the_same_cap():
    with pytest.raises(ValueError, match=rf"brute_force_qumo\(\): argument 'max_binary' must be <= {EXACT_MAX_BINARY}"):
        brute_force_qumo(QUMO(np.zeros((2, 2))), max_binary=EXACT_MAX_BINARY + 1)
    x, e = brute_force_qumo(types.SimpleNamespace(J=np.zeros((2, 2)), h=np.array([1.0, -2.0])))
    np.testing.assert_array_equal(x, [1.0, -1.0])
    assert e == pytest.approx(-3.0)

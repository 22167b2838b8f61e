"""Problem classes: every conversion keeps the energy of all 2^n states exact; round trips."""
import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from quaton_fast.solve.models.problems import (QUBO, QUMO, Ising, MaxCut, brute_force,
                                        qubo_state_from_spins, spins_from_qubo_state)

TOL = 1e-9
SEEDS = range(8)


def all_spins(n):
    return np.array(list(itertools.product([-1.0, 1.0], repeat=n)))


def rand_qubo(rng, n):
    return QUBO(rng.normal(size=(n, n)), rng.normal(size=n), float(rng.normal()))   # asymmetric Q on purpose


def rand_ising(rng, n):
    U = np.triu(rng.normal(size=(n, n)), 1)
    return Ising(U + U.T, rng.normal(size=n), float(rng.normal()))


def rand_qumo(rng, n):
    A = rng.normal(size=(n, n))
    return QUMO(A + A.T, rng.normal(size=n), np.zeros(n, bool), float(rng.normal()))   # diagonal included


def rand_maxcut(rng, n):
    pairs = np.array([(i, j) for i in range(n) for j in range(i + 1, n)])
    keep = pairs[rng.random(len(pairs)) < 0.6]
    edges = np.concatenate([keep, keep[:2, ::-1]])          # parallel edges (either orientation) add
    return MaxCut(n, edges, rng.integers(-3, 4, size=len(edges)).astype(float))


# ------------------------------------------------------------------- energy formulas (direct)
def test_energy_definitions_match_written_formulas():
    rng = np.random.default_rng(1)
    n = 5
    q, i, u = rand_qubo(rng, n), rand_ising(rng, n), rand_qumo(rng, n)
    x = rng.integers(0, 2, n).astype(float)
    s = 2 * x - 1
    assert q.energy(x) == pytest.approx(x @ q.Q @ x + q.c @ x + q.offset, abs=TOL)
    assert i.energy(s) == pytest.approx(0.5 * s @ i.J @ s + i.h @ s + i.offset, abs=TOL)
    assert u.energy(s) == pytest.approx(-0.5 * s @ u.J @ s - u.h @ s + u.offset, abs=TOL)
    # batch shape and scalar type
    S = all_spins(n)
    assert u.energy(S).shape == (2 ** n,) and isinstance(u.energy(s), float)


def test_qubo_is_symmetrised_without_changing_energy():
    rng = np.random.default_rng(2)
    Q = rng.normal(size=(4, 4))
    q = QUBO(Q)
    assert np.array_equal(q.Q, q.Q.T)
    X = (1 + all_spins(4)) / 2
    assert np.allclose(q.energy(X), np.einsum("ri,ij,rj->r", X, Q, X), atol=TOL)


# ------------------------------------------------------------- conversions, all 2^n states
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [1, 3, 7, 10])
def test_qubo_conversions_exact(seed, n):
    rng = np.random.default_rng(seed)
    q = rand_qubo(rng, n)
    S = all_spins(n)
    X = qubo_state_from_spins(S)
    E = q.energy(X)
    assert np.abs(q.to_ising().energy(S) - E).max() <= TOL
    qm = q.to_qumo()
    assert np.abs(qm.energy(S) - E).max() <= TOL
    assert np.array_equal(qm.to_original(S), X)                   # state map back to {0,1}
    assert np.abs(qm.normalised().energy(S) - E).max() <= TOL
    assert np.abs(q.normalised().energy(X) - E).max() <= TOL
    assert np.abs(qm.to_ising().energy(S) - E).max() <= TOL
    # round trips: back to the same (normalised) QUBO
    assert q.to_ising().to_qubo().same_as(q.normalised())
    assert q.to_qumo().to_qubo().same_as(q.normalised())
    assert QUBO.from_ising(Ising.from_qubo(q)).same_as(q.normalised())


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [2, 5, 10])
def test_ising_conversions_exact(seed, n):
    rng = np.random.default_rng(100 + seed)
    ising = rand_ising(rng, n)
    S = all_spins(n)
    E = ising.energy(S)
    qb = ising.to_qubo()
    assert np.abs(qb.energy(qubo_state_from_spins(S)) - E).max() <= TOL
    qm = ising.to_qumo()
    assert np.abs(qm.energy(S) - E).max() <= TOL
    assert np.array_equal(qm.to_original(S), S)
    assert np.allclose(qm.J, -ising.J) and np.allclose(qm.h, -ising.h)   # the sign convention
    # round trips return the same problem exactly
    assert ising.to_qubo().to_ising().same_as(ising)
    assert ising.to_qumo().to_ising().same_as(ising)
    assert QUMO.from_ising(ising).to_ising().same_as(ising)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [2, 6, 10])
def test_qumo_conversions_exact(seed, n):
    rng = np.random.default_rng(200 + seed)
    qm = rand_qumo(rng, n)
    S = all_spins(n)
    E = qm.energy(S)
    nq = qm.normalised()
    assert np.all(np.diag(nq.J) == 0)
    assert np.abs(nq.energy(S) - E).max() <= TOL
    assert np.abs(qm.to_ising().energy(S) - E).max() <= TOL
    assert np.abs(qm.to_qubo().energy(qubo_state_from_spins(S)) - E).max() <= TOL
    assert qm.to_ising().to_qumo().same_as(nq)
    assert qm.to_qubo().to_qumo().same_as(nq)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [2, 6, 10])
def test_maxcut_conversions_exact(seed, n):
    rng = np.random.default_rng(300 + seed)
    mc = rand_maxcut(rng, n)
    S = all_spins(n)
    direct = np.array([sum(w * (1 - s[i] * s[j]) / 2 for (i, j), w in zip(mc.edges, mc.weights)) for s in S])
    assert np.abs(mc.cut_value(S) - direct).max() <= TOL
    for J_sparse in (False, True):
        ising = mc.to_ising(sparse=J_sparse)
        assert sp.issparse(ising.J) == J_sparse
        E = ising.energy(S)
        assert np.abs(E - mc.energy(S)).max() <= TOL
        assert np.abs(mc.cut_from_energy(E) - direct).max() <= TOL
        assert np.abs(mc.to_qumo(sparse=J_sparse).energy(S) - E).max() <= TOL
    assert np.allclose(mc.energy_from_cut(direct), mc.energy(S), atol=TOL)


def test_box_quadratic_mixed_exact_on_grid():
    """QUMO.from_box_quadratic: energy(x) == 1/2 z^T H z + g^T z + f with z = to_original(x)."""
    rng = np.random.default_rng(7)
    n = 5
    A = rng.normal(size=(n, n))
    H, g, f = A + A.T, rng.normal(size=n), 1.5
    lo, up = rng.uniform(-3, 0, n), rng.uniform(0.5, 4, n)
    binary = np.array([True, False, True, False, False])
    q = QUMO.from_box_quadratic(H, g, f, lo, up, binary)
    assert np.array_equal(q.continuous, ~binary)
    X = rng.uniform(-1, 1, size=(50, n))
    X[:, binary] = np.sign(X[:, binary])
    Z = q.to_original(X)
    assert np.all(Z >= lo - 1e-12) and np.all(Z <= up + 1e-12)
    assert np.all(np.isin(Z[:, binary], [lo[binary], up[binary]]) | np.isclose(Z[:, binary], lo[binary])
                  | np.isclose(Z[:, binary], up[binary]))
    ref = 0.5 * np.einsum("ri,ij,rj->r", Z, H, Z) + Z @ g + f
    assert np.abs(q.energy(X) - ref).max() <= TOL
    # normalised keeps continuous diagonals and all energies
    nq = q.normalised()
    assert np.all(np.diag(nq.J)[binary] == 0) and np.allclose(np.diag(nq.J)[~binary], np.diag(q.J)[~binary])
    assert np.abs(nq.energy(X) - q.energy(X)).max() <= TOL


def test_state_maps_inverse():
    s = np.array([[-1.0, 1.0, 1.0], [1.0, -1.0, -1.0]])
    assert np.array_equal(spins_from_qubo_state(qubo_state_from_spins(s)), s)


# -------------------------------------------------------------------------- brute force
def test_brute_force_matches_exhaustive_loop():
    rng = np.random.default_rng(11)
    for problem, states in [(rand_qubo(rng, 8), (1 + all_spins(8)) / 2), (rand_ising(rng, 8), all_spins(8)),
                            (rand_qumo(rng, 8), all_spins(8)), (rand_maxcut(rng, 8), all_spins(8))]:
        x, e = brute_force(problem)
        E = np.array([problem.energy(st) for st in states])
        assert e == pytest.approx(E.min(), abs=TOL)
        assert problem.energy(x) == pytest.approx(e, abs=TOL)


def test_brute_force_equivalent_problems_agree():
    rng = np.random.default_rng(12)
    q = rand_qubo(rng, 9)
    e_q = brute_force(q)[1]
    assert brute_force(q.to_ising())[1] == pytest.approx(e_q, abs=TOL)
    x, e = brute_force(q.to_qumo())
    assert e == pytest.approx(e_q, abs=TOL)
    assert q.energy(q.to_qumo().to_original(x)) == pytest.approx(e_q, abs=TOL)


def test_brute_force_mixed_requires_continuous_values():
    q = QUMO(np.eye(3), None, np.array([False, True, False]))
    with pytest.raises(ValueError, match="continuous_values"):
        brute_force(q)
    x, e = brute_force(q, continuous_values=[0.5])
    assert x[1] == 0.5 and set(x[[0, 2]]) <= {-1.0, 1.0}
    with pytest.raises(ValueError, match="brute_force.*binary"):
        brute_force(Ising(np.zeros((21, 21))))


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("make, match", [
    (lambda: Ising(np.array([[0.0, 1.0], [2.0, 0.0]])), r"Ising\(\): argument 'J' must be symmetric"),
    (lambda: Ising(np.eye(2)), r"Ising\(\): argument 'J' must be zero on the diagonal"),
    (lambda: Ising(np.zeros((2, 3))), r"Ising\(\): argument 'J' must be a non-empty square"),
    (lambda: QUMO(np.array([[np.nan, 0], [0, 0]])), r"QUMO\(\): argument 'J' must be finite"),
    (lambda: QUMO(np.zeros((2, 2)), np.zeros(3)), r"QUMO\(\): argument 'h' must be of shape \(2,\)"),
    (lambda: QUMO(np.zeros((2, 2)), None, np.array([1, 0])), r"QUMO\(\): argument 'continuous' must be a bool"),
    (lambda: QUBO(np.zeros((2, 2)), None, float("inf")), r"QUBO\(\): argument 'offset' must be finite"),
    (lambda: MaxCut(3, [[0, 3]]), r"MaxCut\(\): argument 'edges' must be node indices in \[0, 2\]"),
    (lambda: MaxCut(3, [[1, 1]]), r"MaxCut\(\): argument 'edges' must be free of self-loops"),
    (lambda: MaxCut(3, [[0, 1, 2]]), r"MaxCut\(\): argument 'edges' must be an \(m, 2\)"),
    (lambda: MaxCut(0, []), r"MaxCut\(\): argument 'n' must be an integer >= 1"),
])
def test_bad_inputs_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_state_shape():
    with pytest.raises(ValueError, match=r"QUBO.energy\(\): argument 'x' must be of shape \(3,\)"):
        QUBO(np.eye(3)).energy(np.zeros(4))


def test_qumo_to_ising_rejects_continuous():
    with pytest.raises(ValueError, match="QUMO.to_ising"):
        QUMO(np.zeros((2, 2)), None, np.array([True, False])).to_ising()


def test_no_aliasing_of_caller_arrays():
    J = np.array([[0.0, 1.0], [1.0, 0.0]])
    ising = Ising(J)
    J[0, 1] = 5.0
    assert ising.J[0, 1] == 1.0

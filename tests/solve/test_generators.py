"""Instance generators: structure of the toroidal graph, SK, random QUBO; planted QUMO optimum."""
import numpy as np
import pytest

from quaton_fast.solve.models.generators import planted_qumo, random_qubo, random_sk, toroidal_graph
from quaton_fast.solve.models.problems import QUBO, QUMO, Ising, MaxCut, brute_force


@pytest.mark.parametrize("rows, cols", [(50, 40), (3, 3), (4, 7)])
def test_toroidal_graph_structure(rows, cols):
    g = toroidal_graph(rows, cols, seed=1)
    n = rows * cols
    assert isinstance(g, MaxCut) and g.n == n and g.m == 2 * n
    deg = np.bincount(g.edges.ravel(), minlength=n)
    assert np.all(deg == 4)                                       # 4-regular
    assert set(np.unique(g.weights)) == {-1.0, 1.0}               # +-1 weights, both present
    key = np.sort(g.edges, axis=1)
    assert len(np.unique(key, axis=0)) == g.m                     # no parallel edges
    # each edge joins torus neighbours: |dr| + |dc| == 1 modulo wrap-around
    r, c = np.divmod(g.edges, cols)
    dr = np.minimum((r[:, 0] - r[:, 1]) % rows, (r[:, 1] - r[:, 0]) % rows)
    dc = np.minimum((c[:, 0] - c[:, 1]) % cols, (c[:, 1] - c[:, 0]) % cols)
    assert np.all(dr + dc == 1)


def test_toroidal_graph_default_is_2000_nodes_and_deterministic():
    g = toroidal_graph()
    assert g.n == 2000 and g.m == 4000
    assert np.array_equal(toroidal_graph(seed=5).weights, toroidal_graph(seed=5).weights)
    assert not np.array_equal(toroidal_graph(seed=5).weights, toroidal_graph(seed=6).weights)
    with pytest.raises(ValueError, match=r"toroidal_graph\(\): argument 'rows' must be an integer >= 3"):
        toroidal_graph(2, 5)


def test_random_sk():
    ising = random_sk(30, seed=3)
    assert isinstance(ising, Ising) and ising.n == 30
    J = ising.J
    assert np.array_equal(J, J.T) and np.all(np.diag(J) == 0)
    off = J[~np.eye(30, dtype=bool)]
    assert set(np.unique(off)) == {-1.0, 1.0} and np.all(ising.h == 0)


def test_random_qubo_density():
    q = random_qubo(60, density=0.3, seed=0)
    assert isinstance(q, QUBO) and np.array_equal(q.Q, q.Q.T)
    frac = np.count_nonzero(np.triu(q.Q)) / (60 * 61 / 2)
    assert 0.2 < frac < 0.4
    assert np.count_nonzero(random_qubo(10, 0.0, 0).Q) == 0
    with pytest.raises(ValueError, match=r"random_qubo\(\): argument 'density' must be in \[0, 1\]"):
        random_qubo(5, 1.5)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n, n_cont", [(12, 4), (8, 0), (10, 10), (6, 1)])
def test_planted_qumo_optimum(seed, n, n_cont):
    q, x, e = planted_qumo(n, n_cont, seed=seed)
    assert isinstance(q, QUMO) and q.n == n and q.n_continuous == n_cont
    assert np.all(np.abs(x) <= 1) and set(x[~q.continuous]) <= {-1.0, 1.0}
    assert q.energy(x) == pytest.approx(e, abs=1e-9)                # the claimed energy
    # brute force over the binary part, continuous part at the planted values, cannot beat it
    if n_cont < n:
        xb, eb = brute_force(q, continuous_values=x[q.continuous] if n_cont else None)
        assert eb >= e - 1e-9
        assert np.array_equal(xb, x)                                  # and finds exactly x*
    # random mixed states (inside the box) never beat it either
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(2000, n))
    X[:, ~q.continuous] = np.sign(X[:, ~q.continuous])
    assert np.all(q.energy(X) >= e - 1e-9)
    # gradient of E in the continuous coordinates vanishes at x* (interior optimum)
    grad = -(q.J @ x) - q.h
    assert np.abs(grad[q.continuous]).max(initial=0.0) < 1e-9


def test_planted_qumo_bad_args():
    with pytest.raises(ValueError, match=r"planted_qumo\(\): argument 'n_continuous' must be <= n = 3"):
        planted_qumo(3, 4)

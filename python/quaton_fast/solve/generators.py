"""Instance generators: toroidal Max-Cut graphs, SK spin glasses, random QUBOs, planted QUMOs.

All take an integer ``seed`` (numpy.random.default_rng) and are deterministic for a given seed.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._validation import fail, finite_real, positive_int
from .problems import QUBO, QUMO, Ising, MaxCut

__all__ = ["toroidal_graph", "random_sk", "random_qubo", "planted_qumo", "PlantedQUMO"]


def _seed(func: str, seed) -> int:
    return positive_int(func, "seed", seed, minimum=0)


def toroidal_graph(rows: int = 50, cols: int = 40, seed: int = 0) -> MaxCut:
    """2-D toroidal grid (like G-set's toroidal family) with random +-1 weights.

    Node (r, c) -> index r*cols + c is joined to (r, c+1 mod cols) and (r+1 mod rows, c): a
    4-regular graph with n = rows*cols nodes and m = 2*rows*cols edges (rows, cols >= 3, so no
    self-loops or parallel edges). Weights are +1 or -1 with probability 1/2 each.
    Default 50 x 40 = 2,000 nodes, 4,000 edges.
    """
    f = "toroidal_graph"
    rows = positive_int(f, "rows", rows, minimum=3)
    cols = positive_int(f, "cols", cols, minimum=3)
    rng = np.random.default_rng(_seed(f, seed))
    r, c = np.divmod(np.arange(rows * cols), cols)
    node = r * cols + c
    right = r * cols + (c + 1) % cols
    down = ((r + 1) % rows) * cols + c
    edges = np.concatenate([np.stack([node, right], 1), np.stack([node, down], 1)])
    w = rng.choice(np.array([-1.0, 1.0]), size=edges.shape[0])
    return MaxCut(rows * cols, edges, w, meta={"name": f"torus{rows}x{cols}_seed{seed}"})


def random_sk(n: int, seed: int = 0) -> Ising:
    """Sherrington-Kirkpatrick instance like the SK files: J symmetric, J_ij = +-1 (p = 1/2) for
    i != j, zero diagonal, h = 0; energy 1/2 s^T J s (no 1/sqrt(n) scaling)."""
    f = "random_sk"
    n = positive_int(f, "n", n, minimum=2)
    rng = np.random.default_rng(_seed(f, seed))
    U = np.triu(rng.choice(np.array([-1.0, 1.0]), size=(n, n)), 1)
    return Ising(U + U.T, meta={"name": f"sk_n{n}_seed{seed}"})


def random_qubo(n: int, density: float = 1.0, seed: int = 0) -> QUBO:
    """Random QUBO: each upper-triangle entry (diagonal included) of Q is nonzero with probability
    ``density``, value uniform on [-1, 1]; Q symmetrised, c = 0, offset 0."""
    f = "random_qubo"
    n = positive_int(f, "n", n)
    density = finite_real(f, "density", density)
    if not 0.0 <= density <= 1.0:
        fail(f, "density", "in [0, 1]", density)
    rng = np.random.default_rng(_seed(f, seed))
    U = np.triu(rng.uniform(-1.0, 1.0, (n, n)) * (rng.random((n, n)) < density))
    return QUBO(U + np.triu(U, 1).T, meta={"name": f"qubo_n{n}_d{density}_seed{seed}"})


class PlantedQUMO(NamedTuple):
    problem: QUMO           # the instance
    x_planted: np.ndarray   # (n,) its unique global minimiser (+-1 binary, (-0.8, 0.8) continuous)
    energy: float           # problem.energy(x_planted) = -1/2 x*^T A x*


def planted_qumo(n: int, n_continuous: int, seed: int = 0) -> PlantedQUMO:
    """Random QUMO whose unique global minimum over the whole mixed domain is a planted state x*.

    Guarantee: draw A = G^T G / n + 0.1 I (symmetric positive definite, G Gaussian n x n) and set
    J = -A, h = A x*, offset = 0. Then for EVERY x (binary or continuous, in or out of the box)
    ``E(x) = -1/2 x^T J x - h^T x = 1/2 (x - x*)^T A (x - x*) - 1/2 x*^T A x*``, so
    E(x) - E(x*) = 1/2 (x - x*)^T A (x - x*) > 0 for x != x*: x* is the unique global minimiser and
    E(x*) = -1/2 x*^T A x*. x*'s binary entries are random +-1, its continuous entries uniform in
    (-0.8, 0.8) (interior). The continuous variables are a random subset of size ``n_continuous``.
    Caveat: the box relaxation is convex with the same minimiser, so such instances test
    correctness of the mixed machinery, not hardness.
    """
    f = "planted_qumo"
    n = positive_int(f, "n", n)
    n_continuous = positive_int(f, "n_continuous", n_continuous, minimum=0)
    if n_continuous > n:
        fail(f, "n_continuous", f"<= n = {n}", n_continuous)
    rng = np.random.default_rng(_seed(f, seed))
    G = rng.standard_normal((n, n))
    A = G.T @ G / n + 0.1 * np.eye(n)
    A = 0.5 * (A + A.T)
    cont = np.zeros(n, dtype=bool)
    cont[rng.choice(n, size=n_continuous, replace=False)] = True
    x = rng.choice(np.array([-1.0, 1.0]), size=n)
    x[cont] = rng.uniform(-0.8, 0.8, size=n_continuous)
    q = QUMO(-A, A @ x, cont, 0.0, meta={"name": f"planted_qumo_n{n}_c{n_continuous}_seed{seed}"})
    return PlantedQUMO(q, x, float(-0.5 * x @ A @ x))

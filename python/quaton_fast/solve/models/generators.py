"""Instance generators: toroidal Max-Cut graphs, SK spin glasses, random QUBOs, planted QUMOs,
crossdock assignment problems with capacity rows (constrained, QPLIB_3614-like).

All take an integer ``seed`` (numpy.random.default_rng) and are deterministic for a given seed.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..._validation import fail, finite_real, positive_int
from .problems import QUBO, QUMO, Ising, MaxCut

__all__ = ["toroidal_graph", "random_sk", "random_qubo", "planted_qumo", "PlantedQUMO", "crossdock_instance",
           "CrossdockInstance"]


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


class CrossdockInstance(NamedTuple):
    problem: "ConstrainedProblem"   # the instance (minimise)
    planted: np.ndarray             # (n,) 0/1: a feasible point (the construction's assignment)
    groups: np.ndarray              # (trucks, doors) int: variable index of "truck t at door d"
    weights: np.ndarray             # (trucks,) the capacity coefficient (load) of each truck
    capacity: float                 # the right-hand side of every capacity row


def _split(rng, total: int, parts: int) -> np.ndarray:
    """``parts`` positive integers summing to ``total`` (random composition)."""
    cuts = np.sort(rng.choice(np.arange(1, total), size=parts - 1, replace=False))
    return np.diff(np.concatenate([[0], cuts, [total]]))


def crossdock_instance(trucks_in: int = 15, trucks_out: int = 15, doors: int = 8, tightness: float = 0.92,
                       capacity: int = 300, seed: int = 0) -> CrossdockInstance:
    """Crossdock door assignment like QPLIB_3614 (crossdock_15x7) and its 15x8 sibling: every
    inbound truck picks one of ``doors`` inbound doors, every outbound truck one of ``doors``
    outbound doors (one one-hot equality row per truck: ``trucks_in + trucks_out`` rows of
    ``doors`` options, n = (trucks_in + trucks_out) * doors binaries), and the trucks at a door
    must fit its capacity (one ``<=`` row per door: 2 * doors capacity rows, coefficients = truck
    loads, right-hand side ``capacity``). Objective (minimise): sum over inbound i, outbound j of
    ``flow_ij * dist(door(i), door(j))``, flows random integers in [0, 20] (about 1/3 zero),
    inbound door a and outbound door b facing each other across the dock, ``dist = |a - b| + 2``:
    ``H[(i,a),(j,b)] = H[(j,b),(i,a)] = flow_ij * dist(a, b)``, g = 0.

    Feasibility is planted: each door's load is drawn in [tightness * capacity, capacity] and split
    into trucks (every door at least one truck), so the planted assignment is feasible while the
    doors are on average >= ``tightness`` full -- a random assignment violates capacity. Needs
    ``trucks_in, trucks_out >= doors``. Variables are in a random order (the solver must not rely
    on contiguity). Deterministic for a seed.
    """
    from .constraints import ConstrainedProblem
    import scipy.sparse as sp
    f = "crossdock_instance"
    doors = positive_int(f, "doors", doors, minimum=2)
    trucks_in = positive_int(f, "trucks_in", trucks_in, minimum=doors)
    trucks_out = positive_int(f, "trucks_out", trucks_out, minimum=doors)
    capacity = positive_int(f, "capacity", capacity, minimum=2 * max(trucks_in, trucks_out))
    tightness = finite_real(f, "tightness", tightness)
    if not 0.0 < tightness <= 1.0:
        fail(f, "tightness", "in (0, 1]", tightness)
    rng = np.random.default_rng(_seed(f, seed))
    T = trucks_in + trucks_out
    n = T * doors
    perm = rng.permutation(n)
    groups = perm.reshape(T, doors)                       # groups[t, d]: variable of truck t at door d
    weights = np.zeros(T)
    planted_door = np.zeros(T, dtype=np.int64)
    for side, (t0, cnt) in enumerate(((0, trucks_in), (trucks_in, trucks_out))):
        per_door = 1 + np.bincount(rng.integers(0, doors, cnt - doors), minlength=doors)
        lo = int(np.ceil(tightness * capacity))
        trucks = rng.permutation(cnt) + t0
        k = 0
        for d in range(doors):
            load = int(rng.integers(max(lo, per_door[d]), capacity + 1))
            w = _split(rng, load, int(per_door[d])) if per_door[d] > 1 else np.array([load])
            for wi in w:
                weights[trucks[k]], planted_door[trucks[k]] = wi, d
                k += 1
    flow = rng.integers(0, 21, (trucks_in, trucks_out)) * (rng.random((trucks_in, trucks_out)) < 2 / 3)
    dist = np.abs(np.arange(doors)[:, None] - np.arange(doors)[None, :]) + 2.0
    rows, cols, vals = [], [], []
    for i in range(trucks_in):
        for j in range(trucks_out):
            if flow[i, j] == 0:
                continue
            vi = np.repeat(groups[i], doors)
            vj = np.tile(groups[trucks_in + j], doors)
            v = flow[i, j] * dist.reshape(-1)
            rows += [vi, vj]
            cols += [vj, vi]
            vals += [v, v]
    H = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    A_eq = sp.csr_matrix((np.ones(n), (np.repeat(np.arange(T), doors), groups.reshape(-1))), shape=(T, n))
    cap_r, cap_c, cap_v = [], [], []
    for side, (t0, cnt) in enumerate(((0, trucks_in), (trucks_in, trucks_out))):
        for d in range(doors):
            cap_r += [side * doors + d] * cnt
            cap_c += list(groups[t0:t0 + cnt, d])
            cap_v += list(weights[t0:t0 + cnt])
    A_in = sp.csr_matrix((cap_v, (cap_r, cap_c)), shape=(2 * doors, n))
    planted = np.zeros(n)
    planted[groups[np.arange(T), planted_door]] = 1.0
    name = f"crossdock_{trucks_in}x{trucks_out}x{doors}_t{tightness:g}_seed{seed}"
    p = ConstrainedProblem(H, np.zeros(n), 0.0, "minimize", np.zeros(n), np.ones(n), np.ones(n, bool),
                           A_eq, np.ones(T), A_in, np.full(2 * doors, float(capacity)), meta={"name": name})
    return CrossdockInstance(p, planted, groups, weights, float(capacity))

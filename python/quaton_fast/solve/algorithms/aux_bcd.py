"""Block coordinate descent with hardware-sized blocks and an auxiliary binary for the linear term.

The paper (Methods, "Industrial optimization problems") decomposes its 41- and 64-variable QUMOs
into 7-variable sub-problems whose coupling to the rest of the variables, a linear vector b, is
folded into the quadratic matrix with one extra binary variable, giving 8-variable QUMOs with no
linear term (what one SLM of the AOC holds). This module does exactly that on top of
:func:`quaton_fast.solve.solve`:

* block energy with the rest fixed (canonical convention ``E = -1/2 x^T J x - h^T x + offset``):
  ``E_B(x_B) = -1/2 x_B^T J_BB x_B - b^T x_B + const``, ``b = h_B + J_{B,rest} x_rest``;
* :func:`homogeneous_block` returns ``J_aux = [[J_BB, b], [b^T, 0]]`` (k+1, k+1): with the auxiliary
  binary a, ``-1/2 [x; a]^T J_aux [x; a] = -1/2 x^T J_BB x - a b^T x``, equal to ``E_B`` at a = +1;
  the energy is even under ``(x, a) -> (-x, -a)`` (binary and [-1, 1] domains are symmetric), so a
  minimiser with a = -1 is flipped to a = +1 and is a minimiser of ``E_B``;
* a sweep visits the variables in a fresh random order (seeded) cut into blocks of ``block_size``
  (or in the blocks of a problem-aware picker, e.g. a transaction with its parties' slacks);
  a block's new values are kept only when they lower the full energy; b is recomputed for every
  block from the current state; as every sweep cuts different blocks, one sweep without
  improvement does not make a local minimum: sweeps stop after ``patience`` consecutive sweeps
  without improvement or after ``max_sweeps``.

This differs from :func:`quaton_fast.solve.algorithms.bcd` (fixed contiguous blocks, b passed as a linear
term) only in those two paper-specific choices.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..._validation import positive_int
from .aoc_solver import qumo_energy, solve
from ..models.entry_checks import as_qumo_arrays, seed_option, start_state
from ..models.problems import QUMO

__all__ = ["homogeneous_block", "bcd_auxiliary", "random_blocks", "AuxBCDResult"]


@dataclass
class AuxBCDResult:
    x: np.ndarray          # (n,) best state, canonical domain
    energy: float          # canonical QUMO energy of x
    sweeps: int            # sweeps run
    block_solves: int      # sub-QUMOs handed to the solver
    history: list = field(default_factory=list)  # energy after each sweep


def homogeneous_block(J_bb, b, continuous_b=None) -> QUMO:
    """(k+1)-variable QUMO without linear term whose last variable is the auxiliary binary.

    J_bb: (k, k) symmetric block couplings; b: (k,) linear term of the block; continuous_b: (k,) bool.
    """
    J_bb = np.asarray(J_bb, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    k = b.size
    J_aux = np.zeros((k + 1, k + 1))
    J_aux[:k, :k] = J_bb
    J_aux[:k, k] = b
    J_aux[k, :k] = b
    cont = np.zeros(k + 1, bool)
    if continuous_b is not None:
        cont[:k] = np.asarray(continuous_b, dtype=bool).reshape(k)
    return QUMO(J_aux, None, cont)


def random_blocks(n: int, block_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One sweep's blocks: a random permutation of range(n) cut into pieces of block_size."""
    order = rng.permutation(n)
    return [np.sort(order[i:i + block_size]) for i in range(0, n, block_size)]


def bcd_auxiliary(problem, *, block_size: int = 7, max_sweeps: int = 30, patience: int = 3,
                  block_iterations: int = 300, block_replicas: int = 16, seed: int = 0,
                  x0=None, blocks: Callable[[np.random.Generator], list] | None = None) -> AuxBCDResult:
    """Minimise a QUMO by BCD over blocks of ``block_size`` variables (+1 auxiliary binary).

    blocks: optional problem-aware block picker, ``blocks(rng) -> list of index arrays`` for one
    sweep (each of at most block_size variables); default :func:`random_blocks`.

    Each block is an 8-variable (for block_size 7) QUMO solved by :func:`solve` with
    ``block_iterations`` steps of ``block_replicas`` replicas. x0: optional (n,) start state;
    default: random signs for binaries, uniform [-1, 1] for continuous variables (seeded).
    """
    fn = "bcd_auxiliary"
    block_size = positive_int(fn, "block_size", block_size)
    max_sweeps = positive_int(fn, "max_sweeps", max_sweeps)
    patience = positive_int(fn, "patience", patience)
    block_iterations = positive_int(fn, "block_iterations", block_iterations)
    block_replicas = positive_int(fn, "block_replicas", block_replicas)
    seed = seed_option(fn, seed)
    J, h, cont, off = as_qumo_arrays(problem, fn)
    J = J.toarray() if hasattr(J, "toarray") else J
    n = h.size
    rng = np.random.default_rng(seed)
    if x0 is None:
        x = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        x[cont] = rng.uniform(-1.0, 1.0, int(cont.sum()))
    else:
        x = start_state(fn, x0, cont)
    E = float(qumo_energy(J, h, x, off))
    history, solves, sweep, idle = [], 0, 0, 0
    for sweep in range(1, max_sweeps + 1):
        improved = False
        sweep_blocks = random_blocks(n, block_size, rng) if blocks is None else blocks(rng)
        for blk in sweep_blocks:
            blk = np.unique(np.asarray(blk, dtype=np.int64))
            if blk.size > block_size or blk.size == 0 or blk[0] < 0 or blk[-1] >= n:
                raise ValueError(f"{fn}(): argument 'blocks' must give non-empty index arrays of at most "
                                 f"{block_size} variables in [0, {n - 1}], got {blk}")
            b = h[blk] + J[blk] @ x - J[np.ix_(blk, blk)] @ x[blk]
            sub = homogeneous_block(J[np.ix_(blk, blk)], b, cont[blk])
            s = solve(sub, max_iterations=block_iterations, iterations_per_run=block_iterations,
                      replicas=block_replicas, seed=int(rng.integers(2**31)), progress=False).best_state
            solves += 1
            if s[-1] < 0:
                s = -s
            y = x.copy()
            y[blk] = s[:-1]
            Ey = float(qumo_energy(J, h, y, off))
            if Ey < E - 1e-12 * max(1.0, abs(E)):
                x, E, improved = y, Ey, True
        history.append(E)
        idle = 0 if improved else idle + 1
        if idle >= patience:
            break
    return AuxBCDResult(x, E, sweep, solves, history)

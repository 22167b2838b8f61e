"""Block coordinate descent (BCD) for QUMO problems larger than the hardware block.

Canonical energy E(x) = -1/2 x^T J x - h^T x + offset. For a block B with the rest fixed,
E = -1/2 x_B^T J_BB x_B - (h_B + J_{B,rest} x_rest)^T x_B + const, so each block is a QUMO with
the rest folded into its linear term. Blocks are solved with the AOC-DT solver (or exhaustively,
``exact=True``, binary blocks only, for tiny blocks); a block update is accepted only when it
lowers the energy; sweeps repeat until no block improves.
"""
from __future__ import annotations

import itertools
import types

import numpy as np

from .aoc_solver import as_qumo_arrays, qumo_energy, solve


def _exact_block(Jbb, hb):
    k = len(hb)
    X = np.array(list(itertools.product((-1.0, 1.0), repeat=k))).T   # (k, 2^k)
    e = -0.5 * np.sum(X * (Jbb @ X), axis=0) - hb @ X
    return X[:, int(np.argmin(e))]


def bcd(problem, *, block_size: int = 16, max_sweeps: int = 50, exact: bool = False,
        block_iterations: int = 4000, seed: int = 0, x0=None):
    """Return (x (n,), energy) from block coordinate descent; x0: optional start state."""
    if int(block_size) != block_size or block_size < 1:
        raise ValueError(f"bcd: argument 'block_size' expected a positive int, got {block_size!r}")
    J, h, cont, off = as_qumo_arrays(problem)
    J = J.toarray() if hasattr(J, "toarray") else J
    n = len(h)
    if exact and cont.any():
        raise ValueError("bcd: argument 'exact' expected False for problems with continuous variables")
    rng = np.random.default_rng(seed)
    x = np.where(rng.random(n) < 0.5, -1.0, 1.0) if x0 is None else np.asarray(x0, float).copy()
    x[cont] = 0.0 if x0 is None else x[cont]
    E = float(qumo_energy(J, h, x, off))
    blocks = [np.arange(i, min(i + block_size, n)) for i in range(0, n, block_size)]
    for sweep in range(max_sweeps):
        improved = False
        for b in blocks:
            rest = np.setdiff1d(np.arange(n), b)
            hb = h[b] + J[np.ix_(b, rest)] @ x[rest]
            Jbb = J[np.ix_(b, b)]
            if exact:
                xb = _exact_block(Jbb, hb)
            else:
                sub = types.SimpleNamespace(J=Jbb, h=hb, continuous=cont[b], offset=0.0)
                xb = solve(sub, max_iterations=block_iterations, progress=False, seed=seed + sweep).best_state
            y = x.copy()
            y[b] = xb
            Ey = float(qumo_energy(J, h, y, off))
            if Ey < E - 1e-12:
                x, E, improved = y, Ey, True
        if not improved:
            break
    return x, E

"""Block coordinate descent (BCD) for QUMO problems larger than the hardware block.

Canonical energy E(x) = -1/2 x^T J x - h^T x + offset. For a block B with the rest fixed,
E = -1/2 x_B^T J_BB x_B - (h_B + J_{B,rest} x_rest)^T x_B + const, so each block is a QUMO with
the rest folded into its linear term. Blocks are solved with the AOC-DT solver (or exhaustively,
``exact=True``, binary blocks only, for tiny blocks); a block update is accepted only when it
lowers the energy; sweeps repeat until no block improves.

``batched=True`` solves every block of a sweep at once against the same state (one batched run of
``replicas`` replicas per block on ``device``, replica_torch.run_blocks_torch: the GPU form), then
accepts the block solutions one after another, each only if it lowers the full energy given the
blocks accepted before it; so the energy still decreases monotonically.
"""
from __future__ import annotations

import itertools
import types

import numpy as np

from .aoc_solver import as_qumo_arrays, qumo_energy, solve


def _block_qumo(J, h, x, b):
    """(J_BB (k, k), h_B + J_{B,rest} x_rest (k,)): block b's QUMO with the rest of x (n,) fixed."""
    rest = np.setdiff1d(np.arange(len(x)), b)
    return J[np.ix_(b, b)], h[b] + J[np.ix_(b, rest)] @ x[rest]


def _exact_block(Jbb, hb):
    k = len(hb)
    X = np.array(list(itertools.product((-1.0, 1.0), repeat=k))).T   # (k, 2^k)
    e = -0.5 * np.sum(X * (Jbb @ X), axis=0) - hb @ X
    return X[:, int(np.argmin(e))]


def bcd(problem, *, block_size: int = 16, max_sweeps: int = 50, exact: bool = False,
        block_iterations: int = 4000, seed: int = 0, x0=None, batched: bool = False,
        replicas: int = 64, device: str = "cpu"):
    """Return (x (n,), energy) from block coordinate descent; x0: optional start state (n,).
    batched: all blocks of a sweep in one batched run (replicas per block, on the torch device)."""
    if int(block_size) != block_size or block_size < 1:
        raise ValueError(f"bcd: argument 'block_size' expected a positive int, got {block_size!r}")
    J, h, cont, off = as_qumo_arrays(problem)
    J = J.toarray() if hasattr(J, "toarray") else J
    n = len(h)
    if exact and cont.any():
        raise ValueError("bcd: argument 'exact' expected False for problems with continuous variables")
    if exact and batched:
        raise ValueError("bcd: arguments 'exact' and 'batched' expected at most one True, got both")
    rng = np.random.default_rng(seed)
    x = np.where(rng.random(n) < 0.5, -1.0, 1.0) if x0 is None else np.asarray(x0, float).copy()
    x[cont] = 0.0 if x0 is None else x[cont]
    E = float(qumo_energy(J, h, x, off))
    blocks = [np.arange(i, min(i + block_size, n)) for i in range(0, n, block_size)]
    for sweep in range(max_sweeps):
        improved = False
        if batched:
            candidates = _batched_block_solutions(J, h, cont, x, blocks, block_iterations, replicas,
                                                  seed + sweep, device)
        for i, b in enumerate(blocks):
            if batched:
                xb = candidates[i]
            elif exact:
                xb = _exact_block(*_block_qumo(J, h, x, b))
            else:
                Jbb, hb = _block_qumo(J, h, x, b)
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


def _batched_block_solutions(J, h, cont, x, blocks, steps, replicas, seed, device):
    """Best state of every block given the rest of x, all blocks in one batched run.

    Blocks are zero-padded to one size k (padding variables are decoupled binaries); each block's J
    and field are divided by its spectral norm (same minimiser) so one set of (a0, g, gamma) per
    replica -- a scrambled Sobol draw as in solve()'s exploration -- suits every block."""
    from .aoc_solver import _Sampler
    from .replica_kernels import INIT_SCALE
    from .replica_torch import run_blocks_torch
    k, B = max(len(b) for b in blocks), len(blocks)
    Jb, hb, cb = np.zeros((B, k, k)), np.zeros((B, k)), np.zeros((B, k), bool)
    for i, b in enumerate(blocks):
        m = len(b)
        Jb[i, :m, :m], hb[i, :m] = _block_qumo(J, h, x, b)
        cb[i, :m] = cont[b]
        scale = max(float(np.abs(np.linalg.eigvalsh(Jb[i])).max()), float(np.abs(hb[i]).max()), 1e-12)
        Jb[i] /= scale
        hb[i] /= scale
    params = _Sampler(seed).explore(replicas)
    x0 = np.stack([np.random.default_rng([seed, i]).uniform(-INIT_SCALE, INIT_SCALE, (k, replicas))
                   for i in range(B)]).astype(np.float32)
    e, S = run_blocks_torch(Jb, hb, cb, params[:, 0].astype(np.float32), params[:, 1].astype(np.float32),
                            params[:, 2].astype(np.float32), x0, steps, 5, device)
    best = np.argmin(e, axis=1)
    return [S[i, :len(b), best[i]].astype(np.float64) for i, b in enumerate(blocks)]

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

What bcd returns is always a state it evaluated: the start state (checked: finite, binaries in
{-1, +1}, continuous values in [-1, 1]) or a later state whose full energy was computed and was
lower; the energy returned is that evaluation (``qumo_energy`` of the returned x, float64).
``exact=True`` enumerates 2^k states per block of k variables; k = min(block_size, n) must be
<= ``EXACT_MAX_BINARY`` = 20 (entry_checks.py: enumeration in chunks of 2^16 states, peak memory
~3 * 2^16 * k * 8 bytes = 31 MB at k = 20; the cap bounds the time, 2^k energies per block).
"""
from __future__ import annotations

import types

import numpy as np

from ..._validation import fail
from .aoc_solver import qumo_energy, solve
from ..models.entry_checks import (EXACT_CHUNK, EXACT_MAX_BINARY, MAX_STATE_BYTES, as_qumo_arrays, bool_option, int_option, seed_option,
                           start_state)


def _block_qumo(J, h, x, b):
    """(J_BB (k, k), h_B + J_{B,rest} x_rest (k,)): block b's QUMO with the rest of x (n,) fixed."""
    rest = np.setdiff1d(np.arange(len(x)), b)
    return J[np.ix_(b, b)], h[b] + J[np.ix_(b, rest)] @ x[rest]


def _exact_block(Jbb, hb):
    """argmin over x in {-1, 1}^k of -1/2 x^T Jbb x - hb^T x: the first minimiser in the order of
    itertools.product((-1, 1), repeat=k) (variable 0 the most significant bit, 0 -> -1), enumerated
    in chunks of EXACT_CHUNK states (memory independent of k)."""
    k = len(hb)
    bits = np.arange(k - 1, -1, -1, dtype=np.int64)
    best_e, best_x = np.inf, None
    for start in range(0, 1 << k, EXACT_CHUNK):
        idx = np.arange(start, min(1 << k, start + EXACT_CHUNK), dtype=np.int64)
        X = ((idx[None, :] >> bits[:, None]) & 1) * 2.0 - 1.0       # (k, chunk)
        e = -0.5 * np.sum(X * (Jbb @ X), axis=0) - hb @ X
        i = int(np.argmin(e))
        if e[i] < best_e:
            best_e, best_x = float(e[i]), X[:, i].copy()
    return best_x


def bcd(problem, *, block_size: int = 16, max_sweeps: int = 50, exact: bool = False,
        block_iterations: int = 4000, seed: int = 0, x0=None, batched: bool = False,
        replicas: int = 64, device: str = "cpu"):
    """Return (x (n,) float64, energy) from block coordinate descent.

    problem: QUMO / QUBO / Ising / MaxCut or QUMO-like (canonical energy, see module doc);
    block_size, max_sweeps, block_iterations, replicas: integers >= 1; seed: integer >= 0;
    x0: optional start state (n,): finite, -1 or +1 for binary variables, [-1, 1] for continuous
    ones (default: random signs, continuous 0); exact: exhaustive blocks (binary problems only,
    min(block_size, n) <= 20); batched: all blocks of a sweep in one batched run (``replicas`` per
    block, on the torch ``device``; unbatched blocks use solve()'s default replicas). The energy returned equals ``qumo_energy`` of the returned x (it is
    that evaluation). Raises TypeError/ValueError naming the argument."""
    fn = "bcd"
    block_size = int_option(fn, "block_size", block_size)
    max_sweeps = int_option(fn, "max_sweeps", max_sweeps)
    block_iterations = int_option(fn, "block_iterations", block_iterations)
    replicas = int_option(fn, "replicas", replicas)
    seed = seed_option(fn, seed)
    exact = bool_option(fn, "exact", exact)
    batched = bool_option(fn, "batched", batched)
    J, h, cont, off = as_qumo_arrays(problem, fn)
    n = len(h)
    if exact and cont.any():
        fail(fn, "exact", "False for problems with continuous variables", f"True with {int(cont.sum())} continuous")
    if exact and batched:
        fail(fn, "exact' and 'batched", "at most one True", "both True")
    if exact and min(block_size, n) > EXACT_MAX_BINARY:
        fail(fn, "block_size", f"<= {EXACT_MAX_BINARY} with exact=True (2^block_size states enumerated per "
             f"block; the problem has n = {n} variables)", block_size)
    if batched and 4 * min(block_size, n) * replicas * -(-n // block_size) > MAX_STATE_BYTES:
        fail(fn, "replicas", f"a batched state of blocks x block_size x replicas float32 within "
             f"{MAX_STATE_BYTES >> 30} GiB", replicas)
    J = J.toarray() if hasattr(J, "toarray") else J
    if x0 is None:
        rng = np.random.default_rng(seed)
        x = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        x[cont] = 0.0
    else:
        x = start_state(fn, x0, cont)
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
                if xb is None:          # no replica of this block reached a finite energy
                    continue
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
        scale = max(float(np.abs(np.linalg.eigvalsh(Jb[i])).max()), float(np.abs(hb[i]).max()))
        scale = scale if scale > 0 else 1.0          # an all-zero block: nothing to scale
        Jb[i] /= scale
        hb[i] /= scale
    params = _Sampler(seed).explore(replicas)
    x0 = np.stack([np.random.default_rng([seed, i]).uniform(-INIT_SCALE, INIT_SCALE, (k, replicas))
                   for i in range(B)]).astype(np.float32)
    e, S = run_blocks_torch(Jb, hb, cb, params[:, 0].astype(np.float32), params[:, 1].astype(np.float32),
                            params[:, 2].astype(np.float32), x0, steps, 5, device)
    best = np.argmin(e, axis=1)
    return [S[i, :len(b), best[i]].astype(np.float64) if np.isfinite(e[i, best[i]]) else None
            for i, b in enumerate(blocks)]

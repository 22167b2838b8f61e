"""The inner loop of the AOC-DT solver: T steps of a batch of replicas, two backends.

``numpy`` is the reference (state as an (n, R) float32 matrix, ``J @ S`` one scipy.sparse or BLAS
product); ``cpp`` is the multi-threaded C++ kernel ``quaton_fast._C.solver_run_cpu`` (semantics in
``cpp/include/quaton/solver.h``); ``torch`` runs the same loop on any torch device (the GPU path,
replica_torch.py). All three do the same float32 operations in the same order; with a
CSR J the C++ spin sums also run in scipy's CSR order, so the two agree bit for bit. With a dense
J NumPy sums through BLAS in an unspecified order: the spin sums may then differ by rounding,
|dy_i| <= n * 2^-24 * sum_j |J_ij| (exact when J is integer-valued and |y| < 2^24, e.g. +-1 J with
binary variables).

Initial states come from one NumPy stream per replica, seeded by (seed, restart, replica index),
so a replica's trajectory does not depend on how the replicas are batched or sharded.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .replica_operator import DT, Operator  # noqa: F401 (re-exported)
INIT_SCALE = 0.01   # initial states uniform on [-INIT_SCALE, INIT_SCALE]
BACKENDS = ("numpy", "cpp", "torch")


def cpp_available() -> bool:
    try:
        from ... import _C
    except ImportError:
        return False
    return hasattr(_C, "solver_run_cpu")


def resolve_backend(backend: str | None) -> str:
    """None -> 'cpp' when the extension has the kernel, else 'numpy'; a name is checked."""
    if backend is None:
        return "cpp" if cpp_available() else "numpy"
    if backend not in BACKENDS:
        raise ValueError(f"solve(): argument 'backend' must be one of {BACKENDS} or None, got {backend!r}")
    if backend == "cpp" and not cpp_available():
        raise RuntimeError("solve(): argument 'backend' is 'cpp' but quaton_fast._C has no solver_run_cpu "
                           "(extension not built?); use backend='numpy'")
    return backend


def initial_states(n: int, seed: int, restart: int, replica_ids) -> np.ndarray:
    """(n, len(replica_ids)) float32: column k from the stream (seed, restart, replica_ids[k])."""
    cols = [np.random.default_rng([int(seed), int(restart), int(r)]).uniform(-INIT_SCALE, INIT_SCALE, n)
            for r in replica_ids]
    return np.ascontiguousarray(np.stack(cols, axis=1), dtype=np.float32)


def run_batch(op: Operator, a0, g, gamma, x0, steps: int, check_every: int, backend: str,
              threads: int = 0, device: str = "cpu", precision: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One run of R replicas for ``steps`` steps from x0.

    a0, g, gamma: (R,) float32 (g already divided by ||J||_2); x0: (n, R) float32.
    device, precision: torch backend only (replica_torch.run_batch_torch).
    Returns (best energies (R,) float64 without offset, best sign-states (n, R) float32): for each
    replica the lowest energy among its checked steps (every ``check_every``-th and the last) and the
    state sigma(x) that energy was computed from. A replica none of whose checked energies is a
    finite number below +inf (only possible for non-finite input, which solve() refuses) keeps
    energy +inf and an all-zero placeholder state; callers must not report it (solve() does not).
    Nothing here is a convergence claim: the loop runs exactly ``steps`` steps."""
    if backend == "torch":
        from .replica_torch import run_batch_torch
        return run_batch_torch(op, a0, g, gamma, x0, steps, check_every, device, precision)
    if backend == "cpp":
        from ... import _C
        cont = np.ascontiguousarray(op.continuous, np.uint8)
        if sp.issparse(op.J32):
            ip, ix, dv = op.csr_arrays()
            return _C.solver_run_cpu(ip, ix, dv, None, op.h32, cont, x0, a0, g, gamma, DT, (-1.0, 1.0),
                                     int(steps), int(check_every), int(threads))
        return _C.solver_run_cpu(None, None, None, op.J32, op.h32, cont, x0, a0, g, gamma, DT, (-1.0, 1.0),
                                 int(steps), int(check_every), int(threads))
    return _run_batch_numpy(op, a0, g, gamma, x0, steps, check_every)


def _run_batch_numpy(op: Operator, a0, g, gam, x0, T, check_every):
    """Reference: same operations and order as the C++ kernel (see quaton/solver.h)."""
    n, R = x0.shape
    h32, cont = op.h32, op.continuous
    h64 = h32.astype(np.float64)
    any_cont = bool(cont.any())
    x = x0.copy()
    xp = x.copy()
    best_e = np.full(R, np.inf)
    best_s = np.zeros((n, R), np.float32)
    hcol = h32[:, None]
    dtf = np.float32(DT)
    one, mone = np.float32(1), np.float32(-1)
    for t in range(T):
        s = np.where(x >= 0, one, mone)
        if any_cont:
            s = np.where(cont[:, None], x, s)
        Js = op.J32 @ s
        if (t + 1) % check_every == 0 or t == T - 1:
            e = -0.5 * np.einsum("ij,ij->j", s, Js, dtype=np.float64) - h64 @ s.astype(np.float64)
            imp = e < best_e
            if imp.any():
                best_e[imp] = e[imp]
                best_s[:, imp] = s[:, imp]
        a = a0 * np.float32(1.0 - t / T)
        xn = x + dtf * g * (Js + hcol) - dtf * a * x + gam * (x - xp)
        np.clip(xn, np.float32(-1), np.float32(1), out=xn)
        xp, x = x, xn
    return best_e, best_s

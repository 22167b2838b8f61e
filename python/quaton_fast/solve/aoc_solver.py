"""AOC digital-twin (AOC-DT) solver for QUMO / QUBO / Ising / Max-Cut problems.

Canonical convention (SPEC B3, the released optimizer's): minimise
``E(x) = -1/2 x^T J x - h^T x + offset`` with x_i in {-1, 1} (binary) or [-1, 1] (continuous).

Update rule (SPEC B1), for R replicas at once (the inner loop is in replica_kernels.py: the C++
kernel by default on the CPU, the NumPy reference with ``backend="numpy"``, PyTorch on any torch
device with ``backend="torch"`` -- the default for ``device="cuda"``, see replica_torch.py):
``x <- x + dt*g*(J sigma(x) + h) - dt*a(t)*x + gamma*(x - x_prev)``, clamp to [-1, 1];
sigma = sign for binary variables, identity for continuous ones; a(t) = a0 * (1 - t/T) (linear to 0);
dt = 0.5.

Hyperparameters: each replica has (a0, g, gamma). EXPLORATION draws them from a scrambled Sobol
sequence: log10 a0 and log10 g uniform on [-2, 0] (a, g in [0.01, 1]; log because their useful
range spans decades), gamma uniform on [0.95, 0.99]; g is divided by the spectral norm of J so that
the same g means the same loop gain for every instance. After the exploration share of the budget
(default 30 %), EXPLOITATION draws replicas around the best replica's parameters (log-normal jitter
of 0.15 decades on a0 and g, +-0.01 on gamma, clipped to the ranges).  Restarts continue until the
time or iteration budget is spent, or the target is reached with ``stop_at_target``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import time as _time
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.stats import qmc

from .replica_kernels import DT, Operator, initial_states, resolve_backend, run_batch

A_RANGE = (0.01, 1.0)
G_RANGE = (0.01, 1.0)
GAMMA_RANGE = (0.95, 0.99)


@dataclass
class SolveResult:
    best_state: np.ndarray          # (n,) float64, binary entries in {-1, 1}, continuous in [-1, 1]
    best_energy: float              # canonical QUMO energy (= Ising energy for Ising/MaxCut inputs)
    time_to_target: float | None    # seconds from start until energy <= target
    iterations: int                 # total iterations (steps of one batch of replicas)
    wall_time: float                # seconds
    trace: list = field(default_factory=list)            # [(seconds, best energy)]
    hyperparameters: dict = field(default_factory=dict)  # a, g, gamma of the best replica
    cut: float | None = None        # Max-Cut value of best_state when the input is a MaxCut
    restarts: int = 0
    target_hits: int = 0            # restarts whose best reached the target (success statistics)


def _fail(arg: str, expected: str, got: Any, exc: type = ValueError):
    raise exc(f"solve: argument '{arg}' expected {expected}, got {got!r}")


def as_qumo_arrays(problem) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray, np.ndarray, float]:
    """(J, h, continuous, offset) of any supported problem (QUMO-like, or an object with to_qumo)."""
    q = problem.to_qumo() if hasattr(problem, "to_qumo") else problem
    if isinstance(q, np.ndarray) or sp.issparse(q):
        J, h, cont, off = q, None, None, 0.0
    else:
        try:
            J = q.J
        except AttributeError:
            _fail("problem", "a QUMO/QUBO/Ising/MaxCut object or a square matrix J", type(problem).__name__, TypeError)
        h, cont, off = getattr(q, "h", None), getattr(q, "continuous", None), float(getattr(q, "offset", 0.0) or 0.0)
    if J.ndim != 2 or J.shape[0] != J.shape[1]:
        _fail("problem", "a square coupling matrix J", f"shape {J.shape}")
    n = J.shape[0]
    if n == 0:
        _fail("problem", "at least one variable", "n = 0")
    h = np.zeros(n) if h is None else np.asarray(h, dtype=np.float64).reshape(n)
    cont = np.zeros(n, bool) if cont is None else np.asarray(cont, dtype=bool).reshape(n)
    # checks and the diagonal fold stay sparse for sparse J (no n x n dense copy)
    J = sp.csr_matrix(J, dtype=np.float64) if sp.issparse(J) else np.asarray(J, dtype=np.float64)
    values = J.data if sp.issparse(J) else J
    if not (np.all(np.isfinite(values)) and np.all(np.isfinite(h))):
        _fail("problem", "finite J and h", "NaN/Inf entries")
    scale = max(1.0, float(np.abs(values).max()) if values.size else 0.0)
    # numpy.allclose(J, J.T, rtol=1e-5, atol=1e-9*scale), elementwise, for dense and sparse J
    excess = abs(J - J.T) - 1e-5 * abs(J.T)
    if (excess.max() if excess.size else 0.0) > 1e-9 * scale:
        _fail("problem", "a symmetric J", "an asymmetric matrix")
    # Binary diagonals are constants (x_i^2 = 1): fold them into the offset so that the iteration
    # does not feed J_ii*sign(x_i) back into x_i (which pins binaries and wrecks the search).
    d = J.diagonal() * ~cont
    if np.any(d != 0.0):
        J = (J - sp.diags(d)).tocsr() if sp.issparse(J) else J - np.diag(d)
        off -= 0.5 * float(d.sum())
    return J, h, cont, off


def qumo_energy(J, h, x, offset=0.0) -> np.ndarray:
    """E = -1/2 x^T J x - h^T x + offset; x (n,) or (n, R) -> scalar or (R,)."""
    Jx = J @ x
    return -0.5 * np.sum(x * Jx, axis=0) - h @ x + offset


def _spectral_norm(J) -> float:
    n = J.shape[0]
    if n <= 400 and not sp.issparse(J):
        v = np.linalg.eigvalsh(J)
        return float(max(abs(v[0]), abs(v[-1]), 1e-12))
    from scipy.sparse.linalg import eigsh
    try:
        lm = eigsh(J.astype(np.float64), k=1, which="LM", return_eigenvectors=False, tol=1e-3)
        return float(max(abs(lm[0]), 1e-12))
    except Exception:  # pragma: no cover - ARPACK failure: Frobenius bound
        return float(np.sqrt((J.multiply(J)).sum() if sp.issparse(J) else np.sum(J * J)))


class _Sampler:
    """Exploration (scrambled Sobol) then exploitation (jitter around the best) hyperparameters."""

    def __init__(self, seed: int):
        self.sobol = qmc.Sobol(d=3, scramble=True, seed=seed)
        self.rng = np.random.default_rng(seed + 7919)

    def explore(self, R: int) -> np.ndarray:
        with warnings.catch_warnings():  # balance warning for non-power-of-2 draws is harmless here
            warnings.simplefilter("ignore", UserWarning)
            u = self.sobol.random(R)
        la, lg = np.log10(A_RANGE), np.log10(G_RANGE)
        return np.column_stack([10 ** (la[0] + u[:, 0] * (la[1] - la[0])),
                                10 ** (lg[0] + u[:, 1] * (lg[1] - lg[0])),
                                GAMMA_RANGE[0] + u[:, 2] * (GAMMA_RANGE[1] - GAMMA_RANGE[0])])

    def exploit(self, R: int, best: np.ndarray) -> np.ndarray:
        z = self.rng.normal(size=(R, 3))
        a = np.clip(best[0] * 10 ** (0.15 * z[:, 0]), *A_RANGE)
        g = np.clip(best[1] * 10 ** (0.15 * z[:, 1]), *G_RANGE)
        c = np.clip(best[2] + 0.01 * z[:, 2], *GAMMA_RANGE)
        out = np.column_stack([a, g, c])
        out[0] = best
        return out


@dataclass
class _Plan:
    """Everything a restart loop needs, prepared once per solve()."""
    problem: Any
    J64: Any                 # (n, n) float64 ndarray or csr_matrix: exact energy recheck
    h: np.ndarray            # (n,) float64
    offset: float
    op: Operator             # float32 J, h, continuous mask for the kernels
    scale: float             # ||J||_2 (g is divided by it)
    T: int                   # steps per restart
    replicas: int
    check_every: int
    seed: int
    backend: str
    threads: int
    use_sparse: bool
    device: str = "cpu"            # torch device of the torch backend
    precision: str | None = None   # spin-product precision of the torch backend (fp32/tf32/bf16)


class LocalReplicas:
    """All replicas of a restart in this process (the sharded version lives in solve/distributed.py)."""

    def __init__(self, plan: _Plan, lo: int = 0, hi: int | None = None):
        self.plan, self.lo, self.hi = plan, lo, plan.replicas if hi is None else hi

    def run_slice(self, params: np.ndarray, restart: int) -> tuple[np.ndarray, np.ndarray]:
        """Replicas [lo, hi) of this restart. params: (R, 3) float64 (a0, g, gamma) of ALL replicas.
        Returns (energies (hi-lo,) with offset, sign-states (n, hi-lo) float32)."""
        p, sl = self.plan, params[self.lo:self.hi]
        x0 = initial_states(p.op.n, p.seed, restart, range(self.lo, self.hi))
        e, S = run_batch(p.op, sl[:, 0].astype(np.float32), (sl[:, 1] / p.scale).astype(np.float32),
                         sl[:, 2].astype(np.float32), x0, p.T, p.check_every, p.backend, p.threads,
                         p.device, p.precision)
        return e + p.offset, S

    def best(self, params: np.ndarray, restart: int) -> tuple[float, int, np.ndarray]:
        """(energy, global replica index, state (n,) float32) of the restart's best replica
        (lowest energy, lowest index on ties)."""
        e, S = self.run_slice(params, restart)
        k = int(np.argmin(e))
        return float(e[k]), self.lo + k, S[:, k].copy()

    def agree(self, flags: tuple[bool, ...]) -> tuple[bool, ...]:
        """Clock-based decisions; one process decides alone (ranks take rank 0's)."""
        return flags


DEFAULT_REPLICAS_CPU = 64
DEFAULT_REPLICAS_GPU = 1024   # a GPU needs many replicas per product to be busy
DENSE_TORCH_MAX_N = 16384   # torch backend: J dense (tensor-core products) up to 1 GiB of float32


def resolve_device_backend(device, backend: str | None) -> tuple[str, str]:
    """(device, backend) after checks: CPU devices take 'cpp'/'numpy'/'torch' (default 'cpp' when
    built); any other torch device (e.g. 'cuda', 'cuda:1') runs the 'torch' backend."""
    import torch
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        _fail("device", "a torch device such as 'cpu', 'cuda' or 'cuda:1'", device)
    if dev.type == "cpu":
        return "cpu", resolve_backend(backend)
    if backend not in (None, "torch"):
        _fail("backend", f"None or 'torch' on device {str(dev)!r} ('{backend}' runs on the CPU only)", backend)
    if dev.type == "cuda" and not torch.cuda.is_available():
        _fail("device", "'cpu' on this machine (torch sees no CUDA device)", str(dev), RuntimeError)
    return str(dev), "torch"


def _plan(problem, *, max_iterations, replicas, iterations_per_run, seed, check_every, sparse,
          backend, threads, device="cpu", precision=None) -> _Plan:
    device, backend = resolve_device_backend(device, backend)
    if replicas is None:
        replicas = DEFAULT_REPLICAS_GPU if device != "cpu" else DEFAULT_REPLICAS_CPU
    if int(replicas) != replicas or replicas < 1:
        _fail("replicas", "a positive int or None", replicas)
    if int(check_every) != check_every or check_every < 1:
        _fail("check_every", "a positive int", check_every)
    if iterations_per_run is not None and (int(iterations_per_run) != iterations_per_run or iterations_per_run < 1):
        _fail("iterations_per_run", "a positive int or None", iterations_per_run)
    if int(threads) != threads:
        _fail("threads", "an int (<= 0: all cores)", threads)
    if precision is not None and backend != "torch":
        _fail("precision", "None unless backend='torch' (the CPU kernels compute in float32)", precision)
    J, h, cont, offset = as_qumo_arrays(problem)
    n = J.shape[0]
    T = int(iterations_per_run or default_iterations_per_run(n))
    if max_iterations is not None:
        T = min(T, int(max_iterations))
    density = (J.nnz if sp.issparse(J) else np.count_nonzero(J)) / float(n * n)
    if sparse is not None:
        use_sparse = bool(sparse)
    elif backend == "torch":
        use_sparse = n > DENSE_TORCH_MAX_N
    else:
        use_sparse = bool(density < 0.15 and n >= 500)
    J32 = sp.csr_matrix(J, dtype=np.float32) if use_sparse else \
        np.ascontiguousarray((J.toarray() if sp.issparse(J) else J), dtype=np.float32)
    J64 = sp.csr_matrix(J) if sp.issparse(J) or use_sparse else J
    op = Operator(J32, np.ascontiguousarray(h, np.float32), cont)
    if backend == "torch":
        import torch
        from .replica_torch import choose_precision
        precision = choose_precision(op, torch.device(device), precision)
    return _Plan(problem, J64, h, offset, op, _spectral_norm(J64), T, int(replicas), int(check_every),
                 int(seed), backend, int(threads), use_sparse, device, precision)


def _validate_budget(time_limit, max_iterations, target_cut, problem):
    if time_limit is not None and (not np.isfinite(time_limit) or time_limit <= 0):
        _fail("time_limit", "a positive number of seconds", time_limit)
    if max_iterations is not None and (int(max_iterations) != max_iterations or max_iterations <= 0):
        _fail("max_iterations", "a positive int", max_iterations)
    if target_cut is not None and not hasattr(problem, "cut_value"):
        _fail("target_cut", "a MaxCut problem (with cut_value)", type(problem).__name__, TypeError)


def default_iterations_per_run(n: int) -> int:
    """Steps per restart when not given: 10 per variable, within [200, 4000].

    The cap was 2000; on G-set G2 (n = 800) runs of 4000 steps reached the best-known cut in a
    median of ~7 s (5 seeds, 64 replicas, a loaded 2-core machine) against ~10 s with 2000 and
    ~14 s with 8000 (benchmarks/bench_solver_peers.py has the final measurement)."""
    return max(200, min(4000, 10 * n))


def solve(problem, *, time_limit: float | None = None, max_iterations: int | None = None,
          replicas: int | None = None, iterations_per_run: int | None = None, seed: int = 0,
          target: float | None = None, target_cut: float | None = None, stop_at_target: bool = True,
          exploration_share: float = 0.3, check_every: int = 5, sparse: bool | None = None,
          device: str = "cpu", backend: str | None = None, threads: int = 0,
          precision: str | None = None, progress: bool = True) -> SolveResult:
    """Minimise a QUMO / QUBO / Ising / Max-Cut problem with the AOC-DT iteration.

    time_limit: seconds (budget); max_iterations: total steps over all restarts (budget). If neither
    is given, 20 restarts. target: canonical energy to reach (for Max-Cut the Ising energy
    ``to_qumo`` convention); target_cut: Max-Cut value to reach instead.
    replicas: per restart; None: 64 on the CPU, 1024 on other devices (a GPU needs many).
    device: a torch device ('cpu', 'cuda', 'cuda:1'); off the CPU the 'torch' backend runs. backend: 'cpp' (C++ threads; the CPU default when the extension
    is built), 'numpy' (reference) or 'torch'; threads: C++ worker threads (<= 0: all cores).
    precision: torch backend's spin product, None (fastest exact one), 'fp32', 'tf32' or 'bf16'
    (replica_torch). For a given seed and iteration budget the result does not depend on the
    backend (up to float32 rounding with non-integer J, see replica_kernels) nor on the thread count.
    A problem with an ``aoc_solve`` method (a ConstrainedProblem: linear constraints) is handed to
    it: the augmented-Lagrangian solver of constrained_solve.py, ``target`` then in the file's sense.
    """
    hook = getattr(problem, "aoc_solve", None)   # constrained problems (constraints.py) solve themselves
    if callable(hook):
        return hook(time_limit=time_limit, max_iterations=max_iterations, replicas=replicas,
                    iterations_per_run=iterations_per_run, seed=seed, target=target, target_cut=target_cut,
                    stop_at_target=stop_at_target, exploration_share=exploration_share,
                    check_every=check_every, sparse=sparse, device=device, backend=backend,
                    threads=threads, precision=precision, progress=progress)
    _validate_budget(time_limit, max_iterations, target_cut, problem)
    plan = _plan(problem, max_iterations=max_iterations, replicas=replicas, iterations_per_run=iterations_per_run,
                 seed=seed, check_every=check_every, sparse=sparse, backend=backend, threads=threads,
                 device=device, precision=precision)
    return _drive(plan, LocalReplicas(plan), time_limit=time_limit, max_iterations=max_iterations,
                  target=target, target_cut=target_cut, stop_at_target=stop_at_target,
                  exploration_share=exploration_share, progress=progress)


def _drive(plan: _Plan, reps: LocalReplicas, *, time_limit, max_iterations, target, target_cut,
           stop_at_target, exploration_share, progress) -> SolveResult:
    """The restart loop: explore (Sobol) then exploit (around the best), until a budget or the target."""
    problem, T = plan.problem, plan.T
    if time_limit is None and max_iterations is None:
        max_iterations = 20 * T
    sampler = _Sampler(plan.seed)
    bar = None
    if progress:
        try:
            from tqdm import tqdm
            bar = tqdm(total=max_iterations or None, unit="it", desc="aoc-solve", leave=False)
        except ImportError:
            bar = None

    def reached(e, x):
        return (target is not None and e <= target + 1e-9) or \
            (target_cut is not None and problem.cut_value(x) >= target_cut - 1e-9)

    t0 = _time.perf_counter()
    best_e, best_x, best_p, ttt = np.inf, None, None, None
    trace, its, restarts, hits = [], 0, 0, 0
    while True:
        el = _time.perf_counter() - t0
        out_of_time, explore_time = reps.agree((
            time_limit is not None and el >= time_limit and restarts > 0,
            time_limit is not None and el < exploration_share * time_limit))
        if out_of_time or (max_iterations is not None and its >= max_iterations):
            break
        explore = best_p is None or explore_time or (time_limit is None and its < exploration_share * max_iterations)
        params = sampler.explore(plan.replicas) if explore else sampler.exploit(plan.replicas, best_p)
        ek, k, sk = reps.best(params, restarts)
        its += T
        restarts += 1
        xk = sk.astype(np.float64)
        if reached(ek, xk):
            hits += 1
        if ek < best_e:
            ex = float(qumo_energy(plan.J64, plan.h, xk, plan.offset))  # exact float64 recheck
            if ex < best_e:
                best_e, best_x, best_p = ex, xk, params[k].copy()
                now = _time.perf_counter() - t0
                trace.append((now, best_e))
                if ttt is None and reached(best_e, xk):
                    ttt = now
        if bar is not None:
            bar.update(T)
            bar.set_postfix(best=f"{best_e:.6g}")
        if ttt is not None and stop_at_target:
            break
    if bar is not None:
        bar.close()
    wall = _time.perf_counter() - t0
    cut = float(problem.cut_value(best_x)) if hasattr(problem, "cut_value") else None
    hp = {"a": float(best_p[0]), "g": float(best_p[1]), "g_scaled": float(best_p[1] / plan.scale),
          "gamma": float(best_p[2]), "dt": DT, "iterations_per_run": T, "sparse": plan.use_sparse,
          "backend": plan.backend, "replicas": plan.replicas, "check_every": plan.check_every,
          "device": plan.device, "precision": plan.precision}
    return SolveResult(best_x, float(best_e), ttt, its, wall, trace, hp, cut, restarts, hits)

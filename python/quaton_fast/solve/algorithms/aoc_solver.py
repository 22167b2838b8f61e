"""AOC digital-twin (AOC-DT) solver for QUMO / QUBO / Ising / Max-Cut problems.

Canonical convention (the released AOC optimizer's (Kalinin et al., Nature 2025; AOCoptimizer.jl)): minimise
``E(x) = -1/2 x^T J x - h^T x + offset`` with x_i in {-1, 1} (binary) or [-1, 1] (continuous).

Update rule (the AOC paper's annealed gradient dynamics), for R replicas at once (the inner loop is in replica_kernels.py: the C++
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

import dataclasses
from dataclasses import dataclass, field
import time as _time
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.stats import qmc

from ..._validation import fail, plain_scalar
from ..models.entry_checks import (MAX_STATE_BYTES, as_qumo_arrays, bool_option, int_option, real_option,
                           seed_option)
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

    def __repr__(self) -> str:
        """Every field, with arrays of more than 8 entries and lists of more than 4 summarised
        (an 800-variable state printed in full buries the result)."""
        def short(v):
            if isinstance(v, np.ndarray) and v.size > 8:
                return f"array(shape={v.shape}, dtype={v.dtype}, first={np.array2string(v.ravel()[:4], precision=4)[:-1]} ...])"
            if isinstance(v, list) and len(v) > 4:
                return f"[{short(v[0])}, ... {len(v)} entries ..., {short(v[-1])}]"
            return repr(v)
        body = ", ".join(f"{f.name}={short(getattr(self, f.name))}" for f in dataclasses.fields(self) if f.repr)
        return f"{type(self).__name__}({body})"


def _fail(arg: str, expected: str, got: Any, exc: type = ValueError):
    fail("solve", arg, expected, repr(got), exc)


def qumo_energy(J, h, x, offset=0.0) -> np.ndarray:
    """E = -1/2 x^T J x - h^T x + offset; x (n,) or (n, R) -> scalar or (R,)."""
    Jx = J @ x
    return -0.5 * np.sum(x * Jx, axis=0) - h @ x + offset


def _spectral_norm(J) -> float:
    """||J||_2 of a symmetric J (largest |eigenvalue|); 0.0 when J has no nonzero entry.

    Dense J up to n = 400: numpy.linalg.eigvalsh. Otherwise ARPACK (eigsh, tol 1e-3, from a fixed
    seeded start vector: ARPACK's own random start made the norm, hence float32 g, vary in the last
    bits from run to run); where ARPACK
    fails (e.g. n <= 2, where it needs k < n) a sparse J of n <= 4000 is densified for eigvalsh,
    larger ones take the Frobenius norm (an upper bound of ||J||_2)."""
    values = J.data if sp.issparse(J) else J
    if not np.any(values):
        return 0.0
    n = J.shape[0]
    if n <= 2 or (n <= 400 and not sp.issparse(J)):
        v = np.linalg.eigvalsh(J.toarray() if sp.issparse(J) else J)
        return float(max(abs(v[0]), abs(v[-1])))
    from scipy.sparse.linalg import eigsh
    try:
        v0 = np.random.default_rng(0).standard_normal(n)   # fixed start: the same norm on every run
        lm = eigsh(J.astype(np.float64), k=1, which="LM", return_eigenvectors=False, tol=1e-3, v0=v0)
        if np.isfinite(lm[0]) and lm[0] != 0:
            return float(abs(lm[0]))
    except Exception:  # noqa: BLE001 - ARPACK failure: the exact or a bounding norm below
        pass
    if n <= 4000:
        v = np.linalg.eigvalsh(J.toarray() if sp.issparse(J) else J)
        return float(max(abs(v[0]), abs(v[-1])))
    return float(np.sqrt((J.multiply(J)).sum() if sp.issparse(J) else np.sum(J * J)))


#: the float32 operator is multiplied by a power of two when max(|J|, |h|) leaves [2^-40, 2^40]
_UNIT_RANGE = (2.0 ** -40, 2.0 ** 40)
#: upper bound of the per-replica loop gain handed to the float32 kernels (g / ||J||_2)
_MAX_KERNEL_GAIN = 1e30


def gain_scale(J, h) -> float:
    """What each replica's g is divided by (the AOC paper: "g rescaled by the extreme eigenvalues of J").

    ||J||_2 when J has a nonzero entry; for J = 0 (no couplings: each variable only feels its field)
    max|h|, so the loop gain g*h/max|h| is again of order g; 1.0 when J and h are both zero (every
    state has the same energy, nothing to scale)."""
    norm = _spectral_norm(J)
    if norm > 0:
        return norm
    hmax = float(np.abs(h).max()) if h.size else 0.0
    return hmax if hmax > 0 else 1.0


def operator_unit(J, h) -> float:
    """Power of two the float32 operator (J, h) is multiplied by: 1.0 unless max(|J|, |h|) lies
    outside [2^-40, 2^40], then 2^-round(log2 max) (so 1e-300 or 1e300 couplings neither underflow
    nor overflow float32). A power of two commutes with float rounding: the kernels' trajectories and
    energies (divided back by the unit) are the ones of the unscaled problem wherever float32 can
    represent it."""
    values = J.data if sp.issparse(J) else J
    m = max(float(np.abs(values).max()) if values.size else 0.0, float(np.abs(h).max()) if h.size else 0.0)
    if m == 0.0 or _UNIT_RANGE[0] <= m <= _UNIT_RANGE[1]:
        return 1.0
    return float(2.0 ** -round(np.log2(m)))


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
    unit: float = 1.0              # op holds unit * (J, h) (operator_unit); kernel energies / unit


class LocalReplicas:
    """All replicas of a restart in this process (the sharded version lives in solve/algorithms/distributed.py)."""

    def __init__(self, plan: _Plan, lo: int = 0, hi: int | None = None):
        self.plan, self.lo, self.hi = plan, lo, plan.replicas if hi is None else hi

    def run_slice(self, params: np.ndarray, restart: int, x0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Replicas [lo, hi) of this restart. params: (R, 3) float64 (a0, g, gamma) of ALL replicas;
        x0: optional (n, hi-lo) float32 start states (default: the seeded random ones).
        Returns (energies (hi-lo,) with offset, sign-states (n, hi-lo) float32)."""
        p, sl = self.plan, params[self.lo:self.hi]
        if x0 is None:
            x0 = initial_states(p.op.n, p.seed, restart, range(self.lo, self.hi))
        g = np.minimum(sl[:, 1] / (p.scale * p.unit), _MAX_KERNEL_GAIN)
        e, S = run_batch(p.op, sl[:, 0].astype(np.float32), g.astype(np.float32),
                         sl[:, 2].astype(np.float32), x0, p.T, p.check_every, p.backend, p.threads,
                         p.device, p.precision)
        return (e if p.unit == 1.0 else e / p.unit) + p.offset, S

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
    replicas = int_option("solve", "replicas", replicas)
    check_every = int_option("solve", "check_every", check_every)
    iterations_per_run = int_option("solve", "iterations_per_run", iterations_per_run, allow_none=True)
    threads = int_option("solve", "threads", threads, minimum=-(2**31))
    seed = seed_option("solve", seed)
    sparse = bool_option("solve", "sparse", sparse, allow_none=True)
    if precision is not None and backend != "torch":
        _fail("precision", "None unless backend='torch' (the CPU kernels compute in float32)", precision)
    J, h, cont, offset = as_qumo_arrays(problem)
    n = J.shape[0]
    if 4 * n * replicas > MAX_STATE_BYTES:
        _fail("replicas", f"at most {MAX_STATE_BYTES // (4 * n)} for n = {n} variables (a float32 state "
              f"matrix of n x replicas within {MAX_STATE_BYTES >> 30} GiB)", replicas)
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
    if not use_sparse and sp.issparse(J) and 4 * n * n > MAX_STATE_BYTES:
        _fail("sparse", f"True or None for n = {n} (a dense float32 J would exceed {MAX_STATE_BYTES >> 30} GiB)",
              sparse)
    J64 = sp.csr_matrix(J) if sp.issparse(J) or use_sparse else J   # exact (float64) energy recheck
    scale = gain_scale(J64, h)
    unit = operator_unit(J, h)
    if unit != 1.0:
        J, h32 = J * unit, h * unit
    else:
        h32 = h
    J32 = sp.csr_matrix(J, dtype=np.float32) if use_sparse else \
        np.ascontiguousarray((J.toarray() if sp.issparse(J) else J), dtype=np.float32)
    op = Operator(J32, np.ascontiguousarray(h32, np.float32), cont)
    if backend == "torch":
        import torch
        from .replica_torch import choose_precision
        precision = choose_precision(op, torch.device(device), precision)
    return _Plan(problem, J64, h, offset, op, scale, T, int(replicas), int(check_every),
                 int(seed), backend, int(threads), use_sparse, device, precision, unit)


def _validate_budget(time_limit, max_iterations, target_cut, problem):
    """Entry checks of the budget (once per solve(); nothing is checked inside the restart loop)."""
    real_option("solve", "time_limit", time_limit, allow_none=True, positive=True)
    int_option("solve", "max_iterations", max_iterations, allow_none=True)
    real_option("solve", "target_cut", target_cut, allow_none=True)
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
    (time_limit, max_iterations, replicas, iterations_per_run, seed, target, target_cut, exploration_share,
     check_every, threads) = (plain_scalar(v) for v in (time_limit, max_iterations, replicas, iterations_per_run,
                                                         seed, target, target_cut, exploration_share, check_every,
                                                         threads))   # NumPy / 0-d tensor numbers as Python ones
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
    target = real_option("solve", "target", target, allow_none=True)
    stop_at_target = bool_option("solve", "stop_at_target", stop_at_target)
    exploration_share = real_option("solve", "exploration_share", exploration_share, lo=0.0, hi=1.0)
    progress = bool_option("solve", "progress", progress)
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
        # Everything reported is judged on the exact float64 energy of the state itself; a kernel
        # energy of +inf marks a restart whose replicas never produced a finite energy (its state is
        # a placeholder, never reported).
        ex = float(qumo_energy(plan.J64, plan.h, xk, plan.offset)) if np.isfinite(ek) else np.inf
        if np.isfinite(ex) and reached(ex, xk):
            hits += 1
        if ex < best_e:
            best_e, best_x, best_p = ex, xk, params[k].copy()
            now = _time.perf_counter() - t0
            trace.append((now, best_e))
            if ttt is None and reached(best_e, xk):
                ttt = now
        if bar is not None:
            bar.update(T)
            bar.set_postfix(best=f"{best_e:.6g}", refresh=False)
        if ttt is not None and stop_at_target:
            break
    if bar is not None:
        bar.close()
    wall = _time.perf_counter() - t0
    if best_x is None:   # no replica ever produced a finite energy (cannot happen for accepted input)
        raise RuntimeError(f"solve(): no restart produced a state of finite energy in {restarts} restarts "
                           f"(n = {plan.op.n}, gain scale {plan.scale:.3g}, operator unit {plan.unit:g}); "
                           "nothing to report")
    cut = float(problem.cut_value(best_x)) if hasattr(problem, "cut_value") else None
    hp = {"a": float(best_p[0]), "g": float(best_p[1]), "g_scaled": float(best_p[1] / plan.scale),
          "gamma": float(best_p[2]), "dt": DT, "iterations_per_run": T, "sparse": plan.use_sparse,
          "backend": plan.backend, "replicas": plan.replicas, "check_every": plan.check_every,
          "device": plan.device, "precision": plan.precision}
    return SolveResult(best_x, float(best_e), ttt, its, wall, trace, hp, cut, restarts, hits)

"""AOC digital-twin (AOC-DT) solver for QUMO / QUBO / Ising / Max-Cut problems.

Canonical convention (SPEC B3, the released optimizer's): minimise
``E(x) = -1/2 x^T J x - h^T x + offset`` with x_i in {-1, 1} (binary) or [-1, 1] (continuous).

Update rule (SPEC B1), for R replicas at once (state stored as an (n, R) float32 matrix so that
``J @ S`` is one BLAS / scipy.sparse product):
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

DT = 0.5
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
    Jd = J.toarray() if sp.issparse(J) else np.asarray(J, dtype=np.float64)
    if not (np.all(np.isfinite(Jd)) and np.all(np.isfinite(h))):
        _fail("problem", "finite J and h", "NaN/Inf entries")
    if not np.allclose(Jd, Jd.T, atol=1e-9 * max(1.0, np.abs(Jd).max())):
        _fail("problem", "a symmetric J", "an asymmetric matrix")
    return (sp.csr_matrix(J, dtype=np.float64) if sp.issparse(J) else Jd), h, cont, off


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


def _run_batch(Jop, h32, cont, params, T, check_every, rng, scale):
    """One restart of R replicas for T steps; returns (energies (R,), states (n, R)) of the best
    sign-states seen per replica."""
    n, R = h32.shape[0], params.shape[0]
    a0 = params[:, 0].astype(np.float32)
    g = (params[:, 1] / scale).astype(np.float32)
    gam = params[:, 2].astype(np.float32)
    x = rng.uniform(-0.01, 0.01, size=(n, R)).astype(np.float32)
    xp = x.copy()
    binm = ~cont
    any_cont = bool(cont.any())
    best_e = np.full(R, np.inf)
    best_s = np.zeros((n, R), np.float32)
    hcol = h32[:, None]
    for t in range(T):
        s = np.where(x >= 0, np.float32(1), np.float32(-1)) if not any_cont else np.where(binm[:, None], np.where(x >= 0, 1, -1).astype(np.float32), x)
        Js = Jop @ s
        if (t + 1) % check_every == 0 or t == T - 1:
            e = -0.5 * np.einsum("ij,ij->j", s, Js, dtype=np.float64) - (h32 @ s).astype(np.float64)
            imp = e < best_e
            if imp.any():
                best_e[imp] = e[imp]
                best_s[:, imp] = s[:, imp]
        a = a0 * np.float32(1.0 - t / T)
        xn = x + np.float32(DT) * g * (Js + hcol) - np.float32(DT) * a * x + gam * (x - xp)
        np.clip(xn, -1.0, 1.0, out=xn)
        xp, x = x, xn
    return best_e, best_s


def solve(problem, *, time_limit: float | None = None, max_iterations: int | None = None,
          replicas: int = 64, iterations_per_run: int | None = None, seed: int = 0,
          target: float | None = None, target_cut: float | None = None, stop_at_target: bool = True, exploration_share: float = 0.3,
          check_every: int = 5, sparse: bool | None = None, device: str = "cpu",
          progress: bool = True) -> SolveResult:
    """Minimise a QUMO / QUBO / Ising / Max-Cut problem with the AOC-DT iteration.

    time_limit: seconds (budget); max_iterations: total steps over all restarts (budget). If neither
    is given, 20 restarts. target: canonical energy to reach (for Max-Cut the Ising energy
    ``to_qumo`` convention); target_cut: Max-Cut value to reach instead. device: 'cpu' only (no GPU path yet).
    """
    if time_limit is not None and (not np.isfinite(time_limit) or time_limit <= 0):
        _fail("time_limit", "a positive number of seconds", time_limit)
    if max_iterations is not None and (int(max_iterations) != max_iterations or max_iterations <= 0):
        _fail("max_iterations", "a positive int", max_iterations)
    if int(replicas) != replicas or replicas < 1:
        _fail("replicas", "a positive int", replicas)
    if target_cut is not None and not hasattr(problem, "cut_value"):
        _fail("target_cut", "a MaxCut problem (with cut_value)", type(problem).__name__, TypeError)
    if device != "cpu":
        _fail("device", "'cpu' (this solver runs NumPy/BLAS)", device)
    J, h, cont, offset = as_qumo_arrays(problem)
    n = J.shape[0]
    T = int(iterations_per_run or max(200, min(2000, 10 * n)))
    if max_iterations is not None:
        T = min(T, int(max_iterations))
    if time_limit is None and max_iterations is None:
        max_iterations = 20 * T
    density = (J.nnz if sp.issparse(J) else np.count_nonzero(J)) / float(n * n)
    use_sparse = (density < 0.15 and n >= 500) if sparse is None else bool(sparse)
    Jop = sp.csr_matrix(J, dtype=np.float32) if use_sparse else (J.toarray() if sp.issparse(J) else J).astype(np.float32)
    J64 = sp.csr_matrix(J) if sp.issparse(J) or use_sparse else J
    scale = _spectral_norm(J64)
    h32 = h.astype(np.float32)
    rng = np.random.default_rng(seed)
    sampler = _Sampler(seed)
    bar = None
    if progress:
        try:
            from tqdm import tqdm
            bar = tqdm(total=max_iterations or None, unit="it", desc="aoc-solve", leave=False)
        except ImportError:
            bar = None
    t0 = _time.perf_counter()
    best_e, best_x, best_p, ttt = np.inf, None, None, None
    trace, its, restarts, hits = [], 0, 0, 0
    while True:
        el = _time.perf_counter() - t0
        if time_limit is not None and el >= time_limit and restarts > 0:
            break
        if max_iterations is not None and its >= max_iterations:
            break
        explore = best_p is None or (time_limit is not None and el < exploration_share * time_limit) or \
            (time_limit is None and its < exploration_share * max_iterations)
        params = sampler.explore(replicas) if explore else sampler.exploit(replicas, best_p)
        e, S = _run_batch(Jop, h32, cont, params, T, check_every, rng, scale)
        its += T
        restarts += 1
        e = e + offset
        k = int(np.argmin(e))
        if target is not None and e[k] <= target + 1e-9:
            hits += 1
        elif target_cut is not None and problem.cut_value(S[:, k].astype(np.float64)) >= target_cut - 1e-9:
            hits += 1
        if e[k] < best_e:
            xk = S[:, k].astype(np.float64)
            ek = float(qumo_energy(J64, h, xk, offset))  # exact float64 recheck
            if ek < best_e:
                best_e, best_x, best_p = ek, xk, params[k].copy()
                now = _time.perf_counter() - t0
                trace.append((now, best_e))
                if ttt is None and ((target is not None and best_e <= target + 1e-9) or
                                    (target_cut is not None and problem.cut_value(xk) >= target_cut - 1e-9)):
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
    hp = {"a": float(best_p[0]), "g": float(best_p[1]), "g_scaled": float(best_p[1] / scale),
          "gamma": float(best_p[2]), "dt": DT, "iterations_per_run": T, "sparse": use_sparse}
    return SolveResult(best_x, float(best_e), ttt, its, wall, trace, hp, cut, restarts, hits)

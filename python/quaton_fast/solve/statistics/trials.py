"""Success probability of a QUMO method over independent restarts (Beta(1,1) posterior, as the AOC paper reports success probabilities).

A restart is one call ``method(seed) -> state`` from a fresh seed. Its state is *polished*: the
binary part is kept and the continuous part is replaced by its exact optimum for those binaries
(:func:`quaton_fast.solve.algorithms.qumo_exact.continuous_optimum`, a convex box QP), so that success means
"the method found an optimal binary decision" and not "the continuous variables converged to
1e-9". Both the raw and the polished energies are returned. A restart succeeds when its polished
energy is <= target + tol, ``tol = rtol * max(1, |target|)``.
"""
from __future__ import annotations

from dataclasses import dataclass
import time
from typing import Callable

import numpy as np

from ..._validation import fail, finite_real, positive_int
from ..._safe_json import read_json
from ..algorithms.aoc_solver import qumo_energy
from ..models.entry_checks import as_qumo_arrays
from ..algorithms.qumo_exact import continuous_optimum
from .stats import SuccessProbability, success_probability

__all__ = ["RestartTrials", "run_restarts", "update_records"]


@dataclass
class RestartTrials:
    raw_energies: np.ndarray        # (n,) canonical energy of each restart's state
    energies: np.ndarray            # (n,) energy after the exact continuous polish
    states: np.ndarray              # (n, n_vars) polished states
    success: np.ndarray             # (n,) bool
    seconds: np.ndarray             # (n,) wall time of each restart (method only)
    target: float
    probability: SuccessProbability

    @property
    def best(self) -> int:
        return int(np.argmin(self.energies))


def run_restarts(problem, method: Callable[[int], np.ndarray], n_restarts: int, target: float, *,
                 first_seed: int = 0, rtol: float = 1e-7) -> RestartTrials:
    """Run ``method(seed)`` for seeds first_seed .. first_seed + n_restarts - 1 and count successes."""
    fn = "run_restarts"
    n_restarts = positive_int(fn, "n_restarts", n_restarts)
    target = finite_real(fn, "target", target)
    rtol = finite_real(fn, "rtol", rtol, nonnegative=True)
    J, h, cont, off = as_qumo_arrays(problem, fn)
    tol = rtol * max(1.0, abs(target))
    raw, pol, states, secs = [], [], [], []
    for k in range(n_restarts):
        t0 = time.perf_counter()
        x = np.asarray(method(first_seed + k))
        secs.append(time.perf_counter() - t0)
        if x.dtype.kind not in "biuf" or x.size != h.size or not np.all(np.isfinite(x)):
            fail(fn, "method", f"a function returning a finite real state of {h.size} values",
                 f"dtype {x.dtype}, shape {x.shape} for seed {first_seed + k}")
        x = x.astype(np.float64).reshape(-1)
        raw.append(float(qumo_energy(J, h, x, off)))
        xp, ep = continuous_optimum(problem, np.where(x[~cont] >= 0, 1.0, -1.0))
        pol.append(ep)
        states.append(xp)
    pol_a = np.array(pol)
    ok = pol_a <= target + tol
    return RestartTrials(np.array(raw), pol_a, np.array(states), ok, np.array(secs), target,
                         success_probability(int(ok.sum()), n_restarts))


def update_records(path, records: list[dict]) -> None:
    """Merge result records into a JSON list file, atomically (temp file + os.replace).

    A record replaces an existing one with the same (task, dataset, method, model, metric); others stay.
    """
    from pathlib import Path

    from ..._atomic import atomic_write_json

    p = Path(path)
    old = read_json("update_records", p, nonfinite=True) if p.exists() else []
    if not isinstance(old, list):
        raise ValueError(f"update_records(): argument 'path' must be a JSON list file, got {type(old).__name__} in {p}")
    key = lambda r: (r.get("task"), r.get("dataset"), r.get("method"), r.get("model"), r.get("metric"))  # noqa: E731
    new_keys = {key(r) for r in records}
    merged = [r for r in old if key(r) not in new_keys] + list(records)
    atomic_write_json(merged, p, indent=1)

"""The paper's hardware optimisation benchmark on the AOC twin: ideal, released and operator-calibrated
profiles, plus the one-switch-at-a-time ablation of the calibrations (issue 27, item 3).

Instance classes (our own generators, built as the paper describes them; brute-force optima):

* ``unsigned-dense``   16-variable QUBO ``min x^T Q x + c^T x``, x in {0,1}^16, off-diagonal Q_ij
                       unsigned integers in [1, 2^bits - 1] (dense), c_i = -u_i sum_j Q_ij with u_i
                       uniform in [0.3, 0.7] (so the optimum is a non-trivial subset); all couplings
                       of one sign, i.e. one SLM path carries the whole matrix.
* ``unsigned-3reg``    the same on a random 3-regular graph (sparse).
* ``qumo-planted``     ``planted_qumo(16, 8)``: 8 binary + 8 continuous variables, planted optimum.
* ``signed-8``         8-variable signed QUBO (Q_ij integers in [-(2^(bits-1) - 1), 2^(bits-1) - 1]),
                       run on an 8-wide cell: the paper's machine put signed problems with 8
                       variables on one SLM split into a positive and a negative half; the twin's two
                       sign paths are those halves (per-channel arrays: the 16-channel means).

QUBO classes keep only instances whose minimiser differs from the signs of the principal
eigenvector of the Ising coupling (both global signs checked), as the paper did, so that a spectral
rounding does not solve them.  ``bits`` = 8 unless --bits.

Each (instance, profile) gets R independent runs of :func:`quaton_fast.solve.algorithms.hardware_solver.hardware_anneal`
(a0 = 0.3, g = 0.3, gamma = 0.9, --steps steps); success = re-evaluated energy within 1e-9 relative of
the optimum; success probability Beta(1 + k, 1 + R - k) posterior (mean, 95 % interval), per instance
and pooled per class.

Profiles: ``ideal`` (the ideal solver's map), ``released`` (``AOCHardware.from_yaml``, uncalibrated),
``calibrated`` (``calibrate(from_yaml, width=n)``), ``calibrated without cal_X`` for each calibration
switch the profile has on.

Usage: OMP_NUM_THREADS=1 python benchmarks/bench_aoc_hardware.py \
           --profile ../shared/data/aoc_hardware/June2024_saturation_pieces_clip2p6.yaml \
           [--instances 3] [--runs 100] [--steps 1000] [--ablation-instances 1] \
           [--out docs/results/aoc_hardware.json]
Records are merged into --out: records of this benchmark (``method`` = ``aoc-dt-hardware-bench``) are
replaced, every other record is kept.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from itertools import product

import numpy as np
import torch

from quaton_fast._atomic import atomic_write_json
from quaton_fast.reference.aoc_hardware_calibration import calibrate
from quaton_fast.reference.aoc_hardware_profile import AOCHardware
from quaton_fast.solve.models.entry_checks import as_qumo_arrays
from quaton_fast.solve.models.generators import planted_qumo
from quaton_fast.solve.algorithms.hardware_solver import hardware_anneal
from quaton_fast.solve.models.problems import QUBO
from quaton_fast.solve.algorithms.qumo_exact import brute_force_qumo
from quaton_fast.solve.statistics.stats import success_probability

METHOD = "aoc-dt-hardware-bench"
CLASSES = ("unsigned-dense", "unsigned-3reg", "qumo-planted", "signed-8")


def _regular3(n: int, rng: np.random.Generator) -> np.ndarray:
    """Adjacency of a random 3-regular simple graph on n (even) vertices (configuration model, retried)."""
    while True:
        stubs = rng.permutation(np.repeat(np.arange(n), 3))
        pairs = stubs.reshape(-1, 2)
        if np.any(pairs[:, 0] == pairs[:, 1]):
            continue
        A = np.zeros((n, n), dtype=int)
        ok = True
        for i, j in pairs:
            if A[i, j]:
                ok = False
                break
            A[i, j] = A[j, i] = 1
        if ok:
            return A


def _spectral_differs(problem, x_opt_spins: np.ndarray) -> bool:
    """True when the minimiser's binary spins differ from both signs of J's principal eigenvector."""
    J, h, cont, _ = as_qumo_arrays(problem, "bench_aoc_hardware")
    J = np.asarray(J.toarray() if hasattr(J, "toarray") else J, dtype=np.float64)
    w, V = np.linalg.eigh(J)
    s = np.where(V[:, -1] >= 0, 1.0, -1.0)[~cont]
    x = x_opt_spins[~cont]
    return not (np.array_equal(s, x) or np.array_equal(-s, x))


def make_instance(kind: str, seed: int, bits: int):
    """(problem, optimum energy, n, meta) for one instance of a class; QUBOs redrawn (seed, attempt)
    until the minimiser differs from the spectral rounding."""
    for attempt in range(1000):
        rng = np.random.default_rng([seed, attempt, bits, CLASSES.index(kind)])
        if kind == "qumo-planted":
            prob = planted_qumo(16, 8, seed=seed).problem
        elif kind == "signed-8":
            hi = 2 ** (bits - 1) - 1
            U = np.triu(rng.integers(-hi, hi + 1, size=(8, 8)), 1).astype(float)
            Q = U + U.T
            c = rng.integers(-hi, hi + 1, size=8).astype(float)
            prob = QUBO(Q, c, meta={"name": f"signed8_b{bits}_seed{seed}_a{attempt}"})
        else:
            n = 16
            mask = np.ones((n, n), dtype=int) - np.eye(n, dtype=int) if kind == "unsigned-dense" \
                else _regular3(n, rng)
            U = np.triu(rng.integers(1, 2 ** bits, size=(n, n)) * mask, 1).astype(float)
            Q = U + U.T
            c = -rng.uniform(0.3, 0.7, n) * Q.sum(1)
            prob = QUBO(Q, c, meta={"name": f"{kind}_b{bits}_seed{seed}_a{attempt}"})
        x_opt, e_opt = brute_force_qumo(prob)
        if kind == "qumo-planted" or _spectral_differs(prob, np.asarray(x_opt, dtype=np.float64)):
            return prob, float(e_opt), (8 if kind == "signed-8" else 16)
    raise RuntimeError(f"no {kind} instance with a non-spectral minimiser in 1000 draws (seed {seed})")


def profiles_for(path: str, n: int):
    released = AOCHardware.from_yaml(path)
    cal = calibrate(released, width=n)
    out = [("ideal", None), ("released", released), ("calibrated", cal)]
    for k, v in cal.calibrations.items():
        if v:
            out.append((f"calibrated without {k}", cal.with_calibrations(**{k: False})))
    return out


def residual_records(path: str, widths, command: str, machine: str):
    """Effective-matrix records (``calibration_residual``: 20 random symmetric W, beta = 1, states
    uniform in [-1, 1]) for the released, calibrated and one-switch-off profiles of a file."""
    from quaton_fast.reference.aoc_hardware_calibration import at_width, calibration_residual
    out = []
    for n in widths:
        released = AOCHardware.from_yaml(path)
        cal = calibrate(released, width=n)
        profs = [("released", at_width(released, n)), ("calibrated", cal)]
        profs += [(f"calibrated without {k}", cal.with_calibrations(**{k: False}))
                  for k, v in cal.calibrations.items() if v]
        for pname, prof in profs:
            r = calibration_residual(prof, systems=20, samples=2000)
            out.append({"task": "aoc-hw-effective-matrix", "method": METHOD, "metric": "rel_error_max",
                        "value": r["rel_error_max"], "profile": pname, "profile_file": os.path.relpath(path),
                        "width": n, **r, "state_scale": cal.state_scale, "command": command, "device": machine})
            print(f"effective matrix {os.path.basename(path)} width {n} {pname:38s} "
                  + " ".join(f"{k} {v:.4f}" for k, v in r.items()), flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", required=True)
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--bits", type=int, default=8)
    ap.add_argument("--ablation-instances", type=int, default=1,
                    help="run the one-switch-at-a-time ablation on the first K instances of each class")
    ap.add_argument("--classes", default=",".join(CLASSES))
    ap.add_argument("--out", default="docs/results/aoc_hardware.json")
    ap.add_argument("--residual-profiles", default="",
                    help="comma-separated extra calibration files whose effective-matrix residual is "
                         "recorded at widths 16 and their channel count (the --profile's always is)")
    a = ap.parse_args(argv)
    bad = [c for c in a.classes.split(",") if c not in CLASSES]
    if bad:
        print(f"bench_aoc_hardware: option --classes: unknown {bad}; choose among {CLASSES}", file=sys.stderr)
        return 2
    if not os.path.isfile(a.profile):
        print(f"bench_aoc_hardware: option --profile: no such file {a.profile!r}", file=sys.stderr)
        return 2
    command = "OMP_NUM_THREADS=1 python " + " ".join([os.path.relpath(__file__)] + (argv or sys.argv[1:]))
    machine = f"{platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} thread(s)"
    recs, pooled = [], {}
    t0 = time.time()
    for path in [a.profile] + [p for p in a.residual_profiles.split(",") if p]:
        nch = AOCHardware.from_yaml(path).n_channels
        recs += residual_records(path, sorted({16, nch}), command, machine)
    cache = {}
    for kind, s in product(a.classes.split(","), range(a.instances)):
        prob, e_opt, n = make_instance(kind, s, a.bits)
        if n not in cache:
            cache[n] = profiles_for(a.profile, n)
        for pname, prof in cache[n]:
            if pname.startswith("calibrated without") and s >= a.ablation_instances:
                continue
            r = hardware_anneal(prob, prof, replicas=a.runs, steps=a.steps, seed=1000 + s)
            k = int(np.sum(r.energies <= e_opt + 1e-9 * max(1.0, abs(e_opt))))
            p = success_probability(k, a.runs)
            pk = pooled.setdefault((kind, pname), [0, 0])
            pk[0] += k
            pk[1] += a.runs
            recs.append({"task": f"aoc-hw-solve-{kind}", "instance": prob.meta.get("name", f"{kind}{s}"),
                         "dataset": f"{n}-variable {kind} instances ({a.bits} bits)", "method": METHOD,
                         "metric": "success_probability", "value": p.mean, "split": "instance",
                         "profile": pname, "profile_file": os.path.relpath(a.profile), "successes": k,
                         "attempts": a.runs, "p_mean": p.mean, "p_lo": p.lower, "p_hi": p.upper,
                         "optimum": e_opt, "best_found": float(r.energies.min()), "steps": a.steps,
                         "a0": 0.3, "g": 0.3, "gamma": 0.9, "command": command, "device": machine})
            print(f"{kind:15s} {recs[-1]['instance']:34s} {pname:38s} {k:4d}/{a.runs}  "
                  f"p = {p.mean:.3f} [{p.lower:.3f}, {p.upper:.3f}]", flush=True)
    for (kind, pname), (k, m) in pooled.items():
        p = success_probability(k, m)
        recs.append({"task": f"aoc-hw-solve-{kind}", "instance": "pooled", "method": METHOD,
                     "metric": "success_probability", "value": p.mean, "split": "class", "profile": pname,
                     "profile_file": os.path.relpath(a.profile), "successes": k, "attempts": m,
                     "p_mean": p.mean, "p_lo": p.lower, "p_hi": p.upper, "steps": a.steps,
                     "command": command, "device": machine})
        print(f"POOLED {kind:15s} {pname:38s} {k:5d}/{m}  p = {p.mean:.3f} [{p.lower:.3f}, {p.upper:.3f}]")
    print(f"total {time.time() - t0:.1f} s")
    old = []
    if os.path.isfile(a.out):
        with open(a.out) as fh:
            old = [r for r in json.load(fh) if r.get("method") != METHOD]
    atomic_write_json(old + recs, a.out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

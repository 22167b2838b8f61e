"""Success probability of the AOC-DT solver on 16-variable instances: ideal twin vs a hardware profile.

For each instance (binary: ``random_qubo(16, seed=s)``; mixed: ``planted_qumo(16, 4, seed=s)``, 12
binary + 4 continuous), the optimum is computed by brute force (``brute_force_qumo``), then R
independent runs of :func:`quaton_fast.solve.algorithms.hardware_solver.hardware_anneal` (one replica = one
run, fixed hyperparameters a0 = 0.3, g = 0.3, gamma = 0.9, 1000 steps) are made for the ideal twin
and for the profile; a run succeeds when its re-evaluated energy (the problem's own ``energy``) is
within 1e-9 relative of the optimum.  Success probability: Beta(1 + k, 1 + R - k) posterior mean and
95 % central interval (``solve.stats.success_probability``).

Usage: OMP_NUM_THREADS=1 python benchmarks/bench_hardware_solver.py --profile FILE.yaml \
           [--instances 10] [--runs 100] [--also-without weight_distortion] \
           [--out docs/results/aoc_hardware_solver.json]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import torch

from quaton_fast._atomic import atomic_write_json

from quaton_fast.reference.aoc_hardware_profile import AOCHardware
from quaton_fast.solve.models.generators import planted_qumo, random_qubo
from quaton_fast.solve.algorithms.hardware_solver import hardware_anneal
from quaton_fast.solve.algorithms.qumo_exact import brute_force_qumo
from quaton_fast.solve.statistics.stats import success_probability


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", required=True)
    ap.add_argument("--instances", type=int, default=10)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--out", default="docs/results/aoc_hardware_solver.json")
    ap.add_argument("--also-without", default="",
                    help="comma-separated effects: also run the profile with these switched off (ablation)")
    a = ap.parse_args(argv)
    if not os.path.isfile(a.profile):
        print(f"bench_hardware_solver: option --profile: no such file {a.profile!r}", file=sys.stderr)
        return 2
    hw = AOCHardware.from_yaml(a.profile)
    profiles = [("ideal", None), (os.path.basename(a.profile), hw)]
    for eff in [e for e in a.also_without.split(",") if e]:
        if eff not in hw.effects:
            print(f"bench_hardware_solver: option --also-without: unknown effect {eff!r}; one of "
                  f"{sorted(hw.effects)}", file=sys.stderr)
            return 2
        profiles.append((f"{os.path.basename(a.profile)} without {eff}", hw.with_effects(**{eff: False})))
    command = "OMP_NUM_THREADS=1 python " + " ".join([os.path.relpath(__file__)] + (argv or sys.argv[1:]))
    machine = f"{platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, " \
              f"{torch.get_num_threads()} thread(s)".replace(" ,", ",")
    recs = []
    t0 = time.time()
    for kind in ("binary", "mixed"):
        for s in range(a.instances):
            prob = random_qubo(16, seed=s) if kind == "binary" else planted_qumo(16, 4, seed=s).problem
            _, e_opt = brute_force_qumo(prob)
            for pname, prof in profiles:
                r = hardware_anneal(prob, prof, replicas=a.runs, steps=a.steps, seed=1000 + s)
                k = int(np.sum(r.energies <= e_opt + 1e-9 * max(1.0, abs(e_opt))))
                p = success_probability(k, a.runs)
                recs.append({"task": f"solve16-{kind}", "instance": prob.meta.get("name", f"{kind}{s}"),
                             "dataset": f"16-variable {kind} instances", "method": "aoc-dt-hardware-anneal",
                             "metric": "success_probability", "value": p.mean, "split": "instance",
                             "model": "n16", "device": machine,
                             "profile": pname, "successes": k, "attempts": a.runs, "p_mean": p.mean,
                             "p_lo": p.lower, "p_hi": p.upper, "optimum": e_opt,
                             "best_found": float(r.energies.min()), "steps": a.steps,
                             "a0": 0.3, "g": 0.3, "gamma": 0.9, "command": command, "machine": machine})
                print(f"{kind:6s} {recs[-1]['instance']:28s} {pname:42s} {k:4d}/{a.runs}  "
                      f"p = {p.mean:.3f} [{p.lower:.3f}, {p.upper:.3f}]", flush=True)
    print(f"total {time.time() - t0:.1f} s")
    atomic_write_json(recs, a.out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""AOC fixed-point forward on the CPU: C++ kernel vs the NumPy reference.

4,096 systems x 16 variables x 1,000 iterations (tanh, per-system W, no early stop: tol = 0).
Prints a table and writes docs/results/bench_fixed_point_cpu.json (atomically).

    python3 benchmarks/bench_fixed_point_cpu.py [--systems 4096 --n 16 --iterations 1000]
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from quaton_fast._atomic import atomic_write_json as _atomic_write_json
from quaton_fast._backend import cpu_model
from quaton_fast.aoc import fixed_point as cpu
from quaton_fast.reference import fixed_point as ref

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "bench_fixed_point_cpu.json"




def best_ms(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def atomic_write_json(path: Path, data) -> None:
    _atomic_write_json(data, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", type=int, default=4096)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3, help="C++ repeats (best of); reference runs once")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    S, n, T = args.systems, args.n, args.iterations

    rng = np.random.default_rng(0)
    W = rng.normal(size=(S, n, n))
    W *= 0.45 / np.linalg.norm(W, 2, axis=(1, 2))[:, None, None]
    b = rng.uniform(-1, 1, size=(S, n))
    kw = dict(alpha=0.5, beta=1.0, nonlinearity="tanh", tol=0.0, max_iter=T)

    ref_res = None

    def run_ref():
        nonlocal ref_res
        ref_res = ref.fixed_point_forward(W, b, **kw)

    ref_ms = best_ms(run_ref, 1)
    hw = os.cpu_count() or 1
    thread_counts = sorted({1, hw})
    command = "python3 " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])])
    records = []
    print(f"fixed-point forward, {S} systems x n = {n} x {T} iterations (tanh, tol = 0), float64")
    print(f"{'implementation':<28}{'threads':>8}{'ms':>12}{'speedup':>10}{'max |diff|':>14}")
    print(f"{'numpy reference':<28}{1:>8}{ref_ms:>12.1f}{1.0:>10.1f}{'-':>14}")
    for th in thread_counts:
        out = {}

        def run_cpp():
            out["r"] = cpu.fixed_point_forward(W, b, threads=th, **kw)

        ms = best_ms(run_cpp, args.repeats)
        diff = float(np.abs(out["r"].state - ref_res.state).max())
        assert np.array_equal(out["r"].iterations, ref_res.iterations)
        assert diff < 1e-10, diff
        print(f"{'C++ (quaton_fast._C)':<28}{th:>8}{ms:>12.1f}{ref_ms / ms:>10.1f}{diff:>14.2e}")
        records.append({
            "bench": "fixed_point_forward_cpu",
            "config": {"systems": S, "n": n, "iterations": T, "threads": th},
            "ours_ms": round(ms, 3),
            "baseline": "numpy reference",
            "baseline_ms": round(ref_ms, 3),
            "speedup": round(ref_ms / ms, 2),
            "device": f"cpu ({cpu_model()}, {th} threads)",
            "command": command,
        })
    atomic_write_json(args.out, records)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

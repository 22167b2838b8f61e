"""Shared W on the CPU: which path of ``fixed_point`` is faster, the C++ kernels or the torch loop?

A shared W (n, n) and a batch of B systems, float32, tol = 0 (every system runs every iteration),
forward only and forward + backward (implicit adjoint), ``backend='cpp'`` vs ``backend='torch'``;
best of ``--repeats`` wall-clock times with ``--threads`` torch / C++ threads. Prints one line per
size (and JSON with ``--json``). Decides what ``backend='auto'`` should pick on the CPU.

    python benchmarks/bench_fixed_point_shared_cpu.py --threads 1 --iterations 100
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch

from quaton_fast.functional import fixed_point as api


def best_ms(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def run(B: int, n: int, T: int, backend: str, backward: bool):
    g = torch.Generator().manual_seed(0)
    W = torch.randn(n, n, generator=g)
    W = (W / torch.linalg.matrix_norm(W, ord=2) * 0.4).requires_grad_(backward)
    b = torch.randn(B, n, generator=g)

    def step():
        s, _, _ = api.fixed_point(W, b, alpha=0.5, beta=0.9, tol=0.0, max_iter=T, backend=backend,
                                  backward_tol=1e-5, backward_max_iter=200)
        if backward:
            s.sum().backward()
    return step


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="64x16,1024x16,16384x16,1024x64,4096x64")
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    rows = []
    for size in a.sizes.split(","):
        B, n = (int(x) for x in size.split("x"))
        for backward in (False, True):
            t = {be: best_ms(run(B, n, a.iterations, be, backward), a.repeats) for be in ("cpp", "torch")}
            row = {"batch": B, "n": n, "iterations": a.iterations, "backward": backward, "threads": a.threads,
                   "cpp_ms": round(t["cpp"], 2), "torch_ms": round(t["torch"], 2),
                   "faster": min(t, key=t.get), "ratio_torch_over_cpp": round(t["torch"] / t["cpp"], 2)}
            rows.append(row)
            print(json.dumps(row) if a.json else
                  f"B={B:6d} n={n:3d} T={a.iterations} {'fwd+bwd' if backward else 'fwd    '} "
                  f"cpp {t['cpp']:9.2f} ms  torch {t['torch']:9.2f} ms  torch/cpp {t['torch'] / t['cpp']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

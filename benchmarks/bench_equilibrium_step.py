"""One training step of the 4,096-weight equilibrium classifier (batch 64, Adam): torch loop vs C++ kernels.

Runs the same steps (same data, same initial weights) with ``fixed_point(..., backend='torch')`` and
``backend='cpp'`` and prints the median step time of each and the ratio.  Not a test.

    OMP_NUM_THREADS=1 python benchmarks/bench_equilibrium_step.py --steps 20 --threads 1 \
        [--mnist --checkpoint runs/aoc_train/ck_mnist_4096_lr1e-3_ep20/mnist_4096_seed0.pt]
"""
from __future__ import annotations

import argparse
import statistics
import time
from unittest import mock

import torch

from quaton_fast.aoc.train import build_model
from quaton_fast.functional import fixed_point as fp_mod


def _time_steps(backend: str, x: torch.Tensor, y: torch.Tensor, steps: int, model_size: int,
                checkpoint: str | None) -> list:
    model = build_model("mnist", model_size, seed=0)
    if checkpoint:
        model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=False)["model"])
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    real = fp_mod.fixed_point

    def patched(*a, **kw):
        kw["backend"] = backend
        return real(*a, **kw)
    times = []
    with mock.patch("quaton_fast.aoc.equilibrium.fixed_point", patched):
        for k in range(steps + 2):
            xb, yb = x[k * 64 % len(x):][:64], y[k * 64 % len(x):][:64]
            t0 = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad(); loss.backward(); opt.step(); model.project_()
            times.append(time.perf_counter() - t0)
    return times[2:]  # drop warm-up steps


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--model", type=int, default=4096, choices=[256, 4096])
    p.add_argument("--checkpoint", default=None, help="aoc-train checkpoint to start from (trained weights)")
    p.add_argument("--mnist", action="store_true", help="MNIST training images instead of random inputs")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(0)
    if a.mnist:
        from quaton_fast.data.mnist import load_mnist
        xi, yi = load_mnist("train")
        x = torch.from_numpy(xi[:64 * (a.steps + 2)].reshape(-1, 784) * 2 - 1)
        y = torch.from_numpy(yi[:64 * (a.steps + 2)])
    else:
        x = torch.rand(64 * (a.steps + 2), 784, generator=g) * 2 - 1
        y = torch.randint(0, 10, (len(x),), generator=g)
    res = {}
    for backend in ("torch", "cpp"):
        t = _time_steps(backend, x, y, a.steps, a.model, a.checkpoint)
        res[backend] = statistics.median(t)
        print(f"{backend:6s} median step {1e3 * res[backend]:8.1f} ms  (min {1e3 * min(t):.1f}, "
              f"max {1e3 * max(t):.1f}, {a.steps} steps, {a.threads} threads, model {a.model}, batch 64)")
    print(f"speed-up cpp vs torch: {res['torch'] / res['cpp']:.1f}x")


if __name__ == "__main__":
    main()

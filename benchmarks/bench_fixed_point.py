"""GPU benchmark of the batched AOC fixed-point kernels (issue 6) against plain PyTorch.

Same inputs, same run: (1) our one-launch CUDA kernel, (2) the eager PyTorch loop a user writes
today (``s = alpha*s + beta*bmm(W, tanh(s)) + b`` for T steps), (3) that loop captured once in a
CUDA graph and replayed. Forward = T steps of every system (tol = 0, so every implementation does
the same work); forward+backward adds the implicit adjoint, T steps of ``v = alpha*v +
beta*f'(s)*W^T v + g`` and the parameter gradients. Correctness is checked first (float32 kernel vs
the float64 eager loop). Timing: CUDA events after warm-up, median of repeats.

    python benchmarks/bench_fixed_point.py --out docs/results/bench_fixed_point.json
"""
from __future__ import annotations

import argparse
import sys

import torch

from bench_timing import peak_mib, time_ms, write_json_atomic
from quaton_fast.aoc.fixed_point_cuda import fixed_point_adjoint_cuda, fixed_point_forward_cuda

CONFIGS = [(1024, 16, 1000), (65536, 16, 1000), (4096, 64, 1000)]
ALPHA, BETA = 0.5, 0.8


def make_inputs(S, n, seed=0, dtype=torch.float32):
    g = torch.Generator(device="cuda").manual_seed(seed)
    W = torch.randn(S, n, n, device="cuda", generator=g, dtype=dtype)
    W = W / torch.linalg.matrix_norm(W, ord=2).reshape(S, 1, 1) * 0.45
    b = torch.randn(S, n, device="cuda", generator=g, dtype=dtype) * 0.5
    grad = torch.randn(S, n, device="cuda", generator=g, dtype=dtype)
    return W, b, grad


def eager_forward(W, b, T):
    s = torch.zeros_like(b)
    for _ in range(T):
        s = ALPHA * s + BETA * torch.bmm(W, torch.tanh(s).unsqueeze(-1)).squeeze(-1) + b
    return s


def eager_backward(W, s, g, T):
    fp = 1 - torch.tanh(s) ** 2
    Wt = W.transpose(1, 2)
    v = g.clone()
    for _ in range(T):
        v = ALPHA * v + BETA * fp * torch.bmm(Wt, v.unsqueeze(-1)).squeeze(-1) + g
    grad_W = BETA * v.unsqueeze(-1) * torch.tanh(s).unsqueeze(1)
    return v, grad_W


def ours_forward(W, b, T):
    return fixed_point_forward_cuda(W, b, alpha=ALPHA, beta=BETA, tol=0.0, max_iter=T).state


def ours_forward_backward(W, b, g, T):
    s = ours_forward(W, b, T)
    a = fixed_point_adjoint_cuda(W, b, s, g, alpha=ALPHA, beta=BETA, tol=0.0, max_iter=T)
    return s, a.grad_b, a.grad_W


def graph_of(fn):
    """Capture fn() (no arguments, static tensors) in a CUDA graph; return replay."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        fn()  # warm-up on the side stream before capture
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def check(W, b, g, T):
    s64 = eager_forward(W.double(), b.double(), T)
    s32 = ours_forward(W, b, T)
    err = float((s32.double() - s64).norm() / s64.norm())
    v64, gW64 = eager_backward(W.double(), s64, g.double(), T)
    _, gb, gW = ours_forward_backward(W, b, g, T)
    err_b = float((gb.double() - v64).norm() / v64.norm())
    if err > 1e-4 or err_b > 1e-4:
        raise SystemExit(f"correctness check failed: state rel err {err:.2e}, grad rel err {err_b:.2e}")
    return err, err_b


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="JSON records file (written atomically)")
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("bench_fixed_point.py needs a CUDA GPU")
    device = torch.cuda.get_device_name()
    cuda = torch.device("cuda")
    command = "python benchmarks/bench_fixed_point.py " + " ".join(sys.argv[1:])
    records = []
    for S, n, T in CONFIGS:
        W, b, g = make_inputs(S, n)
        err, err_b = check(W, b, g, T)
        flops_fwd = 2.0 * S * n * n * T
        runs = {
            "forward": (lambda: ours_forward(W, b, T), lambda: eager_forward(W, b, T)),
            "forward+backward": (lambda: ours_forward_backward(W, b, g, T),
                                 lambda: eager_backward(W, eager_forward(W, b, T), g, T)),
        }
        for what, (ours, eager) in runs.items():
            t_ours = time_ms(ours, cuda, args.repeats)
            t_eager = time_ms(eager, cuda, max(3, args.repeats // 3))
            t_graph = time_ms(graph_of(eager), cuda, args.repeats)
            mem_ours, mem_eager = peak_mib(ours, cuda), peak_mib(eager, cuda)
            flops = flops_fwd * (2 if what != "forward" else 1)
            for baseline, t_base in (("pytorch-eager", t_eager), ("pytorch-cuda-graph", t_graph)):
                rec = {"bench": f"fixed_point_{what}", "config": {"systems": S, "n": n, "iterations": T,
                                                                   "dtype": "float32"},
                       "ours_ms": t_ours, "baseline": baseline, "baseline_ms": t_base,
                       "speedup": t_base / t_ours, "peak_mem_ours_mib": mem_ours,
                       "peak_mem_baseline_mib": mem_eager, "achieved_tflops": flops / t_ours / 1e9,
                       "state_rel_err_vs_fp64": err, "grad_rel_err_vs_fp64": err_b,
                       "device": device, "command": command}
                records.append(rec)
                print(f"{what:17s} S={S:6d} n={n:3d} T={T}: ours {t_ours:8.2f} ms | {baseline:18s} "
                      f"{t_base:8.2f} ms | x{t_base / t_ours:6.1f} | {flops / t_ours / 1e9:6.2f} TFLOP/s")
    if args.out:
        write_json_atomic(args.out, records)


if __name__ == "__main__":
    main()

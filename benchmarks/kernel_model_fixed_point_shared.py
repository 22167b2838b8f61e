"""The performance model of the shared-W fixed-point kernels (cuda/fixed_point_shared.cuh), issue 23
item 2, and of the baseline they are held against: a CUDA graph of the torch loop with one
``torch.mm`` per step, predicted by the same roofline.

Design being modelled (header comment of cuda/fixed_point_shared.cuh): W padded to NP x NP in shared
memory; a warp owns kTBw batch columns, its lanes kRG row groups x kCG column groups, each lane RM
rows x 4 columns; per pass a lane publishes its RM x 4 values of f(s) (RM x 4 shared stores), meets
the warp at one __syncwarp and, per k < NP, loads RM/V + 4/V 16-byte vectors (V = 4 in float32) and
issues 4 RM FMAs; two column norms by xor-shuffles over kRG lanes; tanh per element. Blocks of four
warps (one cell, kTile = 4 kTBw columns).

Counted per call (float32):

* ``flops`` (useful): 2 n^2 S T (forward); the adjoint 2 n^2 S (T + 1) (its W f(s*) prologue);
* ``bytes``: W per cell, b, the state out, four per-system scalars in, iterations and residual out
  (forward); the adjoint reads W twice, s*, g, b and writes u, W f(s*), grad_alpha, grad_beta and
  the (C, tiles, n, n) partials of grad_W;
* ``ops``: ``fp32``: the padded FMAs (NP RM 4 per lane and pass) plus ``ELEMENTWISE_FP32`` per
  element and pass; ``shfl``: 8 log2(kRG) per lane and pass (two norms x 4 columns); ``mufu``: tanh
  (ex2 + rcp) per element, 2 sqrt + 1 reciprocal per column;
* ``lds_wavefronts``: per k, each W vector load of a warp reads kRG distinct 16-byte vectors
  (max(1, 16 kRG / 128) wavefronts) and the f load kCG (max(1, 16 kCG / 128)); plus RM x 4 shared
  stores per pass (one wavefront each, at least);
* ``issue`` (forward only): the warp instructions of the compiled t-loop (the innermost loop with
  the most FFMA in the SASS) times the warps of the busiest scheduler times passes -- the static
  count, branches not taken included: an upper estimate. The prediction is the largest bound, so
  where the issue bound leads it is an upper estimate too; the FP32/MUFU floors are the lower one.

The baseline (``torch_graph_loop``): the loop ``s = alpha*s + beta*(tanh(s) @ W.T) + b`` captured in
a CUDA graph: six kernels per step (tanh, mm, two scalings, two adds), each at the larger of its
DRAM time (operands read and written once), its FP32 time at peak (the mm) and a per-kernel floor
in a graph, ``GRAPH_KERNEL_FLOOR_US`` = 1.36 us: the H200 run of 2026-11-30 replayed the same
six-kernel loop at 1024 x 16 x 1000 in 8.15 ms (bench_fixed_point.py, pytorch-cuda-graph; 8.15 us
per step / 6 kernels), where every kernel is tiny. Every kernel at its roofline: an optimistic
baseline (cuBLAS reaches less than peak on a K = 16 or 64 GEMM), so the predicted speed-up is a
lower estimate on this count.

Target (issue 23): shared W, B = 65536, n = 16 and 64, 1000 iterations: >= 10x that baseline.
"""
from __future__ import annotations

import math

THREADS_PER_BLOCK = 128
MAX_N = 64
SCHEDULERS_PER_SM = 4
SMEM_BYTES_PER_CLOCK = 128
# Elementwise FP32 lane operations per element and pass besides the product's FMAs (forward:
# alpha*s + beta*acc + b: 2 FMA, clamp select, F - s, two norm FMAs, the update select = 6 as the
# per-system model; adjoint: the u select, alpha*u, beta*f'*acc (2), + g, difference, two norms = 8).
ELEMENTWISE_FP32 = {"forward": 6, "adjoint": 8}
FLOAT32, INT32 = 4, 4
GRAPH_KERNEL_FLOOR_US = 8.15 / 6     # us per kernel in a graph (module docstring)
GRAPH_FLOOR_SOURCE = ("H200, 2026-11-30, commit 3abfd2a: benchmarks/bench_fixed_point.py pytorch-cuda-graph at "
                      "1024 x 16 x 1000 = 8.15 ms, six kernels per step")
TARGET_SPEEDUP = 10.0
SIZES = [(65536, 16, 1000), (65536, 64, 1000)]  # (batch B = systems, n, iterations), one shared W


def dispatch(n: int, dtype: str = "float32") -> dict:
    """{"NP", "RM", "RG", "CG", "TBw", "warps", "tile"} of dispatch_fixed_point_shared for n."""
    if not 1 <= n <= MAX_N:
        raise ValueError(f"n must be in [1, {MAX_N}], got {n}")
    NP = next(p for p in (4, 8, 16, 32, 64) if n <= p)
    RM = 4
    RG = NP // RM
    CG = 32 // RG
    TBw = 4 * CG
    warps = 2 if (dtype == "float64" and NP == 64) else 4
    return {"NP": NP, "RM": RM, "RG": RG, "CG": CG, "TBw": TBw, "warps": warps, "tile": warps * TBw}


def grid(systems: int, n: int, cells: int = 1, dtype: str = "float32") -> dict:
    d = dispatch(n, dtype)
    tiles = -(-(systems // cells) // d["tile"])
    blocks = tiles * cells
    return {"blocks": blocks, "tiles": tiles, "threads": blocks * 32 * d["warps"], "warps": blocks * d["warps"]}


def design(kernel: str, variant: str, cfg: dict) -> dict:
    S, n, T = cfg["systems"], cfg["n"], cfg["iterations"]
    C = cfg.get("cells", 1)
    d = dispatch(n)
    NP, RM, RG, CG = d["NP"], d["RM"], d["RG"], d["CG"]
    g = grid(S, n, C)
    lanes, warps = g["threads"], g["warps"]
    forward = "forward" in kernel
    passes = T + 1
    matmuls = passes + (0 if forward else 1)
    elems = RM * 4
    fma = lanes * matmuls * NP * elems
    elem = lanes * passes * elems * ELEMENTWISE_FP32["forward" if forward else "adjoint"]
    shfl = lanes * passes * 8 * int(math.log2(RG)) if RG > 1 else 0
    wf_w = max(1, 16 * RG // SMEM_BYTES_PER_CLOCK)
    wf_f = max(1, 16 * CG // SMEM_BYTES_PER_CLOCK)
    lds = warps * matmuls * (NP * ((RM // 4) * wf_w + wf_f) + elems)
    if forward:
        useful = 2.0 * S * T * n * n
        by = FLOAT32 * (C * n * n + 2 * S * n + 5 * S) + INT32 * S
        mufu = lanes * passes * (2 * elems + 3 * 4)
        notes = (f"NP={NP}, RM={RM} rows x 4 columns per lane, {d['TBw']} columns per warp, {d['tile']} per block: "
                 f"per pass and k {RM // 4}+1 16-byte shared loads and {4 * RM} FMAs per lane, one __syncwarp, "
                 f"{8 * int(math.log2(RG)) if RG > 1 else 0} shuffles per lane; W resident in shared memory")
    else:
        useful = 2.0 * S * (T + 1) * n * n
        by = FLOAT32 * (2 * C * n * n + 7 * S * n + 4 * S + C * g["tiles"] * n * n) + INT32 * S
        mufu = lanes * passes * 3 * 4
        notes = ("W f(s*) once, then per pass W^T u from shared memory (W reloaded transposed); grad_W as "
                 "per-block partials (C, tiles, n, n) summed by the caller")
    return {"bytes": by, "flops": useful, "ops": {"fp32": fma + elem, "shfl": shfl, "mufu": mufu, "fp64": 0},
            "lds_wavefronts": lds, "fma_lane_ops": fma, "passes": passes, "notes": notes, "dispatch": d}


def t_loop(inner_loops: list[dict]) -> dict | None:
    """The compiled t-loop: the innermost loop with the most FFMA (the W load and the grad_W
    partial loops are innermost loops too, without the product)."""
    loops = [lp for lp in inner_loops or [] if lp.get("FFMA")]
    return max(loops, key=lambda lp: lp["FFMA"]) if loops else None


def issue_bound_ms(loop_instructions: int, cfg: dict, device: dict) -> float:
    g = grid(cfg["systems"], cfg["n"], cfg.get("cells", 1))
    per_scheduler = -(-g["warps"] // (SCHEDULERS_PER_SM * device["sms"]))
    return loop_instructions * per_scheduler * (cfg["iterations"] + 1) / device["clock_hz"] * 1e3


def torch_graph_loop_ms(cfg: dict, device: dict) -> dict:
    """The baseline: six kernels per step, each max(DRAM, FP32 at peak, graph floor) (docstring)."""
    S, n, T = cfg["systems"], cfg["n"], cfg["iterations"]
    x = FLOAT32 * S * n  # one (S, n) float32 tensor
    kernels = {  # name: (bytes, flops)
        "tanh": (2 * x, 0), "mm": (2 * x + FLOAT32 * n * n, 2.0 * S * n * n), "alpha*s": (2 * x, 0),
        "beta*Wf": (2 * x, 0), "add": (3 * x, 0), "+b": (3 * x, 0)}
    floor = GRAPH_KERNEL_FLOOR_US * 1e-3
    per = {k: max(by / device["hbm_bytes_per_s"] * 1e3, fl / device["fp32_flops"] * 1e3, floor)
           for k, (by, fl) in kernels.items()}
    return {"ms": sum(per.values()) * T, "per_step_us": {k: round(v * 1e3, 3) for k, v in per.items()}}


def extra_record_fields(rec: dict, k: dict, cfg: dict, devices: dict, predict) -> dict:
    """kernel_model.record()'s hook for shared-W records of sm_90 (as kernel_model_fixed_point's)."""
    d = design(k["kernel"], rec["config"].get("variant", "forward"), cfg)
    forward = "forward" in k["kernel"]
    # the forward's t-loop is innermost (its product fully unrolled); the adjoint's innermost loop
    # is its product's k loop (unrolled by two), so no issue bound is formed for the adjoint
    loop = t_loop(k["sass"].get("inner_loops")) if forward else None
    out = {"fma_lane_ops": d["fma_lane_ops"], "dispatch": d["dispatch"]}
    if loop:
        out["t_loop_mix"] = loop
        out["t_loop_ffma_share"] = round(loop.get("FFMA", 0) / loop["total"], 3)
        out["t_loop_shfl_per_ffma"] = round(loop.get("SHFL", 0) / max(loop.get("FFMA", 0), 1), 4)
        out["issue_bound_note"] = ("static count of the compiled t-loop: every branch of it (the annealed alpha in "
                                   "float64, the three nonlinearities, the slow paths of sqrt and division) is "
                                   "counted, so the issue bound is an upper estimate")
    for key, name in (("h100", "h100_sxm"), ("h200", "h200")):
        dev = devices[name]
        bounds = dict(predict(d, name)["bounds_ms"])
        bounds["lds"] = round(d["lds_wavefronts"] / (dev["sms"] * dev["clock_hz"]) * 1e3, 6)
        if loop:
            bounds["issue"] = round(issue_bound_ms(loop["total"], cfg, dev), 6)
        bound = max(bounds, key=bounds.get)
        ms = bounds[bound]
        out[f"predicted_ms_{key}"] = round(ms, 6)
        out[f"bound_{key}"] = bound
        out[f"bounds_ms_{key}"] = bounds
        out[f"useful_tflops_predicted_{key}"] = round(d["flops"] / (ms * 1e-3) / 1e12, 2)
        out[f"fraction_of_fp32_peak_{key}"] = round(d["flops"] / (ms * 1e-3) / dev["fp32_flops"], 3)
        out[f"fraction_of_tf32_tensor_peak_{key}"] = round(d["flops"] / (ms * 1e-3) / dev["tf32_tensor_flops"], 3)
        if forward:
            base = torch_graph_loop_ms(cfg, dev)
            out[f"baseline_torch_graph_loop_predicted_ms_{key}"] = round(base["ms"], 6)
            out[f"baseline_torch_graph_loop_per_step_us_{key}"] = base["per_step_us"]
            out[f"predicted_speedup_vs_torch_graph_loop_{key}"] = round(base["ms"] / ms, 2)
    if forward:
        out["target"] = f">= {TARGET_SPEEDUP:g}x the CUDA graph of the torch loop (torch.mm per step)"
        out["target_met_predicted"] = out["predicted_speedup_vs_torch_graph_loop_h200"] >= TARGET_SPEEDUP
        out["baseline_model"] = ("six kernels per step at max(DRAM, FP32 peak, graph floor "
                                 f"{GRAPH_KERNEL_FLOOR_US:.2f} us: {GRAPH_FLOOR_SOURCE})")
    return out


def sized_configs(params: dict) -> list[dict]:
    """Benchmark configs served by a float32, noise-free instantiation with these (NP, RM)."""
    if params.get("T") != "float" or params.get("noise"):
        return []
    return [{"systems": S, "n": n, "iterations": T, "batch": S, "cells": 1, "dtype": "float32"}
            for S, n, T in SIZES if (dispatch(n)["NP"], dispatch(n)["RM"]) == (params["NP"], params["RM"])]

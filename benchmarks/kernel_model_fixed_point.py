"""The performance model of the per-system fixed-point kernels (cuda/fixed_point.cuh), issue 23 item 1.

Design being modelled (header comments of cuda/fixed_point.cuh): a group of TPS lanes of one warp
owns a system; lane `sub` keeps R rows of W (forward) or columns (adjoint) in registers, padded to
NP = TPS*R >= n; per iteration each lane writes its R values of f(s) (or D v) into the group's
shared-memory buffer, the warp meets at one __syncwarp, and every lane reads the NP values back as
16-byte vectors (4 float32 or 2 float64 each) and does R FMAs per value. Two group sums of log2(TPS)
xor-shuffles give the residual norms. Blocks of kFpThreads = 128 threads, 128 / TPS systems each.

What is counted, per call (float32 unless the config says float64):

* ``flops`` (useful): forward 2 n^2 S T (the matvec of T iterations); adjoint 2 n^2 S (T + 1)
  (its prologue W f(s*) and T iterations of W^T u). ``iterations`` = T = max_iter with tol = 0 (the
  benchmark: every system runs every iteration, and the loop evaluates t = 0 .. T, i.e. T + 1
  matvecs, the last one only to judge convergence; the model counts T + 1 where it says "passes").
* ``bytes``: DRAM traffic: W (the adjoint reads it twice, rows then columns; the second read is
  counted although it mostly hits L2), b, states, per-system scalars, iterations (int32) and
  residual outputs.
* ``ops`` per pipe, in lane results, as written: ``fp32``: the padded FMAs NP^2 per system and
  pass plus the elementwise update (``ELEMENTWISE_FP32`` per row); ``shfl``: 2 log2(TPS) per lane
  and pass; ``mufu``: tanh (ex2 + rcp) per row, two sqrt and one reciprocal per lane.
* ``lds_wavefronts``: shared-memory wavefronts (a 16-byte load of a warp whose 32 / TPS groups read distinct,
  conflict-free addresses costs max(1, 16 * 32 / TPS / 128) wavefronts).
* ``issue`` (from the compiled code, :func:`issue_bound_ms`): the warp instructions of the
  compiled t-loop (SASS, kernels.json ``inner_loop_mix.total``) times warps times passes, at one
  warp instruction per clock per scheduler (4 per SM) -- the bound an FMA-dominated kernel meets
  first when the elementwise work is not negligible.

Targets (issue 23): 65536 x 16 x 1000 and 4096 x 64 x 1000 forward <= 1.5 ms; forward + adjoint
<= 2 x forward. The old kernel's H200 measurements: ``../shared/gpu-runs/2026-11-30-h200/``
(docs/results/gpu_h200_2026-11-30.json, read by kernel_model.fixed_point_measured).
"""
from __future__ import annotations

import math

THREADS_PER_BLOCK = 128  # kFpThreads (cuda/fixed_point.cuh)
# The dispatch of cuda/fixed_point.cuh (dispatch_fixed_point): (largest n, TPS, R).
DISPATCH = ((4, 1, 4), (8, 2, 4), (16, 4, 4), (32, 16, 2), (64, 32, 2))
MAX_N = 64
SCHEDULERS_PER_SM = 4    # sm_80..sm_90: four SM sub-partitions, one warp instruction issued per clock each
SMEM_BYTES_PER_CLOCK = 128  # 32 banks x 4 bytes per clock per SM (CUDA C++ Programming Guide, Shared Memory)
# Elementwise FP32 lane operations per row and pass (besides the matvec FMAs), as written:
# forward: alpha*s, beta*acc + b (FMA), F - s, two FMAs for the norms, the update select = 6;
# adjoint: alpha*u, beta*f'*acc (two), + g, difference, two norm FMAs, mask*v = 8. tanh's own
# arithmetic is counted on the MUFU pipe (ex2, rcp) only.
ELEMENTWISE_FP32 = {"forward": 6, "adjoint": 8}
FLOAT32, FLOAT64, INT32 = 4, 8, 4


def dispatch(n: int) -> dict:
    """{"TPS", "R", "NP"} of the instantiation dispatch_fixed_point picks for n (1 <= n <= 64)."""
    if not 1 <= n <= MAX_N:
        raise ValueError(f"n must be in [1, {MAX_N}], got {n}")
    for top, tps, r in DISPATCH:
        if n <= top:
            return {"TPS": tps, "R": r, "NP": tps * r}
    raise AssertionError("unreachable")


def grid(systems: int, n: int) -> dict:
    """Blocks, threads (lanes, idle ones of the last block included) and warps of one launch."""
    d = dispatch(n)
    per_block = THREADS_PER_BLOCK // d["TPS"]
    blocks = -(-systems // per_block)
    return {"blocks": blocks, "threads": blocks * THREADS_PER_BLOCK, "warps": blocks * THREADS_PER_BLOCK // 32}


def design(kernel: str, variant: str, cfg: dict) -> dict:
    """Bytes, useful FLOPs and per-pipe lane operations of one call (module docstring)."""
    S, n, T = cfg["systems"], cfg["n"], cfg["iterations"]
    word = FLOAT64 if cfg.get("dtype") == "float64" else FLOAT32
    d = dispatch(n)
    TPS, R, NP = d["TPS"], d["R"], d["NP"]
    lanes = grid(S, n)["threads"]
    forward = kernel.startswith("fixed_point_forward")
    passes = T + 1                                 # the t-loop: t = 0..T
    matvecs = passes + (0 if forward else 1)       # + the adjoint's prologue W f(s*)
    per_vec = 16 // word
    wavefronts_per_load = max(1, 16 * (32 // TPS) // SMEM_BYTES_PER_CLOCK)
    warps = lanes // 32
    fma = lanes * matvecs * R * NP                  # = systems' padded NP^2 per pass (idle lanes too)
    elem = lanes * passes * R * ELEMENTWISE_FP32["forward" if forward else "adjoint"]
    shfl = lanes * passes * 2 * int(math.log2(TPS))
    lds = warps * matvecs * (NP // per_vec) * wavefronts_per_load
    if forward:
        useful = 2.0 * S * T * n * n
        by = word * (S * n * n + 2 * S * n + 5 * S) + INT32 * S   # W, b, state out; 4 scalars + residual
        mufu = lanes * passes * (2 * R + 3)
        notes = (f"TPS={TPS} threads per system, R={R} rows per thread, NP={NP}: per pass NP^2 FMAs per system "
                 f"(useful 2 n^2 S T), NP/{per_vec} 16-byte broadcast loads and "
                 f"2 log2(TPS) = {2 * int(math.log2(TPS))} "
                 "shuffles per lane, one __syncwarp; tanh per row")
    else:
        useful = 2.0 * S * (T + 1) * n * n
        by = word * (2 * S * n * n + 5 * S * n + 3 * S) + INT32 * S  # W twice; b, s*, g in; u, W f out
        mufu = lanes * passes * 3
        notes = (f"TPS={TPS}, R={R}, NP={NP}: W f(s*) once (rows), then per pass W^T u (columns): NP^2 FMAs per "
                 "system, broadcast loads, two group sums; W read as rows and as columns")
    return {"bytes": by, "flops": useful,
            "ops": {"fp32": fma + elem, "shfl": shfl, "mufu": mufu, "fp64": 0},
            "lds_wavefronts": lds, "fma_lane_ops": fma, "passes": passes, "matvecs": matvecs, "notes": notes,
            "dispatch": d}


def issue_bound_ms(inner_loop_instructions: int, cfg: dict, device: dict) -> float:
    """Time to issue the compiled t-loop: each scheduler (SCHEDULERS_PER_SM per SM) issues one warp
    instruction per clock, and its busiest one holds ceil(warps / schedulers) warps, each issuing
    the loop's instructions in every pass (device: a kernel_model.DEVICES entry). With fewer warps
    than schedulers (1024 x 16: 256 warps) this is one warp's own issue time, a lower bound only.
    The count is the static loop body: branches not taken on the benchmark's path (clamp, noise-
    free momentum, the other nonlinearities, the slow paths of sqrt and division) are in it, so for
    a loop with such branches it overstates the issued instructions (an upper estimate)."""
    g = grid(cfg["systems"], cfg["n"])
    passes = cfg["iterations"] + 1
    per_scheduler = -(-g["warps"] // (SCHEDULERS_PER_SM * device["sms"]))
    return inner_loop_instructions * per_scheduler * passes / device["clock_hz"] * 1e3


def lds_bound_ms(d: dict, device: dict) -> float:
    """Shared-memory wavefronts at one per clock per SM."""
    return d["lds_wavefronts"] / (device["sms"] * device["clock_hz"]) * 1e3


def extra_record_fields(rec: dict, k: dict, cfg: dict, devices: dict, predict) -> dict:
    """The hook kernel_model.record() calls for fixed-point records of sm_90: the issue and shared-
    memory bounds from the compiled t-loop, the FFMA share, the prediction as the largest bound,
    and the issue-23 targets. `predict(d, device)` is kernel_model.predict (DRAM and pipes)."""
    d = design(k["kernel"], rec["config"].get("variant", "forward"), cfg)
    inner = k["sass"]["inner_loop_mix"]
    out = {"fma_lane_ops": d["fma_lane_ops"], "dispatch": d["dispatch"]}
    if inner and inner.get("total"):
        out["inner_loop_ffma_share"] = round(inner.get("FFMA", 0) / inner["total"], 3)
        out["inner_loop_shfl_per_ffma"] = round(inner.get("SHFL", 0) / max(inner.get("FFMA", 0), 1), 4)
    for key, dev in (("h100", devices["h100_sxm"]), ("h200", devices["h200"])):
        p = predict(d, "h100_sxm" if key == "h100" else "h200")
        bounds = dict(p["bounds_ms"])
        bounds["lds"] = round(lds_bound_ms(d, dev), 6)
        if inner and inner.get("total"):
            bounds["issue"] = round(issue_bound_ms(inner["total"], cfg, dev), 6)
        bound = max(bounds, key=bounds.get)
        out[f"predicted_ms_{key}"] = round(bounds[bound], 6)
        out[f"bound_{key}"] = bound
        out[f"bounds_ms_{key}"] = bounds
        out[f"useful_tflops_predicted_{key}"] = round(d["flops"] / (bounds[bound] * 1e-3) / 1e12, 2)
    if k["kernel"].startswith("fixed_point_forward"):
        out["target_ms"] = 1.5 if (cfg["systems"], cfg["n"]) in ((65536, 16), (4096, 64)) else None
    else:
        out["target"] = "forward + adjoint <= 2 x forward"
    return out

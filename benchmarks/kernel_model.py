"""A byte/FLOP performance model of every CUDA kernel, beside what the compiled code says.

For each kernel and benchmark size: the bytes it moves to and from device memory and the work it
issues per call, derived from the kernel's design (cuda/*.cu, cpp/include/quaton/*.h), and the
predicted time on an H100 SXM and an H200: the largest of the DRAM time and the times of the
pipelines the kernel issues to (FP32, FP64, warp shuffle, the MUFU special-function unit), each at
its datasheet/Programming-Guide peak -- a roofline extended by the pipes these kernels are known to
be limited by (a prediction, never a measurement). Beside it: registers, spills, shared memory,
occupancy and the SASS mix per architecture (benchmarks/kernel_resources.py), the careful plain-
PyTorch baselines recorded on the H200, and the measured time wherever a GPU run measured the same
kernel at the same size (run of 2026-11-30 at commit 3abfd2a; the kernels' semantics are unchanged
since).

    python benchmarks/kernel_model.py                      # writes docs/results/kernels.json
    python benchmarks/kernel_model.py --arch sm_90 --out -  # one arch, to stdout
    python benchmarks/kernel_model.py --markdown            # the docs/results.md tables from kernels.json

Records: one per kernel x arch x size (plus kernel instantiations no benchmark size uses, with the
model fields null, and the composite D2NN training step per size). Fields: see docs/gpu.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kernel_resources as kr  # noqa: E402
import kernel_model_fixed_point as kmfp  # noqa: E402
import kernel_model_fixed_point_shared as kmfs  # noqa: E402

ROOT = kr.ROOT
COMMAND = "python benchmarks/kernel_model.py"

def _portable_tools(tl: dict) -> dict:
    """The tool record without this machine's directories: a path becomes its last two parts
    (e.g. ``cu13/bin/cuobjdump``), versions are kept."""
    out = {}
    for k, v in tl.items():
        if isinstance(v, str) and os.path.isabs(v):
            v = "/".join(Path(v).parts[-3:]) if "site-packages" in v else Path(v).name
        out[k] = v
    return out


# ---------------------------------------------------------------------------------- the devices
# Peaks: NVIDIA H100 Tensor Core GPU datasheet (H100 SXM column) and NVIDIA H200 Tensor Core GPU
# datasheet (H200 SXM column). FP32/FP64 are the non-tensor (CUDA core) peaks; TF32 tensor is the
# dense figure (the datasheets print 989 TFLOP/s "with sparsity", i.e. 2x dense). SMs and clock: the
# NVIDIA H100 whitepaper (GH100 in the SXM5 product: 132 SMs; 1.98 GHz max boost), the same chip
# in the H200. Per-SM per-clock throughputs: CUDA C++ Programming Guide, "Arithmetic Instructions",
# throughput table, compute capability 9.0 (results per clock cycle per multiprocessor).
DEVICES = {
    "h100_sxm": dict(name="NVIDIA H100 SXM5 80GB", hbm_bytes_per_s=3.35e12, fp32_flops=66.9e12, fp64_flops=33.5e12,
                     tf32_tensor_flops=494.7e12, sms=132, clock_hz=1.98e9,
                     source="NVIDIA H100 datasheet (SXM): 3.35 TB/s HBM3, 67 TFLOP/s FP32, 34 TFLOP/s FP64, "
                            "989 TFLOP/s TF32 tensor with sparsity; H100 whitepaper: 132 SMs"),
    "h200": dict(name="NVIDIA H200 SXM 141GB", hbm_bytes_per_s=4.8e12, fp32_flops=66.9e12, fp64_flops=33.5e12,
                 tf32_tensor_flops=494.7e12, sms=132, clock_hz=1.98e9,
                 source="NVIDIA H200 datasheet (SXM): 4.8 TB/s HBM3e, 67 TFLOP/s FP32, 34 TFLOP/s FP64, "
                        "989 TFLOP/s TF32 tensor with sparsity; same GH100 chip as H100 SXM"),
}
# Lane results per clock per SM, compute capability 9.0 (CUDA C++ Programming Guide throughput table).
PER_SM_PER_CLOCK = {"fp32": 128, "fp64": 64, "shfl": 32, "mufu": 16}
PER_SM_SOURCE = ("CUDA C++ Programming Guide, Arithmetic Instructions throughput table, cc 9.0: 128 FP32 "
                 "add/mul/fma, 64 FP64 add/mul/fma, 32 warp shuffle, 16 for 32-bit reciprocal/rsqrt/"
                 "log2/exp2/sin/cos (MUFU) results per clock per SM")
# Measured on the H200 of the 2026-11-30 run (bench_d2nn.py copy kernel), for scale only.
MEASURED_COPY_BYTES_PER_S_H200 = 3.94e12

COMPLEX64 = 8
FLOAT32 = 4

# ----------------------------------------------------------------------------- measured on a GPU
RUN = "shared/gpu-runs/2026-11-30-h200"
MEASURED_COMMIT = "3abfd2a"
# Nsight Compute "Duration" of each launch of one training step at N=200, pad 2 (P=400), B=64, L=5
# (C_ncu_ours.log: the six forward propagations' three passes and the five psq_forward launches of
# one 200x200 layer each). Nsight Compute locks the clocks to base by default: these are per-launch
# times under the profiler, not end-to-end step times.
NCU_US = {
    ("row_modulate_fft_kernel", "forward", (200, 400, 64)): [22.34, 23.74, 23.65, 24.77, 23.20, 22.82],
    ("column_transfer_kernel", "forward", (200, 400, 64)): [104.51, 105.12, 104.83, 105.76, 104.83, 105.57],
    ("row_ifft_crop_kernel", "forward", (200, 400, 64)): [18.24, 18.37, 18.11, 18.43, 18.14, 18.02],
    ("psq_forward_kernel", "forward", (1, 200, 16)): [8.38, 8.29, 8.16, 8.26, 8.13],
}
# The second D2NN benchmark run of that session (A_baseline.log, beside the careful eager baseline;
# docs/results.md quotes it): ours, forward+backward, ms, per (N, pad, B, L).
D2NN_SECOND_RUN_FWD_BWD_MS = {(128, 4, 32, 8): 6.60, (200, 2, 64, 5): 5.59, (256, 2, 32, 5): 5.24, (512, 2, 8, 5): 5.89}
NCU_HOW = (f"Nsight Compute Duration, median of the launches in one training step ({RUN}/C_ncu_ours.log, "
           f"clocks locked by the profiler), NVIDIA H200, commit {MEASURED_COMMIT}")


def _h200_records() -> list[dict]:
    p = ROOT / "docs" / "results" / "gpu_h200_2026-11-30.json"
    return json.loads(p.read_text()) if p.exists() else []


def fixed_point_measured(S: int, n: int, T: int, what: str = "fixed_point_forward") -> dict | None:
    """ours_ms and the plain-PyTorch baselines of bench_fixed_point.py on the H200 (float32)."""
    out = {}
    for r in _h200_records():
        c = r.get("config", {})
        if r.get("bench") == what and (c.get("systems"), c.get("n"), c.get("iterations")) == (S, n, T) \
                and c.get("dtype", "float32") == "float32":
            out["ours_ms"] = r["ours_ms"]
            out[r["baseline"]] = r["baseline_ms"]
    return out or None


def d2nn_measured(N: int, pad: int, B: int, L: int) -> dict:
    """Ours (fused path, whole step) and the careful eager baselines recorded on the H200."""
    out = {}
    for r in _h200_records():
        c = r.get("config", {})
        if (c.get("N"), c.get("pad"), c.get("batch"), c.get("layers")) != (N, pad, B, L):
            continue
        if r.get("bench") == "d2nn_forward+backward":
            out["ours_fwd_bwd_ms"] = r["ours_ms"]
        elif r.get("bench") == "d2nn_forward":
            out["ours_fwd_ms"] = r["ours_ms"]
        elif r.get("bench") == "d2nn_careful_baseline":
            out[r["baseline"]] = r["baseline_ms"]
    return out


# ------------------------------------------------------------------------------- kernel designs
def fft_flops(P: int) -> float:
    """The usual 5 P log2 P real FLOPs of a complex FFT of length P (also for P not a power of 2)."""
    return 5.0 * P * math.log2(P)


#: cuda/fused/quant_rows.cuh: blocks aimed at, and samples per thread row at most
QUANT_TARGET_BLOCKS, QUANT_MAX_SAMPLES_PER_THREAD = 2048, 4
#: the quantizer the model prices inside the quantized row passes: PSQ on a 4-level periodic table
#: (4 sigmoids of 2 MUFU and ~6 FLOPs each, the fold, sincos: ~34 FLOPs and 10 MUFU per element;
#: the backward's derivative about twice that)
QUANT_EVAL_FLOPS, QUANT_EVAL_MUFU = 34, 10


def quant_slabs(N: int, B: int, ffts_per_block: int) -> tuple[int, int]:
    """(samples per thread row J, batch slabs S) of the quantized row passes (QRow::samples_per_thread, ::slabs)."""
    F = ffts_per_block
    J = max(1, min(math.ceil(B / F) * N // QUANT_TARGET_BLOCKS, QUANT_MAX_SAMPLES_PER_THREAD))
    return J, math.ceil(B / (F * J))


def quant_row_design(kernel: str, cfg: dict) -> dict:
    """Issue 22 item 1: the row passes with the quantizer inside (cuda/fused/quant_rows.cuh). A block
    owns one row and one batch slab; it evaluates T(w) of its row once (S*N*N evaluations in all)."""
    N, P, B, S = cfg["N"], cfg["P"], cfg["B"], cfg["S"]
    field, spec, latent = B * N * N * COMPLEX64, B * N * P * COMPLEX64, N * N * FLOAT32
    if kernel == "row_quant_modulate_fft_kernel":
        by = field + spec + latent
        fl = B * N * fft_flops(P) + 6 * B * N * N + S * N * N * QUANT_EVAL_FLOPS
        mufu = S * N * N * QUANT_EVAL_MUFU
        notes = ("reads u (B,N,N) and the latent w (N,N), writes X (B,N,P); T(w) per row and slab in "
                 "shared memory (PSQ, 4 levels priced)")
    else:
        partials = S * N * N * FLOAT32 + S * N * FLOAT32
        by = spec + 2 * field + latent + partials
        fl = B * N * fft_flops(P) + 2 * B * N * N + 12 * B * N * N + S * N * N * 2 * QUANT_EVAL_FLOPS
        mufu = S * N * N * 2 * QUANT_EVAL_MUFU
        notes = ("reads X (B,N,P), saved u (B,N,N) and w; writes the field gradient (B,N,N) and per-slab "
                 "partials of dL/dw (S,N,N) and dL/dk (S,N): no atomics")
    return {"bytes": by, "flops": fl, "ops": {"fp32": fl / 2.0, "mufu": mufu}, "notes": notes}


def design(kernel: str, variant: str, cfg: dict) -> dict:
    """Bytes moved to/from device memory and the work issued per call, from the kernel's design.

    Returns {"bytes", "flops", "ops": {pipe: lane operations}, "notes"}. `flops` counts the useful
    floating-point work (FFT 5 P log2 P, complex multiply 6, FMA 2); `ops` the lane results issued
    per pipe, as the kernel is written (padding included), for the pipe bounds.
    """
    if kernel in ("row_modulate_fft_kernel", "column_transfer_kernel", "row_ifft_crop_kernel"):
        N, P, B = cfg["N"], cfg["P"], cfg["B"]
        field, spec = B * N * N * COMPLEX64, B * N * P * COMPLEX64
        rows = B * N
        if kernel == "row_modulate_fft_kernel":
            mod = variant == "forward"  # the adjoint's pass 1 has no modulation
            by = field + spec + (N * N * COMPLEX64 if mod else 0)
            fl = rows * fft_flops(P) + (6 * B * N * N if mod else 0)
            notes = "reads u (B,N,N) [and m (N,N)], writes X (B,N,P); B*N row FFTs of length P"
        elif kernel == "column_transfer_kernel":
            by = 2 * spec + P * P * COMPLEX64
            fl = B * P * (2 * fft_flops(P) + 6 * P)
            notes = ("reads and writes X (B,N,P), reads Ht (P,P) once from DRAM (B times from L2); "
                     "B*P columns: FFT, x Ht, inverse FFT, each of length P")
        else:
            adj = variant == "adjoint"  # with modulation_out, saved_u and dphi
            by = spec + field + ((N * N * COMPLEX64 + field + B * N * N * FLOAT32) if adj else 0)
            fl = rows * fft_flops(P) + 2 * B * N * N + ((6 + 3 + 6) * B * N * N if adj else 0)
            notes = ("reads X (B,N,P), writes out (B,N,N)" +
                     ("; reads m (N,N) and saved u (B,N,N), writes dphi (B,N,N) float32" if adj else ""))
        return {"bytes": by, "flops": fl, "ops": {"fp32": fl / 2.0}, "notes": notes}
    if kernel in ("row_quant_modulate_fft_kernel", "row_ifft_crop_quant_kernel"):
        return quant_row_design(kernel, cfg)
    if kernel == "layer_cluster_kernel":
        import kernel_model_d2nn as kmd  # noqa: PLC0415 (imports this module)
        return kmd.layer_design(variant, cfg)
    if kernel in ("psq_forward_kernel", "psq_backward_kernel"):
        C, S = cfg["layers"] * cfg["N"] * cfg["N"], cfg["steps"]
        if kernel == "psq_forward_kernel":
            by = 2 * C * FLOAT32 + 2 * S * FLOAT32
            per = 6 + 6 * S     # fold; per step: x, k*x, sigmoid (exp prescale, 1+e, divide), q += step*s
            notes = "reads w, writes q (float32); per element and step one sigmoid: 2 MUFU (ex2, rcp)"
        else:
            by = 3 * C * FLOAT32 + 2 * S * FLOAT32
            per = 9 + 12 * S    # fold, g*dq_dw, dk sum; per step: sigmoid, s(1-s), two FMAs
            notes = "reads w and dL/dq, writes dL/dw (float32), dL/dk block-reduced (one atomic per block)"
        return {"bytes": by, "flops": C * per, "ops": {"fp32": C * per / 2.0, "mufu": 2 * C * S}, "notes": notes}
    if kernel.startswith("fixed_point_shared"):  # issue 23 item 2: its own module
        return kmfs.design(kernel, variant, cfg)
    if kernel.startswith("fixed_point"):  # issue 23: its own module
        return kmfp.design(kernel, variant, cfg)
    raise KeyError(kernel)


def grid_blocks(kernel: str, cfg: dict, launch: dict) -> int | None:
    """Blocks the launcher launches for `cfg` (cuda/*.cu launch code)."""
    if "P" in cfg:
        fpb = launch.get("ffts_per_block")
        if not fpb:
            return None
        if kernel == "column_transfer_kernel":
            return math.ceil(cfg["P"] / fpb) * cfg["B"]
        if kernel in ("row_quant_modulate_fft_kernel", "row_ifft_crop_quant_kernel"):
            return cfg["N"] * quant_slabs(cfg["N"], cfg["B"], fpb)[1]
        if kernel == "layer_cluster_kernel":  # one cluster per sample
            import kernel_model_d2nn as kmd  # noqa: PLC0415
            plan = kmd.cluster_plan(cfg["N"], cfg["P"] // cfg["N"])
            return plan["cluster"] * cfg["B"] if plan["fits"] else None
        return math.ceil(cfg["B"] * cfg["N"] / fpb)
    if kernel.startswith("psq_"):
        return max(1, min(math.ceil(cfg["count"] / launch["threads"]), 65535 * 32))
    if kernel.startswith("fixed_point_shared"):
        return kmfs.grid(cfg["systems"], cfg["n"], cfg.get("cells", 1))["blocks"]
    if kernel.startswith("fixed_point"):
        return kmfp.grid(cfg["systems"], cfg["n"])["blocks"]
    return None


def predict(d: dict, device: str) -> dict:
    """Time bounds (ms) on `device`: DRAM, and each pipe at its peak; predicted = the largest."""
    dev = DEVICES[device]
    rate = {p: PER_SM_PER_CLOCK[p] * dev["sms"] * dev["clock_hz"] for p in PER_SM_PER_CLOCK}
    bounds = {"dram": d["bytes"] / dev["hbm_bytes_per_s"] * 1e3}
    for pipe, ops in d["ops"].items():
        if ops:
            bounds[pipe] = ops / rate[pipe] * 1e3
    bound = max(bounds, key=bounds.get)
    return {"ms": bounds[bound], "bound": bound, "bounds_ms": {k: round(v, 6) for k, v in bounds.items()}}


# ------------------------------------------------------------------------------------ the sizes
FUSED_SIZES = [  # (N, pad, B, L): issue 22's four benchmark sizes = the H200 run's
    (128, 4, 32, 8), (200, 2, 64, 5), (256, 2, 32, 5), (512, 2, 8, 5)]
FIXED_POINT_SIZES = [(1024, 16, 1000), (65536, 16, 1000), (4096, 64, 1000)]
PSQ_SIZES = [(8, 128, 16), (5, 200, 16), (1, 200, 16)]  # (layers, N, steps): phase stacks + one layer
PSQ_STEPS_NOTE = "16-level periodic phase table: 16 thresholds (the wrap-around one included)"


def sized_configs(k: dict) -> list[tuple[str, dict]]:
    """(variant, config) pairs at which kernel instance `k` runs in a benchmark."""
    base, params = k["kernel"], k["params"]
    out = []
    if "P" in params:
        for N, pad, B, L in FUSED_SIZES:
            if N * pad != params["P"]:
                continue
            if base == "layer_cluster_kernel":
                import kernel_model_d2nn as kmd  # noqa: PLC0415
                if not kmd.cluster_plan(N, pad)["fits"]:
                    continue
            cfg = {"N": N, "P": N * pad, "B": B}
            if "_quant" in base:   # the quantized passes: pass 1 of the forward, pass 3 of the adjoint
                fpb = k["launch"].get("ffts_per_block") or params.get("ffts_per_block") or 1
                cfg["S"] = quant_slabs(N, B, fpb)[1]
                out.append(("forward" if base.startswith("row_quant") else "adjoint", cfg))
                continue
            # one instantiation serves the forward propagation and the adjoint (conj H, no
            # modulation in pass 1, dphi in pass 3)
            out += [("forward", cfg), ("adjoint", cfg)]
        return out
    if base.startswith("fixed_point_shared"):
        return [("forward" if "forward" in base else "adjoint", cfg) for cfg in kmfs.sized_configs(params)]
    if base.startswith("fixed_point") and params.get("T") == "float":
        for S, n, T in FIXED_POINT_SIZES:
            d = kmfp.dispatch(n)
            if (d["TPS"], d["R"]) == (params["TPS"], params["R"]) and not params.get("noise"):  # benchmark: no noise
                out.append(("forward" if "forward" in base else "adjoint", {"systems": S, "n": n, "iterations": T,
                                                                            "dtype": "float32"}))
        return out
    if base.startswith("psq_"):
        return [("forward" if "forward" in base else "backward",
                 {"layers": L, "N": N, "steps": st, "count": L * N * N}) for L, N, st in PSQ_SIZES]
    return out


def measured_for(base: str, variant: str, cfg: dict) -> tuple[float | None, str | None, dict | None]:
    if base.startswith("fixed_point_shared"):
        return None, None, None  # never run on a GPU
    if base.startswith("fixed_point_forward") and variant == "forward":
        # the H200 run measured the kernel before issue 23's rewrite: its time is the old kernel's
        # (record field previous_kernel_measured_ms_h200), not a measurement of these records' code
        return None, None, fixed_point_measured(cfg["systems"], cfg["n"], cfg["iterations"])
    if "N" in cfg and "P" in cfg:
        key = (base, variant, (cfg["N"], cfg["P"], cfg["B"]))
    elif base.startswith("psq_"):
        key = (base, variant, (cfg["layers"], cfg["N"], cfg["steps"]))
    else:
        return None, None, None
    if key in NCU_US:
        return statistics.median(NCU_US[key]) / 1e3, NCU_HOW, None
    return None, None, None


def _git_head() -> str:
    """The last commit that changed the kernel sources (cuda/, cpp/include/), '+dirty' if they have
    uncommitted changes: the code the records describe."""
    try:
        git = ["git", "-C", str(ROOT)]
        head = subprocess.run([*git, "log", "-1", "--format=%h", "--", "cuda", "cpp/include"], capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--", "cuda", "cpp/include"], capture_output=True,
                               text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except OSError:
        return ""


def record(k: dict, variant: str | None, cfg: dict | None, tl: dict, head: str) -> dict:
    occ = kr.occupancy_for(k, cfg.get("N") if cfg else None)
    lc = k["launch"]
    dyn = None
    if lc.get("threads"):
        dyn = lc.get("dynamic_smem_fixed", 0) + lc.get("dynamic_smem_per_n", 0) * (
            (cfg or {}).get("N") or (occ or {}).get("for_n") or 0)
    rec = {
        "kernel": k["kernel"], "arch": k["arch"],
        "config": dict(cfg, variant=variant) if cfg else {"instance": k["instance"]},
        "registers": k["registers"], "spills": k["spill_stores"] + k["spill_loads"],
        "smem_bytes": (k["static_smem"] + dyn) if dyn is not None else k["static_smem"],
        "occupancy": occ["fraction"] if occ else None,
        "ffma": k["sass"]["mix"]["FFMA"], "shfl": k["sass"]["mix"]["SHFL"],
        "bytes": None, "flops": None, "predicted_ms_h100": None, "predicted_ms_h200": None,
        "measured_ms": None, "device": None, "command": COMMAND,
        # extras
        "instance": k["instance"], "params": k["params"], "file": k["file"],
        "spill_stores": k["spill_stores"], "spill_loads": k["spill_loads"], "stack_frame": k["stack_frame"],
        "static_smem": k["static_smem"], "dynamic_smem": dyn, "threads_per_block": lc.get("threads"),
        "launch_source": lc.get("source"), "launch_bounds_threads": k.get("launch_bounds_threads"),
        "occupancy_detail": occ, "sass_mix": k["sass"]["mix"], "inner_loop_mix": k["sass"]["inner_loop_mix"],
        "inner_loops": len(k["sass"]["inner_loops"]),
        "compiler": tl.get("nvcc_version"), "commit": head,
    }
    if cfg is None:
        rec["device"] = "none: compiled on a CPU-only machine; no benchmark size uses this instantiation"
        return rec
    d = design(k["kernel"], variant, cfg)
    rec.update(bytes=int(d["bytes"]), flops=int(d["flops"]), model_notes=d["notes"], pipe_ops=d["ops"])
    blocks = grid_blocks(k["kernel"], cfg, lc)
    if blocks and occ and occ["blocks_per_sm"]:
        sms = DEVICES["h200"]["sms"] if k["arch"] == "sm_90" else None
        if sms:
            cap = occ["blocks_per_sm"] * sms
            rec.update(grid_blocks=blocks, resident_blocks_h100_h200=cap, waves_h100_h200=round(blocks / cap, 3))
        else:
            rec["grid_blocks"] = blocks
    if k["arch"] == "sm_90":   # H100 and H200 are sm_90; other archs' records carry no H100/H200 prediction
        p100, p200 = predict(d, "h100_sxm"), predict(d, "h200")
        rec.update(predicted_ms_h100=round(p100["ms"], 6), predicted_ms_h200=round(p200["ms"], 6),
                   bound_h100=p100["bound"], bound_h200=p200["bound"], bounds_ms_h200=p200["bounds_ms"])
        if k["kernel"].startswith("fixed_point_shared"):  # + issue, shared memory, torch-loop baseline
            rec.update(kmfs.extra_record_fields(rec, k, cfg, DEVICES, predict))
            p200 = {"ms": rec["predicted_ms_h200"]}
        elif k["kernel"].startswith("fixed_point"):  # + issue and shared-memory bounds (issue 23)
            rec.update(kmfp.extra_record_fields(rec, k, cfg, DEVICES, predict))
            p200 = {"ms": rec["predicted_ms_h200"]}
        ms, how, base = measured_for(k["kernel"], variant, cfg)
        if ms is not None:
            rec.update(measured_ms=round(ms, 6), measured_how=how, measured_commit=MEASURED_COMMIT,
                       measured_over_predicted_h200=round(ms / p200["ms"], 2))
        if base:
            if "ours_ms" in base:
                rec["previous_kernel_measured_ms_h200"] = base["ours_ms"]
                rec["previous_kernel_how"] = (f"benchmarks/bench_fixed_point.py forward, NVIDIA H200, commit "
                                              f"{MEASURED_COMMIT} ({RUN}): the kernel before issue 23")
            rec["baselines_h200_ms"] = {k2: v for k2, v in base.items() if k2 != "ours_ms"}
            for name, v in rec["baselines_h200_ms"].items():
                rec[f"predicted_speedup_vs_{name}"] = round(v / p200["ms"], 2)
    rec["device"] = ("NVIDIA H200 (measured_ms); predictions: model, no GPU" if rec["measured_ms"] is not None
                     else "none: compiled on a CPU-only machine; predictions from datasheet constants")
    return rec


def d2nn_step_records(kernels: list[dict], head: str) -> list[dict]:
    """Issue 22's composite: the fused three-pass path's fwd+bwd of one training step, L+1
    propagations forward (L modulated) and adjoint (dphi for the L modulated), L PSQ forward and
    backward of one N x N layer each, as separate launches; torch glue (exp(i phi), dphi.sum,
    detector, loss) not modelled."""
    by = {(k["kernel"], tuple(k["params"].get("directions") or []), k["params"].get("P")): k
          for k in kernels if k["arch"] == "sm_90"}
    out = []
    for N, pad, B, L in FUSED_SIZES:
        P = N * pad
        cfg = {"N": N, "P": P, "B": B}
        # forward: L modulated propagations + 1 without modulation (pass 1 without m, pass 3 plain);
        # adjoint: pass 1 never modulates, pass 3 forms dphi for the L modulated ones
        parts = [("row_modulate_fft_kernel", "forward", cfg, L), ("row_modulate_fft_kernel", "adjoint", cfg, L + 2),
                 ("column_transfer_kernel", "forward", cfg, L + 1), ("column_transfer_kernel", "adjoint", cfg, L + 1),
                 ("row_ifft_crop_kernel", "forward", cfg, L + 2), ("row_ifft_crop_kernel", "adjoint", cfg, L),
                 ("psq_forward_kernel", "forward", {"layers": 1, "N": N, "steps": 16}, L),
                 ("psq_backward_kernel", "backward", {"layers": 1, "N": N, "steps": 16}, L)]
        tot = {"bytes": 0, "flops": 0, "h100": 0.0, "h200": 0.0}
        for name, var, c, times in parts:
            d = design(name, var, c)
            tot["bytes"] += d["bytes"] * times
            tot["flops"] += d["flops"] * times
            tot["h100"] += predict(d, "h100_sxm")["ms"] * times
            tot["h200"] += predict(d, "h200")["ms"] * times
        m = d2nn_measured(N, pad, B, L)
        rec = {"kernel": "d2nn_step_fwd_bwd", "arch": "sm_90", "config": {"N": N, "pad": pad, "B": B, "L": L},
               "registers": None, "spills": max((by[key]["spill_stores"] + by[key]["spill_loads"]
                                                 for key in by if key[2] == P), default=None),
               "smem_bytes": None, "occupancy": None, "ffma": None, "shfl": None,
               "bytes": int(tot["bytes"]), "flops": int(tot["flops"]),
               "predicted_ms_h100": round(tot["h100"], 6), "predicted_ms_h200": round(tot["h200"], 6),
               "measured_ms": round(m["ours_fwd_bwd_ms"], 6) if "ours_fwd_bwd_ms" in m else None,
               "device": ("NVIDIA H200 (measured_ms: the whole step with the fused kernels, torch glue and the "
                          "host syncs of the time); predictions: model, no GPU"),
               "command": COMMAND,
               "parts": [{"kernel": n, "variant": v, "config": c, "launches": t} for n, v, c, t in parts],
               "model_notes": d2nn_step_records.__doc__.split("\n\n")[0].replace("\n   ", ""),
               "commit": head}
        if "ours_fwd_bwd_ms" in m:
            rec.update(measured_how=(f"benchmarks/bench_d2nn.py forward+backward (fused path, whole step), NVIDIA "
                                     f"H200, commit {MEASURED_COMMIT} ({RUN}/4_bench_d2nn.log, the run recorded in "
                                     f"docs/results/gpu_h200_2026-11-30.json)"), measured_commit=MEASURED_COMMIT)
            if (N, pad, B, L) in D2NN_SECOND_RUN_FWD_BWD_MS:
                rec["measured_ms_second_run"] = D2NN_SECOND_RUN_FWD_BWD_MS[(N, pad, B, L)]
                rec["measured_second_run_how"] = f"same session, second run ({RUN}/A_baseline.log)"
        base = {k: v for k, v in m.items() if k.startswith("careful")}
        if base:
            rec["baselines_h200_ms"] = base
            for name in ("careful-eager-fwdbwd", "careful-eager-fwdbwd-cuda-graph"):
                if name in base:
                    rec[f"predicted_speedup_vs_{name}"] = round(base[name] / tot["h200"], 2)
        out.append(rec)
    return out


def build(archs=kr.ARCHS, jobs: int = 2) -> dict:
    res = kr.collect(archs, jobs=jobs)
    head = _git_head()
    tl = res["tools"]
    recs = []
    for k in res["kernels"]:
        cfgs = sized_configs(k)
        if not cfgs:
            recs.append(record(k, None, None, tl, head))
        for variant, cfg in cfgs:
            recs.append(record(k, variant, cfg, tl, head))
    if "sm_90" in archs:
        import kernel_model_d2nn as kmd  # noqa: PLC0415 (imports this module)
        layer_occ = {(r["config"]["N"], r["config"]["P"]): r["occupancy_detail"] for r in recs
                     if r["kernel"] == "layer_cluster_kernel" and r["arch"] == "sm_90" and r["occupancy_detail"]
                     and r["config"].get("variant") == "forward"}
        for rec in d2nn_step_records(res["kernels"], head):
            c = rec["config"]
            rec.update(kmd.step_model(c["N"], c["pad"], c["B"], c["L"]))  # issue 22: three-pass vs on-chip
            occ = layer_occ.get((c["N"], c["N"] * c["pad"]))
            if occ and rec["design"] == "on_chip":
                rec.update(kmd.occupancy_caveat(occ))
            recs.append(rec)
    recs.sort(key=lambda r: (r["kernel"], r["arch"], json.dumps(r["config"], sort_keys=True)))
    return {
        "what": ("per kernel x arch x size: compiled resources (ptxas -v, cuobjdump -sass), theoretical occupancy, "
                 "bytes/FLOPs from the kernel design, predicted time on H100 SXM and H200 (model), measured time "
                 "where a GPU run measured the same kernel at the same size"),
        "command": COMMAND, "commit": head, "commit_is": "last commit changing cuda/ or cpp/include/", "tools": _portable_tools(tl),
        "devices": DEVICES, "per_sm_per_clock": PER_SM_PER_CLOCK, "per_sm_source": PER_SM_SOURCE,
        "measured_copy_bytes_per_s_h200": MEASURED_COPY_BYTES_PER_S_H200,
        "arch_limits": res["arch_limits"], "arch_limits_source": res["arch_limits_source"],
        "psq_steps": PSQ_STEPS_NOTE,
        "cufftdx_traits": res["cufftdx_traits"], "cufftdx_traits_command": res["cufftdx_traits_command"],
        "compiles": res["compiles"], "empty_instantiations": res["empty_instantiations"],
        "records": recs,
    }


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _fmt_ms(v) -> str:
    if v is None:
        return "–"
    return f"{v * 1e3:.1f} µs" if v < 0.1 else f"{v:.3g} ms"


def markdown(doc: dict) -> str:
    """The sm_90 tables of docs/results.md ("Kernels: what the compiled code says") from a kernels.json."""
    def order(r):
        c = r["config"]
        size = (c.get("N", 0) * 10 ** 6 + c.get("B", 0)) if "P" in c or "L" in c else \
            (c.get("n", 0) * 10 ** 7 + c.get("systems", 0)) if "systems" in c else c.get("count", 0)
        return (r["kernel"], size, 0 if c.get("variant") in (None, "forward") else 1)
    recs = sorted((r for r in doc["records"] if r["arch"] == "sm_90"), key=order)
    lines = ["| kernel | size | registers | spills (B) | smem (B) | occupancy | FFMA | SHFL | MB moved | GFLOP | "
             "predicted H100 | predicted H200 | bound (H200) | measured H200 |", "|" + "---|" * 14]
    groups: dict = {}
    for r in recs:
        if r["bytes"] is None or r["kernel"] == "d2nn_step_fwd_bwd":
            continue
        c = r["config"]
        size = (f"N={c['N']} P={c['P']} B={c['B']}" if "P" in c else
                f"{c['systems']}×{c['n']}×{c['iterations']}" if "systems" in c else
                f"{c['layers']}×{c['N']}×{c['N']}, {c['steps']} steps")
        groups.setdefault((r["kernel"], size), []).append(r)
    for (kernel, size), rs in groups.items():
        r = rs[0]
        two = len(rs) > 1   # the fused passes: forward / adjoint
        def both(f, rs=rs):
            return " / ".join(f(x) for x in rs)

        lines.append(f"| {kernel} | {size}{' (fwd / adj)' if two else ''} | {r['registers']} | {r['spills']} | "
                     f"{r['smem_bytes']} | {r['occupancy'] * 100:.1f} % | {r['ffma']} | {r['shfl']} | "
                     f"{both(lambda x: format(x['bytes'] / 1e6, '.3g'))} | "
                     f"{both(lambda x: format(x['flops'] / 1e9, '.3g'))} | "
                     f"{both(lambda x: _fmt_ms(x['predicted_ms_h100']))} | {both(lambda x: _fmt_ms(x['predicted_ms_h200']))} | "
                     f"{r.get('bound_h200', '')} | {both(lambda x: _fmt_ms(x['measured_ms']))} |")
    lines += ["", "| kernel | instantiation (no benchmark size) | registers | spills (B) | occupancy | FFMA | SHFL |",
              "|" + "---|" * 7]
    for r in recs:
        if r["bytes"] is None and r.get("registers") is not None:
            lines.append(f"| {r['kernel']} | {r['instance']} | {r['registers']} | {r['spills']} | "
                         f"{r['occupancy'] * 100:.1f} % | {r['ffma']} | {r['shfl']} |")
    lines += ["", "| N, pad, B, L | GB moved | GFLOP | predicted H100 | predicted H200 | measured H200 (two runs) | "
              "careful eager / its CUDA graph (H200) | predicted speed-up vs eager / graph |", "|" + "---|" * 8]
    for r in recs:
        if r["kernel"] != "d2nn_step_fwd_bwd":
            continue
        c, b = r["config"], r.get("baselines_h200_ms", {})
        lines.append(f"| {c['N']}, {c['pad']}, {c['B']}, {c['L']} | {r['bytes'] / 1e9:.2f} | {r['flops'] / 1e9:.1f} | "
                     f"{_fmt_ms(r['predicted_ms_h100'])} | {_fmt_ms(r['predicted_ms_h200'])} | "
                     f"{_fmt_ms(r['measured_ms'])} / {_fmt_ms(r.get('measured_ms_second_run'))} | "
                     f"{_fmt_ms(b.get('careful-eager-fwdbwd'))} / {_fmt_ms(b.get('careful-eager-fwdbwd-cuda-graph'))} | "
                     f"{r.get('predicted_speedup_vs_careful-eager-fwdbwd')}× / "
                     f"{r.get('predicted_speedup_vs_careful-eager-fwdbwd-cuda-graph')}× |")
    tr = doc.get("cufftdx_traits", [])
    if tr:
        lines += ["", "| P | arch | row FFT: block_dim, FFTs/block, elements/thread, smem (B) | "
                  "column FFT (8 per block): block_dim, elements/thread, smem (B) |", "|---|---|---|---|"]
        for t in tr:
            if t["role"] != "row_forward":
                continue
            col = next((u for u in tr if u["P"] == t["P"] and u["arch"] == t["arch"] and u["role"] == "column_forward"),
                       None)
            bd = "×".join(str(x) for x in t["block_dim"][:2])
            cbd = "×".join(str(x) for x in col["block_dim"][:2]) if col else "–"
            lines.append(f"| {t['P']} | {t['arch']} | {bd}, {t['ffts_per_block']}, {t['elements_per_thread']}, "
                         f"{t['shared_memory_size']} | {cbd}, {col['elements_per_thread'] if col else '–'}, "
                         f"{col['shared_memory_size'] if col else '–'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", action="append", choices=kr.ARCHS, help="repeatable; default: all four")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "kernels.json"), help="'-' for stdout")
    ap.add_argument("--markdown", nargs="?", const=str(ROOT / "docs" / "results" / "kernels.json"), metavar="JSON",
                    help="print the sm_90 tables of docs/results.md from a kernels.json (no compiling) and exit")
    a = ap.parse_args(argv)
    if a.markdown:
        sys.stdout.write(markdown(json.loads(Path(a.markdown).read_text())))
        return 0
    doc = build(tuple(a.arch or kr.ARCHS), a.jobs)
    text = json.dumps(doc, indent=1) + "\n"
    if a.out == "-":
        sys.stdout.write(text)
    else:
        write_atomic(Path(a.out), text)
        print(f"wrote {a.out}: {len(doc['records'])} records", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The fixed-point kernels' performance model (benchmarks/kernel_model_fixed_point.py, issue 23)
against hand computation: the dispatch of cuda/fixed_point.cuh, the grid, the useful FLOPs and the
DRAM bytes of the three benchmark sizes, the shared-memory wavefronts and the issue-slot bound.
No compiler, no GPU: arithmetic only (< 1 s)."""
from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
kmfp = pytest.importorskip("kernel_model_fixed_point")
km = pytest.importorskip("kernel_model")

H200 = km.DEVICES["h200"]


def test_dispatch_is_the_headers():
    """The model's (n range -> TPS, R) table is the one dispatch_fixed_point holds (read from the
    header text, float32 branch), so the model cannot drift from the kernel."""
    src = (ROOT / "cuda" / "fixed_point.cuh").read_text()
    body = src[src.index("if (p.dtype == kFpFloat32)"):src.index("if (p.dtype == kFpFloat64)")]
    rows = [(int(n), int(t), int(r)) for n, t, r in
            re.findall(r"if \(p\.n <= (\d+)\) return Launch<float, (\d+), (\d+)>", body)]
    last = re.findall(r"return Launch<float, (\d+), (\d+)>::run\(p, stream\.\.\.\);\n  \}", body)
    rows.append((64, int(last[-1][0]), int(last[-1][1])))
    assert tuple(rows) == kmfp.DISPATCH
    for n in (1, 3, 4, 5, 16, 17, 31, 33, 64):
        d = kmfp.dispatch(n)
        assert d["NP"] >= n and d["NP"] == d["TPS"] * d["R"] and 32 % d["TPS"] == 0
    with pytest.raises(ValueError):
        kmfp.dispatch(65)
    with pytest.raises(ValueError):
        kmfp.dispatch(0)


def test_grid_by_hand():
    assert kmfp.grid(65536, 16) == {"blocks": 2048, "threads": 262144, "warps": 8192}  # 32 systems per block
    assert kmfp.grid(4096, 64) == {"blocks": 1024, "threads": 131072, "warps": 4096}   # 4 per block
    assert kmfp.grid(33, 16) == {"blocks": 2, "threads": 256, "warps": 8}             # a partial block


def test_benchmark_sizes_flops_and_bytes_by_hand():
    # 1024 x 16 x 1000 forward: 2 n^2 per system and iteration
    d = kmfp.design("fixed_point_forward_kernel", "forward", {"systems": 1024, "n": 16, "iterations": 1000})
    assert d["flops"] == 524_288_000
    # W 1024*256, b and state 2*1024*16, 4 per-system scalars + residual 5*1024 (float32), iterations int32
    assert d["bytes"] == 4 * 262_144 + 4 * 32_768 + 4 * 5_120 + 4 * 1_024 == 1_204_224
    # 65536 x 16 x 1000 and 4096 x 64 x 1000: both 33.5 GFLOP of multiply-adds (issue 23)
    d16 = kmfp.design("fixed_point_forward_kernel", "forward", {"systems": 65536, "n": 16, "iterations": 1000})
    d64 = kmfp.design("fixed_point_forward_kernel", "forward", {"systems": 4096, "n": 64, "iterations": 1000})
    assert d16["flops"] == d64["flops"] == 33_554_432_000
    assert d64["bytes"] == 4 * 4096 * 4096 + 4 * 2 * 4096 * 64 + 4 * 5 * 4096 + 4 * 4096 == 69_304_320
    # the FMAs issued: NP = n here (no padding), 1001 passes (t = 0..T, the last judges convergence)
    assert d16["fma_lane_ops"] == 65536 * 1001 * 16 * 16
    assert d64["fma_lane_ops"] == 4096 * 1001 * 64 * 64
    # adjoint: W f(s*) once, then T + 1 passes of W^T u; useful 2 n^2 S (T + 1); W read twice
    a = kmfp.design("fixed_point_adjoint_kernel", "adjoint", {"systems": 4096, "n": 64, "iterations": 1000})
    assert a["flops"] == 2 * 4096 * 64 * 64 * 1001
    assert a["fma_lane_ops"] == 4096 * 1002 * 64 * 64
    assert a["bytes"] == 4 * (2 * 4096 * 4096 + 5 * 4096 * 64 + 3 * 4096) + 4 * 4096
    assert a["ops"]["shfl"] == 131072 * 1001 * 10  # 2 log2(32) per lane and loop pass, none in the prologue


def test_shared_memory_wavefronts_by_hand():
    """A warp's 16-byte broadcast load: 32 / TPS groups read distinct, conflict-free vectors."""
    cfg = {"systems": 32, "n": 16, "iterations": 0}            # one block: 4 warps, 1 pass
    assert kmfp.design("fixed_point_forward_kernel", "forward", cfg)["lds_wavefronts"] == 4 * 4 * 1  # 8 x 16 B
    cfg = {"systems": 128, "n": 4, "iterations": 0}            # TPS = 1: 32 groups x 16 B = 4 wavefronts
    assert kmfp.design("fixed_point_forward_kernel", "forward", cfg)["lds_wavefronts"] == 4 * 1 * 4
    cfg = {"systems": 4, "n": 64, "iterations": 0}             # one system per warp: 16 loads of 1
    assert kmfp.design("fixed_point_forward_kernel", "forward", cfg)["lds_wavefronts"] == 4 * 16


def test_issue_bound_by_hand():
    cfg = {"systems": 65536, "n": 16, "iterations": 1000}
    # 200 warp instructions per pass; 8192 warps on 4 x 132 = 528 schedulers: the busiest holds 16;
    # 1001 passes at 1.98e9 clocks per second
    expect = 200 * 16 * 1001 / 1.98e9 * 1e3
    assert math.isclose(kmfp.issue_bound_ms(200, cfg, H200), expect)
    assert math.isclose(expect, 1.6178, rel_tol=1e-4)
    # 1024 systems: 256 warps, fewer than the schedulers: one warp's own 200 x 1001 instructions
    small = {"systems": 1024, "n": 16, "iterations": 1000}
    assert math.isclose(kmfp.issue_bound_ms(200, small, H200), 200 * 1001 / 1.98e9 * 1e3)


def test_record_hook_takes_the_largest_bound():
    """extra_record_fields: predicted = the largest of DRAM, the pipes, shared memory and issue."""
    k = {"kernel": "fixed_point_forward_kernel",
         "sass": {"inner_loop_mix": {"total": 200, "FFMA": 64, "SHFL": 4}}}
    cfg = {"systems": 65536, "n": 16, "iterations": 1000}
    out = kmfp.extra_record_fields({"config": dict(cfg, variant="forward")}, k, cfg, km.DEVICES, km.predict)
    assert out["bound_h200"] == "issue" and math.isclose(out["predicted_ms_h200"], 1.6178, rel_tol=1e-4)
    assert out["inner_loop_ffma_share"] == 0.32 and out["target_ms"] == 1.5
    assert max(out["bounds_ms_h200"].values()) == out["predicted_ms_h200"]

"""The shared-W fixed-point kernels' model (benchmarks/kernel_model_fixed_point_shared.py, issue 23
item 2) against hand computation: the dispatch read from the header, the grid, the useful FLOPs,
the FMA and shared-memory counts per pass, and the torch-graph baseline's arithmetic."""
from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
kmfs = pytest.importorskip("kernel_model_fixed_point_shared")
km = pytest.importorskip("kernel_model")


def test_dispatch_is_the_header():
    src = (ROOT / "cuda" / "fixed_point_shared.cuh").read_text()
    body = src[src.index("if (p.dtype == kFpFloat32)"):src.index("if (p.dtype == kFpFloat64)")]
    rows = re.findall(r"if \(p\.n <= (\d+)\) return Launch<float, (\d+), (\d+)>", body)
    last = re.findall(r"return Launch<float, (\d+), (\d+)>::run\(p, extra\.\.\.\);", body)[-1]
    table = [(int(n), int(np_), int(rm)) for n, np_, rm in rows] + [(64, int(last[0]), int(last[1]))]
    for top, NP, RM in table:
        for n in (top, max(1, top // 2 + 1)):
            d = kmfs.dispatch(n)
            assert (d["NP"], d["RM"]) == (NP, RM)
    assert kmfs.dispatch(16) == {"NP": 16, "RM": 4, "RG": 4, "CG": 8, "TBw": 32, "warps": 4, "tile": 128}
    assert kmfs.dispatch(64)["tile"] == 32  # 16 row groups x 2 column groups x 4 columns, 4 warps


def test_grid_and_counts_by_hand():
    assert kmfs.grid(65536, 16) == {"blocks": 512, "tiles": 512, "threads": 65536, "warps": 2048}
    assert kmfs.grid(65536, 64)["blocks"] == 2048
    assert kmfs.grid(45, 16, cells=3) == {"blocks": 3, "tiles": 1, "threads": 384, "warps": 12}
    cfg = {"systems": 65536, "n": 16, "iterations": 1000}
    d = kmfs.design("fixed_point_shared_forward_kernel", "forward", cfg)
    assert d["flops"] == 2 * 16 * 16 * 65536 * 1000
    # 65536 lanes x 1001 passes x (16 k x 16 FMAs + 16 elements x 6)
    assert d["ops"]["fp32"] == 65536 * 1001 * (16 * 16 + 16 * 6)
    assert d["ops"]["shfl"] == 65536 * 1001 * 8 * 2            # two norms x 4 columns x log2(4)
    # per warp and pass: 16 k x (1 W load: 4 x 16 B = 1 wavefront + 1 f load: 8 x 16 B = 1) + 16 stores
    assert d["lds_wavefronts"] == 2048 * 1001 * (16 * 2 + 16)
    assert d["bytes"] == 4 * (16 * 16 + 2 * 65536 * 16 + 5 * 65536) + 4 * 65536


def test_baseline_by_hand():
    dev = km.DEVICES["h200"]
    cfg = {"systems": 65536, "n": 64, "iterations": 1000}
    x = 4 * 65536 * 64
    per = [2 * x, 2 * x + 4 * 64 * 64, 2 * x, 2 * x, 3 * x, 3 * x]
    mm_fp32 = 2.0 * 65536 * 64 * 64 / dev["fp32_flops"]
    want = sum(max(b / dev["hbm_bytes_per_s"], kmfs.GRAPH_KERNEL_FLOOR_US * 1e-6) for b in per)
    want += max(mm_fp32, per[1] / dev["hbm_bytes_per_s"]) - max(per[1] / dev["hbm_bytes_per_s"],
                                                                 kmfs.GRAPH_KERNEL_FLOOR_US * 1e-6)
    assert math.isclose(kmfs.torch_graph_loop_ms(cfg, dev)["ms"], want * 1e3 * 1000, rel_tol=1e-12)

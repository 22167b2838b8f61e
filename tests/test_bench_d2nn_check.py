"""benchmarks/bench_d2nn.py's correctness cross-check (no timing): ours, the careful eager baseline
and the loop baseline compute the same logits and latent gradients on a tiny size, and the check
stops the run when a baseline computes something else."""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_d2nn.py"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH.parent))
    try:
        spec = importlib.util.spec_from_file_location("bench_d2nn_under_test", BENCH)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # dataclasses look their module up there
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(BENCH.parent))
    return mod


def test_baselines_agree_with_ours_on_a_tiny_size(bench):
    case = bench.build_case(12, 2, 3, 2, torch.device("cpu"))
    errs = bench.cross_check(case)
    assert set(errs) == {"careful-eager", "loop-eager"}
    for name, e in errs.items():
        assert e["logits"] < bench.CHECK_RTOL and e["grad"] < bench.CHECK_RTOL, (name, e)


def test_vectorised_psq_equals_the_formula(bench):
    """The careful baseline's one-sigmoid-over-thresholds PSQ is SPEC A2's sum, by hand in float64."""
    case = bench.build_case(8, 2, 1, 1, torch.device("cpu"))
    m = case.models["careful-eager"]
    w = torch.rand(8, 8, dtype=torch.float64) * 2 * math.pi
    c, d = m.thresholds.double().numpy(), m.steps.double().numpy()
    want = m.base + sum(d[i] / (1 + np.exp(-m.k * (w.numpy() - c[i]))) for i in range(len(c)))
    got = (m.base + (m.steps.double() * torch.sigmoid(m.k * (w[..., None] - m.thresholds.double()))).sum(-1))
    assert np.allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
    assert torch.allclose(m.psq(w.float()).double(), torch.from_numpy(want), atol=1e-5)


@pytest.mark.parametrize("break_it", ["conjugate H", "drop one threshold", "other sharpness"])
def test_cross_check_stops_a_wrong_baseline(bench, break_it):
    case = bench.build_case(12, 2, 3, 2, torch.device("cpu"))
    m = case.models["careful-eager"]
    if break_it == "conjugate H":
        m.h_between = m.h_between.conj().resolve_conj()
    elif break_it == "drop one threshold":
        m.thresholds, m.steps = m.thresholds[1:].clone(), m.steps[1:].clone()
    else:
        m.k = m.k * 1.5
    with pytest.raises(bench.BenchCheckError, match="careful-eager disagrees"):
        bench.cross_check(case)


def test_quick_cpu_run_writes_records_with_the_issue_fields(bench, tmp_path):
    out = tmp_path / "bench.json"
    rows = bench.main(["--device", "cpu", "--quick", "--configs", "8,2,2,1", "--repeats", "1", "--warmup", "0",
                       "--out", str(out)])
    import json
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(rows))
    need = {"bench", "config", "ours_ms", "baseline", "baseline_ms", "speedup", "peak_mem_ours_mib",
            "peak_mem_baseline_mib", "device", "command"}
    assert all(need <= set(r) for r in saved)
    assert {r["baseline"] for r in saved} == {"careful-eager", "careful-eager-graph", "loop-eager", "best"}
    assert {r["bench"] for r in saved} == {"d2nn_forward", "d2nn_forward+backward"}
    graph = [r for r in saved if r["baseline"] == "careful-eager-graph"]
    assert all(r["baseline_ms"] is None and r["baseline_error"] == "needs CUDA" for r in graph)
    best = [r for r in saved if r["baseline"] == "best"]
    assert all(r["best_baseline"] == "careful-eager" and r["speedup"] > 0 for r in best)


def test_fused_bytes_model_by_hand(bench):
    # N=2, pad=2 (P=4), B=1, L=1: one propagation moves 8·(2·4 + 4·8 + 16) = 448 bytes; two of them
    # forward; backward the same plus 16 bytes per neuron of the one modulated layer (4 neurons)
    assert bench.fused_bytes(2, 2, 1, 1) == {"forward": 896, "forward+backward": 896 + 896 + 64}
    # the issue's estimate at N=200, B=64, L=5: about 2.5 GB per training step
    assert 2.4e9 < bench.fused_bytes(200, 2, 64, 5)["forward+backward"] < 2.8e9

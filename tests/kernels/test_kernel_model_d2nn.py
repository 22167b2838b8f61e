"""Issue 22's step model (benchmarks/kernel_model_d2nn.py): FLOP and byte counts against hand
computations, the cluster-fit rule against the issue's worked state sizes, and the records' shape.
Pure arithmetic: no compiler, no GPU (a few ms)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
kmd = pytest.importorskip("kernel_model_d2nn")
km = pytest.importorskip("kernel_model")

# A small step by hand: N = 4, pad 2 (P = 8), B = 3, L = 2. FFT of 8: 5 * 8 * 3 = 120 FLOPs.
N, PAD, P, B, L = 4, 2, 8, 3, 2


def test_step_flops_by_hand():
    prop = (2 * 4 + 2 * 8) * 120 + 6 * 64 + 2 * 16       # 24 FFTs, H . X on 8 x 8, crop scale: 3296
    fwd_masked = prop + 6 * 16                             # t . u: 3392
    adj_masked = prop + 6 * 16 + 15 * 16                   # conj(t) g' and dphi: 3632
    psq = 2 * 16 * ((6 + 6 * 16) + (9 + 12 * 16))          # L N^2 elements, 16 steps: 9696
    hand = 3 * (2 * fwd_masked + prop + 2 * adj_masked + prop) + psq
    assert hand == 71616
    assert kmd.step_flops(N, PAD, B, L) == hand


def test_on_chip_bytes_by_hand():
    field, H, w = 3 * 16 * 8, 64 * 8, 16 * 4               # 384, 512, 64 bytes
    fwd = 3 * (2 * field + H) + 2 * w                      # (L+1) launches: u in, out; H once; L latent reads
    adj = 3 * (2 * field + H) + 2 * (field + w + w)        # g in, grad out; masked: saved u, w, dL/dw
    assert fwd + adj == 8832
    assert kmd.on_chip_bytes(N, PAD, B, L) == 8832


def test_three_pass_bytes_by_hand():
    field, spec, H, m = 384, 3 * 4 * 8 * 8, 512, 128      # spec = (B, N, P) complex64 = 768
    pass1 = 2 * (field + spec + m) + 4 * (field + spec)   # L masked; L+1 adjoint + 1 plain forward without m
    pass2 = 6 * (2 * spec + H)                             # 2 (L+1) column passes
    pass3 = 4 * (spec + field) + 2 * (spec + field + m + field + 3 * 16 * 4)  # L+2 plain; L with dphi
    psq = 2 * (2 * 16 * 4 + 2 * 16 * 4) + 2 * (3 * 16 * 4 + 2 * 16 * 4)
    assert pass1 + pass2 + pass3 + psq == 28928
    assert kmd.three_pass_bytes(N, PAD, B, L) == 28928


def test_layer_kernel_design_by_hand():
    fwd = km.design("layer_cluster_kernel", "forward", {"N": N, "P": P, "B": B})
    adj = km.design("layer_cluster_kernel", "adjoint", {"N": N, "P": P, "B": B})
    assert fwd["bytes"] == 2 * 384 + 512 + 128 and adj["bytes"] == 2 * 384 + 512 + 128 + 384 + 64
    assert fwd["flops"] == 3 * 3392 and adj["flops"] == 3 * 3632


def test_issue_worked_example_200_pad2():
    """Issue 22's hand numbers at (200, 2, 64, 5): ~21 MFLOP per propagation and sample (FFTs only),
    ~16 GFLOP per step, floor ~0.24 ms at 67 TFLOP/s, ~2.5 GB (three passes) vs ~0.5 GB (on chip)."""
    ffts = (200 + 2 * 400 + 200) * 5 * 400 * 8.643856189774724  # 1200 FFTs of 400 (log2 400 = 8.64)
    assert ffts / 1e6 == pytest.approx(20.7, rel=0.01)
    flops = kmd.step_flops(200, 2, 64, 5)
    assert flops == pytest.approx(16e9, rel=0.1)           # + H . X, masks and PSQ on top of the FFTs
    assert flops / 66.9e12 * 1e3 == pytest.approx(kmd.flop_floor_ms(200, 2, 64, 5, "h200"))
    assert kmd.flop_floor_ms(200, 2, 64, 5, "h200") == pytest.approx(0.24, rel=0.1)
    assert kmd.three_pass_bytes(200, 2, 64, 5) == pytest.approx(2.5e9, rel=0.1)
    assert kmd.on_chip_bytes(200, 2, 64, 5) == pytest.approx(0.5e9, rel=0.25)


@pytest.mark.parametrize("n,pad,state,fits", [(128, 4, 524288, True), (200, 2, 640000, True),
                                              (256, 2, 1048576, True), (512, 2, 4194304, False)])
def test_which_sizes_fit_one_cluster(n, pad, state, fits):
    """The issue's state sizes (512 KB, 640 KB, 1 MB; 4 MB does not fit 16 x 227 KB)."""
    assert kmd.state_bytes(n, pad) == state
    plan = kmd.cluster_plan(n, pad)
    assert plan["fits"] is fits
    if fits:
        assert plan["cluster"] == 8 and plan["smem_per_block"] <= 227 * 1024
        assert plan["smem_per_block"] == kmd.FFT_WORKSPACE_BYTES + (n // 8) * (n * pad + 1) * 8  # pitch P + 1
    else:
        assert "MiB" in plan["why"]
        assert kmd.FFT_WORKSPACE_BYTES + (n // 16) * (n * pad + 1) * 8 > 227 * 1024


def test_records_one_per_size_with_predictions_marked():
    recs = kmd.records()
    assert [tuple(r["config"].values()) for r in recs] == [tuple(s) for s in kmd.SIZES]
    for r in recs:
        assert r["kernel"] == "d2nn_step_fwd_bwd" and set(r["config"]) == {"N", "pad", "B", "L"}
        assert r["is_prediction"] is True
        assert r["bytes"] == (r["bytes_on_chip"] if r["design"] == "on_chip" else r["bytes_three_pass"])
        assert r["flops"] == int(kmd.step_flops(*r["config"].values()))
        for tag in ("h100", "h200"):
            assert r[f"predicted_ms_{tag}"] >= r[f"flop_floor_ms_{tag}"]
        base = r["best_plain_pytorch_h200_ms"]
        assert r["predicted_speedup_h200"] == pytest.approx(base / r["predicted_ms_h200"], rel=0.01)
        assert r["target_met_predicted"] == (r["predicted_ms_h200"] <= base / r["target_speedup"])
        assert ("NOT met" in r["verdict"]) != r["target_met_predicted"]
    assert recs[-1]["predicted_best_design_h200"] == "three_pass"  # (512, 2): no cluster holds it


def test_low_occupancy_is_said():
    """A compiled layer kernel with few resident warps gets a caveat; a well-occupied one none."""
    low = kmd.occupancy_caveat({"fraction": 0.0625, "warps_per_sm": 4, "limited_by": "shared_memory"})
    assert "optimistic until measured" in low["occupancy_caveat"] and low["on_chip_kernel_warps_per_sm"] == 4
    high = kmd.occupancy_caveat({"fraction": 0.5, "warps_per_sm": 32, "limited_by": "registers"})
    assert "occupancy_caveat" not in high

"""The layer-path dispatch (issue 22 item 3), on the CPU with fake device records.

The decision (functional/_dispatch.choose) is checked against the fits-on-chip rule of the issue and
against benchmarks/kernel_model_d2nn.py's predictions (an independent implementation of the same
roofline: the package imports nothing from benchmarks/), at the four benchmark sizes and over batch
sizes; the cached front end is checked to say a fallback's reason once and to query nothing after
the first call.
"""
from __future__ import annotations

import logging
import math
import sys
import warnings
from pathlib import Path

import pytest
import torch

from quaton_fast import _backend
from quaton_fast.functional import _dispatch as D

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
kmd = pytest.importorskip("kernel_model_d2nn")
km = pytest.importorskip("kernel_model")

KiB = 1024
# CUDA device attributes of the real parts (CUDA C++ Programming Guide, compute capability tables;
# datasheet clocks and bandwidths as benchmarks/kernel_model.DEVICES)
H100 = D.DeviceProps("H100 SXM", 9, 0, 132, 227 * KiB, 228 * KiB, True, 1.98e9, 3.35e12)
H200 = D.DeviceProps("H200 SXM", 9, 0, 132, 227 * KiB, 228 * KiB, True, 1.98e9, 4.8e12)
A100 = D.DeviceProps("A100 SXM", 8, 0, 108, 163 * KiB, 164 * KiB, False, 1.41e9, 2.039e12)
T4 = D.DeviceProps("T4", 7, 5, 40, 64 * KiB, 64 * KiB, False, 1.59e9, 3.2e11)
BUILD = D.BuildKernels((256, 400, 512, 1024), dict(D.ON_CHIP_WORKSPACE_SM90))
MODEL_DEVICE = {"H100 SXM": "h100_sxm", "H200 SXM": "h200"}
BENCH = [(N, pad, B, L) for N, pad, B, L in km.FUSED_SIZES]


@pytest.mark.parametrize("props", [H100, H200], ids=lambda p: p.name)
@pytest.mark.parametrize("N,pad,B,L", BENCH)
def test_benchmark_sizes_pick_what_the_model_picks(props, N, pad, B, L):
    P = N * pad
    c = D.choose(props, BUILD, N, P, B, torch.complex64)
    dev = MODEL_DEVICE[props.name]
    oc, tp = kmd.predict_on_chip(N, pad, B, L, dev), kmd.predict_three_pass(N, pad, B, L, dev)
    model_best = "on_chip" if oc is not None and oc["ms"] < tp["ms"] else "three_pass"
    assert c.path == model_best, c.reason
    # the fits-on-chip rule: the N x P state fits one cluster's shared memory at (128, 4),
    # (200, 2), (256, 2), not at (512, 2), where the three-pass path runs and says why
    fits = kmd.cluster_plan(N, pad)["fits"]
    assert (c.path == "on_chip") == fits
    if fits:
        assert c.cluster == kmd.cluster_plan(N, pad)["cluster"]
        assert c.predicted_us["on_chip"] < c.predicted_us["three_pass"]
        assert not c.fallback
    else:
        assert c.fallback and "does not fit one cluster" in c.reason


def _model_step_ms(design, N, pad, B, dev):
    if design == "on_chip":
        r = kmd.predict_on_chip(N, pad, B, 1, dev)
        return r["ms"] if r else math.inf
    return kmd.predict_three_pass(N, pad, B, 1, dev)["ms"]


@pytest.mark.parametrize("props", [H100, H200], ids=lambda p: p.name)
@pytest.mark.parametrize("N,pad", [(128, 4), (200, 2), (256, 2), (128, 2)])
def test_cost_function_agrees_with_the_model_over_batch_sizes(props, N, pad):
    """Over B = 1 .. 256 the package's per-layer cost orders the two designs as the model's step
    prediction (L = 1) does, wherever the model's margin is clear (> 30 %); both say three-pass at
    B = 1 (the 8 blocks of one cluster are far under a wave of 132 SMs)."""
    dev = MODEL_DEVICE[props.name]
    agree = clear = 0
    for B in (1, 2, 4, 8, 16, 32, 64, 128, 256):
        oc_m, tp_m = _model_step_ms("on_chip", N, pad, B, dev), _model_step_ms("three_pass", N, pad, B, dev)
        c = D.choose(props, BUILD, N, N * pad, B, torch.complex64)
        if max(oc_m, tp_m) / min(oc_m, tp_m) > 1.3:
            clear += 1
            agree += c.path == ("on_chip" if oc_m < tp_m else "three_pass")
    assert clear >= 4 and agree == clear
    assert D.choose(props, BUILD, N, N * pad, 1, torch.complex64).path == "three_pass"


def test_a100_has_no_clusters_three_pass_with_reason():
    c = D.choose(A100, BUILD, 200, 400, 64, torch.complex64)
    assert c.path == "three_pass" and c.fallback
    assert "sm_90" in c.reason and "sm_80" in c.reason and "no cluster launch" in c.reason


def test_unsupported_gpu_and_size_fall_back_to_torch_with_both_reasons():
    c = D.choose(T4, BUILD, 128, 256, 8, torch.complex64)
    assert c.path == "torch" and c.fallback and "sm_75" in c.reason
    c = D.choose(H100, BUILD, 100, 300, 8, torch.complex64)  # P = 300 compiled nowhere
    assert c.path == "torch" and "P = 300" in c.reason


@pytest.mark.parametrize("dtype", [torch.complex128, torch.float32, torch.float64, torch.complex32])
def test_odd_dtypes_fall_back_with_reason(dtype):
    c = D.choose(H100, BUILD, 200, 400, 64, dtype)
    assert c.path == "torch" and c.fallback and "complex64" in c.reason and str(dtype) in c.reason


def test_quantizer_inside_complex_table_keeps_three_pass_phase_table_by_cost():
    c = D.choose(H200, BUILD, 200, 400, 64, torch.complex64, "complex")
    assert c.path == "three_pass" and "complex" in c.reason
    # a phase table: on chip with the quantizer as its own torch op (launches the three-pass path's
    # fused quantizer does not cost) -- the faster of the two by the cost function
    plain = D.choose(H200, BUILD, 200, 400, 64, torch.complex64)
    for B in (64, 256):
        c = D.choose(H200, BUILD, 200, 400, B, torch.complex64, "phase")
        extra = D.QUANT_OUTSIDE_LAUNCHES * D.LAUNCH_GAP_US
        if B == 64:
            assert c.predicted_us["on_chip"] == pytest.approx(plain.predicted_us["on_chip"] + extra)
        assert c.path == min(c.predicted_us, key=c.predicted_us.get)
    assert c.path == "on_chip"  # B = 256: the launches are amortised


def test_bad_arguments_and_limits():
    with pytest.raises(ValueError, match="quantizer"):
        D.choose(H100, BUILD, 128, 256, 2, torch.complex64, "psq")
    with pytest.raises(ValueError, match="N <= P"):
        D.choose(H100, BUILD, 300, 256, 2, torch.complex64)
    assert D.choose(H100, BUILD, 128, 256, 70000, torch.complex64).path == "torch"
    assert D.choose(H100, D.BuildKernels(), 128, 256, 8, torch.complex64).path == "torch"
    # the native support answer overrides the rule (e.g. cudaOccupancyMaxActiveClusters said 0)
    c = D.choose(H100, BUILD, 200, 400, 64, torch.complex64, on_chip_code=6)
    assert c.path == "three_pass" and "cudaOccupancyMaxActiveClusters" in c.reason


def test_on_chip_plan_matches_the_kernel_geometry():
    # LayerClusterGeometry::smem: workspace + ceil(N / C) rows of (P + 1) complex64
    assert D.on_chip_plan(H100, 9600, 200, 400) == (8, 9600 + 25 * 401 * 8)
    assert D.on_chip_plan(H100, 12288, 256, 512) == (8, 12288 + 32 * 513 * 8)
    small = D.DeviceProps("small", 9, 0, 132, 100 * KiB, 228 * KiB, True, 1.98e9, 3.35e12)
    assert D.on_chip_plan(small, 12288, 256, 512) == (16, 12288 + 16 * 513 * 8)
    assert D.on_chip_plan(H100, 16384, 512, 1024) is None


class _FakeField:
    """The metadata layer_path reads from a CUDA field."""
    is_cuda = True

    def __init__(self, batch, n, dtype=torch.complex64):
        self.device, self.dtype, self.shape = torch.device("cuda", 0), dtype, (batch, n, n)

    def numel(self):
        return math.prod(self.shape)


def test_reason_said_once_and_no_query_after_the_first_call(monkeypatch, caplog):
    calls = []

    def props(device):
        calls.append(device)
        return T4

    monkeypatch.setattr(D, "device_props", props)
    monkeypatch.setattr(D, "build_kernels", lambda: BUILD)
    D._decide.cache_clear()
    monkeypatch.setattr(_backend, "_NOTICES", set())
    h = torch.zeros(256, 256, dtype=torch.complex64)
    try:
        with warnings.catch_warnings(record=True) as w, caplog.at_level(logging.INFO, "quaton_fast.dispatch"):
            warnings.simplefilter("always")
            for _ in range(5):
                c = D.layer_path(_FakeField(4, 128), h)
            D.layer_path(_FakeField(8, 128), h)  # another batch: decided again, not said again
        assert c.path == "torch"
        said = [x for x in w if issubclass(x.category, RuntimeWarning)]
        assert len(said) == 1 and "sm_75" in str(said[0].message)
        assert len(calls) == 2  # one device look-up per (device, N, P, B, dtype) key, none per call
        assert sum("sm_75" in r.getMessage() for r in caplog.records) == 2
    finally:
        D._decide.cache_clear()


def test_cpu_tensor_is_torch_path():
    c = D.layer_path(torch.zeros(2, 8, 8, dtype=torch.complex64), torch.zeros(16, 16, dtype=torch.complex64))
    assert c.path == "torch" and not c.fallback


def test_workspace_table_matches_the_compiled_kernel():
    """The sm_90 workspace table the fake records use == what a CUDA + cuFFTDx build reports
    (no GPU needed: the launcher's compile-time geometry); skipped in a CPU build."""
    mod = _backend.native()
    if mod is None or not hasattr(mod, "layer_cluster_workspace"):
        pytest.skip("no CUDA + cuFFTDx build")
    assert {p: mod.layer_cluster_workspace(p) for p in mod.layer_cluster_sizes()} == D.ON_CHIP_WORKSPACE_SM90
    assert D.build_kernels().on_chip_workspace == D.ON_CHIP_WORKSPACE_SM90


def test_environment_switch_keeps_layers_off_the_on_chip_kernel(monkeypatch):
    monkeypatch.setattr(D, "device_props", lambda device: H200)
    monkeypatch.setattr(D, "build_kernels", lambda: BUILD)
    h = torch.zeros(400, 400, dtype=torch.complex64)
    D._decide.cache_clear()
    try:
        assert D.layer_path(_FakeField(64, 200), h).path == "on_chip"
        D._decide.cache_clear()
        monkeypatch.setenv(D.DISABLE_ENV, "1")
        c = D.layer_path(_FakeField(64, 200), h)
        assert c.path == "three_pass" and D.DISABLE_ENV in c.reason
    finally:
        D._decide.cache_clear()

"""torch-style ``device=``/``dtype=`` on the model constructors and presets (issue 25, item 12)."""
from __future__ import annotations

import pytest
import torch

import quaton_fast as qf
from quaton_fast.aoc import EquilibriumClassifier, EquilibriumRegressor

SMALL = dict(n=16, num_layers=2, object_size=8)


def _builders():
    return {
        "D2NN.preset": lambda **kw: qf.nn.D2NN.preset("visible-128", **SMALL, **kw),
        "SpectralD2NN": lambda **kw: qf.nn.SpectralD2NN(16, 4e-7, [6e-7, 7e-7], 2, 1e-5, 1e-5, 1e-5,
                                                        material="fused-silica", **kw),
        "EquilibriumClassifier": lambda **kw: EquilibriumClassifier(in_features=4, width=4, **kw),
        "EquilibriumRegressor": lambda **kw: EquilibriumRegressor(width=4, **kw),
    }


@pytest.mark.parametrize("name", list(_builders()))
def test_parameters_follow_device_and_dtype(name):
    build = _builders()[name]
    m = build(device="meta", dtype=torch.float32)          # 'meta': a real move without a GPU
    assert {p.device.type for p in m.parameters()} == {"meta"}
    assert all(p.dtype == torch.float32 for p in m.parameters())
    cpu = build(device=torch.device("cpu"))
    assert {p.device.type for p in cpu.parameters()} == {"cpu"}


@pytest.mark.parametrize("name", list(_builders()))
@pytest.mark.parametrize("kw, exc, text", [
    (dict(dtype=torch.float64), ValueError, "argument 'dtype' must be one of torch.float32"),
    (dict(dtype="float32"), TypeError, "argument 'dtype' must be a torch.dtype"),
    (dict(device="tpu"), ValueError, "argument 'device' must be a torch device"),
    (dict(device=2.5), TypeError, "argument 'device' must be a torch.device"),
])
def test_bad_device_or_dtype_names_the_argument(name, kw, exc, text):
    with pytest.raises(exc, match=text):
        _builders()[name](**kw)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_a_gpu_is_refused_clearly():
    with pytest.raises(ValueError, match=r"D2NN\(\): argument 'device' must be an available device"):
        qf.nn.D2NN.preset("visible-128", **SMALL, device="cuda")


@pytest.mark.cuda
def test_preset_on_cuda_runs_there():
    m = qf.nn.D2NN.preset("visible-128", **SMALL, device="cuda")
    assert {p.device.type for p in m.parameters()} == {"cuda"}
    x = torch.rand(2, 8, 8, device="cuda")
    assert m(m.encode(x)).device.type == "cuda"

"""Fuzz: the hot-path entry points (modulate_propagate, propagate with check_finite, D2NN.forward
with check_finite) answer bad input with an exception naming the argument, and accept good input.

Bad shapes, dtypes, devices, non-finite values (with ``check_finite=True``) and extreme sizes
(empty, 1×1, P < N) are drawn by hypothesis."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import quaton_fast as qf
from fuzz_checks import assert_rejects
from quaton_fast.functional import angular_spectrum_transfer, propagate
from quaton_fast.functional.fused_propagation import modulate_propagate

WL, DX = 632.8e-9, 316.4e-9
BAD_DTYPES = [torch.int32, torch.int64, torch.bool, torch.float16, torch.complex32, torch.uint8]

common = settings(max_examples=40, deadline=None)


def _field(shape, dtype=torch.complex64):
    if dtype.is_complex:
        return torch.randn(shape, dtype=dtype)
    if dtype.is_floating_point:
        return torch.randn(shape).to(dtype)
    return torch.ones(shape).to(dtype)


@common
@given(n=st.integers(1, 9), pad=st.integers(1, 3), batch=st.integers(1, 3),
       kind=st.sampled_from(["u-not-tensor", "u-bad-dtype", "u-not-square", "u-1d", "u-empty",
                             "phase-shape", "phase-complex", "phase-bad-dtype", "phase-not-tensor",
                             "transfer-3d", "transfer-small", "transfer-not-tensor", "transfer-not-square"]),
       bad_dtype=st.sampled_from(BAD_DTYPES))
def test_modulate_propagate_bad_input_names_the_argument(n, pad, batch, kind, bad_dtype):
    u = _field((batch, n, n))
    phase = torch.rand(n, n)
    h = torch.randn(pad * n, pad * n, dtype=torch.complex64)
    arg = kind.split("-")[0]
    if kind == "u-not-tensor":
        u = np.ones((batch, n, n), np.complex64)
    elif kind == "u-bad-dtype":
        u = _field((batch, n, n), bad_dtype)
    elif kind == "u-not-square":
        u = _field((batch, n, n + 1))
    elif kind == "u-1d":
        u = _field((n,))
    elif kind == "u-empty":
        u = _field((0, n, n))
    elif kind == "phase-shape":
        phase = torch.rand(n + 1, n)
    elif kind == "phase-complex":
        phase = torch.rand(n, n, dtype=torch.complex64)
    elif kind == "phase-bad-dtype":
        phase = torch.ones(n, n).to(bad_dtype) if bad_dtype != torch.complex32 else torch.ones(n, n, dtype=torch.int8)
    elif kind == "phase-not-tensor":
        phase = np.zeros((n, n))
    elif kind == "transfer-3d":
        h = torch.randn(2, pad * n, pad * n, dtype=torch.complex64)
    elif kind == "transfer-small":
        h = torch.randn(max(n - 1, 0), max(n - 1, 0), dtype=torch.complex64)
        if n == 1:
            h = torch.randn(0, 0, dtype=torch.complex64)
    elif kind == "transfer-not-tensor":
        h = np.ones((pad * n, pad * n), np.complex64)
    elif kind == "transfer-not-square":
        h = torch.randn(pad * n, pad * n + 1, dtype=torch.complex64)
    assert_rejects(lambda: modulate_propagate(u, phase, h), f"'{arg}'")


@common
@given(n=st.integers(2, 9), where=st.sampled_from(["u", "phase"]), value=st.sampled_from([math.nan, math.inf, -math.inf]),
       complex_u=st.booleans())
def test_non_finite_values_are_refused_when_asked_and_pass_through_otherwise(n, where, value, complex_u):
    u = _field((2, n, n), torch.complex64 if complex_u else torch.float32)
    phase = torch.rand(n, n)
    (u if where == "u" else phase)[..., 0, n // 2] = value
    h = angular_spectrum_transfer(2 * n, DX, WL, 2e-6)
    assert_rejects(lambda: modulate_propagate(u, phase, h, check_finite=True), f"'{where}'")
    out = modulate_propagate(u, phase, h)  # the hot path reads no values: the NaN propagates
    assert not torch.isfinite(out).all()
    if where == "u":
        assert_rejects(lambda: propagate(u, h, check_finite=True), "'u'")


@common
@given(n=st.integers(2, 8), value=st.sampled_from([math.nan, math.inf]))
def test_d2nn_forward_check_finite_names_u(n, value):
    net = qf.nn.D2NN(n=n, dx=DX, wavelength=WL, num_layers=1, z_in=1e-6, dz=1e-6, z_out=1e-6,
                     readout="field", seed=0)
    u = torch.ones(1, n, n, dtype=torch.complex64)
    u[0, 0, 0] = value
    assert_rejects(lambda: net(u, check_finite=True), "'u'")


@common
@given(n=st.integers(1, 12), pad=st.integers(1, 3), batch=st.integers(1, 3),
       dtype=st.sampled_from([torch.complex64, torch.complex128, torch.float32, torch.float64]))
def test_good_input_is_accepted_and_matches_propagate(n, pad, batch, dtype):
    u = _field((batch, n, n), dtype)
    phase = torch.rand(n, n, dtype=torch.float64 if dtype in (torch.complex128, torch.float64) else torch.float32)
    cdt = torch.complex128 if dtype in (torch.complex128, torch.float64) else torch.complex64
    h = angular_spectrum_transfer(pad * n, DX, WL, 1e-6, dtype=cdt)
    out = modulate_propagate(u, phase, h, check_finite=True)
    want = propagate(u.to(cdt) * torch.exp(1j * phase).to(cdt), h)
    assert out.shape == (batch, n, n)
    assert torch.allclose(out, want, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU for the device-mismatch case")
def test_device_mismatch_names_the_argument():  # pragma: no cover - GPU only
    u = torch.ones(1, 8, 8, dtype=torch.complex64, device="cuda")
    assert_rejects(lambda: modulate_propagate(u, torch.rand(8, 8), torch.ones(16, 16, dtype=torch.complex64,
                                                                              device="cuda")), "'phase'")
    assert_rejects(lambda: modulate_propagate(u, None, torch.ones(16, 16, dtype=torch.complex64)), "'transfer'")

"""torch propagation == NumPy reference, forward and backward (autograd), float32 and float64."""
import numpy as np
import pytest
import torch

from qf_testing import RTOL_FP32_FFT, RTOL_FP64, rel_err
from quaton_fast.functional import angular_spectrum_transfer, propagate, propagate_free_space
from quaton_fast.reference import propagation as ref

WL, DX = 632.8e-9, 316.4e-9


def _field(rng, shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


@pytest.mark.parametrize("n,pad,z,band", [(16, 2, 3.373e-6, False), (15, 3, 10e-6, True), (8, 1, -2e-6, False)])
def test_forward_matches_reference(rng, n, pad, z, band):
    u = _field(rng, (3, n, n))
    h_ref = ref.angular_spectrum_transfer(pad * n, DX, WL, z, band_limited=band)
    out_ref = ref.propagate(u, h_ref)
    h64 = angular_spectrum_transfer(pad * n, DX, WL, z, band_limited=band, dtype=torch.complex128)
    assert rel_err(h64.numpy(), h_ref) < 1e-15
    out64 = propagate(torch.from_numpy(u), h64).numpy()
    assert rel_err(out64, out_ref) < RTOL_FP64
    out32 = propagate(torch.from_numpy(u).to(torch.complex64), h64.to(torch.complex64)).numpy()
    assert out32.dtype == np.complex64
    assert rel_err(out32, out_ref) < RTOL_FP32_FFT


@pytest.mark.parametrize("n,pad", [(12, 2), (9, 1)])
def test_backward_matches_reference_adjoint(rng, n, pad):
    u = _field(rng, (2, n, n))
    g = _field(rng, (2, n, n))
    h = ref.angular_spectrum_transfer(pad * n, DX, WL, 5e-6)
    ut = torch.from_numpy(u).requires_grad_(True)
    out = propagate(ut, torch.from_numpy(h))
    # real loss L = Re Σ conj(g)·out  ⇒  dL/d(out) = g in PyTorch's convention
    (torch.from_numpy(g).conj() * out).real.sum().backward()
    assert rel_err(ut.grad.numpy(), ref.propagate_adjoint(g, h)) < RTOL_FP64


def test_gradcheck_float64(rng):
    n = 6
    h = torch.from_numpy(ref.angular_spectrum_transfer(2 * n, DX, WL, 4e-6))
    u = torch.from_numpy(_field(rng, (1, n, n))).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: propagate(v, h), (u,))


def test_free_space_convenience_equals_explicit(rng):
    u = torch.from_numpy(_field(rng, (2, 10, 10)))
    a = propagate_free_space(u, dx=DX, wavelength=WL, z=3e-6, pad=2)
    b = ref.propagate_free_space(u.numpy(), DX, WL, 3e-6, pad=2)
    assert rel_err(a.numpy(), b) < RTOL_FP64


def test_bad_inputs_name_the_argument():
    u = torch.zeros(2, 8, 8, dtype=torch.complex64)
    h = angular_spectrum_transfer(16, DX, WL, 1e-6)
    with pytest.raises(ValueError, match="'u'.*square"):
        propagate(torch.zeros(2, 8, 7, dtype=torch.complex64), h)
    with pytest.raises(ValueError, match="'transfer'.*at least as large"):
        propagate(u, angular_spectrum_transfer(4, DX, WL, 1e-6))
    with pytest.raises(ValueError, match="'u'.*finite"):
        propagate(torch.full((1, 8, 8), float("nan"), dtype=torch.complex64), h, check_finite=True)
    with pytest.raises(TypeError, match="'u'.*torch.Tensor"):
        propagate(np.zeros((8, 8), np.complex64), h)
    with pytest.raises(ValueError, match="'u'.*dimensions"):
        propagate(torch.zeros(8, dtype=torch.complex64), h)
    with pytest.raises(ValueError, match="'pad'"):
        propagate_free_space(u, dx=DX, wavelength=WL, z=1e-6, pad=0)

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


@pytest.mark.parametrize("z,band,n_med", [(0.5e-6, False, 1.0), (1.2e-6, True, 1.0), (-0.4e-6, False, 1.33)])
def test_decay_forward_and_backward_match_reference(rng, z, band, n_med):
    # evanescent="decay" at dx = λ/2: H is not unimodular; the torch backward must be the adjoint
    # conj(H) of the reference (not H(−z)⁻¹) and agree with autograd's finite differences
    n, pad = 10, 2
    h_ref = ref.angular_spectrum_transfer(pad * n, DX, WL, z, band_limited=band, n_medium=n_med, evanescent="decay")
    assert np.any((np.abs(h_ref) > 1e-3) & (np.abs(h_ref) < 0.999))
    h = angular_spectrum_transfer(pad * n, DX, WL, z, band_limited=band, n_medium=n_med, evanescent="decay",
                                  dtype=torch.complex128)
    assert rel_err(h.numpy(), h_ref) < 1e-15
    u, g = _field(rng, (2, n, n)), _field(rng, (2, n, n))
    ut = torch.from_numpy(u).requires_grad_(True)
    out = propagate(ut, h)
    assert rel_err(out.detach().numpy(), ref.propagate(u, h_ref)) < RTOL_FP64
    (torch.from_numpy(g).conj() * out).real.sum().backward()
    assert rel_err(ut.grad.numpy(), ref.propagate_adjoint(g, h_ref)) < RTOL_FP64
    v = torch.from_numpy(_field(rng, (1, 5, 5))).requires_grad_(True)
    h5 = angular_spectrum_transfer(10, DX, WL, z, n_medium=n_med, evanescent="decay", dtype=torch.complex128)
    assert torch.autograd.gradcheck(lambda w: propagate(w, h5), (v,))
    conv = propagate_free_space(torch.from_numpy(u), dx=DX, wavelength=WL, z=z, pad=pad, band_limited=band,
                                n_medium=n_med, evanescent="decay")
    assert rel_err(conv.numpy(), ref.propagate(u, h_ref)) < RTOL_FP64


def test_free_space_layer_takes_medium_and_evanescent(rng):
    from quaton_fast.nn import FreeSpace
    fs = FreeSpace(12, DX, WL, 0.7e-6, pad=2, n_medium=1.5, evanescent="decay")
    h_ref = ref.angular_spectrum_transfer(24, DX, WL, 0.7e-6, n_medium=1.5, evanescent="decay")
    assert rel_err(fs.transfer.numpy(), h_ref) < 1e-15
    u = _field(rng, (2, 12, 12))
    assert rel_err(fs(torch.from_numpy(u)).numpy(), ref.propagate(u, h_ref)) < RTOL_FP64
    assert "evanescent='decay'" in repr(fs) and "n_medium=1.5" in repr(fs)
    with pytest.raises(ValueError, match=r"FreeSpace\(\).*'evanescent'"):
        FreeSpace(12, DX, WL, 1e-6, evanescent="none")
    with pytest.raises(ValueError, match=r"FreeSpace\(\).*'n_medium'"):
        FreeSpace(12, DX, WL, 1e-6, n_medium=0)
    with pytest.raises(TypeError, match=r"FreeSpace\(\).*'band_limited'"):
        FreeSpace(12, DX, WL, 1e-6, band_limited="yes")
    with pytest.raises(ValueError, match=r"angular_spectrum_transfer\(\).*'evanescent'"):
        angular_spectrum_transfer(16, DX, WL, 1e-6, evanescent="Decay")

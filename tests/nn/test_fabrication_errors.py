"""Fabrication-error sampling and its exact action on the transfer functions."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fuzz_checks import assert_rejects
from quaton_fast.nn.fabrication_errors import (FabricationErrors, SampledErrors, axial_factor,
                                               perturbed_transfers, shift_ramp)
from quaton_fast.reference.propagation import angular_spectrum_transfer


def test_subpixel_shift_is_exact_on_band_limited_fields():
    # a field made of plane waves on the FFT grid is band-limited: u(x - s) is known in closed form
    p, dx = 32, 0.5e-6
    rng = np.random.default_rng(0)
    f = np.fft.fftfreq(p, dx)
    y, x = np.meshgrid(np.arange(p) * dx, np.arange(p) * dx, indexing="ij")
    comps = [(rng.choice(f), rng.choice(f), rng.normal() + 1j * rng.normal()) for _ in range(6)]
    field = lambda xx, yy: sum(a * np.exp(2j * np.pi * (fx * xx + fy * yy)) for fx, fy, a in comps)
    s = np.array([0.37 * dx, -1.61 * dx])
    ramp = shift_ramp(p, dx, torch.tensor(s)).numpy()
    shifted = np.fft.ifft2(np.fft.fft2(field(x, y)) * ramp)
    np.testing.assert_allclose(shifted, field(x - s[0], y - s[1]), atol=1e-10 * np.abs(field(x, y)).max())


@pytest.mark.parametrize("delta", [-0.4e-6, 0.0, 1.3e-6])
def test_axial_factor_gives_the_transfer_function_at_z_plus_delta(delta):
    p, dx, lam, z = 24, 0.4e-6, 0.6328e-6, 3.0e-6
    h = angular_spectrum_transfer(p, dx, lam, z)
    got = h * axial_factor(p, dx, lam, torch.tensor(delta, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(got, angular_spectrum_transfer(p, dx, lam, z + delta), atol=1e-12)


def _pad(u, p):
    o = (p - u.shape[-1]) // 2
    out = np.zeros(u.shape[:-2] + (p, p), complex)
    out[..., o:o + u.shape[-1], o:o + u.shape[-1]] = u
    return out, o


def test_displaced_mask_equals_the_explicit_lab_frame_construction():
    # one mask displaced by (+2, -1) pixels between two propagations, done explicitly on the padded
    # lab grid (the mask and its N x N aperture moved) vs the ramps of perturbed_transfers
    n, p, dx, lam = 12, 24, 0.4e-6, 0.6328e-6
    rng = np.random.default_rng(1)
    u0 = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    t = np.exp(1j * rng.uniform(0, 2 * np.pi, size=(n, n)))
    h1, h2 = angular_spectrum_transfer(p, dx, lam, 2e-6), angular_spectrum_transfer(p, dx, lam, 3e-6)
    sx, sy = 2, -1
    # explicit: propagate on the padded grid, multiply by the displaced, apertured mask, propagate, crop
    U0, o = _pad(u0, p)
    u1 = np.fft.ifft2(np.fft.fft2(U0) * h1)
    mask = np.zeros((p, p), complex)
    mask[o + sy:o + sy + n, o + sx:o + sx + n] = t
    out = np.fft.ifft2(np.fft.fft2(u1 * mask) * h2)[o:o + n, o:o + n]
    # ours: crop after each propagation, transfer functions with ramps
    errs = SampledErrors(shift=torch.tensor([[sx * dx, sy * dx]], dtype=torch.float64))
    g1, g2 = (x.numpy() for x in perturbed_transfers([torch.from_numpy(h1), torch.from_numpy(h2)], p, dx, lam, errs))
    v1 = np.fft.ifft2(np.fft.fft2(U0) * g1)[o:o + n, o:o + n]
    V1, _ = _pad(v1 * t, p)
    ours = np.fft.ifft2(np.fft.fft2(V1) * g2)[o:o + n, o:o + n]
    np.testing.assert_allclose(ours, out, atol=1e-10 * np.abs(out).max())


@pytest.mark.parametrize("dist", ["uniform", "normal"])
def test_sampled_error_statistics(dist):
    fe = FabricationErrors(phase=0.2, shift=1e-6, dz=2e-6, distribution=dist)
    g = torch.Generator().manual_seed(0)
    e = fe.sample(num_layers=5, n=64, generator=g)
    assert e.phase.shape == (5, 64, 64) and e.shift.shape == (5, 2) and e.dz.shape == (6,)
    ph = e.phase.numpy().ravel()
    if dist == "uniform":
        assert np.abs(ph).max() <= 0.2
        assert ph.std() == pytest.approx(0.2 / math.sqrt(3), rel=0.02)
    else:
        assert ph.std() == pytest.approx(0.2, rel=0.02)
    assert abs(ph.mean()) < 0.01
    many = torch.stack([fe.sample(5, 4, generator=g).shift for _ in range(400)]).numpy().ravel()
    expected = 1e-6 / math.sqrt(3) if dist == "uniform" else 1e-6
    assert many.std() == pytest.approx(expected, rel=0.1)


def test_zero_errors_change_nothing():
    fe = FabricationErrors()
    assert not fe.active
    e = fe.sample(3, 8)
    assert e.phase is None and e.shift is None and e.dz is None
    hs = [torch.randn(16, 16, dtype=torch.complex64) for _ in range(4)]
    out = perturbed_transfers(hs, 16, 1e-6, 1e-6, e)
    assert all(a is b for a, b in zip(out, hs))


def test_bad_sizes_are_refused():
    assert_rejects(lambda: FabricationErrors(phase=-0.1), "phase")
    assert_rejects(lambda: FabricationErrors(shift=float("nan")), "shift")
    assert_rejects(lambda: FabricationErrors(dz="1"), "dz")
    assert_rejects(lambda: FabricationErrors(distribution="gauss"), "distribution")


# ------------------------------------------------------------------ in the D2NN forward
def _small_net(**kw):
    import quaton_fast as qf
    return qf.nn.D2NN.preset("visible-128", n=12, num_layers=1, object_size=8, pad=2, seed=0,
                             evanescent="cut", **kw).double()


def test_d2nn_zero_errors_and_eval_mode_leave_the_network_unchanged():
    net = _small_net()
    x = net.encode(torch.rand(3, 8, 8, dtype=torch.float64)).to(torch.complex128)
    net.train()
    y0 = net(x)
    net.set_fabrication_errors(FabricationErrors())
    assert torch.equal(net(x), y0)
    net.set_fabrication_errors(FabricationErrors(phase=0.3, shift=1e-7))
    net.eval()
    assert torch.equal(net(x), net.__class__.forward(net, x))        # eval: off unless at_eval
    net.train()
    assert not torch.allclose(net(x), y0)


def test_d2nn_with_a_displaced_mask_equals_the_explicit_construction(monkeypatch):
    # one mask displaced by (+1, +2) pixels plus a phase error map, against numpy on the padded lab grid
    net = _small_net(readout="field")
    n, p, dx = 12, 24, net.dx
    rng = np.random.default_rng(5)
    u0 = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    dphi = rng.normal(size=(1, n, n)) * 0.2
    errs = SampledErrors(phase=torch.from_numpy(dphi), shift=torch.tensor([[1 * dx, 2 * dx]], dtype=torch.float64))
    net.set_fabrication_errors(FabricationErrors(phase=0.2, shift=dx))
    monkeypatch.setattr(net, "_sample_fabrication_errors", lambda device: errs)
    out = net(torch.from_numpy(u0)[None]).detach().numpy()[0]
    lam = net.wavelength_in_medium
    h1 = angular_spectrum_transfer(p, dx, lam, net.to_first.z)
    h2 = angular_spectrum_transfer(p, dx, lam, net.to_detector.z)
    U0, o = _pad(u0, p)
    u1 = np.fft.ifft2(np.fft.fft2(U0) * h1)
    mask = np.zeros((p, p), complex)
    t = np.exp(1j * (net.layers[0].phase().detach().numpy() + dphi[0]))
    mask[o + 2:o + 2 + n, o + 1:o + 1 + n] = t
    want = np.fft.ifft2(np.fft.fft2(u1 * mask) * h2)[o:o + n, o:o + n]
    np.testing.assert_allclose(out, want, atol=1e-10 * np.abs(want).max())


def test_d2nn_training_with_errors_has_gradients_and_makes_no_host_sync():
    from sync_guard import SyncGuard
    net = _small_net(fabrication_errors=FabricationErrors(phase=0.1, shift=2e-7, dz=1e-7))
    net.train()
    x = net.encode(torch.rand(2, 8, 8, dtype=torch.float64)).to(torch.complex128)
    y = torch.tensor([1, 3])
    torch.nn.functional.cross_entropy(net(x), y).backward()          # first call fills caches
    net.zero_grad()
    with SyncGuard() as guard:
        torch.nn.functional.cross_entropy(net(x), y).backward()
    assert not guard.hits, guard.report()
    g = net.layers[0].latent.grad
    assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0

"""Physics and gradient tests of the NumPy angular-spectrum reference (complex128)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from quaton_fast.reference.propagation import (
    UndersampledWarning,
    angular_spectrum_transfer,
    band_limit_frequency,
    crop_to,
    frequency_grid,
    pad_to,
    propagate,
    propagate_adjoint,
    propagate_free_space,
)

LAM = 632.8e-9  # m


def crandn(rng, *shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


def band_limited_field(rng, n, dx, lam, frac=0.9, batch=()):
    """Random field whose angular spectrum lies inside |f| < frac/λ (periodic grid of size n)."""
    f = np.fft.fftfreq(n, dx)
    inside = (f[None, :] ** 2 + f[:, None] ** 2) < (frac / lam) ** 2
    spec = crandn(rng, *batch, n, n) * inside
    return np.fft.ifft2(spec)


def gaussian(n, dx, w0):
    x = (np.arange(n) - n // 2) * dx
    r2 = x[None, :] ** 2 + x[:, None] ** 2
    return np.exp(-r2 / w0 ** 2).astype(np.complex128)


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# ----------------------------------------------------------------------------- transfer function
def test_frequency_grid_is_fftfreq():
    f = frequency_grid(6, 2e-6)
    np.testing.assert_array_equal(f, np.fft.fftfreq(6, 2e-6))
    assert f[1] == pytest.approx(1 / (6 * 2e-6), rel=1e-15)


def test_transfer_values_and_evanescent_cut():
    p, dx, z = 16, LAM / 2, 3.3e-6
    h = angular_spectrum_transfer(p, dx, LAM, z)
    assert h.shape == (p, p) and h.dtype == np.complex128
    f = np.fft.fftfreq(p, dx)
    fx, fy = f[None, :], f[:, None]
    arg = 1 / LAM ** 2 - fx ** 2 - fy ** 2
    band = arg > 0
    expect = np.exp(2j * np.pi * z * np.sqrt(np.where(band, arg, 0))) * band
    np.testing.assert_allclose(h, expect, rtol=0, atol=1e-13)
    assert np.all(h[~band] == 0) and (~band).sum() > 0          # some corners are evanescent
    np.testing.assert_allclose(np.abs(h[band]), 1.0, atol=1e-14)
    assert h[0, 0] == pytest.approx(np.exp(2j * np.pi * z / LAM), abs=1e-13)


def test_negative_z_is_conjugate_and_zero_z_is_identity_on_band():
    p, dx, z = 20, LAM / 2, 7.1e-6
    hp = angular_spectrum_transfer(p, dx, LAM, z)
    hm = angular_spectrum_transfer(p, dx, LAM, -z)
    np.testing.assert_allclose(hm, np.conj(hp), atol=1e-15)
    h0 = angular_spectrum_transfer(p, dx, LAM, 0.0)
    band = np.abs(hp) > 0
    np.testing.assert_array_equal(h0, band.astype(complex))


def test_band_limit_zeros_exactly_the_right_frequencies():
    p, dx, z = 64, LAM, 200 * LAM
    plain = angular_spectrum_transfer(p, dx, LAM, z)
    bl = angular_spectrum_transfer(p, dx, LAM, z, band_limited=True)
    flim = 1 / (LAM * np.sqrt((2 * z / (p * dx)) ** 2 + 1))
    assert band_limit_frequency(p, dx, LAM, z) == pytest.approx(flim, rel=1e-15)
    f = np.fft.fftfreq(p, dx)
    keep = (np.abs(f)[None, :] <= flim) & (np.abs(f)[:, None] <= flim)
    assert 0 < keep.sum() < p * p                                  # it actually cuts something
    np.testing.assert_array_equal(bl[keep], plain[keep])
    assert np.all(bl[~keep] == 0)
    # below the threshold z < (P dx²/λ) sqrt(1 - (λ/2dx)²) the band limit changes nothing
    z_small = 0.9 * (p * dx ** 2 / LAM) * np.sqrt(1 - (LAM / (2 * dx)) ** 2)
    np.testing.assert_array_equal(angular_spectrum_transfer(p, dx, LAM, z_small, True),
                                  angular_spectrum_transfer(p, dx, LAM, z_small))


def test_band_limited_is_closer_to_heavily_padded_reference_at_long_distance():
    # small aperture, broad spectrum; z = 400 λ is far beyond the pad-2 aliasing threshold
    # (P dx²/λ · sqrt(3)/2 ≈ 111 λ) but below that of the pad-16 reference (≈ 887 λ).
    n, dx, z = 64, LAM, 400 * LAM
    u = np.zeros((n, n), complex)
    u[28:36, 28:36] = 1
    ref = propagate_free_space(u, dx, LAM, z, pad=16)
    err_plain = rel(propagate_free_space(u, dx, LAM, z, pad=2), ref)
    err_bl = rel(propagate_free_space(u, dx, LAM, z, pad=2, band_limited=True), ref)
    assert err_bl < 0.1
    assert err_bl < 0.3 * err_plain


# ----------------------------------------------------------------------------- physics
def test_energy_conserved_periodic_band_limited_field(rng):
    n, dx = 64, LAM / 2
    u = band_limited_field(rng, n, dx, LAM, batch=(3,))
    for z in (5e-6, -2e-5, 1e-3):
        out = propagate_free_space(u, dx, LAM, z, pad=1)
        np.testing.assert_allclose(np.linalg.norm(out, axis=(-2, -1)),
                                   np.linalg.norm(u, axis=(-2, -1)), rtol=1e-12)
    # a field with evanescent content loses energy: the check above can fail
    w = crandn(rng, n, n)
    assert np.linalg.norm(propagate_free_space(w, dx, LAM, 5e-6, pad=1)) < 0.95 * np.linalg.norm(w)


def test_energy_conserved_padded_gaussian():
    # w0 = 5 λ, z = 20 λ: w(z) ≈ 5.3 λ in a 128 λ window; the angular spectrum
    # exp(-(π w0 f)²) is < 1e-100 at the band edge and the tails at the window edge are
    # exp(-2(64/5.3)²) ≈ 1e-127, so only round-off remains.
    n, dx = 128, LAM
    u = gaussian(n, dx, 5 * LAM)
    out = propagate_free_space(u, dx, LAM, 20 * LAM, pad=2)
    assert np.linalg.norm(out) / np.linalg.norm(u) == pytest.approx(1.0, abs=1e-12)


def test_forward_then_backward_returns_input(rng):
    n, dx = 48, LAM / 2
    u = band_limited_field(rng, n, dx, LAM)
    z = 11e-6
    back = propagate_free_space(propagate_free_space(u, dx, LAM, z, pad=1), dx, LAM, -z, pad=1)
    assert rel(back, u) < 1e-13
    g = gaussian(128, LAM, 5 * LAM)
    back = propagate_free_space(propagate_free_space(g, LAM, LAM, 30 * LAM), LAM, LAM, -30 * LAM)
    assert rel(back, g) < 1e-12
    # the input was actually changed in between
    assert rel(propagate_free_space(g, LAM, LAM, 30 * LAM), g) > 0.1


def test_talbot_self_imaging_exact_distance():
    # grating t(x) = 1 + 0.5 cos(2π x/d): only orders 0, ±1. The ±1 orders pick up, relative to
    # order 0, the phase 2π z (sqrt(1/λ² − 1/d²) − 1/λ), which is −2π at
    # z_T = λ / (1 − sqrt(1 − λ²/d²)) (the exact, non-paraxial Talbot distance).
    n, per = 128, 16                               # 8 periods on a periodic window
    dx = LAM / 2
    d = per * dx                                   # 8 λ
    x = np.arange(n) * dx
    u0 = np.tile(1 + 0.5 * np.cos(2 * np.pi * x / d), (n, 1)).astype(complex)
    z_t = LAM / (1 - np.sqrt(1 - LAM ** 2 / d ** 2))
    u_t = propagate_free_space(u0, dx, LAM, z_t, pad=1)
    np.testing.assert_allclose(u_t, np.exp(2j * np.pi * z_t / LAM) * u0, atol=1e-12)
    # half the Talbot distance: the image shifted by half a period
    i_half = np.abs(propagate_free_space(u0, dx, LAM, z_t / 2, pad=1)) ** 2
    np.testing.assert_allclose(i_half, np.roll(np.abs(u0) ** 2, per // 2, axis=-1), atol=1e-12)
    # a quarter: neither (the test can fail)
    i_q = np.abs(propagate_free_space(u0, dx, LAM, z_t / 4, pad=1)) ** 2
    assert np.max(np.abs(i_q - np.abs(u0) ** 2)) > 0.5
    # the paraxial distance 2d²/λ is measurably off at d = 8 λ
    # (orders ±1 off by ≈ 0.024 rad, i.e. a field error ≈ 0.5 · 0.024)
    z_p = 2 * d ** 2 / LAM
    u_p = propagate_free_space(u0, dx, LAM, z_p, pad=1) * np.exp(-2j * np.pi * z_p / LAM)
    assert np.max(np.abs(u_p - u0)) > 5e-3


@pytest.mark.parametrize("zr_multiple", [0.5, 1.0, 2.0])
def test_gaussian_beam_width(zr_multiple):
    # w0 = 8 λ (divergence λ/(π w0) ≈ 0.04 rad: paraxial corrections ~ 1e-3);
    # second-moment width w = 2 sqrt(<x²>) for I ∝ exp(-2 r²/w²).
    n, dx, w0 = 256, LAM, 8 * LAM
    z_r = np.pi * w0 ** 2 / LAM
    z = zr_multiple * z_r
    i = np.abs(propagate_free_space(gaussian(n, dx, w0), dx, LAM, z, pad=2)) ** 2
    x = (np.arange(n) - n // 2) * dx
    p = i / i.sum()
    px, py = p.sum(axis=0), p.sum(axis=1)
    wx = 2 * np.sqrt(np.sum(px * (x - np.sum(px * x)) ** 2))
    wy = 2 * np.sqrt(np.sum(py * (x - np.sum(py * x)) ** 2))
    w_expect = w0 * np.sqrt(1 + (z / z_r) ** 2)
    assert abs(wx / w_expect - 1) < 0.01
    assert abs(wy / w_expect - 1) < 0.01
    assert abs(wx / w0 - 1) > 0.1                 # it did spread (test can fail)


# ----------------------------------------------------------------------------- adjoint / gradients
@pytest.mark.parametrize("n", [7, 8])
@pytest.mark.parametrize("p_of_n", [lambda n: n, lambda n: 2 * n, lambda n: 3 * n, lambda n: n + 3])
@pytest.mark.parametrize("band_limited", [False, True])
def test_adjoint_identity(rng, n, p_of_n, band_limited):
    p = p_of_n(n)
    # z = 1.5 P dx: beyond the aliasing threshold, the band limit keeps |f| <= 0.32/λ of 0.5/λ
    h = angular_spectrum_transfer(p, LAM, LAM, 1.5 * p * LAM, band_limited=band_limited)
    x, y = crandn(rng, 2, n, n), crandn(rng, 2, n, n)
    lhs = np.vdot(y, propagate(x, h))              # <A x, y> = Σ conj(y)·A x
    rhs = np.vdot(propagate_adjoint(y, h), x)      # <x, Aᴴ y>
    assert abs(lhs - rhs) < 1e-12 * np.linalg.norm(x) * np.linalg.norm(y)
    np.testing.assert_allclose(propagate_adjoint(y, h), propagate(y, np.conj(h)), atol=1e-14)
    # not self-adjoint (the check can fail)
    assert abs(np.vdot(y, propagate(x, h)) - np.vdot(propagate(y, h), x)) > 1e-3


def test_propagate_gradient_matches_finite_differences(rng):
    n, h_step = 5, 1e-6
    h = angular_spectrum_transfer(10, LAM / 2, LAM, 2e-6)
    u, c = crandn(rng, n, n), crandn(rng, n, n)

    def loss(v):                                   # L = Σ Re(conj(c)·A v) → dL/d(out) = c
        return np.sum(np.real(np.conj(c) * propagate(v, h)))

    grad = propagate_adjoint(c, h)
    fd = np.zeros_like(u)
    for idx in np.ndindex(u.shape):
        for unit in (1.0, 1j):
            e = np.zeros_like(u)
            e[idx] = unit * h_step
            d = (loss(u + e) - loss(u - e)) / (2 * h_step)
            fd[idx] += d * unit
    np.testing.assert_allclose(grad, fd, atol=1e-8)


def test_pad_crop_offsets_and_round_trip(rng):
    u = crandn(rng, 2, 3, 3)
    v = pad_to(u, 8)                               # offset (8-3)//2 = 2
    assert v.shape == (2, 8, 8)
    np.testing.assert_array_equal(v[:, 2:5, 2:5], u)
    assert np.count_nonzero(v) == u.size
    np.testing.assert_array_equal(crop_to(v, 3), u)
    # crop is the adjoint of pad
    w = crandn(rng, 2, 8, 8)
    assert np.vdot(w, pad_to(u, 8)) == pytest.approx(np.vdot(crop_to(w, 3), u), abs=1e-12)


def test_accepts_real_and_complex64_inputs_returns_complex128():
    h = angular_spectrum_transfer(8, LAM / 2, LAM, 1e-6)
    u = np.ones((4, 4), dtype=np.float32)
    a = propagate(u, h)
    b = propagate(u.astype(np.complex64), h)
    assert a.dtype == np.complex128 and b.dtype == np.complex128
    np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- warnings / errors
def test_undersampled_warning_only_above_wavelength():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        angular_spectrum_transfer(8, LAM, LAM, 1e-6)                 # dx = λ: silent
        propagate_free_space(np.ones((4, 4)), LAM, LAM, 1e-6)
    with pytest.warns(UndersampledWarning, match="exceeds the wavelength"):
        angular_spectrum_transfer(8, 1.5 * LAM, LAM, 1e-6)
    with pytest.warns(UndersampledWarning):
        propagate_free_space(np.ones((4, 4)), 2 * LAM, LAM, 1e-6)


@pytest.mark.parametrize("call, exc, pattern", [
    (lambda h: propagate(np.ones((4, 5)), h), ValueError, r"propagate\(\).*'u'.*square"),
    (lambda h: propagate(np.ones(4), h), ValueError, r"propagate\(\).*'u'.*at least 2"),
    (lambda h: propagate(np.ones((16, 16)), h), ValueError, r"'transfer'.*P >= N = 16"),
    (lambda h: propagate(np.ones((4, 4)), h[:, :5]), ValueError, r"'transfer'.*square"),
    (lambda h: propagate(np.full((4, 4), np.nan), h), ValueError, r"'u'.*finite"),
    (lambda h: propagate(np.ones((4, 4)), np.where(h == 0, np.inf, h)), ValueError,
     r"'transfer'.*finite"),
    (lambda h: propagate([[1, 2], [3, 4]], h), TypeError, r"'u'.*numpy.ndarray"),
    (lambda h: propagate_adjoint(np.ones((3,)), h), ValueError, r"propagate_adjoint\(\).*'grad_out'"),
    (lambda h: angular_spectrum_transfer(8, LAM, 0.0, 1e-6), ValueError, r"'wavelength'.*> 0"),
    (lambda h: angular_spectrum_transfer(8, -LAM, LAM, 1e-6), ValueError, r"'dx'.*> 0"),
    (lambda h: angular_spectrum_transfer(8, LAM, LAM, np.nan), ValueError, r"'z'.*finite"),
    (lambda h: angular_spectrum_transfer(8.0, LAM, LAM, 1e-6), TypeError, r"'n_pad'.*integer"),
    (lambda h: angular_spectrum_transfer(8, LAM, LAM, 1e-6, "yes"), TypeError, r"'band_limited'"),
    (lambda h: propagate_free_space(np.ones((4, 4)), LAM, LAM, 1e-6, pad=1.5), TypeError,
     r"propagate_free_space\(\).*'pad'.*integer"),
    (lambda h: propagate_free_space(np.ones((4, 4)), LAM, LAM, 1e-6, pad=0), ValueError,
     r"'pad'.*integer >= 1"),
    (lambda h: propagate_free_space(np.ones((4, 4)), 0.0, LAM, 1e-6), ValueError, r"'dx'.*> 0"),
    (lambda h: propagate_free_space(np.ones((4, 4)), LAM, -1.0, 1e-6), ValueError,
     r"'wavelength'.*> 0"),
    (lambda h: pad_to(np.ones((4, 4)), 3), ValueError, r"pad_to\(\).*'n_pad'.*>= N = 4"),
    (lambda h: crop_to(np.ones((4, 4)), 5), ValueError, r"crop_to\(\).*'n'.*<= P = 4"),
    (lambda h: frequency_grid(0, LAM), ValueError, r"'n_pad'"),
])
def test_bad_input_raises_with_named_argument(call, exc, pattern):
    h = angular_spectrum_transfer(8, LAM / 2, LAM, 1e-6)
    with pytest.raises(exc, match=pattern):
        call(h)


# ----------------------------------------------------------------------------- evanescent waves
def _kappa(p, dx, lam):
    f = np.fft.fftfreq(p, dx)
    return f[None, :] ** 2 + f[:, None] ** 2 - 1 / lam ** 2     # κ² (> 0: evanescent)


@pytest.mark.parametrize("z", [3.3e-6, -2.1e-6])
def test_decay_transfer_is_exp_minus_2pi_abs_z_kappa(z):
    p, dx = 16, LAM / 3
    k2 = _kappa(p, dx, LAM)
    ev = k2 > 0
    assert ev.sum() > 20
    hd = angular_spectrum_transfer(p, dx, LAM, z, evanescent="decay")
    hc = angular_spectrum_transfer(p, dx, LAM, z, evanescent="cut")
    np.testing.assert_array_equal(hd[~ev], hc[~ev])            # same on the propagating band
    np.testing.assert_allclose(hd[ev], np.exp(-2 * np.pi * abs(z) * np.sqrt(k2[ev])), rtol=1e-13, atol=0)
    assert np.all(hc[ev] == 0)
    assert np.all(np.abs(hd) <= 1.0 + 1e-15)
    # continuous across the circle: the least evanescent components barely decay
    near = ev & (k2 < 0.05 / LAM ** 2)
    assert near.any() and np.all(np.abs(hd[near]) > np.exp(-2 * np.pi * abs(z) * np.sqrt(0.05) / LAM))


def test_decay_equals_cut_without_evanescent_frequencies_on_the_grid():
    # dx > λ/√2: the frequency grid lies inside the disc |f| < 1/λ, nothing to decay or cut
    p, dx = 32, 0.75 * LAM
    assert np.all(_kappa(p, dx, LAM) < 0)
    np.testing.assert_array_equal(angular_spectrum_transfer(p, dx, LAM, 5e-6, evanescent="decay"),
                                  angular_spectrum_transfer(p, dx, LAM, 5e-6, evanescent="cut"))


def test_evanescent_plane_wave_decays_analytically():
    # periodic grid (pad 1), u = exp(i 2π fx x) with fx = m/(N dx) > 1/λ: an exact eigenfunction of
    # the propagation, u(z) = u · exp(−2π z sqrt(fx² − 1/λ²)) (Goodman §3.10) and 0 when cut
    n, dx, m = 32, LAM / 4, 11
    fx = m / (n * dx)                                      # 1.375/λ
    assert fx > 1 / LAM
    x = np.arange(n) * dx
    u = np.tile(np.exp(2j * np.pi * fx * x), (n, 1))
    for z in (0.1 * LAM, LAM, 2.5 * LAM):
        want = u * np.exp(-2 * np.pi * z * np.sqrt(fx ** 2 - 1 / LAM ** 2))
        got = propagate_free_space(u, dx, LAM, z, pad=1, evanescent="decay")
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)
        assert np.abs(propagate_free_space(u, dx, LAM, z, pad=1, evanescent="cut")).max() < 1e-13
    # in a medium the wavelength is λ0/n: in water (n = 1.33 < 1.375) the wave is still evanescent,
    # κ = sqrt(fx² − (n/λ0)²); in glass (n = 1.5) it propagates, kz = sqrt((n/λ0)² − fx²)
    z = LAM
    for n_med in (1.33, 1.5):
        got = propagate_free_space(u, dx, LAM, z, pad=1, evanescent="decay", n_medium=n_med)
        k2 = fx ** 2 - (n_med / LAM) ** 2
        want = u * (np.exp(-2 * np.pi * z * np.sqrt(k2)) if k2 > 0 else np.exp(2j * np.pi * z * np.sqrt(-k2)))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)


def test_decay_matches_direct_rayleigh_sommerfeld_convolution():
    # Independent truth: the first Rayleigh–Sommerfeld integral, summed directly over the source
    #   U(x, y, z) = Σ U0(x', y') · z/(2π r²) · (1/r − i k) · exp(i k r) · dx²,  r² = Δx² + Δy² + z²
    # (Goodman §3.5; exp(−iωt)). Its Fourier transform is the angular spectrum WITH decaying
    # evanescent waves (Weyl). A sub-wavelength Gaussian source (w0 = 0.4 λ) at z = λ has a large
    # evanescent share. Residual ≈ 4e-4: the padded window's periodisation, ∝ (z/(P dx))².
    lam, dx, n, z = 1.0, 1.0 / 8, 64, 1.0
    k = 2 * np.pi / lam
    x = (np.arange(n) - n // 2) * dx
    xx, yy = np.meshgrid(x, x)
    u = np.exp(-(xx ** 2 + yy ** 2) / 0.4 ** 2)
    src = u > 1e-12
    win = slice(n // 2 - 8, n // 2 + 9)
    direct = np.zeros((17, 17), complex)
    for a, i in enumerate(range(win.start, win.stop)):
        for b, j in enumerate(range(win.start, win.stop)):
            r = np.sqrt((xx[i, j] - xx[src]) ** 2 + (yy[i, j] - yy[src]) ** 2 + z ** 2)
            direct[a, b] = np.sum(u[src] * z / (2 * np.pi * r ** 2) * (1 / r - 1j * k) * np.exp(1j * k * r)) * dx * dx
    decay = propagate_free_space(u, dx, lam, z, pad=8, evanescent="decay")[win, win]
    cut = propagate_free_space(u, dx, lam, z, pad=8, evanescent="cut")[win, win]
    assert rel(decay, direct) < 1e-3
    assert rel(cut, direct) > 1e-2                          # the cut is measurably wrong here


def test_decay_energy_never_grows_and_z_minus_z_damps_only_the_evanescent_part(rng):
    n, dx, z = 32, LAM / 3, 1.5e-6
    w = crandn(rng, n, n)
    spec = np.fft.fft2(w)
    k2 = _kappa(n, dx, LAM)
    ev = k2 > 0
    out = propagate_free_space(w, dx, LAM, z, pad=1, evanescent="decay")
    # Parseval on the periodic grid: |H| = 1 on the band, exp(−2π z κ) < 1 beyond
    want = np.sum(np.abs(spec[~ev]) ** 2) + np.sum(np.abs(spec[ev]) ** 2 * np.exp(-4 * np.pi * z * np.sqrt(k2[ev])))
    assert np.sum(np.abs(out) ** 2) == pytest.approx(want / n ** 2, rel=1e-12)
    assert np.linalg.norm(out) < np.linalg.norm(w)
    back = propagate_free_space(out, dx, LAM, -z, pad=1, evanescent="decay")
    spec_back = np.fft.fft2(back)
    np.testing.assert_allclose(spec_back[~ev], spec[~ev], rtol=0, atol=1e-10 * np.abs(spec).max())
    np.testing.assert_allclose(spec_back[ev], spec[ev] * np.exp(-4 * np.pi * z * np.sqrt(k2[ev])),
                               rtol=0, atol=1e-10 * np.abs(spec).max())
    assert rel(back, w) > 0.1                               # not the identity (documented)


@pytest.mark.parametrize("z", [0.3e-6, -0.4e-6])
@pytest.mark.parametrize("band_limited", [False, True])
def test_adjoint_identity_with_non_unitary_decay(rng, z, band_limited):
    n, p = 9, 20
    h = angular_spectrum_transfer(p, LAM / 3, LAM, z, band_limited=band_limited, evanescent="decay")
    assert np.abs(h).min() < 0.5 and np.any((np.abs(h) > 1e-3) & (np.abs(h) < 0.999))   # not unimodular
    x, y = crandn(rng, 2, n, n), crandn(rng, 2, n, n)
    lhs = np.vdot(y, propagate(x, h))
    rhs = np.vdot(propagate_adjoint(y, h), x)
    assert abs(lhs - rhs) < 1e-12 * np.linalg.norm(x) * np.linalg.norm(y)
    # the adjoint uses conj(H); the exact inverse on the evanescent part, 1/H = exp(+2π|z|κ), is
    # NOT the adjoint: the identity fails with it (the check can fail)
    inv = np.where(np.abs(h) > 0, 1 / np.where(np.abs(h) > 0, h, 1), 0)
    rhs_inv = np.vdot(propagate(y, inv), x)
    assert abs(lhs - rhs_inv) > 1e-3 * np.linalg.norm(x) * np.linalg.norm(y)


def test_band_limit_with_decay_keeps_evanescent_corners_only_below_half_window():
    p, dx = 64, LAM / 2
    k2 = _kappa(p, dx, LAM)
    for z, corners_left in ((0.2 * p * dx, True), (0.6 * p * dx, False)):
        hd = angular_spectrum_transfer(p, dx, LAM, z, band_limited=True, evanescent="decay")
        hc = angular_spectrum_transfer(p, dx, LAM, z, band_limited=True, evanescent="cut")
        kept_ev = (k2 > 0) & (hd != 0)
        assert kept_ev.any() == corners_left
        if not corners_left:
            np.testing.assert_array_equal(hd, hc)


def test_n_medium_uses_the_wavelength_in_the_medium():
    # on-axis component: H(0, 0) = exp(i 2π z n/λ0)
    z, n_med = 4e-6, 1.33
    h = angular_spectrum_transfer(16, LAM / 2, LAM, z, n_medium=n_med)
    assert h[0, 0] == pytest.approx(np.exp(2j * np.pi * z * n_med / LAM), abs=1e-12)
    for mode in ("cut", "decay"):
        np.testing.assert_array_equal(
            angular_spectrum_transfer(16, LAM / 2, LAM, z, n_medium=n_med, evanescent=mode),
            angular_spectrum_transfer(16, LAM / 2, LAM / n_med, z, evanescent=mode))
    assert band_limit_frequency(16, LAM, LAM, 1e-3, n_medium=2.0) == pytest.approx(
        band_limit_frequency(16, LAM, LAM / 2, 1e-3), rel=1e-15)
    with pytest.warns(UndersampledWarning):                 # dx = 0.8 λ0 > λ0/1.5
        angular_spectrum_transfer(8, 0.8 * LAM, LAM, 1e-6, n_medium=1.5)


@pytest.mark.parametrize("call, exc, pattern", [
    (lambda: angular_spectrum_transfer(8, LAM, LAM, 1e-6, evanescent="damp"), ValueError,
     r"angular_spectrum_transfer\(\).*'evanescent'.*'cut' or 'decay'"),
    (lambda: angular_spectrum_transfer(8, LAM, LAM, 1e-6, evanescent=None), TypeError, r"'evanescent'"),
    (lambda: angular_spectrum_transfer(8, LAM, LAM, 1e-6, n_medium=0.0), ValueError, r"'n_medium'.*> 0"),
    (lambda: angular_spectrum_transfer(8, LAM, LAM, 1e-6, n_medium=np.inf), ValueError, r"'n_medium'.*finite"),
    (lambda: propagate_free_space(np.ones((4, 4)), LAM, LAM, 1e-6, evanescent="x"), ValueError,
     r"propagate_free_space\(\).*'evanescent'"),
    (lambda: propagate_free_space(np.ones((4, 4)), LAM, LAM, 1e-6, n_medium="1"), TypeError,
     r"propagate_free_space\(\).*'n_medium'"),
    (lambda: band_limit_frequency(8, LAM, LAM, 1e-6, n_medium=-1.0), ValueError, r"'n_medium'"),
])
def test_bad_evanescent_and_medium_arguments_are_named(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()

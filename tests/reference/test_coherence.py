"""Gaussian Schell-model coherent modes against their closed forms."""
from __future__ import annotations

import math

import numpy as np
import pytest

from quaton_fast.reference import coherence as C
from quaton_fast.reference import propagation as P

S, G = 8e-6, 6e-6


def test_modes_are_orthonormal():
    x = np.linspace(-120e-6, 120e-6, 4001)
    phi = C.hermite_gauss_1d(x, S, G, 30)
    gram = phi @ phi.T * (x[1] - x[0])
    np.testing.assert_allclose(gram, np.eye(30), atol=1e-10)


def test_mercer_expansion_reproduces_the_cross_spectral_density():
    x = np.linspace(-40e-6, 40e-6, 81)
    phi = C.hermite_gauss_1d(x, S, G, 80)
    beta = C.gsm_weights_1d(S, G, 80)
    w = np.einsum("n,ni,nj->ij", beta, phi, phi)
    np.testing.assert_allclose(w, C.gsm_cross_spectral_density(x[:, None], x[None, :], S, G), atol=1e-12)


def test_weights_sum_to_the_trace():
    # Σ β_n = ∫ W(x, x) dx = √(2π)·σ_s (the trace of the kernel), a closed form of its own
    beta = C.gsm_weights_1d(S, G, 400)
    assert beta.sum() == pytest.approx(math.sqrt(2 * math.pi) * S, rel=1e-12)
    # 2-D: the captured fraction is the kept share of (Σ β)²
    idx = C.gsm_mode_indices(10)
    assert C.captured_fraction(S, G, 10) == pytest.approx(np.sum(beta[idx[:, 0]] * beta[idx[:, 1]]) / beta.sum() ** 2)
    fr = [C.captured_fraction(S, G, m) for m in (1, 3, 6, 28, 231)]
    assert all(b > a for a, b in zip(fr, fr[1:])) and fr[-1] > 1 - 1e-5


def test_coherent_limit_is_one_gaussian_mode():
    _, _, _, q = C.gsm_parameters(S, 1.0)   # σ_g = 1 m ≫ σ_s
    assert q < 1e-10
    assert C.captured_fraction(S, 1.0, 1) == pytest.approx(1.0, abs=1e-9)


def test_propagated_width_matches_the_gsm_closed_form():
    # Mandel & Wolf 5.6-72: rms intensity width σ_s·Δ(z); 120 modes (m + n <= 14) keep 1 − 1.5e-4
    # of the power; P = N = 112: the spread beam (σ ≈ 11.7 µm) stays inside the periodic window
    n, dx, lam, z = 112, 1e-6, 1e-6, 300e-6
    modes, w = C.gsm_modes(n, dx, S, G, 120)
    assert C.captured_fraction(S, G, 120) > 1 - 2e-4
    x = (np.arange(n) - (n - 1) / 2) * dx
    i0 = np.einsum("m,myx->yx", w, modes ** 2)
    np.testing.assert_allclose(i0, np.exp(-(x[None] ** 2 + x[:, None] ** 2) / (2 * S * S)), atol=3e-5)  # the dropped modes, 1.5e-5 here
    out = P.propagate(modes, P.angular_spectrum_transfer(n, dx, lam, z))
    ix = np.einsum("m,myx->x", w, np.abs(out) ** 2)
    width = math.sqrt(np.sum(x ** 2 * ix) / ix.sum())
    expect = C.gsm_width(z, S, G, lam)
    assert expect > 1.4 * S                 # the beam did spread (the test is not trivial)
    assert width == pytest.approx(expect, rel=2e-3)   # measured 5e-4 (paraxial vs exact, truncation)
    # a coherent beam of the same width spreads less (σ_g → ∞)
    assert C.gsm_width(z, S, 1.0, lam) < 0.8 * expect


def test_errors():
    with pytest.raises(ValueError, match="num_modes"):
        C.gsm_mode_indices(C.MAX_MODES + 1)
    with pytest.raises(ValueError, match="sigma_g"):
        C.gsm_parameters(1e-6, 0.0)

"""Partial spatial coherence: the coherent-mode decomposition of a Gaussian Schell-model source.

A Gaussian Schell-model (GSM) source (Mandel & Wolf, *Optical Coherence and Quantum Optics*,
§5.6.4) has the cross-spectral density, per transverse axis,

    ``W(x1, x2) = exp(−(x1² + x2²)/(4σ_s²)) · exp(−(x1 − x2)²/(2σ_g²))``

(σ_s the rms width of the intensity ``W(x, x) = exp(−x²/(2σ_s²))``, σ_g the rms coherence width;
σ_g → ∞ is a coherent Gaussian beam, σ_g → 0 an incoherent source). Its Mercer expansion
(Gori, Opt. Commun. 34, 301 (1980); Starikov & Wolf, JOSA 72, 923 (1982)) is

    ``W(x1, x2) = Σ_n β_n φ_n(x1) φ_n(x2)``,   ``a = 1/(4σ_s²)``, ``b = 1/(2σ_g²)``, ``c = √(a² + 2ab)``,
    ``β_n = √(π/(a + b + c)) · q^n``,  ``q = b/(a + b + c) < 1``,
    ``φ_n(x) = (2c/π)^{1/4} (2^n n!)^{−1/2} H_n(x√(2c)) exp(−c x²)``  (Hermite–Gaussian, ∫φ_n² dx = 1).

In 2-D the source is separable: modes ``ψ_{mn}(x, y) = φ_m(x) φ_n(y)`` with weights ``β_m β_n``.
Each mode propagates as a coherent field and the modes are mutually incoherent: the intensity
anywhere is ``Σ β_{mn} |A ψ_{mn}|²``. Keeping the M modes of largest weight (m + n small) captures
the fraction ``Σ_kept β_m β_n / (Σ_n β_n)²`` of the power (:func:`captured_fraction`) — the
accuracy trade-off: every kept mode costs one coherent forward pass. Each dropped term adds
intensity >= 0, so truncation underestimates every intensity; through a passive network the total
power it loses on any plane is at most the dropped fraction of the source power.

Closed form used by the tests (Mandel & Wolf eq. 5.6-72): after free propagation over z (paraxial)
the intensity stays Gaussian with rms width ``σ_s·Δ(z)``, ``Δ(z)² = 1 + (z/(k σ_s δ))²``,
``1/δ² = 1/(4σ_s²) + 1/σ_g²``, k = 2π n_medium/λ0.
"""
from __future__ import annotations

import math

import numpy as np

from .._validation import fail, finite_real, positive_int

__all__ = ["gsm_parameters", "gsm_weights_1d", "hermite_gauss_1d", "gsm_mode_indices", "gsm_modes",
           "captured_fraction", "gsm_cross_spectral_density", "gsm_width", "MAX_MODES"]

#: most coherent modes a decomposition may keep (each costs one coherent forward pass)
MAX_MODES = 4096


def gsm_parameters(sigma_s: float, sigma_g: float) -> tuple[float, float, float, float]:
    """(a, b, c, q) of the expansion above; σ_s, σ_g metres > 0."""
    s = finite_real("gsm_parameters", "sigma_s", sigma_s, positive=True)
    g = finite_real("gsm_parameters", "sigma_g", sigma_g, positive=True)
    a, b = 1.0 / (4 * s * s), 1.0 / (2 * g * g)
    c = math.sqrt(a * a + 2 * a * b)
    return a, b, c, b / (a + b + c)


def gsm_weights_1d(sigma_s: float, sigma_g: float, count: int) -> np.ndarray:
    """β_0 .. β_{count−1} (count,) float64 (units: metres, the weight of an L²-normalised mode)."""
    a, b, c, q = gsm_parameters(sigma_s, sigma_g)
    count = positive_int("gsm_weights_1d", "count", count)
    return math.sqrt(math.pi / (a + b + c)) * q ** np.arange(count, dtype=np.float64)


def hermite_gauss_1d(x, sigma_s: float, sigma_g: float, count: int) -> np.ndarray:
    """φ_0 .. φ_{count−1} at the points ``x`` (metres): (count, len(x)) float64, by the stable
    three-term recurrence of the normalised Hermite functions (no factorial overflow)."""
    _, _, c, _ = gsm_parameters(sigma_s, sigma_g)
    count = positive_int("hermite_gauss_1d", "count", count)
    t = np.asarray(x, dtype=np.float64) * math.sqrt(2 * c)
    h = np.empty((count,) + t.shape)
    h[0] = math.pi ** -0.25 * np.exp(-t * t / 2)
    if count > 1:
        h[1] = math.sqrt(2.0) * t * h[0]
    for n in range(1, count - 1):
        h[n + 1] = math.sqrt(2.0 / (n + 1)) * t * h[n] - math.sqrt(n / (n + 1)) * h[n - 1]
    return (2 * c) ** 0.25 * h


def gsm_mode_indices(num_modes: int) -> np.ndarray:
    """The (m, n) of the ``num_modes`` 2-D modes of largest weight β_mβ_n ∝ q^{m+n}: ordered by
    m + n, then m; (M, 2) int64."""
    num_modes = positive_int("gsm_mode_indices", "num_modes", num_modes)
    if num_modes > MAX_MODES:
        fail("gsm_mode_indices", "num_modes", f"at most MAX_MODES = {MAX_MODES}", num_modes)
    out, s = [], 0
    while len(out) < num_modes:
        out.extend((m, s - m) for m in range(s + 1))
        s += 1
    return np.array(out[:num_modes], dtype=np.int64)


def captured_fraction(sigma_s: float, sigma_g: float, num_modes: int) -> float:
    """Σ_kept β_m β_n / (Σ_n β_n)² for the ``num_modes`` modes of :func:`gsm_mode_indices`:
    the fraction of the source power kept."""
    _, _, _, q = gsm_parameters(sigma_s, sigma_g)
    idx = gsm_mode_indices(num_modes)
    return float(np.sum(q ** idx.sum(axis=1)) * (1 - q) ** 2)


def gsm_modes(n: int, dx: float, sigma_s: float, sigma_g: float, num_modes: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``num_modes`` strongest 2-D modes on an N×N grid of pitch ``dx`` (metres), centred
    (x_j = (j − (N−1)/2)·dx, the convention of the D2NN's planes).

    Returns (modes (M, N, N) float64 ψ_{mn}(x, y) = φ_m(x)φ_n(y), rows y, columns x; weights
    (M,) float64 β_mβ_n, so that ``Σ_M weights·modes²`` ≈ exp(−(x² + y²)/(2σ_s²)))."""
    n = positive_int("gsm_modes", "n", n)
    dx = finite_real("gsm_modes", "dx", dx, positive=True)
    idx = gsm_mode_indices(num_modes)
    k = int(idx.max()) + 1
    x = (np.arange(n) - (n - 1) / 2) * dx
    phi = hermite_gauss_1d(x, sigma_s, sigma_g, k)
    beta = gsm_weights_1d(sigma_s, sigma_g, k)
    modes = phi[idx[:, 1]][:, :, None] * phi[idx[:, 0]][:, None, :]   # (M, y, x): m along x, n along y
    return modes, beta[idx[:, 0]] * beta[idx[:, 1]]


def gsm_cross_spectral_density(x1, x2, sigma_s: float, sigma_g: float) -> np.ndarray:
    """W(x1, x2) of one axis (broadcast), the closed form the expansion must reproduce."""
    s = finite_real("gsm_cross_spectral_density", "sigma_s", sigma_s, positive=True)
    g = finite_real("gsm_cross_spectral_density", "sigma_g", sigma_g, positive=True)
    x1, x2 = np.asarray(x1, dtype=np.float64), np.asarray(x2, dtype=np.float64)
    return np.exp(-(x1 ** 2 + x2 ** 2) / (4 * s * s)) * np.exp(-(x1 - x2) ** 2 / (2 * g * g))


def gsm_width(z: float, sigma_s: float, sigma_g: float, wavelength: float, n_medium: float = 1.0) -> float:
    """rms intensity width σ_s·Δ(z) (metres) of the GSM beam after propagating z metres (paraxial)."""
    s = finite_real("gsm_width", "sigma_s", sigma_s, positive=True)
    g = finite_real("gsm_width", "sigma_g", sigma_g, positive=True)
    k = 2 * math.pi * finite_real("gsm_width", "n_medium", n_medium, positive=True) / \
        finite_real("gsm_width", "wavelength", wavelength, positive=True)
    delta = 1.0 / math.sqrt(1 / (4 * s * s) + 1 / (g * g))
    z = finite_real("gsm_width", "z", z)
    return s * math.sqrt(1 + (z / (k * s * delta)) ** 2)

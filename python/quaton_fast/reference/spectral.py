"""Broadband (spectral) height-parametrized diffractive networks — NumPy reference, forward AND backward.

Fields carry a wavelength axis: ``u`` (B, W, N, N) complex128, one monochromatic field per sample
wavelength λ_w (vacuum, metres). Different wavelengths are mutually incoherent (temporal partial
coherence through the spectrum): detectors add INTENSITIES over w with the source's power weights
``p_w`` (and a detector's spectral response ``r_{c,w}``).

Height parametrization. A layer's latent ``θ`` (N, N) is its relief height measured in radians of
phase at a reference wavelength λ_ref: ``h = θ / k_ref`` with ``k_ref = 2π(n(λ_ref) − n_m(λ_ref))/λ_ref``
(:func:`quaton_fast.reference.materials.phase_per_height`). At sample λ_w the relief then imposes
(thin element, :mod:`quaton_fast.reference.materials`)

    ``m_w(θ) = exp((−a_w + i·s_w)·θ)``,  ``s_w = k_w/k_ref``,  ``a_w = α_w/k_ref``,

``k_w`` the phase per metre and ``α_w = 2πκ(λ_w)/λ_w`` the amplitude attenuation per metre at λ_w.
At λ_w = λ_ref without absorption, ``s_w = 1``, ``a_w = 0``: the monochromatic phase layer
``exp(iθ)``. Quantizing θ on a uniform grid over [0, 2π) is quantizing the height on a uniform grid
over [0, λ_ref/(n(λ_ref) − n_m(λ_ref))).

Network (as :class:`quaton_fast.nn.D2NN`, per wavelength): ``u → A_0 → [m(θ_l) → A_{l+1}]_{l<L}``,
``A_l`` the angular-spectrum propagation of :mod:`.propagation` with the transfer function of
wavelength w, (W, P, P). Backward (PyTorch's complex convention, ``g = ∂L/∂Re + i∂L/∂Im``):
through ``v = m·u``: ``g_u = conj(m)·g_v`` and ``∂L/∂θ = Σ_{B, w} Re(conj((−a_w + i s_w)·v)·g_v)``;
through ``A``: ``g = Aᴴ g`` (:func:`.propagation.propagate_adjoint`).
"""
from __future__ import annotations

import numpy as np

from .._validation import array, fail
from . import propagation as prop

__all__ = ["spectral_transfers", "height_modulation", "network_forward", "network_backward",
           "spectral_energies", "spectral_energies_backward", "partially_coherent_intensity",
           "partially_coherent_backward"]


def spectral_transfers(n_pad: int, dx: float, wavelengths, z: float, *, n_medium=1.0,
                       band_limited: bool = False, evanescent: str = "cut") -> np.ndarray:
    """(W, P, P) complex128: :func:`.propagation.angular_spectrum_transfer` at each vacuum
    wavelength ``wavelengths[w]`` (metres) with the medium index ``n_medium`` (a number or (W,))."""
    w = np.atleast_1d(np.asarray(wavelengths, dtype=np.float64))
    nm = np.broadcast_to(np.asarray(n_medium, dtype=np.float64), w.shape)
    return np.stack([prop.angular_spectrum_transfer(n_pad, dx, float(lw), z, band_limited=band_limited,
                                                    n_medium=float(m), evanescent=evanescent)
                     for lw, m in zip(w, nm)])


def _coeffs(func: str, scales, attenuations) -> tuple[np.ndarray, np.ndarray]:
    s = np.atleast_1d(np.asarray(scales, dtype=np.float64))
    a = np.zeros_like(s) if attenuations is None else np.atleast_1d(np.asarray(attenuations, dtype=np.float64))
    if s.ndim != 1 or a.shape != s.shape:
        fail(func, "attenuations", f"of shape {s.shape} like 'scales'", f"shape {a.shape}")
    array(func, "scales", s)
    array(func, "attenuations", a)
    return s, a


def height_modulation(theta, scales, attenuations=None) -> np.ndarray:
    """``m_w = exp((−a_w + i s_w)·θ)``: θ (N, N) radians at λ_ref → (W, N, N) complex128."""
    s, a = _coeffs("height_modulation", scales, attenuations)
    t = np.asarray(theta, dtype=np.float64)
    return np.exp((-a + 1j * s)[:, None, None] * t)


def _check(func, u, thetas, transfers):
    u = np.asarray(u, dtype=np.complex128)
    if u.ndim < 3 or u.shape[-1] != u.shape[-2]:
        fail(func, "u", "of shape (..., W, N, N)", f"shape {u.shape}")
    thetas = np.asarray(thetas, dtype=np.float64)
    if thetas.ndim != 3 or thetas.shape[1:] != u.shape[-2:]:
        fail(func, "thetas", f"of shape (L, {u.shape[-1]}, {u.shape[-1]})", f"shape {thetas.shape}")
    if len(transfers) != thetas.shape[0] + 1:
        fail(func, "transfers", f"L + 1 = {thetas.shape[0] + 1} arrays (W, P, P)", f"{len(transfers)}")
    for t in transfers:
        if np.shape(t)[0] != u.shape[-3]:
            fail(func, "transfers", f"(W, P, P) arrays with W = {u.shape[-3]}", f"shape {np.shape(t)}")
    return u, thetas


def _prop(u, transfer, adjoint=False):
    f = prop.propagate_adjoint if adjoint else prop.propagate
    return np.stack([f(u[..., w, :, :], transfer[w]) for w in range(u.shape[-3])], axis=-3)


def network_forward(u, thetas, scales, attenuations, transfers) -> tuple[np.ndarray, list[np.ndarray]]:
    """``u`` (..., W, N, N) → (output (..., W, N, N), the fields just after each modulation, for
    the backward). ``thetas`` (L, N, N) radians at λ_ref; ``transfers`` L + 1 arrays (W, P, P):
    to the first layer, between the layers, to the detector."""
    u, thetas = _check("network_forward", u, thetas, transfers)
    s, a = _coeffs("network_forward", scales, attenuations)
    v = _prop(u, transfers[0])
    after = []
    for layer, th in enumerate(thetas):
        v = v * height_modulation(th, s, a)
        after.append(v)
        v = _prop(v, transfers[layer + 1])
    return v, after


def network_backward(u, thetas, scales, attenuations, transfers, grad_out) -> tuple[np.ndarray, np.ndarray]:
    """Gradients (grad_u (..., W, N, N) complex, grad_thetas (L, N, N) real) for the incoming
    ``grad_out`` (..., W, N, N) = ∂L/∂Re out + i ∂L/∂Im out (PyTorch's convention)."""
    u, thetas = _check("network_backward", u, thetas, transfers)
    s, a = _coeffs("network_backward", scales, attenuations)
    _, after = network_forward(u, thetas, s, a, transfers)
    g = np.asarray(grad_out, dtype=np.complex128)
    grads = np.zeros_like(thetas)
    coeff = (-a + 1j * s)[:, None, None]
    lead = tuple(range(g.ndim - 3))
    for layer in range(len(thetas) - 1, -1, -1):
        g = _prop(g, transfers[layer + 1], adjoint=True)          # g_v of v = m·u
        grads[layer] = np.real(np.conj(coeff * after[layer]) * g).sum(axis=lead + (g.ndim - 3,))
        g = np.conj(height_modulation(thetas[layer], s, a)) * g
    return _prop(g, transfers[0], adjoint=True), grads


def spectral_energies(out, weights, masks, response=None) -> np.ndarray:
    """Detector energies ``E_{b,c} = Σ_w p_w r_{c,w} Σ_{x∈c} |out_{b,w}(x)|²``.

    ``out`` (B, W, N, N) complex; ``weights`` p (W,) >= 0 (the source's power spectrum);
    ``masks`` (C, N, N) real (detector regions); ``response`` r (C, W) >= 0 or None (all 1: a
    detector integrating over the whole band). Returns (B, C) float64."""
    out = np.asarray(out, dtype=np.complex128)
    p = np.asarray(weights, dtype=np.float64)
    r = np.ones((len(masks), out.shape[1])) if response is None else np.asarray(response, dtype=np.float64)
    per = np.einsum("bwij,cij->bcw", np.abs(out) ** 2, np.asarray(masks, dtype=np.float64))
    return np.einsum("bcw,w,cw->bc", per, p, r)


def spectral_energies_backward(out, weights, masks, response, grad_e) -> np.ndarray:
    """∂L/∂Re out + i ∂L/∂Im out (B, W, N, N) for the incoming ``grad_e`` = ∂L/∂E (B, C):
    ``2·out·Σ_c grad_e_{b,c} p_w r_{c,w} mask_c``."""
    out = np.asarray(out, dtype=np.complex128)
    p = np.asarray(weights, dtype=np.float64)
    r = np.ones((len(masks), out.shape[1])) if response is None else np.asarray(response, dtype=np.float64)
    k = np.einsum("bc,w,cw,cij->bwij", np.asarray(grad_e, dtype=np.float64), p, r, np.asarray(masks, dtype=np.float64))
    return 2.0 * k * out


def partially_coherent_intensity(u, modes, weights, thetas, scales, attenuations, transfers) -> np.ndarray:
    """Detector-plane intensity of an object ``u`` (B, W, N, N) under illumination given by its
    coherent modes (:mod:`.coherence`): ``I = Σ_m β_m |T(u·ψ_m)|²``, (B, W, N, N) float64.
    ``modes`` (M, N, N) real or complex, ``weights`` β (M,) >= 0."""
    u = np.asarray(u, dtype=np.complex128)
    total = np.zeros(u.shape, dtype=np.float64)
    for psi, beta in zip(np.asarray(modes), np.asarray(weights, dtype=np.float64)):
        out, _ = network_forward(u * psi, thetas, scales, attenuations, transfers)
        total += beta * np.abs(out) ** 2
    return total


def partially_coherent_backward(u, modes, weights, thetas, scales, attenuations, transfers,
                                grad_intensity) -> np.ndarray:
    """∂L/∂θ (L, N, N) for ``grad_intensity`` = ∂L/∂I (B, W, N, N) real: the modes are
    independent coherent passes, so it is ``Σ_m`` of :func:`network_backward` with the incoming
    ``g_m = 2 β_m (∂L/∂I)·out_m``."""
    u = np.asarray(u, dtype=np.complex128)
    g_i = np.asarray(grad_intensity, dtype=np.float64)
    grads = np.zeros(np.shape(thetas), dtype=np.float64)
    for psi, beta in zip(np.asarray(modes), np.asarray(weights, dtype=np.float64)):
        out, _ = network_forward(u * psi, thetas, scales, attenuations, transfers)
        grads += network_backward(u * psi, thetas, scales, attenuations, transfers, 2 * beta * g_i * out)[1]
    return grads

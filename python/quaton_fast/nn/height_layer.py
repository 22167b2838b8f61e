"""A height-parametrized diffractive layer: one fabricated relief, its phase and loss per wavelength.

The latent θ (N, N) is the relief HEIGHT in radians of phase at the reference wavelength λ_ref,
``h = θ/k_ref`` (:mod:`quaton_fast.reference.spectral`); the layer's quantizer (any of
:mod:`quaton_fast.quant`: PSQ, STE incl. transmission-domain, DSQ, GS, PQ) quantizes θ, i.e. the
HEIGHT levels (a uniform table over [0, 2π) is a uniform height grid over one 2π height
``λ_ref/(n(λ_ref) − n_m(λ_ref))``; a fab's measured heights enter as the phases ``k_ref·h_j``).
At sample λ_w the relief multiplies the field by ``m_w = exp((−a_w + i s_w)·θ)``.
"""
from __future__ import annotations

import math

import torch

from .._backend import notice_once
from .._validation import fail
from ..functional import quantizers as F
from ..functional import transmission as FT
# _fused_reason: the fused op's own metadata-only verdict (cached per device, dtype, N, P)
from ..functional.fused_propagation import _fused_reason, modulate_propagate
from ..functional.propagation import propagate_spectral
from ..quant.base import Quantizer
from .phase_layer import PhaseLayer

TWO_PI = 2.0 * math.pi


class HeightLayer(PhaseLayer):
    """N×N neurons of relief height, applied at W wavelengths.

    ``scales`` s_w and ``attenuations`` a_w (W,) Python floats, per radian of θ (see the module
    docstring; :class:`~quaton_fast.nn.spectral_d2nn.SpectralD2NN` computes them from its material).
    With W = 1, s = 1, a = 0 (the reference wavelength, lossless) the layer IS a
    :class:`PhaseLayer` (same ops, bit for bit). Otherwise the applied height is folded into one
    period of the quantizer's table, ``θ_0 + ((θ − θ_0) mod period)`` (2π for full precision;
    gradient 1), so the relief is a physical height in [h_0, h_0 + period/k_ref) and the
    evaluation forward matches :meth:`hard_phase` (what is exported) at every wavelength.

    Complex (absorbing) level tables are refused: the material's κ sets the loss here."""

    def __init__(self, n: int, quantizer: Quantizer | None = None, *, scales=(1.0,), attenuations=None,
                 init: str = "uniform", generator: torch.Generator | None = None):
        super().__init__(n, quantizer, init=init, generator=generator)
        f = "HeightLayer"
        if self.quantizer.is_complex:
            fail(f, "quantizer", "a quantizer on a phase (height) table; the material's extinction κ "
                 "gives the loss of a height layer", "a complex (absorbing) level table")
        s = tuple(float(v) for v in scales)
        a = tuple(0.0 for _ in s) if attenuations is None else tuple(float(v) for v in attenuations)
        if not s or len(a) != len(s) or not all(math.isfinite(v) and v > 0 for v in s) \
                or not all(math.isfinite(v) and v >= 0 for v in a):
            fail(f, "scales", "W finite floats > 0 with W finite attenuations >= 0", f"{s}, {a}")
        self.scales, self.attenuations = s, a
        self.monochromatic = s == (1.0,) and a == (0.0,)
        self.lossless = all(v == 0.0 for v in a)
        self._coeff_cache: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    @property
    def num_wavelengths(self) -> int:
        return len(self.scales)

    def _coeff(self, like: torch.Tensor) -> torch.Tensor:
        """(W, 1, 1) complex ``−a_w + i s_w`` on ``like``'s device (cached: built once per device)."""
        dtype = torch.complex128 if like.dtype == torch.float64 else torch.complex64
        key = (like.device, dtype)
        c = self._coeff_cache.get(key)
        if c is None:
            c = torch.tensor([complex(-a, s) for s, a in zip(self.scales, self.attenuations)], dtype=dtype)
            c = self._coeff_cache[key] = c.reshape(-1, 1, 1).to(like.device)
        return c

    def _fold(self, theta: torch.Tensor) -> torch.Tensor:
        q = self.quantizer
        if q.table is None:
            return torch.remainder(theta, TWO_PI)
        if q.period is None:
            return theta
        return q.base + torch.remainder(theta - q.base, q.period)

    def height_phase(self) -> torch.Tensor:
        """θ (N, N) radians at λ_ref: the quantizer's output (soft in training), folded into one
        period unless the layer is monochromatic; in evaluation exactly the table's level
        (:meth:`hard_phase`, what is exported; NaN for a non-finite latent), without a host sync."""
        if self.monochromatic:
            return self.phase()
        q, lat = self.quantizer, self.latent
        if not self.training and q.table is not None:
            if lat.dim() != 2:                       # Gumbel-softmax logits: levels[argmax]
                return q.hard(lat)
            idx = torch.searchsorted(q.thresholds.to(lat.dtype), F.fold_latent(lat, q.base, q.period).contiguous(),
                                     right=True).remainder(q.levels.numel())
            return torch.where(torch.isfinite(lat), q.levels.to(lat.dtype)[idx], lat)
        return self._fold(self.phase())

    def spectral_transmission(self) -> torch.Tensor:
        """(W, N, N) complex ``m_w``; for STE with ``transmission_backward`` in training: the
        hard level's ``m_w`` forward, the soft chord transmission of each wavelength's level
        table backward (the monochromatic rule, per wavelength)."""
        q = self.quantizer
        if self.training and q.uses_transmission:
            lat = self.latent
            thr, _, base = q._table_args(lat)
            c = self._coeff(lat)[:, 0, 0]
            tables = torch.exp(c[:, None] * q.levels.to(lat.dtype)[None, :])       # (W, n)
            return torch.stack([FT.ste_soft_transmission(lat, q.k, thr, tables[w], base, period=q.period)
                                for w in range(tables.shape[0])])
        theta = self.height_phase()
        return torch.exp(self._coeff(theta) * theta)

    def spectral_modulate_propagate(self, u: torch.Tensor, transfers: torch.Tensor,
                                    per_wavelength: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """``u`` (..., W, N, N) complex → propagate_w(m_w·u_w), (..., W, N, N).

        ``transfers`` (W, P, P) and the same as W contiguous (P, P) tensors ``per_wavelength``
        (cached by :class:`~quaton_fast.nn.spectral_propagation.SpectralFreeSpace`). Lossless phase tables on a
        GPU the fused kernels serve: one fused launch per wavelength (the kernels take one transfer
        function per launch). Everywhere else: one torch.fft batched over every axis and W; on CUDA
        it says once why (the fused op's own reason; an absorbing material: the kernels modulate by a phase only;
        transmission-domain STE: the layer's complex path)."""
        if self.monochromatic:   # exactly PhaseLayer's ops (fused phase path or complex path)
            return self.modulate_propagate(u[..., 0, :, :], per_wavelength[0]).unsqueeze(-3)
        if not self.quantizer.uses_transmission and self.lossless:
            theta = self.height_phase()
            if u.is_cuda:
                reason = _fused_reason(u[..., 0, :, :], per_wavelength[0]) if u.is_complex() else "real field"
                if reason is None:
                    return torch.stack([modulate_propagate(u[..., w, :, :], theta * s, per_wavelength[w])
                                        for w, s in enumerate(self.scales)], dim=-3)
                notice_once("height_layer:" + reason, f"HeightLayer: torch.fft path batched over wavelengths ({reason})")
            m = torch.polar(torch.ones_like(theta), theta * self._coeff(theta).imag)
        else:
            m = self.spectral_transmission()
            if u.is_cuda:
                why = "absorbing material" if not self.lossless else "transmission-domain quantizer"
                notice_once("height_layer:" + why, f"HeightLayer: torch.fft path batched over wavelengths ({why}: "
                            "the fused kernels modulate by a phase only)")
        return propagate_spectral(u * m.to(u.dtype), transfers)

    def extra_repr(self) -> str:
        return f"n={self.n}, wavelengths={self.num_wavelengths}, lossless={self.lossless}"

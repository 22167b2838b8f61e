"""A broadband, optionally partially coherent, height-quantized diffractive network.

input (B, N, N) → [GSM modes: (B, M, N, N)] → wavelength axis (…, W, N, N) → propagate z_in →
[height layer → propagate dz] × L (last: z_out) → intensity Σ_modes |u|² (B, W, N, N) →
detectors Σ_w p_w r_{c,w} (logits), or the intensity itself. Conventions: docs/physics.md
("Material model", "Broadband fields", "Partial spatial coherence").
"""
from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from .. import encode as _encode
from .._atomic import atomic_path
from .._placement import place
from .._validation import fail, finite_real, positive_int
from ..functional.propagation import propagate_spectral
from ..quant.base import Quantizer
from ..reference import materials as mat
from .coherence import GaussianSchellSource
from .height_layer import HeightLayer
from .spectral_propagation import SpectralFreeSpace
from .spectral_readout import SpectralDetectors

MAX_LAYERS = 4096


class SpectralD2NN(nn.Module):
    """Height-parametrized D2NN at W sample wavelengths (vacuum, metres) of one source.

    * ``material``, ``medium``: :class:`~quaton_fast.reference.materials.Material` s (or spec
      strings, :func:`~quaton_fast.reference.materials.material_from_spec`) of the relief and of
      the gaps between the planes (default vacuum). Propagation at λ_w uses λ_w/n_m(λ_w).
    * ``reference_wavelength`` λ_ref (default the middle sample): the latent θ of every layer is
      the height in radians of phase at λ_ref, ``h = θ·λ_ref/(2π(n(λ_ref) − n_m(λ_ref)))``; the
      quantizer's levels are height levels (see :mod:`quaton_fast.nn.height_layer`).
    * ``weights`` p (W,) (the source's power spectrum; default uniform), ``response`` (C, W) the
      detectors' spectral filters (default 1), ``boxes`` the detector regions.
    * ``coherence``: None (spatially coherent) or (σ_s, σ_g, num_modes), metres: a Gaussian
      Schell-model illumination (:class:`~quaton_fast.nn.coherence.GaussianSchellSource`).
    * ``readout``: 'classify' (logits (B, C)) or 'intensity' (B, W, N, N).

    With one wavelength, λ_ref = it, a lossless material and no coherence model, every layer is
    exactly a :class:`~quaton_fast.nn.PhaseLayer` and the field path is :class:`~quaton_fast.nn.D2NN`'s
    (same ops; a test checks it bit for bit). The other geometry arguments are D2NN's.
    Raises ValueError/TypeError naming the argument."""

    def __init__(self, n: int, dx: float, wavelengths, num_layers: int, z_in: float, dz: float, z_out: float, *,
                 material, medium="vacuum", reference_wavelength: float | None = None, weights=None,
                 response=None, boxes=None, pad: int = 2, band_limited: bool = False, evanescent: str = "decay",
                 quantizer: Quantizer | None = None, readout: str = "classify", num_classes: int = 10,
                 detector_size: int | None = None, object_size: int | None = None, encoding: str = "phase",
                 seed: int | None = None, init: str = "uniform", coherence=None, temperature: float = 10.0,
                 device=None, dtype: torch.dtype | None = None):
        super().__init__()
        f = "SpectralD2NN"
        self.material = mat.material_from_spec(material) if isinstance(material, str) else material
        self.medium = mat.material_from_spec(medium) if isinstance(medium, str) else medium
        self.wavelengths = mat.wavelength_array(f, wavelengths)
        lam_ref = float(self.wavelengths[len(self.wavelengths) // 2]) if reference_wavelength is None \
            else finite_real(f, "reference_wavelength", reference_wavelength, positive=True)
        self.reference_wavelength = lam_ref
        k = mat.phase_per_height(self.material, self.medium, self.wavelengths)
        self.k_ref = float(mat.phase_per_height(self.material, self.medium, lam_ref)[0])
        alpha = mat.attenuation_per_height(self.material, self.wavelengths)
        scales = k / self.k_ref
        scales[self.wavelengths == lam_ref] = 1.0   # exactly 1 at λ_ref (the monochromatic layer)
        num_layers = positive_int(f, "num_layers", num_layers)
        if num_layers > MAX_LAYERS:
            fail(f, "num_layers", f"at most {MAX_LAYERS}", num_layers)
        if quantizer is not None and not isinstance(quantizer, Quantizer):
            fail(f, "quantizer", "a quaton_fast.quant.Quantizer or None", type(quantizer).__name__, TypeError)
        if encoding not in ("phase", "amplitude"):
            fail(f, "encoding", "'phase' or 'amplitude'", repr(encoding))
        if readout not in ("classify", "intensity"):
            fail(f, "readout", "'classify' or 'intensity'", repr(readout))
        self.n, self.dx, self.encoding, self.object_size = positive_int(f, "n", n), dx, encoding, object_size
        prop = dict(n=self.n, dx=dx, wavelengths=self.wavelengths, medium=self.medium, pad=pad,
                    band_limited=band_limited, evanescent=evanescent)
        self.to_first = SpectralFreeSpace(z=z_in, **prop)
        self.between = SpectralFreeSpace(z=dz, **prop)
        self.to_detector = SpectralFreeSpace(z=z_out, **prop)
        self.evanescent = self.to_first.evanescent
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        self.layers = nn.ModuleList(
            HeightLayer(self.n, quantizer.for_layer(i) if quantizer is not None else None, scales=scales.tolist(),
                        attenuations=(alpha / self.k_ref).tolist(), init=init, generator=gen)
            for i in range(num_layers))
        self.coherence = None
        if coherence is not None:
            if not isinstance(coherence, (tuple, list)) or len(coherence) != 3:
                fail(f, "coherence", "None or (sigma_s, sigma_g, num_modes)", repr(coherence), TypeError)
            self.coherence = GaussianSchellSource(self.n, dx, *coherence)
        self.readout_kind = readout
        self.detectors = SpectralDetectors(self.n, len(self.wavelengths), num_classes, weights=weights,
                                           response=response, boxes=boxes, detector_size=detector_size,
                                           temperature=temperature)
        place(self, f, device, dtype)   # torch-style device=/dtype= (float32; fields complex64)

    # -- forward ---------------------------------------------------------------------------
    def encode(self, images: torch.Tensor, *, validate: bool = True) -> torch.Tensor:
        """``images`` (B, H, W) in [0, 1] → (B, N, N) complex64, as :meth:`quaton_fast.nn.D2NN.encode`
        (the same object field at every wavelength: an amplitude object is exact, a phase object
        is taken as non-dispersive)."""
        fn = _encode.phase if self.encoding == "phase" else _encode.amplitude
        return fn(images, self.n, object_size=self.object_size, validate=validate)

    def output_field(self, u: torch.Tensor) -> torch.Tensor:
        """``u`` (..., W, N, N) complex (one field per wavelength) → detector-plane (..., W, N, N)."""
        if u.dim() < 3 or u.shape[-3] != len(self.wavelengths) or tuple(u.shape[-2:]) != (self.n, self.n):
            fail("SpectralD2NN.output_field", "u", f"of shape (..., {len(self.wavelengths)}, {self.n}, {self.n})",
                 f"shape {tuple(u.shape)}")
        h0, _ = self.to_first.transfers_like(u)
        hb, hb_w = self.between.transfers_like(u)
        hd, hd_w = self.to_detector.transfers_like(u)
        u = propagate_spectral(u, h0)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            u = layer.spectral_modulate_propagate(u, hd if i == last else hb, hd_w if i == last else hb_w)
        return u

    def intensity(self, u: torch.Tensor) -> torch.Tensor:
        """``u`` (B, N, N) complex object field (or (B, W, N, N) per wavelength) → detector-plane
        intensity (B, W, N, N), summed over the coherent modes when a coherence model is set."""
        if not isinstance(u, torch.Tensor) or u.dim() not in (3, 4) or tuple(u.shape[-2:]) != (self.n, self.n):
            fail("SpectralD2NN.intensity", "u", f"a (B, {self.n}, {self.n}) or (B, W, {self.n}, {self.n}) tensor",
                 f"{type(u).__name__} {tuple(getattr(u, 'shape', ()))}", TypeError if not isinstance(u, torch.Tensor) else ValueError)
        if not u.is_complex():
            u = u.to(torch.complex128 if u.dtype == torch.float64 else torch.complex64)
        if u.dim() == 3:
            u = u.unsqueeze(1).expand(-1, len(self.wavelengths), -1, -1)
        if self.coherence is None:
            out = self.output_field(u)
            return out.real ** 2 + out.imag ** 2
        return GaussianSchellSource.intensity(self.output_field(self.coherence.illuminate(u)))

    def band_intensity(self, u: torch.Tensor) -> torch.Tensor:
        """(B, N, N): the detector-plane intensity weighted by the source spectrum, ``Σ_w p_w I_w``."""
        i = self.intensity(u)
        p = self.detectors.weights.to(i.dtype)
        return torch.einsum("bwij,w->bij", i, p)

    @property
    def readout(self) -> SpectralDetectors:
        """The detectors (``boxes`` (C, 4)), as :attr:`quaton_fast.nn.D2NN.readout`."""
        return self.detectors

    @property
    def wavelength(self) -> float:
        """λ_ref (m, vacuum): the wavelength the heights are expressed at."""
        return self.reference_wavelength

    @property
    def n_medium(self) -> float:
        """n_m(λ_ref)."""
        return float(self.medium.n(self.reference_wavelength)[0])

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``u`` (B, N, N) complex → logits (B, C) ('classify') or intensity (B, W, N, N)."""
        i = self.intensity(u)
        return self.detectors(i) if self.readout_kind == "classify" else i

    # -- quantization-aware training (the D2NN interface) ------------------------------------
    def set_epoch(self, epoch: int) -> None:
        for layer in self.layers:
            layer.quantizer.set_epoch(epoch)

    def regularization(self) -> torch.Tensor:
        terms = [layer.quantizer.regularization() for layer in self.layers]
        return torch.stack([t.to(terms[0].dtype) for t in terms]).sum()

    def switch_quantizer(self, quantizer: Quantizer) -> None:
        if not isinstance(quantizer, Quantizer):
            fail("SpectralD2NN.switch_quantizer", "quantizer", "a quaton_fast.quant.Quantizer", type(quantizer).__name__, TypeError)
        for i, layer in enumerate(self.layers):
            layer.switch_quantizer(quantizer.for_layer(i))
            if layer.quantizer.is_complex:
                fail("SpectralD2NN.switch_quantizer", "quantizer", "a phase (height) table", "a complex table")

    @torch.no_grad()
    def hard_quantized_phases(self) -> torch.Tensor:
        """(L, N, N) hard levels θ (radians at λ_ref), in one period of the table."""
        return torch.stack([layer.hard_phase() for layer in self.layers])

    def fabrication_heights(self) -> torch.Tensor:
        """Relief heights (L, N, N) metres: ``θ·λ_ref/(2π(n(λ_ref) − n_m(λ_ref)))``."""
        return self.hard_quantized_phases() / self.k_ref

    def export_masks(self, path: str | os.PathLike) -> None:
        """Write the keys of :meth:`quaton_fast.nn.D2NN.export_masks` (phases at λ_ref, heights,
        dx, wavelength = λ_ref, n_material = n(λ_ref), n_medium = n_m(λ_ref), …; the STL/GDSII
        exporters read them) plus ``wavelengths`` (W,), ``material`` (name) to ``path`` (.npz)."""
        lam = self.reference_wavelength
        n_mat, n_med = float(self.material.n(lam)[0]), float(self.medium.n(lam)[0])
        phases = self.hard_quantized_phases().cpu().numpy()
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, phases=phases, heights=phases / self.k_ref, dx=self.dx, wavelength=lam,
                     wavelength_in_medium=lam / n_med, n_material=n_mat, n_medium=n_med,
                     evanescent=self.evanescent, wavelengths=self.wavelengths, material=self.material.label)

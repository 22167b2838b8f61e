"""Detectors of broadband (and partially coherent) light: intensities added over wavelength."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._validation import fail, finite_real, positive_int
from ..reference.fields import check_boxes, square_detector_layout


class SpectralDetectors(nn.Module):
    """C square detectors on the N×N plane, each integrating ``Σ_w p_w r_{c,w} I_w`` over its region.

    ``weights`` p (W,) >= 0: the source's power spectrum at the sample wavelengths (default
    uniform 1/W); ``response`` r (C, W) >= 0: each detector's spectral filter (default all 1, a
    detector integrating over the whole band). ``boxes`` (C, 4) (row0, col0, rows, cols) or the
    default layout of ``num_classes`` squares of ``detector_size`` px
    (:func:`quaton_fast.reference.fields.square_detector_layout`). ``temperature`` T of the logits
    ``T·E_c/max_j E_j`` (max detached, as :class:`~quaton_fast.nn.DetectorReadout`).
    The same sums as :func:`quaton_fast.reference.spectral.spectral_energies`."""

    def __init__(self, n: int, num_wavelengths: int, num_classes: int = 10, *, weights=None, response=None,
                 boxes=None, detector_size: int | None = None, temperature: float = 10.0):
        super().__init__()
        f = "SpectralDetectors"
        self.n = positive_int(f, "n", n)
        w = positive_int(f, "num_wavelengths", num_wavelengths)
        c = positive_int(f, "num_classes", num_classes)
        if boxes is None:
            try:
                boxes = square_detector_layout(self.n, c, None if detector_size is None
                                               else positive_int(f, "detector_size", detector_size))
            except ValueError:
                fail(f, "detector_size", f"small enough for {c} detectors on the {self.n}x{self.n} grid", detector_size)
        else:
            boxes = check_boxes(f, np.asarray(boxes), self.n)
            if len(boxes) != c:
                fail(f, "boxes", f"one box per detector ({c} = num_classes)", f"{len(boxes)} boxes")
        p = np.full(w, 1.0 / w) if weights is None else np.asarray(weights, dtype=np.float64)
        r = np.ones((c, w)) if response is None else np.asarray(response, dtype=np.float64)
        if p.shape != (w,) or not np.all(np.isfinite(p)) or np.any(p < 0) or not p.sum() > 0:
            fail(f, "weights", f"({w},) finite powers >= 0, not all 0", f"shape {p.shape}")
        if r.shape != (c, w) or not np.all(np.isfinite(r)) or np.any(r < 0):
            fail(f, "response", f"({c}, {w}) finite responses >= 0", f"shape {r.shape}")
        mask = torch.zeros(c, self.n, self.n)
        for i, (r0, c0, h, wd) in enumerate(np.asarray(boxes, dtype=np.int64)):
            mask[i, r0:r0 + h, c0:c0 + wd] = 1.0
        self.boxes = np.asarray(boxes, dtype=np.int64)
        self.register_buffer("mask", mask, persistent=False)                                  # (C, N, N)
        self.register_buffer("weights", torch.from_numpy(p).float(), persistent=False)           # (W,)
        self.register_buffer("weight_response", torch.from_numpy(p[None, :] * r).float(), persistent=False)  # (C, W)
        self.temperature = finite_real(f, "temperature", temperature, positive=True)

    def energies_per_wavelength(self, intensity: torch.Tensor) -> torch.Tensor:
        """``intensity`` (B, W, N, N) real → (B, C, W): ``p_w r_{c,w} Σ_{x∈c} I_{b,w}(x)``."""
        if intensity.dim() != 4 or tuple(intensity.shape[-2:]) != (self.n, self.n) \
                or intensity.shape[1] != self.weight_response.shape[1]:
            fail("SpectralDetectors.energies_per_wavelength", "intensity",
                 f"of shape (B, {self.weight_response.shape[1]}, {self.n}, {self.n})", f"shape {tuple(intensity.shape)}")
        per = torch.einsum("bwij,cij->bcw", intensity, self.mask.to(intensity.dtype))
        return per * self.weight_response.to(intensity.dtype)

    def energies(self, intensity: torch.Tensor) -> torch.Tensor:
        """(B, W, N, N) → (B, C): the band-integrated detector energies."""
        return self.energies_per_wavelength(intensity).sum(-1)

    def forward(self, intensity: torch.Tensor) -> torch.Tensor:
        """(B, W, N, N) → logits (B, C)."""
        e = self.energies(intensity)
        return self.temperature * e / e.amax(dim=-1, keepdim=True).detach().clamp_min(1e-30)

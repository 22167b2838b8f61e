"""Read-outs of the detector plane: classification energies and quantitative phase imaging."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._validation import finite_real, positive_int
from ..reference.fields import square_detector_layout


class DetectorReadout(nn.Module):
    """Class energies ``E_c = Σ_region |u|²`` over square detector regions and logits
    ``T·E_c / max_j E_j`` (max detached, so the scale is free but the ranking is kept).

    ``boxes`` (C, 4) int (row0, col0, rows, cols) on the N×N plane; default: 10 regions in rows
    3-4-3 of size ≈ N/10."""

    def __init__(self, n: int, num_classes: int = 10, *, detector_size: int | None = None,
                 boxes: np.ndarray | None = None, temperature: float = 10.0):
        super().__init__()
        self.n = positive_int("DetectorReadout", "n", n)
        if boxes is None:
            boxes = square_detector_layout(self.n, positive_int("DetectorReadout", "num_classes", num_classes),
                                           detector_size)
        boxes = np.asarray(boxes, dtype=np.int64)
        mask = torch.zeros(len(boxes), self.n, self.n)
        for c, (r0, c0, h, w) in enumerate(boxes):
            mask[c, r0:r0 + h, c0:c0 + w] = 1.0
        self.register_buffer("mask", mask, persistent=False)  # (C, N, N)
        self.boxes = boxes
        self.temperature = finite_real("DetectorReadout", "temperature", temperature, positive=True)

    def energies(self, intensity: torch.Tensor) -> torch.Tensor:
        """``intensity`` (B, N, N) real → (B, C) energies."""
        return torch.einsum("bij,cij->bc", intensity, self.mask.to(intensity.dtype))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``u`` (B, N, N) complex → logits (B, C)."""
        e = self.energies(u.real ** 2 + u.imag ** 2)
        return self.temperature * e / e.amax(dim=-1, keepdim=True).detach().clamp_min(1e-30)


class QPIReadout(nn.Module):
    """Quantitative phase imaging: ``ŷ = s·|u|² + b`` (scalars, learnable by default), to be
    compared with the normalised phase φ/φ_max ∈ [0, 1]."""

    def __init__(self, scale: float = 1.0, bias: float = 0.0, learnable: bool = True):
        super().__init__()
        s = torch.tensor(float(scale))
        b = torch.tensor(float(bias))
        if learnable:
            self.scale, self.bias = nn.Parameter(s), nn.Parameter(b)
        else:
            self.register_buffer("scale", s)
            self.register_buffer("bias", b)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``u`` (B, N, N) complex → (B, N, N) real prediction."""
        return self.scale * (u.real ** 2 + u.imag ** 2) + self.bias

"""Read-outs of the detector plane: classification energies and quantitative phase imaging."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._validation import fail, finite_real, positive_int
from ..reference.fields import check_boxes, square_detector_layout
from ..reference.propagation import check_grid_size


def _check_plane(func: str, arg: str, x, n: int | None, *, complex_ok: bool) -> None:
    # metadata only (hot path): type, dtype, rank, grid size
    if not isinstance(x, torch.Tensor):
        fail(func, arg, "a torch.Tensor", type(x).__name__, TypeError)
    if not (x.is_floating_point() or (complex_ok and x.is_complex())):
        want = "a complex or real floating-point tensor" if complex_ok else "a real floating-point tensor"
        fail(func, arg, want, f"dtype {x.dtype}", TypeError)
    want = f"of shape (B, {n}, {n})" if n is not None else "of shape (B, N, N) with N >= 1"
    if x.dim() != 3 or (n is not None and tuple(x.shape[-2:]) != (n, n)) or x.shape[-1] != x.shape[-2] \
            or x.shape[-1] == 0:
        fail(func, arg, want, f"shape {tuple(x.shape)}")


class DetectorReadout(nn.Module):
    """Class energies ``E_c = Σ_region |u|²`` over square detector regions and logits
    ``T·E_c / max_j E_j`` (max detached, so the scale is free but the ranking is kept).

    ``boxes`` (C, 4) int (row0, col0, rows, cols) on the N×N plane, each non-empty and inside the
    grid (the rule of :func:`quaton_fast.reference.fields.detector_mask`), C = ``num_classes``;
    default: ``num_classes`` regions of ``detector_size`` px (default ≈ N/10) in rows (10 →
    3-4-3). ``temperature`` T > 0. Raises ValueError/TypeError naming the argument."""

    def __init__(self, n: int, num_classes: int = 10, *, detector_size: int | None = None,
                 boxes: np.ndarray | None = None, temperature: float = 10.0):
        super().__init__()
        f = "DetectorReadout"
        self.n = check_grid_size(f, "n", positive_int(f, "n", n))
        num_classes = positive_int(f, "num_classes", num_classes)
        if num_classes > self.n * self.n:
            fail(f, "num_classes", f"at most n² = {self.n * self.n} (one pixel per detector)", num_classes)
        if boxes is None:
            size = None if detector_size is None else positive_int(f, "detector_size", detector_size)
            try:
                boxes = square_detector_layout(self.n, num_classes, size)
            except ValueError:  # the layout names its own argument 'size'
                fail(f, "detector_size", f"small enough for {num_classes} square detectors to fit side by side "
                     f"on the {self.n}x{self.n} grid (or a larger n)", size)
        else:
            if detector_size is not None:
                fail(f, "detector_size", "None when 'boxes' are given", detector_size)
            if isinstance(boxes, torch.Tensor):
                boxes = boxes.detach().cpu().numpy()
            boxes = check_boxes(f, boxes, self.n)
            if len(boxes) != num_classes:
                fail(f, "boxes", f"one box per class ({num_classes} = num_classes)", f"{len(boxes)} boxes")
        boxes = np.asarray(boxes, dtype=np.int64)
        mask = torch.zeros(len(boxes), self.n, self.n)
        for c, (r0, c0, h, w) in enumerate(boxes):
            mask[c, r0:r0 + h, c0:c0 + w] = 1.0
        self.register_buffer("mask", mask, persistent=False)  # (C, N, N)
        self.boxes = boxes
        self.temperature = finite_real(f, "temperature", temperature, positive=True)

    def energies(self, intensity: torch.Tensor) -> torch.Tensor:
        """``intensity`` (B, N, N) real → (B, C) energies."""
        _check_plane("DetectorReadout.energies", "intensity", intensity, self.n, complex_ok=False)
        return torch.einsum("bij,cij->bc", intensity, self.mask.to(intensity.dtype))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``u`` (B, N, N) complex → logits (B, C)."""
        _check_plane("DetectorReadout.forward", "u", u, self.n, complex_ok=True)
        e = self.energies(u.real ** 2 + u.imag ** 2 if u.is_complex() else u * u)
        return self.temperature * e / e.amax(dim=-1, keepdim=True).detach().clamp_min(1e-30)


class QPIReadout(nn.Module):
    """Quantitative phase imaging: ``ŷ = s·|u|² + b`` (scalars, learnable by default), to be
    compared with the normalised phase φ/φ_max ∈ [0, 1]."""

    def __init__(self, scale: float = 1.0, bias: float = 0.0, learnable: bool = True):
        super().__init__()
        s = torch.tensor(finite_real("QPIReadout", "scale", scale))
        b = torch.tensor(finite_real("QPIReadout", "bias", bias))
        if not isinstance(learnable, (bool, np.bool_)):
            fail("QPIReadout", "learnable", "a bool", f"{type(learnable).__name__} {learnable!r}", TypeError)
        if learnable:
            self.scale, self.bias = nn.Parameter(s), nn.Parameter(b)
        else:
            self.register_buffer("scale", s)
            self.register_buffer("bias", b)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """``u`` (B, N, N) complex → (B, N, N) real prediction."""
        _check_plane("QPIReadout.forward", "u", u, None, complex_ok=True)
        return self.scale * (u.real ** 2 + u.imag ** 2 if u.is_complex() else u * u) + self.bias

"""Input encodings of images onto the optical field (SPEC A1)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as TF

from ._validation import fail, positive_int
from .functional import _checks


def _place(images: torch.Tensor, n: int, object_size: int | None, func: str) -> torch.Tensor:
    # images: (B, H, W) real in [0, 1] -> (B, n, n) real, resized to object_size and centred
    _checks.tensor(func, "images", images, complex_ok=False, min_ndim=2)
    if images.dim() == 2:
        images = images.unsqueeze(0)
    if images.dim() != 3:
        fail(func, "images", "of shape (B, H, W) or (H, W)", f"shape {tuple(images.shape)}")
    n = positive_int(func, "n", n)
    size = images.shape[-1] if object_size is None else positive_int(func, "object_size", object_size)
    if size > n:
        fail(func, "object_size", f"<= n = {n}", size)
    if images.shape[-2:] != (size, size):
        images = TF.interpolate(images.unsqueeze(1).float(), size=(size, size), mode="bilinear",
                                align_corners=False).squeeze(1).clamp(0.0, 1.0)
    out = images.new_zeros(images.shape[0], n, n)
    o = (n - size) // 2
    out[:, o:o + size, o:o + size] = images
    return out


def phase(images: torch.Tensor, n: int, *, object_size: int | None = None, scale: float = math.pi) -> torch.Tensor:
    """Phase object ``u0 = exp(i·scale·I)`` (QuATON default, scale π): ``images`` (B, H, W) in
    [0, 1] are resized to ``object_size``² (bilinear), zero-padded (I = 0, i.e. a transparent
    surround) to n×n. Returns (B, n, n) complex64."""
    i = _place(images, n, object_size, "encode.phase")
    return torch.polar(torch.ones_like(i), scale * i).to(torch.complex64)


def amplitude(images: torch.Tensor, n: int, *, object_size: int | None = None) -> torch.Tensor:
    """Amplitude object ``u0 = I`` (zero outside the object). Returns (B, n, n) complex64."""
    return _place(images, n, object_size, "encode.amplitude").to(torch.complex64)

"""Phase objects for QPI: ``u0 = exp(i·φ)`` with φ in radians (no rescaling, no clamping).

The object (H×W) sits centred on the N×N grid (offset ``(N − H) // 2``, the convention of
:mod:`quaton_fast.encode`) and the surround is transparent (φ = 0). The network's prediction is
compared with the target only on the object window (:func:`crop_to_object`).
"""
from __future__ import annotations

import torch

from .._validation import fail, positive_int
from ..functional import _checks

__all__ = ["pad_to_grid", "crop_to_object", "encode_phase_object"]


def _offsets(func: str, shape: tuple[int, int], n: int) -> tuple[int, int]:
    h, w = shape
    if h > n or w > n:
        fail(func, "n", f">= the object size {h}×{w}", n)
    return (n - h) // 2, (n - w) // 2


def pad_to_grid(x: torch.Tensor, n: int) -> torch.Tensor:
    """Centre ``x`` (B, H, W) real on an (B, n, n) grid of zeros."""
    _checks.tensor("pad_to_grid", "x", x, complex_ok=False, min_ndim=3)
    n = positive_int("pad_to_grid", "n", n)
    r, c = _offsets("pad_to_grid", tuple(x.shape[-2:]), n)
    out = x.new_zeros(x.shape[:-2] + (n, n))
    out[..., r:r + x.shape[-2], c:c + x.shape[-1]] = x
    return out


def crop_to_object(y: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """The centred (B, H, W) window of ``y`` (B, n, n): the inverse of :func:`pad_to_grid`."""
    n = y.shape[-1]
    r, c = _offsets("crop_to_object", tuple(shape), n)
    return y[..., r:r + shape[0], c:c + shape[1]]


def encode_phase_object(phi: torch.Tensor, n: int) -> torch.Tensor:
    """``phi`` (B, H, W) real phase in radians → field ``exp(i·φ)`` (B, n, n) complex64, unit
    amplitude everywhere (φ = 0 outside the object)."""
    _checks.tensor("encode_phase_object", "phi", phi, complex_ok=False, min_ndim=3)
    p = pad_to_grid(phi.float(), n)
    return torch.polar(torch.ones_like(p), p).to(torch.complex64)

"""9-bit weight quantization for the AOC (paper eq. 4) and hardware export.

``mode='paper'``: literal eq. (4), scale ``m = max(W)`` (signed maximum): ``W_Q = clamp(round(W/m*255), -256, 255)``,
``W ~ m/255 * W_Q`` -- negative entries below ``-256/255*m`` clip.
``mode='maxabs'``: scale ``m = max|W|`` so nothing clips (default; lossless range, error <= m/255/2).
"""
from __future__ import annotations

from typing import Dict, Tuple

import torch

__all__ = ["quantize_weights_9bit", "quantize_int_9bit"]


def quantize_int_9bit(W: torch.Tensor, mode: str = "maxabs") -> Tuple[torch.Tensor, torch.Tensor]:
    """Return (integer codes W_Q in [-256, 255] (int64), scale m) with W ~ m/255*W_Q; m per last-two-dims matrix."""
    if mode not in ("maxabs", "paper"):
        raise ValueError(f"quantize_weights_9bit(): argument 'mode' must be 'maxabs' or 'paper', got {mode!r}")
    flat = W.detach().reshape(*W.shape[:-2], -1) if W.dim() >= 2 else W.detach().reshape(1, -1)
    m = flat.abs().amax(-1) if mode == "maxabs" else flat.amax(-1)
    m = torch.where(m > 0, m, torch.ones_like(m))
    mm = m.reshape(*m.shape, *([1] * (W.dim() - m.dim()))) if W.dim() >= 2 else m
    q = torch.clamp(torch.round(W.detach() / mm * 255), -256, 255).to(torch.int64)
    return q, m


def quantize_weights_9bit(W: torch.Tensor, mode: str = "maxabs") -> torch.Tensor:
    """Dequantized 9-bit weights ``m/255 * W_Q`` (same shape/dtype as W)."""
    q, m = quantize_int_9bit(W, mode)
    mm = m.reshape(*m.shape, *([1] * (W.dim() - m.dim()))) if W.dim() >= 2 else m
    return (q.to(W.dtype) * mm / 255).to(W.dtype)

"""9-bit weight quantization for the AOC (paper eq. 4) and hardware export.

``mode='paper'``: literal eq. (4), scale ``m = max(W)`` (signed maximum): ``W_Q = clamp(round(W/m*255), -256, 255)``,
``W ~ m/255 * W_Q`` -- negative entries below ``-256/255*m`` clip; needs ``max(W) > 0`` (for a matrix
with no positive entry the literal scale is meaningless: ValueError, use ``'maxabs'``).
``mode='maxabs'``: scale ``m = max|W|`` so nothing clips (default; lossless range, error <= m/255/2).
An all-zero matrix has scale 1 (codes 0, exact).

W: a floating-point tensor of any shape; for ``W.dim() >= 2`` each matrix over the last two dims has
its own scale (shape ``W.shape[:-2]``), otherwise one scale for the whole tensor (0-d scale).
Integer W is refused (quantize ``W.float()``): the dequantized weights are not integers.
Non-finite or empty W is refused (ValueError naming 'W').
"""
from __future__ import annotations

from typing import Tuple

import torch

from .. import _validation as V

__all__ = ["quantize_weights_9bit", "quantize_int_9bit"]


def _check(func: str, W, mode: str) -> None:
    if not isinstance(W, torch.Tensor):
        V.fail(func, "W", "a torch.Tensor", type(W).__name__, TypeError)
    if not W.is_floating_point():
        V.fail(func, "W", "a floating-point tensor (quantize W.float() for integer weights)",
               f"dtype {W.dtype}", TypeError)
    if W.numel() == 0:
        V.fail(func, "W", "non-empty", f"shape {tuple(W.shape)}")
    if mode not in ("maxabs", "paper"):
        V.fail(func, "mode", "'maxabs' or 'paper'", repr(mode))
    if not bool(torch.isfinite(W).all()):
        V.fail(func, "W", "finite (no NaN or Inf)", "non-finite values")


def _codes(func: str, W: torch.Tensor, mode: str) -> Tuple[torch.Tensor, torch.Tensor]:
    _check(func, W, mode)
    Wd = W.detach()
    flat = Wd.reshape(*Wd.shape[:-2], -1) if Wd.dim() >= 2 else Wd.reshape(-1)
    m = flat.abs().amax(-1) if mode == "maxabs" else flat.amax(-1)
    if mode == "paper" and bool((m <= 0).any()) and bool((flat != 0).any(-1)[m <= 0].any()):
        V.fail(func, "W", "a matrix with max(W) > 0 in mode='paper' (the paper's scale is the signed "
               "maximum; use mode='maxabs')", f"max(W) = {float(m.min()):.4g}")
    m = torch.where(m > 0, m, torch.ones_like(m))
    mm = m.reshape(*m.shape, 1, 1) if Wd.dim() >= 2 else m
    q = torch.clamp(torch.round(Wd / mm * 255), -256, 255).to(torch.int64)
    return q, m


def quantize_int_9bit(W: torch.Tensor, mode: str = "maxabs") -> Tuple[torch.Tensor, torch.Tensor]:
    """Return (integer codes W_Q in [-256, 255] (int64, W's shape), scale m) with W ~ m/255*W_Q.

    W: floating tensor; m: per matrix over the last two dims (shape W.shape[:-2]) or 0-d for
    W.dim() < 2. Raises TypeError/ValueError naming 'W' or 'mode' (module docstring).
    """
    return _codes("quantize_int_9bit", W, mode)


def quantize_weights_9bit(W: torch.Tensor, mode: str = "maxabs") -> torch.Tensor:
    """Dequantized 9-bit weights ``m/255 * W_Q`` (same shape and dtype as W; not differentiable).

    Raises TypeError/ValueError naming 'W' or 'mode' (module docstring).
    """
    q, m = _codes("quantize_weights_9bit", W, mode)
    mm = m.reshape(*m.shape, 1, 1) if W.dim() >= 2 else m
    return (q.to(W.dtype) * mm / 255).to(W.dtype)

"""Differentiable image-quality metrics and losses for quantitative phase imaging (docs/physics.md).

SSIM follows :mod:`quaton_fast.reference.ssim` exactly (11×11 Gaussian window, σ = 1.5, population
covariance, K1 = 0.01, K2 = 0.03, mean over the valid region); data range 1 by default, for
predictions compared with targets φ/φ_max ∈ [0, 1].
"""
from __future__ import annotations

import torch
import torch.nn.functional as TF

from .._validation import fail, finite_real
from ..functional import _checks
from ..reference.ssim import SSIM_SIGMA, SSIM_WINDOW, gaussian_window_1d

__all__ = ["ssim", "ssim_loss", "mse", "berhu", "qpi_loss", "LOSS_NAMES"]

LOSS_NAMES = ("ssim", "mse", "berhu")
_K1, _K2 = 0.01, 0.03


def _pair(func: str, x: torch.Tensor, y: torch.Tensor, min_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    # x, y: (H, W) or (B, H, W) real -> both (B, H, W) of x's dtype
    _checks.tensor(func, "x", x, complex_ok=False, min_ndim=2, check_finite=False)
    _checks.tensor(func, "y", y, complex_ok=False, min_ndim=2, check_finite=False)
    if x.shape != y.shape:
        fail(func, "y", f"of the same shape as x {tuple(x.shape)}", f"shape {tuple(y.shape)}")
    if x.dim() > 3:
        fail(func, "x", "of shape (H, W) or (B, H, W)", f"shape {tuple(x.shape)}")
    if min(x.shape[-2:]) < min_size:
        fail(func, "x", f"at least {min_size}×{min_size} pixels", f"shape {tuple(x.shape)}")
    _checks.same_device(func, "y", y, x, "x")
    if x.dim() == 2:
        x, y = x.unsqueeze(0), y.unsqueeze(0)
    return x, y.to(x.dtype)


def ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0, reduction: str = "mean") -> torch.Tensor:
    """Mean SSIM of ``x`` against ``y``: (H, W) or (B, H, W) real, H, W >= 11.

    reduction: 'mean' → scalar (mean over images), 'none' → (B,) per image. Differentiable in both.
    """
    x, y = _pair("ssim", x, y, SSIM_WINDOW)
    data_range = finite_real("ssim", "data_range", data_range, positive=True)
    if reduction not in ("mean", "none"):
        fail("ssim", "reduction", "'mean' or 'none'", repr(reduction))
    g = torch.as_tensor(gaussian_window_1d(SSIM_WINDOW, SSIM_SIGMA), dtype=x.dtype, device=x.device)
    w_rows, w_cols = g.view(1, 1, -1, 1), g.view(1, 1, 1, -1)

    def blur(a: torch.Tensor) -> torch.Tensor:  # (5B, 1, H, W) -> (5B, 1, H-10, W-10), valid region
        return TF.conv2d(TF.conv2d(a, w_rows), w_cols)

    b = x.shape[0]
    stats = blur(torch.cat([x, y, x * x, y * y, x * y]).unsqueeze(1)).squeeze(1)
    mx, my, xx, yy, xy = stats.split(b)
    vx, vy, cxy = xx - mx * mx, yy - my * my, xy - mx * my
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    per_image = s.mean(dim=(-2, -1))
    return per_image.mean() if reduction == "mean" else per_image


def ssim_loss(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """``1 − SSIM(x, y)`` (scalar): x, y (H, W) or (B, H, W) real."""
    return 1.0 - ssim(x, y, data_range=data_range)


def mse(x: torch.Tensor, y: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Mean squared error: x, y (H, W) or (B, H, W) → scalar ('mean') or (B,) ('none')."""
    x, y = _pair("mse", x, y)
    if reduction not in ("mean", "none"):
        fail("mse", "reduction", "'mean' or 'none'", repr(reduction))
    per_image = ((x - y) ** 2).mean(dim=(-2, -1))
    return per_image.mean() if reduction == "mean" else per_image


def berhu(x: torch.Tensor, y: torch.Tensor, *, threshold: float | None = None,
          threshold_fraction: float = 0.2) -> torch.Tensor:
    """BerHu (reverse Huber) loss, mean over all pixels (scalar): x, y (H, W) or (B, H, W).

    With e = x − y: ``|e|`` where ``|e| <= c`` and ``(e² + c²) / (2c)`` where ``|e| > c`` (continuous
    at |e| = c). Threshold convention (Laina et al. 2016): ``c = threshold_fraction · max|e|`` over
    the whole batch, detached (not differentiated), with fraction 0.2; a fixed ``threshold`` > 0
    overrides it. When every error is 0 the loss is 0.
    """
    x, y = _pair("berhu", x, y)
    e = (x - y).abs()
    if threshold is None:
        frac = finite_real("berhu", "threshold_fraction", threshold_fraction, positive=True)
        c = (frac * e.detach().max()).clamp_min(torch.finfo(e.dtype).tiny)
    else:
        c = torch.as_tensor(finite_real("berhu", "threshold", threshold, positive=True), dtype=e.dtype,
                            device=e.device)
    return torch.where(e <= c, e, (e * e + c * c) / (2 * c)).mean()


def qpi_loss(name: str, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The training loss by name: 'ssim' (1 − SSIM), 'mse' or 'berhu'; (B, H, W) → scalar."""
    if name == "ssim":
        return ssim_loss(prediction, target)
    if name == "mse":
        return mse(prediction, target)
    if name == "berhu":
        return berhu(prediction, target)
    fail("qpi_loss", "name", f"one of {', '.join(LOSS_NAMES)}", repr(name))
    raise AssertionError  # unreachable

"""Structural similarity (SSIM) in NumPy: the reference for the QPI metric (docs/physics.md).

Convention (Wang et al. 2004, and scikit-image's ``structural_similarity(..., gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=1)``):

- local means, variances and covariance are weighted by an 11×11 Gaussian window (σ = 1.5 px,
  truncated at radius 5 = int(3.5·σ + 0.5), normalised to sum 1);
- population (not sample) covariance;
- ``C1 = (0.01·L)²``, ``C2 = (0.03·L)²`` with data range ``L`` (1 for targets in [0, 1]);
- SSIM map ``((2μxμy + C1)(2σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2))`` evaluated only where
  the window lies fully inside the image ("valid" region: 5 px cropped on every side), and the
  image's SSIM is the mean of that map.

Because only the valid region is averaged, the border mode of the filter never matters.
"""
from __future__ import annotations

import numpy as np

from .._validation import array, fail, finite_real, positive_int

__all__ = ["gaussian_window_1d", "ssim_map", "ssim", "SSIM_WINDOW", "SSIM_SIGMA"]

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03


def gaussian_window_1d(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Normalised 1-D Gaussian taps (size,) float64 centred on the middle tap (size odd)."""
    size = positive_int("gaussian_window_1d", "size", size)
    if size % 2 == 0:
        fail("gaussian_window_1d", "size", "odd", size)
    sigma = finite_real("gaussian_window_1d", "sigma", sigma, positive=True)
    x = np.arange(size, dtype=np.float64) - size // 2
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def _filter_valid(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    # a: (B, H, W) float64; separable "valid" correlation with taps g (K,) -> (B, H-K+1, W-K+1)
    k = len(g)
    rows = sum(g[i] * a[:, i:a.shape[1] - k + 1 + i, :] for i in range(k))
    return sum(g[i] * rows[:, :, i:a.shape[2] - k + 1 + i] for i in range(k))


def _check_pair(func: str, x, y) -> tuple[np.ndarray, np.ndarray]:
    x = array(func, "x", x, complex_ok=False, min_ndim=2)
    y = array(func, "y", y, complex_ok=False, min_ndim=2)
    if x.shape != y.shape:
        fail(func, "y", f"of the same shape as x {x.shape}", f"shape {y.shape}")
    if x.ndim > 3:
        fail(func, "x", "of shape (H, W) or (B, H, W)", f"shape {x.shape}")
    if min(x.shape[-2:]) < SSIM_WINDOW:
        fail(func, "x", f"at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels", f"shape {x.shape}")
    return x, y


def ssim_map(x: np.ndarray, y: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """SSIM map on the valid region.

    x, y: (H, W) or (B, H, W) real, H, W >= 11 → (H-10, W-10) or (B, H-10, W-10) float64.
    """
    x, y = _check_pair("ssim_map", x, y)
    data_range = finite_real("ssim_map", "data_range", data_range, positive=True)
    squeeze = x.ndim == 2
    xb = np.asarray(x, np.float64).reshape((-1,) + x.shape[-2:])
    yb = np.asarray(y, np.float64).reshape((-1,) + y.shape[-2:])
    g = gaussian_window_1d()
    mx, my = _filter_valid(xb, g), _filter_valid(yb, g)
    vx = _filter_valid(xb * xb, g) - mx * mx
    vy = _filter_valid(yb * yb, g) - my * my
    cxy = _filter_valid(xb * yb, g) - mx * my
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s[0] if squeeze else s


def ssim(x: np.ndarray, y: np.ndarray, data_range: float = 1.0) -> np.ndarray | float:
    """Mean SSIM per image: x, y (H, W) → float; (B, H, W) → (B,) float64."""
    s = ssim_map(x, y, data_range)
    return float(s.mean()) if s.ndim == 2 else s.mean(axis=(-2, -1))

"""Input encodings of images onto the optical field (docs/physics.md).

Images are intensities in [0, 1] (float). Values outside that range (a 0–255 picture that was not
divided by 255, a normalised picture with negative values) are refused where the user hands them
in: :func:`phase` and :func:`amplitude` check the values by default (``validate=True``; one host
synchronisation on a GPU). A training loop checks its dataset once with :func:`check_images` and
then encodes each batch with ``validate=False`` (no per-step synchronisation).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as TF

from ._validation import fail, finite_real, positive_int
from .reference.propagation import check_grid_size

__all__ = ["phase", "amplitude", "check_images"]


def _image_tensor(func: str, images) -> torch.Tensor:
    # metadata checks: type, dtype, rank, emptiness (no value read)
    if not isinstance(images, torch.Tensor):
        fail(func, "images", "a torch.Tensor of intensities in [0, 1]", type(images).__name__, TypeError)
    if not images.is_floating_point():
        hint = " (divide 0-255 pixel values by 255)" if not images.is_complex() and images.dtype != torch.bool else ""
        fail(func, "images", f"a floating-point tensor of intensities in [0, 1]{hint}", f"dtype {images.dtype}",
             TypeError)
    if images.dim() not in (2, 3):
        fail(func, "images", "of shape (B, H, W) or (H, W)", f"shape {tuple(images.shape)}")
    if images.numel() == 0:
        fail(func, "images", "non-empty", f"shape {tuple(images.shape)}")
    return images


def check_images(images: torch.Tensor, func: str = "encode.check_images") -> torch.Tensor:
    """Check ``images`` (B, H, W) or (H, W), floating point, are finite intensities in [0, 1];
    return them unchanged. Reads the values (one host synchronisation for a GPU tensor): call it
    once per dataset, not per training step. Raises TypeError/ValueError naming 'images' (and
    ``func``), e.g. for a 0–255 picture."""
    images = _image_tensor(func, images)
    lo, hi = torch.aminmax(images.detach())
    lo, hi = float(lo), float(hi)
    if not (0.0 <= lo and hi <= 1.0):  # also false for NaN
        if not (math.isfinite(lo) and math.isfinite(hi)):
            fail(func, "images", "finite intensities in [0, 1]", "non-finite values (NaN or Inf)")
        hint = " (divide 0-255 pixel values by 255)" if hi > 1.0 else ""
        fail(func, "images", f"intensities in [0, 1]{hint}", f"values in [{lo:g}, {hi:g}]")
    return images


def _place(images: torch.Tensor, n: int, object_size: int | None, func: str, validate: bool) -> torch.Tensor:
    # images: (B, H, W) real in [0, 1] -> (B, n, n) real, resized to object_size and centred
    if not isinstance(validate, bool):
        fail(func, "validate", "a bool", f"{type(validate).__name__} {validate!r}", TypeError)
    images = check_images(images, func) if validate else _image_tensor(func, images)
    if images.dim() == 2:
        images = images.unsqueeze(0)
    n = positive_int(func, "n", n)
    check_grid_size(func, "n", n)
    size = images.shape[-1] if object_size is None else positive_int(func, "object_size", object_size)
    if size > n:
        fail(func, "object_size", f"<= n = {n}" + (" (the image width, object_size not given)"
                                                   if object_size is None else ""), size)
    if images.shape[-2:] != (size, size):
        images = TF.interpolate(images.unsqueeze(1).float(), size=(size, size), mode="bilinear",
                                align_corners=False).squeeze(1)
    # the same treatment with and without resizing: clamp to [0, 1] (the identity on checked
    # images, up to the rounding of the bilinear weights; out-of-range values only get here with
    # validate=False, and then both paths clamp them alike)
    images = images.clamp(0.0, 1.0)
    out = images.new_zeros(images.shape[0], n, n)
    o = (n - size) // 2
    out[:, o:o + size, o:o + size] = images
    return out


def phase(images: torch.Tensor, n: int, *, object_size: int | None = None, scale: float = math.pi,
          validate: bool = True) -> torch.Tensor:
    """Phase object ``u0 = exp(i·scale·I)`` (QuATON default, scale π rad): ``images`` (B, H, W) or
    (H, W) float intensities in [0, 1] are resized to ``object_size`` × ``object_size`` (bilinear; default: no
    resize), zero-padded (I = 0, i.e. a transparent surround) to n×n. Returns (B, n, n) complex64.

    ``validate`` (default True): refuse values outside [0, 1] or non-finite ones (ValueError naming
    'images'; one host synchronisation on a GPU); ``False`` skips the value check (the caller
    checked the dataset once with :func:`check_images`; values outside [0, 1] are then clamped,
    alike with and without resizing). Raises TypeError for non-float images
    (e.g. uint8 0–255 pictures), ValueError for bad shapes or ``object_size > n``."""
    sc = finite_real("encode.phase", "scale", scale)
    i = _place(images, n, object_size, "encode.phase", validate)
    return torch.polar(torch.ones_like(i), sc * i).to(torch.complex64)


def amplitude(images: torch.Tensor, n: int, *, object_size: int | None = None, validate: bool = True) -> torch.Tensor:
    """Amplitude object ``u0 = I`` (zero outside the object): ``images`` as in :func:`phase`.
    Returns (B, n, n) complex64."""
    return _place(images, n, object_size, "encode.amplitude", validate).to(torch.complex64)

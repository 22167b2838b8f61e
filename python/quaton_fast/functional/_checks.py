"""Tensor input checks for the torch API (shape, dtype, device, finiteness).

Messages follow the project's format: ``func(): argument 'name' must be <expected>, got <what came>``.
"""
from __future__ import annotations

import torch

from .._validation import fail


def tensor(func: str, arg: str, value: object, *, complex_ok: bool = True, real_ok: bool = True,
           min_ndim: int = 0, allow_empty: bool = False, check_finite: bool = True) -> torch.Tensor:
    """Check a tensor's kind, rank, emptiness and finiteness; return it unchanged."""
    if not isinstance(value, torch.Tensor):
        fail(func, arg, "a torch.Tensor", type(value).__name__, TypeError)
    assert isinstance(value, torch.Tensor)
    is_complex = value.is_complex()
    is_real = value.is_floating_point()
    if not ((complex_ok and is_complex) or (real_ok and is_real)):
        want = " or ".join(w for w, ok in (("complex", complex_ok), ("floating-point", real_ok)) if ok)
        fail(func, arg, f"a {want} tensor", f"dtype {value.dtype}", TypeError)
    if value.dim() < min_ndim:
        fail(func, arg, f"a tensor with at least {min_ndim} dimensions", f"shape {tuple(value.shape)}")
    if value.numel() == 0 and not allow_empty:
        fail(func, arg, "non-empty", f"shape {tuple(value.shape)}")
    if check_finite and not torch.isfinite(value).all():
        fail(func, arg, "finite (no NaN or Inf)", "non-finite values")
    return value


def square_field(func: str, arg: str, value: object) -> torch.Tensor:
    """Check a (..., N, N) field tensor."""
    t = tensor(func, arg, value, min_ndim=2)
    if t.shape[-1] != t.shape[-2]:
        fail(func, arg, "of shape (..., N, N) (square grid)", f"shape {tuple(t.shape)}")
    return t


def same_device(func: str, arg: str, value: torch.Tensor, reference: torch.Tensor, ref_name: str) -> None:
    """Check ``value`` lives on the same device as ``reference``."""
    if value.device != reference.device:
        fail(func, arg, f"on the same device as '{ref_name}' ({reference.device})", f"device {value.device}")

"""Tensor input checks for the torch API (shape, dtype, device, finiteness).

Messages follow the project's format: ``func(): argument 'name' must be <expected>, got <what came>``.

Two kinds of check, kept apart on purpose (issue 13, the sync-free hot path):

- **metadata** (type, dtype, rank, shape, device): read from the tensor's header, free, done on
  every call;
- **values** (finite): they read the data. :func:`finite` never synchronises with the host: on a
  CUDA tensor it queues ``torch._assert_async`` (the error surfaces at the next synchronising
  call as a device-side assertion; after one, the CUDA context is unusable and the process must
  restart), on a CPU tensor it checks at once and raises the project's ValueError. Call it where
  the user hands data in (``check_finite=True`` on the public entry points), never once per layer.
"""
from __future__ import annotations

import torch

from .._validation import fail


def finite(func: str, arg: str, value: torch.Tensor) -> torch.Tensor:
    """Value check without a host synchronisation: every element of ``value`` is finite.

    CPU tensors: immediate ValueError naming ``func`` and ``arg``. CUDA (and other accelerator)
    tensors: an asynchronous device-side assertion with the same message (no ``.item()``, no
    ``bool(tensor)``): the step keeps running, a CUDA graph can capture it, and a failure shows at
    the next synchronising call. Returns ``value`` unchanged."""
    if value.numel() == 0:
        return value
    ok = torch.isfinite(value).all()
    msg = f"{func}(): argument '{arg}' must be finite (no NaN or Inf), got non-finite values"
    if value.device.type == "cpu":
        if not ok:  # a CPU tensor: reading it is not a device synchronisation
            fail(func, arg, "finite (no NaN or Inf)", "non-finite values")
    else:
        torch._assert_async(ok, msg)
    return value


def tensor(func: str, arg: str, value: object, *, complex_ok: bool = True, real_ok: bool = True,
           min_ndim: int = 0, allow_empty: bool = False, check_finite: bool = True) -> torch.Tensor:
    """Check a tensor's kind, rank and emptiness (metadata, free); with ``check_finite`` also its
    values through :func:`finite` (no host synchronisation; pass False on hot paths). Returns the
    tensor unchanged."""
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
    if check_finite:
        finite(func, arg, value)
    return value


def square_field(func: str, arg: str, value: object, *, check_finite: bool = False) -> torch.Tensor:
    """Check a (..., N, N) field tensor: metadata only unless ``check_finite`` (see :func:`finite`)."""
    t = tensor(func, arg, value, min_ndim=2, check_finite=False)
    if t.shape[-1] != t.shape[-2]:
        fail(func, arg, "of shape (..., N, N) (square grid)", f"shape {tuple(t.shape)}")
    if check_finite:
        finite(func, arg, t)
    return t


def same_device(func: str, arg: str, value: torch.Tensor, reference: torch.Tensor, ref_name: str) -> None:
    """Check ``value`` lives on the same device as ``reference``."""
    if value.device != reference.device:
        fail(func, arg, f"on the same device as '{ref_name}' ({reference.device})", f"device {value.device}")

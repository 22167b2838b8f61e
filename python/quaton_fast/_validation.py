"""Input checks shared by the NumPy reference and the torch layers.

Every check raises an exception that names the function, the argument, what was
expected and what came, e.g.::

    ValueError: propagate(): argument 'u' must have shape (..., N, N) with N >= 1, got (3,)
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np


def _fmt_shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def plain_scalar(value: Any) -> Any:
    """The one converter of "a number" at every entry point: a NumPy scalar (``np.int64(2)``,
    ``np.float32(0.5)``, ``np.bool_``), a 0-d NumPy array or a 0-d torch tensor becomes the
    equivalent Python ``int``/``float``/``bool``/``complex``; anything else is returned unchanged
    (so the caller's own type check still sees lists, strings, n-d arrays...).

    torch is not imported (this module is the bottom floor): a 0-d tensor is recognised by its
    type's module and ``dim()``. Reading a 0-d CUDA tensor synchronises once, where the user hands
    the value in, never on a hot path."""
    if isinstance(value, (bool, int, float, complex)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.item() if value.ndim == 0 and value.dtype.kind in "biufc" else value
    if type(value).__module__.split(".")[0] == "torch" and hasattr(value, "dim") and callable(value.dim):
        try:
            if value.dim() == 0:
                return value.item()
        except Exception:  # noqa: BLE001 - not a tensor after all
            return value
    return value


def fail(func: str, arg: str, expected: str, got: Any, exc: type = ValueError) -> None:
    """Raise ``exc`` with the project's standard message."""
    raise exc(f"{func}(): argument '{arg}' must be {expected}, got {got}")


def finite_real(func: str, arg: str, value: Any, *, positive: bool = False,
                nonnegative: bool = False) -> float:
    """Return ``value`` as a Python float after checking it is a finite real number (NumPy
    scalars and 0-d arrays/tensors accepted, :func:`plain_scalar`)."""
    value = plain_scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(func, arg, "a real number", f"{type(value).__name__} {value!r}", TypeError)
    v = float(value)
    if not math.isfinite(v):
        fail(func, arg, "finite", v)
    if positive and not v > 0:
        fail(func, arg, "> 0", v)
    if nonnegative and not v >= 0:
        fail(func, arg, ">= 0", v)
    return v


def positive_int(func: str, arg: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` as int after checking it is an integer >= ``minimum`` (NumPy integer
    scalars and 0-d integer arrays/tensors accepted, :func:`plain_scalar`)."""
    value = plain_scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(func, arg, f"an integer >= {minimum}", f"{type(value).__name__} {value!r}", TypeError)
    if int(value) < minimum:
        fail(func, arg, f"an integer >= {minimum}", int(value))
    return int(value)


def array(func: str, arg: str, value: Any, *, complex_ok: bool = True, real_ok: bool = True,
          min_ndim: int = 0, allow_empty: bool = False) -> np.ndarray:
    """Check a NumPy array's kind, rank and finiteness; return it unchanged (no copy)."""
    if not isinstance(value, np.ndarray):
        fail(func, arg, "a numpy.ndarray", type(value).__name__, TypeError)
    kind = value.dtype.kind
    allowed = ("c" if complex_ok else "") + ("fiu" if real_ok else "")
    if kind not in allowed:
        what = {"c": "complex", "fiu": "real", "cfiu": "real or complex"}[allowed]
        fail(func, arg, f"a {what} array", f"dtype {value.dtype}", TypeError)
    if value.ndim < min_ndim:
        fail(func, arg, f"an array with at least {min_ndim} dimensions",
             f"shape {_fmt_shape(value.shape)}")
    if value.size == 0 and not allow_empty:
        fail(func, arg, "non-empty", f"shape {_fmt_shape(value.shape)}")
    if not np.all(np.isfinite(value)):
        fail(func, arg, "finite (no NaN or Inf)", "non-finite values")
    return value


def square_field(func: str, arg: str, value: Any) -> np.ndarray:
    """Check ``value`` is a (..., N, N) complex or real array of finite values."""
    a = array(func, arg, value, min_ndim=2)
    if a.shape[-1] != a.shape[-2]:
        fail(func, arg, "of shape (..., N, N) (square grid)", f"shape {_fmt_shape(a.shape)}")
    return a


def same_shape(func: str, arg: str, value: np.ndarray, shape: Sequence[int]) -> None:
    """Check ``value.shape == shape``."""
    if tuple(value.shape) != tuple(shape):
        fail(func, arg, f"of shape {_fmt_shape(shape)}", f"shape {_fmt_shape(value.shape)}")

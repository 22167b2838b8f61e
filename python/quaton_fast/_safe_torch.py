"""Loading our own checkpoints without running code from the file (bottom floor).

``torch.load(weights_only=False)`` unpickles arbitrary objects: a tampered checkpoint runs code.
:func:`load_weights_only` uses ``weights_only=True`` (tensors, containers, numbers, strings) and
allows, in addition, exactly what our checkpoints hold besides that: NumPy arrays of the RNG state
(``numpy.random.get_state()``: an ndarray of uint32). A file needing anything else is refused with
an error naming it.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

__all__ = ["load_weights_only"]


def _numpy_globals() -> list:
    try:
        from numpy._core.multiarray import _reconstruct   # NumPy >= 2
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core.multiarray import _reconstruct
    dtypes = [type(np.dtype(t)) for t in ("uint32", "int64", "float64", "float32", "int32", "uint8", "bool")]
    return [_reconstruct, np.ndarray, np.dtype, *dtypes]


def load_weights_only(path: "str | os.PathLike", func: str) -> Any:
    """``torch.load(path, map_location='cpu', weights_only=True)`` plus NumPy arrays; ValueError
    naming ``func`` and the file when it is unreadable or holds other objects."""
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - corrupt, foreign or hostile file
        msg = str(e).splitlines()[0] if str(e) else ""
        raise ValueError(f"{func}(): {os.fspath(path)} is not a readable checkpoint of ours (loaded with "
                         f"weights_only=True: tensors, containers, numbers and NumPy arrays only; "
                         f"{type(e).__name__}: {msg[:300]})") from e

"""torch-style ``device=`` / ``dtype=`` for the package's model constructors and presets.

``torch.nn.Linear(3, 4, device="cuda")`` builds its parameters where they will be used; our
models accept the same two keywords and move themselves there once at the end of ``__init__``
(their parameters are created on the CPU first: they are small, and the seeded initialisation is
then the same on every device).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ._validation import fail


def place(module: nn.Module, func: str, device, dtype, supported: Sequence[torch.dtype] = (torch.float32,)) -> None:
    """Move ``module`` to ``device`` (None: stay on the CPU) after checking ``dtype`` (None or
    one of ``supported``: the real dtype of the parameters; fields are its complex counterpart).

    Raises TypeError for a ``device``/``dtype`` of the wrong type, ValueError for an unknown or
    unavailable device or an unsupported dtype, each naming the argument of ``func``."""
    if dtype is not None:
        if not isinstance(dtype, torch.dtype):
            fail(func, "dtype", "a torch.dtype or None", f"{type(dtype).__name__} {dtype!r}", TypeError)
        if dtype not in supported:
            names = ", ".join(str(d) for d in supported)
            fail(func, "dtype", f"one of {names} (the precision this model computes in)", str(dtype))
    if device is None:
        return
    if not isinstance(device, (str, torch.device, int)) or isinstance(device, bool):
        fail(func, "device", "a torch.device, a device string such as 'cuda:0', or None",
             f"{type(device).__name__} {device!r}", TypeError)
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as e:
        fail(func, "device", "a torch device such as 'cpu', 'cuda' or 'cuda:1'", f"{device!r} ({e})")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            fail(func, "device", "an available device (torch.cuda.is_available() is False here)", repr(device))
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            fail(func, "device", f"a CUDA device index below {torch.cuda.device_count()}", repr(device))
    elif dev.type not in ("cpu", "meta"):
        fail(func, "device", "'cpu' or a CUDA device", repr(device))
    module.to(device=dev)

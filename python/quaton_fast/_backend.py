"""Lazy, cached access to the compiled extension ``quaton_fast._C``.

Nothing here touches CUDA at import time. ``has_cuda()`` is True only when the extension was
compiled with CUDA *and* a CUDA device is visible.
"""
from __future__ import annotations

import functools
import warnings
from types import ModuleType
from typing import Any

_IMPORT_ERROR: BaseException | None = None


@functools.lru_cache(maxsize=1)
def native() -> ModuleType | None:
    """Return the compiled module, or None if it cannot be imported (pure-Python fallback)."""
    global _IMPORT_ERROR
    try:
        from . import _C  # type: ignore[attr-defined]
    except ImportError as exc:  # pragma: no cover - depends on how the package was installed
        _IMPORT_ERROR = exc
        return None
    return _C


def require_native(what: str) -> ModuleType:
    """Return the compiled module or raise a RuntimeError that says how to get it."""
    mod = native()
    if mod is None:
        raise RuntimeError(
            f"{what} needs the compiled extension quaton_fast._C, which failed to import "
            f"({_IMPORT_ERROR}). Reinstall with `pip install .` from the repository root.")
    return mod


def build_info() -> dict[str, Any]:
    """What the extension was compiled with: ``cuda`` (bool), ``cuda_architectures``,
    compiler and CUDA versions, visible devices. ``{'native': False, ...}`` if it is missing."""
    mod = native()
    if mod is None:
        return {"native": False, "cuda": False, "import_error": str(_IMPORT_ERROR)}
    info = dict(mod.build_info())
    info["native"] = True
    return info


@functools.lru_cache(maxsize=1)
def has_cuda() -> bool:
    """True when the CUDA kernels were compiled in and at least one GPU is visible."""
    mod = native()
    return bool(mod is not None and getattr(mod, "with_cuda", False) and mod.cuda_device_count() > 0)


_NOTICES: set[str] = set()


def notice_once(key: str, message: str) -> None:
    """Emit ``message`` as a RuntimeWarning the first time ``key`` is seen (fallback notices)."""
    if key not in _NOTICES:
        _NOTICES.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows; for the
    machine field of results."""
    import platform
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"

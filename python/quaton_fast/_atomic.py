"""Atomic file writes, the one implementation every writer of the package uses.

A file is written to a temporary name in the destination directory, flushed to disk, given the
permissions a plain ``open()`` would have given it (``mkstemp`` creates files 0600), then moved
into place with ``os.replace``: a reader sees the old file or the new one, never a partial one,
and an interrupted write leaves the old file untouched.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["atomic_path", "atomic_write", "atomic_write_text", "atomic_write_json", "atomic_torch_save"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a temporary path next to ``path``; on normal exit it replaces ``path``.

    For writers that need a file name (``savefig``, ``np.savez``); ``suffix`` keeps the extension
    such writers look at (e.g. '.png', '.npz')."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write(path: str | os.PathLike, write: Callable[[Any], Any]) -> None:
    """Call ``write(fh)`` on a binary file handle and move the result to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        write(fh)


def atomic_write_text(text: str, path: str | os.PathLike) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def atomic_write_json(obj: Any, path: str | os.PathLike, indent: int | None = 2) -> None:
    atomic_write_text(json.dumps(obj, indent=indent) + "\n", path)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the same directory, then ``os.replace``."""
    import torch
    atomic_write(path, lambda fh: torch.save(obj, fh))

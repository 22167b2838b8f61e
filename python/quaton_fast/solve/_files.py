"""File helpers of the instance readers: an existing file, and an error that names file and line."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._validation import fail


def _path(func: str, path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        fail(func, "path", "a str or os.PathLike", type(path).__name__, TypeError)
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{func}(): file '{p}' does not exist or is not a regular file")
    return p


def _err(func: str, p: Path, line: int | None, msg: str) -> ValueError:
    where = f"{p.name} line {line}" if line is not None else p.name
    return ValueError(f"{func}(): {where}: {msg}  [file: {p}]")

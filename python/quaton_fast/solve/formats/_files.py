"""File helpers of the instance readers: an existing file, an error that names file and line, the
strict number tokens of the text formats, and the limits a declared size is checked against.

Lines end at '\n' only and tokens are separated by spaces and tabs only (:func:`text_lines`,
:func:`fields`). Tokens (G-set/rudy, QPLIB, GAMS) are exactly as strict as the formats: an integer is
``[+-]?[0-9]+`` and a number a plain ASCII decimal ``[+-]?(digits[.digits]|.digits)([eE][+-]?digits)``
-- Python's ``int()``/``float()`` would also take ``1_000``, non-ASCII digits (``'٣'``), ``nan``,
``inf`` and surrounding blanks, which no format allows. ``inf``/``infinity`` is accepted only where
a reader says so (QPLIB bounds).

Limits (checked before anything of that size is allocated): a text instance file is read only up
to :data:`MAX_TEXT_BYTES`; a declared number of variables or constraints above
:data:`MAX_DECLARED` is refused naming the line (a header can declare any count; the readers
allocate O(count) memory for it). Counts of entry lines are checked against the lines the file has.
"""
from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..._validation import fail

#: largest text instance file a reader loads (bytes)
MAX_TEXT_BYTES = 1 << 30
#: largest dense n x n float64 matrix a reader builds (QPLIB's unconstrained QUBO/QUMO form): 4 GiB
MAX_DENSE_BYTES = 4 << 30
#: largest declared number of variables / constraints (16,777,216; G-set's largest graph has 20,000 nodes)
MAX_DECLARED = 1 << 24

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INF = re.compile(r"[+-]?inf(?:inity)?", re.I)


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


@contextlib.contextmanager
def naming_file(func: str, p: Path):
    """Turn a ValueError of a problem constructor inside the block (which names the constructor's
    argument, e.g. coefficients too large) into one naming the file; overflow warnings silenced
    (the constructors refuse what overflowed)."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            yield
    except ValueError as e:
        raise _err(func, p, None, f"the instance is not a valid problem: {e}") from None


def read_text(func: str, p: Path) -> str:
    """The file's text (UTF-8), refused above MAX_TEXT_BYTES or when it is not UTF-8 (file named)."""
    size = p.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise _err(func, p, None, f"file of {size} bytes exceeds the reader's limit of {MAX_TEXT_BYTES} bytes "
                                  "(quaton_fast.solve.formats._files.MAX_TEXT_BYTES)")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise _err(func, p, None, f"not a UTF-8/ASCII text file ({e.reason} at byte {e.start})") from None


_BLANKS = re.compile(r"[ \t]+")


def text_lines(text: str) -> list[str]:
    """Lines split at '\n' (a trailing '\r' dropped) only: ``str.splitlines`` would also break at
    '\x0b', '\x1c', '\u2028' ..., which no text format here treats as a line end."""
    return [s[:-1] if s.endswith("\r") else s for s in text.split("\n")]


def fields(line: str) -> list[str]:
    """Tokens separated by ASCII blanks (space, tab) only: ``str.split()`` would also split at
    '\u00a0', '\u2003' ...; such a character stays inside its token, which then fails the
    strict number check."""
    s = line.strip(" \t")
    return _BLANKS.split(s) if s else []


def strict_int(tok: str) -> int | None:
    """``int(tok)`` for a token ``[+-]?[0-9]+``, else None."""
    return int(tok) if _INT.fullmatch(tok) else None


def strict_float(tok: str, inf_ok: bool = False) -> float | None:
    """``float(tok)`` for a plain ASCII decimal token (``inf`` only with ``inf_ok``), else None.
    A decimal that overflows (``1e999``) is None unless ``inf_ok``."""
    if _FLOAT.fullmatch(tok):
        v = float(tok)
        return v if inf_ok or v not in (float("inf"), float("-inf")) else None
    if inf_ok and _INF.fullmatch(tok):
        return float(tok)
    return None


def declared_count(func: str, p: Path, line: int, what: str, value: int, limit: int = MAX_DECLARED) -> int:
    """Check a count declared by the file against the reader's stated limit; returns it."""
    if value > limit:
        raise _err(func, p, line, f"declared {what} {value} exceeds the reader's limit of {limit} "
                                  "(quaton_fast.solve.formats._files.MAX_DECLARED)")
    return value

"""Reading ``.npy`` / ``.npz`` files that cannot run code nor make us allocate what a header asks.

``numpy.load`` trusts the array header: a 500-byte ``.npz`` declaring shape (40000, 40000) makes it
allocate 12 GiB before noticing the data is missing, and a zip member's failing CRC or an object
array surfaces as NumPy's message without the file's name. :func:`read_arrays` instead

* never unpickles (object dtypes, including structured ones holding objects, are refused);
* reads each member's header first and checks the declared ``shape x itemsize`` against the bytes
  the file (or zip member) actually holds and against ``max_bytes`` (default
  :data:`MAX_ARRAY_BYTES`) before reading any data;
* names the file and the member in every error: ``ValueError("read_sk(): J.npz: member 'J.npy'
  declares shape (40000, 40000) float64 = 12800000000 bytes but holds 64")``.

Bottom floor: imports nothing of the package except :mod:`._validation`'s conventions.
"""
from __future__ import annotations

import os
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import IO, Iterable, Optional

import numpy as np
import numpy.lib.format as npformat

__all__ = ["MAX_ARRAY_BYTES", "read_arrays", "NpzError"]

#: largest array a reader materialises (bytes); a header declaring more is refused
MAX_ARRAY_BYTES = 8 << 30


class NpzError(ValueError):
    """A .npy/.npz file that is malformed, hostile or holds objects (message names file and member)."""


def _fail(func: str, p: Path, member: Optional[str], msg: str) -> NpzError:
    where = p.name + (f": member '{member}'" if member else "")
    return NpzError(f"{func}(): {where}: {msg}  [file: {p}]")


def _read_npy(func: str, p: Path, fh: IO[bytes], size: int, member: Optional[str], max_bytes: int) -> np.ndarray:
    try:
        major, _ = npformat.read_magic(fh)
        if major == 1:
            shape, fortran, dtype = npformat.read_array_header_1_0(fh)
        elif major in (2, 3):
            shape, fortran, dtype = npformat.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy format version {major}")
    except (ValueError, EOFError, SyntaxError, TypeError, tokenize.TokenError, MemoryError, RecursionError) as e:
        # TokenError: NumPy tokenizes headers of format 1.0/2.0 files; a header of nested brackets recurses
        raise _fail(func, p, member, f"not a readable .npy array header ({type(e).__name__}: {e})") from None
    if dtype.hasobject:
        raise _fail(func, p, member, f"holds an object array (dtype {dtype}); object arrays are pickles and are "
                                     "never loaded (only numeric arrays)")
    count = 1
    for s in shape:
        count *= int(s)
    need = count * dtype.itemsize
    have = size - fh.tell()
    if need > max_bytes:
        raise _fail(func, p, member, f"declares shape {tuple(shape)} {dtype} = {need} bytes, above the limit of "
                                     f"{max_bytes} bytes (quaton_fast._safe_npz.MAX_ARRAY_BYTES)")
    if need != have:
        raise _fail(func, p, member, f"declares shape {tuple(shape)} {dtype} = {need} bytes but holds {have} "
                                     "(truncated or padded file)")
    data = fh.read(need)
    if len(data) != need:
        raise _fail(func, p, member, f"truncated: {len(data)} of {need} data bytes")
    a = np.frombuffer(data, dtype=dtype)
    return (a.reshape(shape[::-1]).T if fortran else a.reshape(shape)).copy()


def read_arrays(func: str, path: "str | os.PathLike", keys: Optional[Iterable[str]] = None, *,
                max_bytes: int = MAX_ARRAY_BYTES) -> dict:
    """The numeric arrays of a ``.npy`` (key ``''``) or ``.npz`` file (keys without ``.npy``).

    keys: read only these members (others are listed but not read); missing ones are simply absent
    from the result (the caller names what it needs). Raises NpzError (a ValueError) naming
    ``func``, the file and the member for anything malformed, hostile or holding objects."""
    p = Path(path)
    want = None if keys is None else set(keys)
    try:
        with open(p, "rb") as fh:
            if fh.read(6) == b"\x93NUMPY":
                fh.seek(0)
                return {"": _read_npy(func, p, fh, p.stat().st_size, None, max_bytes)}
        out = {}
        with zipfile.ZipFile(p) as zf:
            for info in zf.infolist():
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                if want is not None and name not in want:
                    continue
                if not info.filename.endswith(".npy"):
                    raise _fail(func, p, info.filename, "not a .npy member")
                if info.file_size > max_bytes + 65536:
                    raise _fail(func, p, info.filename, f"member of {info.file_size} bytes above the limit of "
                                                        f"{max_bytes} bytes")
                with zf.open(info) as mf:
                    out[name] = _read_npy(func, p, mf, info.file_size, info.filename, max_bytes)
        return out
    except NpzError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, ValueError,
            RuntimeError, zlib.error) as e:   # RuntimeError: a member flagged encrypted; zlib.error: corrupt deflate
        raise _fail(func, p, None, f"not a readable .npy/.npz file ({type(e).__name__}: {e})") from None

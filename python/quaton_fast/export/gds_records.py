"""A strict reader of the GDSII stream subset that :func:`~quaton_fast.export.levels_gds.write_levels_gds`
writes: cells of BOUNDARY polygons and TEXT labels.

Why our own: ``gdstk.read_gds`` (which we still use to *write*) aborts the Python process (C
``abort()``) on some malformed files -- found by the reader fuzz target
``tests/fuzz/coverage/targets.py::levels_gds`` -- and a file a user hands in must never crash the
process. This module walks the record stream (GDSII Stream Format Manual, release 6.0: a record is
a 2-byte big-endian length including the 4-byte header, a record type byte and a data type byte),
checks every record's length, type and data type and the element grammar below, and raises
``ValueError`` naming the file and the byte offset for anything else:

    library  := HEADER BGNLIB LIBNAME UNITS structure* ENDLIB
    structure:= BGNSTR STRNAME element* ENDSTR
    element  := BOUNDARY LAYER DATATYPE XY ENDEL
              | TEXT LAYER TEXTTYPE [PRESENTATION] [STRANS [MAG] [ANGLE]] XY STRING ENDEL

Coordinates are returned in user units (database units × the UNITS record's first real), as gdstk
does; ``unit`` is the user unit in metres.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["MAX_GDS_BYTES", "GdsCell", "GdsLibrary", "read_gds_subset"]

#: Largest GDS file read (a 65536 × 65536 mask written as one rectangle per run of equal levels fits).
MAX_GDS_BYTES = 1 << 31

HEADER, BGNLIB, LIBNAME, UNITS, ENDLIB, BGNSTR, STRNAME, ENDSTR = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
BOUNDARY, TEXT, LAYER, DATATYPE, XY, ENDEL = 0x08, 0x0C, 0x0D, 0x0E, 0x10, 0x11
TEXTTYPE, PRESENTATION, STRING, STRANS, MAG, ANGLE = 0x16, 0x17, 0x19, 0x1A, 0x1B, 0x1C

# record type -> (data type, fixed data length or None for variable)
_SPEC = {HEADER: (2, 2), BGNLIB: (2, 24), LIBNAME: (6, None), UNITS: (5, 16), ENDLIB: (0, 0), BGNSTR: (2, 24),
         STRNAME: (6, None), ENDSTR: (0, 0), BOUNDARY: (0, 0), TEXT: (0, 0), LAYER: (2, 2), DATATYPE: (2, 2),
         XY: (3, None), ENDEL: (0, 0), TEXTTYPE: (2, 2), PRESENTATION: (1, 2), STRING: (6, None), STRANS: (1, 2),
         MAG: (5, 8), ANGLE: (5, 8)}


@dataclass
class GdsCell:
    name: str
    polygons: list = field(default_factory=list)   # [(layer, (K, 2) float64 points in user units)]
    labels: list = field(default_factory=list)     # [(layer, text, (x, y) in user units)]


@dataclass
class GdsLibrary:
    unit: float                  # user unit in metres
    cells: list                  # [GdsCell] in file order


def _real8(b: bytes) -> float:
    """GDSII 8-byte real: sign bit, excess-64 base-16 exponent, 56-bit mantissa."""
    sign = -1.0 if b[0] & 0x80 else 1.0
    exp = (b[0] & 0x7F) - 64
    mant = int.from_bytes(b[1:8], "big") / float(1 << 56)
    return sign * mant * 16.0 ** exp


class _Stream:
    def __init__(self, func: str, path: Path, data: bytes):
        self.func, self.path, self.data, self.pos = func, path, data, 0

    def fail(self, msg: str, at: int | None = None):
        raise ValueError(f"{self.func}(): {self.path} byte {self.pos if at is None else at}: {msg} "
                         f"(not a GDSII file of the subset write_levels_gds writes)")

    def peek(self) -> int | None:
        return self.data[self.pos + 2] if self.pos + 4 <= len(self.data) else None

    def take(self, *expected: int) -> bytes:
        d, at = self.data, self.pos
        if at + 4 > len(d):
            self.fail("file ends inside a record header" if at < len(d) else "file ends before ENDLIB")
        n, rt, dt = struct.unpack_from(">HBB", d, at)
        if rt not in expected:
            self.fail(f"record type {rt:#04x} where {' or '.join(f'{e:#04x}' for e in expected)} belongs")
        want_dt, want_len = _SPEC[rt]
        if n < 4 or n % 2 or at + n > len(d):
            self.fail(f"record length {n} (must be even, >= 4 and inside the file of {len(d)} bytes)")
        if dt != want_dt or (want_len is not None and n - 4 != want_len):
            self.fail(f"record {rt:#04x} with data type {dt} and {n - 4} data bytes")
        self.pos = at + n
        return d[at + 4:at + n]

    def text(self, rt: int) -> str:
        raw = self.take(rt).rstrip(b"\x00")
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            self.fail("a name or string that is not ASCII", self.pos)
            raise AssertionError  # unreachable


def read_gds_subset(func: str, path: "str | os.PathLike") -> GdsLibrary:
    """Parse ``path`` (see the module docstring). Raises ValueError naming ``func``, the file and the
    byte offset; OSError as ``open``."""
    p = Path(path)
    size = p.stat().st_size
    if size > MAX_GDS_BYTES:
        raise ValueError(f"{func}(): {p} is {size} bytes, above the limit of {MAX_GDS_BYTES} "
                         f"(quaton_fast.export.gds_records.MAX_GDS_BYTES)")
    s = _Stream(func, p, p.read_bytes())
    s.take(HEADER)
    s.take(BGNLIB)
    s.text(LIBNAME)
    units = s.take(UNITS)
    user, metres = _real8(units[:8]), _real8(units[8:])
    if not (np.isfinite(user) and np.isfinite(metres) and user > 0 and metres > 0):
        s.fail(f"UNITS ({user!r}, {metres!r}) must be positive and finite")
    cells = []
    while s.peek() != ENDLIB:
        s.take(BGNSTR)
        cell = GdsCell(s.text(STRNAME))
        while s.peek() != ENDSTR:
            kind = s.peek()
            s.take(BOUNDARY, TEXT)
            layer = struct.unpack(">h", s.take(LAYER))[0]
            if kind == BOUNDARY:
                s.take(DATATYPE)
                xy = s.take(XY)
                if len(xy) % 8 or len(xy) < 32:
                    s.fail(f"a BOUNDARY with {len(xy) // 8} points (at least 4, closing point included)")
                pts = np.frombuffer(xy, dtype=">i4").reshape(-1, 2).astype(np.float64) * user
                s.take(ENDEL)
                cell.polygons.append((layer, pts))
            else:
                s.take(TEXTTYPE)
                if s.peek() == PRESENTATION:
                    s.take(PRESENTATION)
                if s.peek() == STRANS:
                    s.take(STRANS)
                    if s.peek() == MAG:
                        s.take(MAG)
                    if s.peek() == ANGLE:
                        s.take(ANGLE)
                xy = s.take(XY)
                if len(xy) != 8:
                    s.fail(f"a TEXT with {len(xy) // 8} points (exactly 1)")
                x, y = struct.unpack(">ii", xy)
                text = s.text(STRING)
                s.take(ENDEL)
                cell.labels.append((layer, text, (x * user, y * user)))
        s.take(ENDSTR)
        cells.append(cell)
    s.take(ENDLIB)
    if s.pos != len(s.data) and any(s.data[s.pos:]):       # GDS files may be padded with zeros
        s.fail("data after ENDLIB")
    return GdsLibrary(unit=metres / user, cells=cells)

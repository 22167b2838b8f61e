"""GDSII layouts of quantized diffractive masks, one GDS layer per height level (written with gdstk).

For grey-scale or multi-step lithography a mask is a map of level indices: neuron (i, j) is
etched/grown to the height of level ``k = level_map[i, j]``. Each layer of the network becomes one
GDS cell ``MASK_<l>``; inside it, the neurons at level k are rectangles on GDS layer
``first_layer + k`` (datatype 0), merged along each row into one rectangle per run of equal levels.
Neuron (i, j) covers x ∈ [j·dx, (j+1)·dx), y ∈ [i·dx, (i+1)·dx). The level heights are stated in
the file as text labels on layer ``info_layer`` ("level k height <h> m"), so the file alone gives
the height map back (:func:`read_levels_gds`, which parses the file with the strict reader of
:mod:`~quaton_fast.export.gds_records`, not gdstk: gdstk aborts the process on some malformed files).

Units: the library unit is 1 µm; the database precision is chosen per file as a power of ten at
most dx/1000 (so a pitch like 316.4 nm is exact to 0.1 nm) and stated by gdstk in the file.
"""
from __future__ import annotations

import math
import os
import re

import numpy as np

from .._atomic import atomic_path
from .._validation import fail, finite_real, plain_scalar
from .gds_records import read_gds_subset

__all__ = ["levels_from_heights", "write_levels_gds", "read_levels_gds"]

_LABEL = re.compile(r"^level (\d{1,6}) height ([+-]?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?) m$")


def _gdstk():
    try:
        import gdstk
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("GDSII export needs gdstk: pip install 'quaton_fast[fab]' "
                           "(or pip install gdstk)") from exc
    return gdstk


def levels_from_heights(heights, level_heights, *, rtol: float = 1e-6):
    """Level index of every neuron: (L, N, N) heights (m) -> (L, N, N) int64 indices into ``level_heights``.

    Every height must equal one of the ``level_heights`` (K,) metres within ``rtol``·max(level_heights)
    (the masks must be hard-quantized); raises ValueError naming 'heights' otherwise."""
    func = "levels_from_heights"
    h = np.asarray(heights, dtype=np.float64)
    lv = np.asarray(level_heights, dtype=np.float64)
    if lv.ndim != 1 or lv.size < 1 or not np.all(np.isfinite(lv)):
        fail(func, "level_heights", "a non-empty 1-D array of finite heights (m)", f"shape {lv.shape}")
    if not np.all(np.isfinite(h)):
        fail(func, "heights", "finite (no NaN or Inf)", "non-finite values")
    idx = np.abs(h[..., None] - lv).argmin(-1)
    err = np.abs(h - lv[idx]).max(initial=0.0)
    if err > rtol * max(np.abs(lv).max(), 1e-300):
        fail(func, "heights", "hard-quantized (every height one of level_heights)",
             f"a height {err:.3e} m away from the nearest level")
    return idx


def _precision(dx: float) -> float:
    """Largest power of ten <= dx/1000 (metres)."""
    return 10.0 ** math.floor(math.log10(dx / 1000.0))


#: pitches GDSII can hold: its 8-byte reals (unit, precision) span ~1e-77 .. 1e75 and the precision
#: is a power of ten <= dx/1000; 1 pm .. 1 m covers every lithography and printing process
GDS_PITCH_RANGE = (1e-12, 1.0)


def _gds_pitch(func: str, dx) -> float:
    dx = finite_real(func, "dx", dx, positive=True)
    lo, hi = GDS_PITCH_RANGE
    if not lo <= dx <= hi:
        fail(func, "dx", f"a pitch in [{lo:g}, {hi:g}] m (what GDSII's units can hold)", f"{dx:g} m")
    return dx


def write_levels_gds(path: str | os.PathLike, level_maps, level_heights, dx: float, *,
                     first_layer: int = 1, info_layer: int = 100) -> int:
    """Write masks as a GDSII file, one layer per level, atomically; returns the rectangle count.

    level_maps: (L, N, N) or (N, N) integer level indices in [0, K); level_heights: (K,) metres;
    dx: neuron pitch (m). Raises ValueError/TypeError naming the argument."""
    func = "write_levels_gds"
    maps = np.asarray(level_maps)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3 or maps.shape[-1] != maps.shape[-2] or maps.shape[-1] < 1:
        fail(func, "level_maps", "(L, N, N) or (N, N) integer level indices", f"shape {maps.shape}")
    if maps.dtype.kind not in "iu":
        fail(func, "level_maps", "an integer array", f"dtype {maps.dtype}", TypeError)
    lv = np.asarray(level_heights, dtype=np.float64)
    if lv.ndim != 1 or lv.size < 1 or not np.all(np.isfinite(lv)) or np.any(lv < 0):
        fail(func, "level_heights", "a non-empty 1-D array of finite heights >= 0 (m)", f"{lv!r}")
    if maps.min() < 0 or maps.max() >= lv.size:
        fail(func, "level_maps", f"indices in [0, {lv.size})", f"range [{maps.min()}, {maps.max()}]")
    dx = _gds_pitch(func, dx)
    if maps.shape[-1] * dx / _precision(dx) >= 2 ** 31:
        fail(func, "level_maps", "at most 2**31 database units across (GDSII coordinates are 32-bit)",
             f"N = {maps.shape[-1]} neurons of {dx:g} m at precision {_precision(dx):g} m")
    first_layer, info_layer = plain_scalar(first_layer), plain_scalar(info_layer)
    for name, v in (("first_layer", first_layer), ("info_layer", info_layer)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v <= 255:
            fail(func, name, "an integer GDS layer in [0, 255]", repr(v))
    if first_layer <= info_layer < first_layer + lv.size:
        fail(func, "info_layer", f"outside the level layers [{first_layer}, {first_layer + lv.size})",
             info_layer)
    if first_layer + lv.size - 1 > 255:
        fail(func, "level_heights", f"at most {256 - first_layer} levels (GDS layers <= 255)", lv.size)
    gdstk = _gdstk()
    unit = 1e-6
    lib = gdstk.Library(unit=unit, precision=_precision(dx))
    d = dx / unit
    count = 0
    for layer_index, m in enumerate(maps):
        cell = lib.new_cell(f"MASK_{layer_index}")
        n = m.shape[0]
        for i in range(n):
            row = m[i]
            starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
            ends = np.r_[starts[1:], n]
            for s, e in zip(starts, ends):
                cell.add(gdstk.rectangle((s * d, i * d), (e * d, (i + 1) * d),
                                         layer=first_layer + int(row[s]), datatype=0))
            count += len(starts)
        for k, h in enumerate(lv):
            cell.add(gdstk.Label(f"level {k} height {h:.9e} m", (0.0, -(k + 1) * d), layer=info_layer))
    with atomic_path(path, suffix=".gds") as tmp:
        lib.write_gds(tmp)
    return count


def read_levels_gds(path: str | os.PathLike, dx: float, *, first_layer: int = 1,
                    info_layer: int = 100) -> dict:
    """Read a file written by :func:`write_levels_gds` back.

    Returns ``{'level_maps': (L, N, N) int64, 'level_heights': (K,) m, 'heights': (L, N, N) m}``.
    dx: the pitch (m) the file was written with. Raises FileNotFoundError/ValueError naming the file."""
    func = "read_levels_gds"
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{func}(): file '{path}' not found")
    dx = _gds_pitch(func, dx)
    lib = read_gds_subset(func, path)       # our strict parser: gdstk.read_gds aborts on some bad files
    names = [c.name for c in lib.cells]
    cells = [(c.name, [(layer, text) for layer, text, _ in c.labels],
              [(layer, (pts.min(axis=0), pts.max(axis=0))) for layer, pts in c.polygons])
             for _, c in sorted(((int(c.name[5:]), c) for c in lib.cells
                                 if re.fullmatch(r"MASK_[0-9]{1,6}", c.name)), key=lambda t: t[0])]
    if not cells:
        fail(func, "path", "a GDS file with MASK_<l> cells", f"cells {names} in {path}")
    d = dx / lib.unit
    if not (math.isfinite(d) and d > 0):
        fail(func, "path", "a GDS library unit that makes dx a finite length", f"unit {lib.unit!r} in {path}")
    heights = {}
    for layer, text in cells[0][1]:
        mt = _LABEL.match(text)
        if layer == info_layer and mt:
            heights[int(mt.group(1))] = float(mt.group(2))
    if not heights or sorted(heights) != list(range(len(heights))):
        fail(func, "path", f"level labels 0..K-1 on layer {info_layer}", f"{sorted(heights)} in {path}")
    lv = np.array([heights[k] for k in range(len(heights))])
    maps = []
    for name, _, polys in cells:
        rects = [(layer - first_layer, bb) for layer, bb in polys]
        extent = max(bb[1][0] for _, bb in rects) / d if rects else 0.0
        n = int(round(extent)) if 0 <= extent <= 1e6 else 0
        if not 1 <= n <= 65536:
            fail(func, "path", "a MASK cell of 1 .. 65536 neurons across at this dx",
                 f"{n} in cell {name} of {path}")
        # the grid is sized by what the file holds, never by one coordinate: every row needs a rectangle
        # (n <= rectangles) and the rectangles must cover exactly n*n neurons, checked before allocating
        spans = []
        for k, ((x0, y0), (x1, y1)) in rects:
            i, j0, j1 = int(round(y0 / d)), int(round(x0 / d)), int(round(x1 / d))
            if not (0 <= i < n and 0 <= j0 < j1 <= n):
                fail(func, "path", "level rectangles on the neuron grid", f"a rectangle at ({x0}, {y0})-({x1}, {y1}) "
                     f"outside {n} x {n} neurons in cell {name} of {path}")
            spans.append((k, i, j0, j1))
        if n > len(spans) or sum(j1 - j0 for _, _, j0, j1 in spans) != n * n:
            fail(func, "path", "level rectangles covering every neuron of the cell exactly once",
                 f"{len(spans)} rectangles covering {sum(j1 - j0 for _, _, j0, j1 in spans)} of {n} x {n} neurons "
                 f"in cell {name} of {path}")
        m = np.full((n, n), -1, dtype=np.int64)
        for k, i, j0, j1 in spans:
            m[i, j0:j1] = k
        if (m < 0).any() or m.max() >= lv.size:
            fail(func, "path", "every neuron covered by one level rectangle", f"cell {name} of {path}")
        maps.append(m)
    maps = np.stack(maps)
    return {"level_maps": maps, "level_heights": lv, "heights": lv[maps]}

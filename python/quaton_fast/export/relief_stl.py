"""STL relief meshes of diffractive masks, for 3D printing (written with numpy-stl).

One mask = a height map ``h`` of shape (N, N) in metres on a square grid of pitch ``dx`` metres.
The printed part is a solid plate: a base of thickness ``base_thickness`` (metres) under every
neuron, and on top of it one flat-topped square column per neuron of height ``h[i, j]``. The mesh is
a closed 2-manifold (watertight, every edge in exactly two triangles, no T-junctions; see
:mod:`quaton_fast.export.relief_mesh`): top faces, vertical walls wherever neighbouring heights
differ and around the border, and the bottom face; where two columns touch only along a vertical
edge, a post of side dx/32 on that corner joins them.

Coordinates: x along the column index j, y along the row index i, z up; neuron (i, j) covers
x ∈ [j·dx, (j+1)·dx), y ∈ [i·dx, (i+1)·dx); the bottom of the base is z = 0, the top of neuron
(i, j) is z = base_thickness + h[i, j]. STL files carry no unit: the numbers are written in
``unit`` (default millimetres, what slicers assume) and the unit, pitch and base are stated in the
80-byte header, e.g. ``quaton_fast relief unit=mm dx=4.000000e-04m base=1.000000e-03m``.
"""
from __future__ import annotations

import os
import re

import numpy as np

from .._atomic import atomic_path
from .._validation import fail, finite_real
from .relief_mesh import HUB_FRACTION, relief_triangles

__all__ = ["UNITS", "relief_mesh_triangles", "write_relief_stl", "read_relief_stl"]

#: metres per unit of the numbers written into the file
UNITS = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "nm": 1e-9}


def _check_heights(func: str, heights) -> np.ndarray:
    h = np.asarray(heights, dtype=np.float64)
    if h.ndim != 2 or h.shape[0] != h.shape[1] or h.shape[0] < 1:
        fail(func, "heights", "a square (N, N) height map in metres", f"shape {h.shape}")
    if not np.all(np.isfinite(h)):
        fail(func, "heights", "finite (no NaN or Inf)", "non-finite values")
    if np.any(h < 0):
        fail(func, "heights", ">= 0 (relief heights above the base)", f"minimum {h.min():.3e}")
    return h


def relief_mesh_triangles(heights, dx: float, base_thickness: float) -> np.ndarray:
    """Triangles of the closed relief mesh, (T, 3, 3) float64 metres, outward-facing (right-hand rule).

    A closed 2-manifold without T-junctions (:mod:`quaton_fast.export.relief_mesh`: walls carry every
    height met on their vertical edges; a dx/32-wide post joins columns that touch only along an edge).
    heights: (N, N) metres, >= 0; dx: pitch (m) > 0; base_thickness: (m) > 0.
    Raises ValueError/TypeError naming the argument on bad input."""
    func = "relief_mesh_triangles"
    h = _check_heights(func, heights)
    dx = finite_real(func, "dx", dx, positive=True)
    base = finite_real(func, "base_thickness", base_thickness, positive=True)
    _check_scale(func, h, dx, base, 1.0, np.float64)
    return relief_triangles(base + h, dx)


def _check_scale(func: str, h: np.ndarray, dx: float, base: float, unit: float, dtype) -> None:
    """Every coordinate (in ``unit``) finite and representable in ``dtype`` with the posts' dx/64
    still resolved: extreme but finite inputs are refused here, naming the argument."""
    fi = np.finfo(dtype)
    limit = float(fi.max) / 4
    n = h.shape[0]
    if not n * dx / unit <= limit:
        fail(func, "dx", f"small enough that N·dx ({n} x {dx:g} m) fits the file's numbers (<= {limit:.3g} {'' if unit == 1 else 'units'})",
             f"{n * dx:g} m")
    if not dx / unit * HUB_FRACTION >= float(fi.tiny) * 1e3 or not dx * HUB_FRACTION / (n * dx) > 16 * float(fi.eps):
        fail(func, "dx", f"resolvable: dx/64 must exceed the {np.dtype(dtype).name} resolution of the plate's coordinates",
             f"{dx:g} m with N = {n}")
    if not (base + float(h.max())) / unit <= limit:
        fail(func, "heights" if h.max() > base else "base_thickness",
             f"small enough that base_thickness + max(heights) fits the file's numbers (<= {limit:.3g})",
             f"{base + float(h.max()):g} m")


def _stl():
    try:
        from stl import mesh  # numpy-stl
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("STL export needs numpy-stl: pip install 'quaton_fast[fab]' "
                           "(or pip install numpy-stl)") from exc
    return mesh


def write_relief_stl(path: str | os.PathLike, heights, dx: float, base_thickness: float,
                     unit: str = "mm") -> int:
    """Write one mask's relief as a binary STL file, atomically; returns the triangle count.

    heights: (N, N) metres (>= 0, e.g. ``D2NN.fabrication_heights(...)[layer]``); dx: neuron pitch (m);
    base_thickness: plate under the relief (m); unit: unit of the numbers in the file, one of
    'm', 'mm' (default), 'um', 'nm'. Raises ValueError/TypeError naming the argument."""
    func = "write_relief_stl"
    if unit not in UNITS:
        fail(func, "unit", f"one of {sorted(UNITS)}", repr(unit))
    h = _check_heights(func, heights)
    dx = finite_real(func, "dx", dx, positive=True)
    base = finite_real(func, "base_thickness", base_thickness, positive=True)
    u = UNITS[unit]
    _check_scale(func, h, dx, base, u, np.float32)
    # the mesh is built from the float32 values the file will hold, so that tops equal after
    # rounding are one level (no zero-height walls) and every shared vertex stays shared
    tops = (np.float32(base / u) + (h / u).astype(np.float32)).astype(np.float64)
    tris = relief_triangles(tops, float(np.float32(dx / u))).astype(np.float32)
    area2 = np.linalg.norm(np.cross((tris[:, 1] - tris[:, 0]).astype(np.float64),
                                    (tris[:, 2] - tris[:, 0]).astype(np.float64)), axis=1)
    if not np.all(area2 > 0):
        fail(func, "heights", f"representable in float32 {unit} (the STL's numbers) with distinct levels",
             f"{int((area2 <= 0).sum())} triangles that collapse when rounded")
    mesh = _stl()
    m = mesh.Mesh(np.zeros(tris.shape[0], dtype=mesh.Mesh.dtype))
    m.vectors[:] = tris
    m.update_normals()
    header = f"quaton_fast relief unit={unit} dx={float(dx):.6e}m base={float(base_thickness):.6e}m"
    with atomic_path(path, suffix=".stl") as tmp:
        m.save(tmp, mode=_stl().stl.Mode.BINARY, update_normals=False)
        with open(tmp, "r+b") as fh:            # numpy-stl writes its own header: state ours
            fh.write(header.encode("ascii")[:80].ljust(80, b" "))
    return int(tris.shape[0])


_NUM = r"[+-]?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?"
_HEADER = re.compile(rf"unit=(\w+) dx=({_NUM})m base=({_NUM})m")


def read_relief_stl(path: str | os.PathLike) -> dict:
    """Read a relief STL written by :func:`write_relief_stl` back into a height map.

    Returns ``{'heights': (N, N) metres, 'dx': m, 'base_thickness': m, 'unit': str}``. The heights
    come from the top faces (normal +z above the base): each neuron's top is found from its
    centre. Raises ValueError naming the file if it is not such a file."""
    func = "read_relief_stl"
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{func}(): file '{path}' not found")
    with open(path, "rb") as fh:
        raw = fh.read(84)
    head = raw[:80].decode("ascii", "replace")
    m = _HEADER.search(head)
    if m is None or m.group(1) not in UNITS:
        fail(func, "path", "an STL written by write_relief_stl (header with unit, dx, base)",
             f"header {head.strip()!r} in {path}")
    unit, dx, base = m.group(1), float(m.group(2)), float(m.group(3))
    if not (np.isfinite(dx) and dx > 0 and np.isfinite(base) and base > 0):
        fail(func, "path", "a header with a finite pitch and base > 0", f"header {head.strip()!r} in {path}")
    count = int.from_bytes(raw[80:84], "little") if len(raw) == 84 else -1
    size = os.path.getsize(path)
    if count < 1 or size != 84 + 50 * count:    # the declared triangle count against the file's size
        fail(func, "path", "a binary STL whose triangle count matches its size (84 + 50 x count bytes)",
             f"{count} triangles declared, {size} bytes in {path}")
    try:
        with np.errstate(all="ignore"):      # numpy-stl computes normals of whatever vertices the file holds
            tris = _stl().Mesh.from_file(path).vectors.astype(np.float64) * UNITS[unit]
    except (AssertionError, ValueError, OSError) as e:
        fail(func, "path", "a readable binary STL", f"{type(e).__name__}: {e} in {path}")
    if not np.all(np.isfinite(tris)):
        fail(func, "path", "finite vertex coordinates", f"a NaN or infinite vertex in {path}")
    flat = np.ptp(tris[:, :, 2], axis=1) == 0
    with np.errstate(all="ignore"):
        normal_z = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])[:, 2]
    tops = tris[flat & (normal_z > 0)]
    cx, cy = tops[:, :, 0].mean(1), tops[:, :, 1].mean(1)
    # a neuron's top triangles have their centroid >= dx/6 from the grid lines; the posts' (dx/64) nearer
    with np.errstate(over="ignore", invalid="ignore"):
        off = lambda v: np.abs(v / dx - np.round(v / dx))  # noqa: E731
        keep = (off(cx) > 0.125) & (off(cy) > 0.125)
    tops, cx, cy = tops[keep], cx[keep], cy[keep]
    # each neuron has >= 2 top triangles: n^2 <= count / 2 bounds the height map by the file's size
    n_max = int(np.sqrt(count / 2))
    extent = max(cx.max(), cy.max()) / dx + 0.5 if len(tops) else 0.0
    if not (len(tops) and min(cx.min(), cy.min()) >= 0 and 1 <= extent < n_max + 1):
        fail(func, "path", f"top faces on a grid of 1 .. {n_max} neurons (x, y >= 0) for {count} triangles",
             f"{len(tops)} top faces spanning {extent:.6g} neurons in {path}")
    n = int(round(extent))
    j = np.floor(cx / dx).astype(int)
    i = np.floor(cy / dx).astype(int)
    heights = np.full((n, n), np.nan)
    heights[i, j] = tops[:, 0, 2] - base
    if np.isnan(heights).any():
        fail(func, "path", "a closed relief with a top face on every neuron",
             f"{int(np.isnan(heights).sum())} neurons without a top face in {path}")
    return {"heights": heights, "dx": dx, "base_thickness": base, "unit": unit}

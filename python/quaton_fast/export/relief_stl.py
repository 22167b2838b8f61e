"""STL relief meshes of diffractive masks, for 3D printing (written with numpy-stl).

One mask = a height map ``h`` of shape (N, N) in metres on a square grid of pitch ``dx`` metres.
The printed part is a solid plate: a base of thickness ``base_thickness`` (metres) under every
neuron, and on top of it one flat-topped square column per neuron of height ``h[i, j]``. The mesh is
closed (watertight): top faces, vertical walls wherever neighbouring heights differ and around the
border, and the bottom face.

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


def _quads_to_triangles(quads: np.ndarray) -> np.ndarray:
    """(Q, 4, 3) counter-clockwise quads (seen from outside) -> (2Q, 3, 3) triangles."""
    return np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]], axis=0)


def relief_mesh_triangles(heights, dx: float, base_thickness: float) -> np.ndarray:
    """Triangles of the closed relief mesh, (T, 3, 3) float64 metres, outward-facing (right-hand rule).

    heights: (N, N) metres, >= 0; dx: pitch (m) > 0; base_thickness: (m) > 0.
    Raises ValueError/TypeError naming the argument on bad input."""
    func = "relief_mesh_triangles"
    h = _check_heights(func, heights)
    dx = finite_real(func, "dx", dx, positive=True)
    base = finite_real(func, "base_thickness", base_thickness, positive=True)
    n = h.shape[0]
    top = base + h
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    x0, x1, y0, y1 = j * dx, (j + 1) * dx, i * dx, (i + 1) * dx
    quads = []
    # top faces (normal +z): counter-clockwise seen from above
    z = top
    quads.append(np.stack([np.stack([x0, y0, z], -1), np.stack([x1, y0, z], -1),
                           np.stack([x1, y1, z], -1), np.stack([x0, y1, z], -1)], -2).reshape(-1, 4, 3))
    # bottom face (normal -z), one quad for the whole plate
    L = n * dx
    quads.append(np.array([[[0, 0, 0], [0, L, 0], [L, L, 0], [L, 0, 0]]], dtype=np.float64))
    # walls between columns j and j+1 (normal +x where the left column is taller, -x otherwise),
    # with the outer border at x = 0 and x = L taken as neighbours of height 0 at z = 0
    padded_x = np.concatenate([np.zeros((n, 1)), top, np.zeros((n, 1))], axis=1)   # (n, n+2)
    xs = np.arange(n + 1) * dx
    a, b = padded_x[:, :-1], padded_x[:, 1:]                        # left, right heights at each x-edge
    ii, kk = np.nonzero(a != b)
    lo, hi = np.minimum(a, b)[ii, kk], np.maximum(a, b)[ii, kk]
    x = xs[kk]
    ya, yb = ii * dx, (ii + 1) * dx
    left_taller = a[ii, kk] > b[ii, kk]
    # normal +x: vertices (x, ya, lo) (x, yb, lo) (x, yb, hi) (x, ya, hi) are CCW seen from +x
    q = np.stack([np.stack([x, ya, lo], -1), np.stack([x, yb, lo], -1),
                  np.stack([x, yb, hi], -1), np.stack([x, ya, hi], -1)], -2)
    q[~left_taller] = q[~left_taller][:, ::-1]
    quads.append(q)
    padded_y = np.concatenate([np.zeros((1, n)), top, np.zeros((1, n))], axis=0)   # (n+2, n)
    ys = np.arange(n + 1) * dx
    a, b = padded_y[:-1, :], padded_y[1:, :]                        # lower-y, upper-y heights at each y-edge
    kk, jj = np.nonzero(a != b)
    lo, hi = np.minimum(a, b)[kk, jj], np.maximum(a, b)[kk, jj]
    y = ys[kk]
    xa, xb = jj * dx, (jj + 1) * dx
    lower_taller = a[kk, jj] > b[kk, jj]
    # normal +y: (xb, y, lo) (xa, y, lo) (xa, y, hi) (xb, y, hi) are CCW seen from +y
    q = np.stack([np.stack([xb, y, lo], -1), np.stack([xa, y, lo], -1),
                  np.stack([xa, y, hi], -1), np.stack([xb, y, hi], -1)], -2)
    q[~lower_taller] = q[~lower_taller][:, ::-1]
    quads.append(q)
    return _quads_to_triangles(np.concatenate(quads, axis=0))


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
    tris = relief_mesh_triangles(heights, dx, base_thickness) / UNITS[unit]
    mesh = _stl()
    m = mesh.Mesh(np.zeros(tris.shape[0], dtype=mesh.Mesh.dtype))
    m.vectors[:] = tris.astype(np.float32)
    m.update_normals()
    header = f"quaton_fast relief unit={unit} dx={float(dx):.6e}m base={float(base_thickness):.6e}m"
    with atomic_path(path, suffix=".stl") as tmp:
        m.save(tmp, mode=_stl().stl.Mode.BINARY, update_normals=False)
        with open(tmp, "r+b") as fh:            # numpy-stl writes its own header: state ours
            fh.write(header.encode("ascii")[:80].ljust(80, b" "))
    return int(tris.shape[0])


_HEADER = re.compile(r"unit=(\w+) dx=([0-9.eE+-]+)m base=([0-9.eE+-]+)m")


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
        head = fh.read(80).decode("ascii", "replace")
    m = _HEADER.search(head)
    if m is None or m.group(1) not in UNITS:
        fail(func, "path", "an STL written by write_relief_stl (header with unit, dx, base)",
             f"header {head.strip()!r} in {path}")
    unit, dx, base = m.group(1), float(m.group(2)), float(m.group(3))
    tris = _stl().Mesh.from_file(path).vectors.astype(np.float64) * UNITS[unit]
    flat = np.ptp(tris[:, :, 2], axis=1) == 0
    normal_z = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])[:, 2]
    tops = tris[flat & (normal_z > 0)]
    cx, cy = tops[:, :, 0].mean(1), tops[:, :, 1].mean(1)
    n = int(round(max(cx.max(), cy.max()) / dx + 0.5))
    j = np.floor(cx / dx).astype(int)
    i = np.floor(cy / dx).astype(int)
    heights = np.full((n, n), np.nan)
    heights[i, j] = tops[:, 0, 2] - base
    if np.isnan(heights).any():
        fail(func, "path", "a closed relief with a top face on every neuron",
             f"{int(np.isnan(heights).sum())} neurons without a top face in {path}")
    return {"heights": heights, "dx": dx, "base_thickness": base, "unit": unit}

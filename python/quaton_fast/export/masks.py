"""Fabrication files from a masks file (``D2NN.export_masks`` / ``quaton-fast train``'s masks.npz)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._safe_npz import read_arrays
from .._validation import fail, finite_real
from .levels_gds import levels_from_heights, write_levels_gds
from .relief_stl import write_relief_stl

__all__ = ["distinct_levels", "export_fabrication"]


def distinct_levels(heights, rtol: float = 1e-6) -> np.ndarray:
    """The distinct heights (K,) metres, ascending, of hard-quantized masks; equal within rtol·max."""
    h = np.sort(np.asarray(heights, dtype=np.float64).ravel())
    tol = rtol * max(float(np.abs(h).max(initial=0.0)), 1e-300)
    keep = np.r_[True, np.diff(h) > tol]
    return h[keep]


def export_fabrication(masks_npz: str | os.PathLike, out_dir: str | os.PathLike, *,
                       base_thickness: float, unit: str = "mm", stl: bool = True,
                       gds: bool = True) -> dict:
    """Write ``layer_<l>.stl`` relief meshes and ``masks.gds`` (one GDS layer per height level) into
    ``out_dir`` from a masks ``.npz`` holding ``heights`` (L, N, N) metres and ``dx`` (m).

    The GDS levels are the distinct heights present in the masks, ascending (level k on GDS layer
    1 + k). base_thickness: plate under the STL relief (m); unit: unit of the STL numbers.
    Returns {'stl': [paths], 'gds': path or None, 'level_heights': (K,) m}. Raises
    FileNotFoundError/ValueError naming the file or the argument."""
    func = "export_fabrication"
    masks_npz = Path(masks_npz)
    if not masks_npz.is_file():
        raise FileNotFoundError(f"{func}(): masks file '{masks_npz}' not found "
                                f"(written by D2NN.export_masks or quaton-fast train)")
    finite_real(func, "base_thickness", base_thickness, positive=True)
    # headers checked against the file before reading, no pickles, errors naming the file
    z = read_arrays(func, masks_npz, ("heights", "dx"))
    if "heights" not in z or "dx" not in z:
        fail(func, "masks_npz", "an .npz with 'heights' and 'dx'", f"keys {sorted(z)} in {masks_npz}")
    heights, dx = z["heights"], z["dx"]
    if heights.dtype.kind not in "iuf" or heights.ndim != 3 or heights.shape[1] != heights.shape[2] \
            or 0 in heights.shape:
        fail(func, "masks_npz", "'heights' a real array of shape (L, N, N) with L, N >= 1 (metres)",
             f"{heights.dtype} shape {heights.shape} in {masks_npz}")
    heights = heights.astype(np.float64)
    if dx.dtype.kind not in "iuf" or dx.size != 1:
        fail(func, "masks_npz", "'dx' one real number (metres)", f"{dx.dtype} shape {dx.shape} in {masks_npz}")
    dx = float(dx.reshape(()))
    if not (np.isfinite(dx) and dx > 0):
        fail(func, "masks_npz", "'dx' a finite pitch > 0 (metres)", f"{dx!r} in {masks_npz}")
    if not np.all(np.isfinite(heights)) or heights.min() < 0:
        fail(func, "masks_npz", "'heights' finite and >= 0 (metres)", f"range [{heights.min()}, {heights.max()}] "
             f"in {masks_npz}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    levels = distinct_levels(heights)
    result = {"stl": [], "gds": None, "level_heights": levels}
    if stl:
        for l, h in enumerate(heights):
            p = out / f"layer_{l}.stl"
            write_relief_stl(p, h, dx, base_thickness, unit=unit)
            result["stl"].append(str(p))
    if gds:
        p = out / "masks.gds"
        write_levels_gds(p, levels_from_heights(heights, levels), levels, dx)
        result["gds"] = str(p)
    return result

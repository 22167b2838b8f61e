"""Fabrication files from a masks file (``D2NN.export_masks`` / ``quaton-fast train``'s masks.npz)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

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
    with np.load(masks_npz) as z:
        if "heights" not in z or "dx" not in z:
            fail(func, "masks_npz", "an .npz with 'heights' and 'dx'", f"keys {sorted(z.files)} in {masks_npz}")
        heights = np.asarray(z["heights"], dtype=np.float64)
        dx = float(z["dx"])
    if heights.ndim != 3:
        fail(func, "masks_npz", "heights of shape (L, N, N)", f"shape {heights.shape} in {masks_npz}")
    finite_real(func, "base_thickness", base_thickness, positive=True)
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

"""Real quantitative-phase tiles from ``skimage.data.cell()`` (scikit-image's sample data).

``skimage.data.cell()`` is a quantitative phase image of a cell floating in saline, retrieved from a
digital hologram (660×550, 8-bit). We cut it into non-overlapping ``tile``×``tile`` squares on a
regular grid (the remainder at the right/bottom edges is dropped), and split the tiles into
train/test with a seeded permutation (``test_fraction`` of the tiles, at least one, go to test).
Gray values are mapped linearly to phase, ``φ = phase_max · (I − I_lo) / (I_hi − I_lo)`` radians,
targets ``φ / phase_max`` ∈ [0, 1], with ``normalize='tile'`` (default) the minimum and maximum of
each tile (every tile spans the whole phase range: a phase-imaging task on the real texture), or
``normalize='image'`` the image-wide ones (quantitative across tiles; but the image is one cell
on a flat background, so most tiles then vary by ~1 % of the range and a constant prediction
already scores SSIM ≈ 0.9 on them). A constant tile maps to 0.
``augment=True`` adds the 8 rotations/flips of every training tile (never of test tiles).

Needs scikit-image (the optional extra ``data``: ``pip install scikit-image``).
"""
from __future__ import annotations

import numpy as np

from .._validation import fail, finite_real, positive_int

__all__ = ["load_cell_image", "load_cell_tiles", "SKIMAGE_HINT"]

SKIMAGE_HINT = "install scikit-image with `pip install scikit-image` (or `pip install quaton_fast[data]`)"


def load_cell_image() -> np.ndarray:
    """``skimage.data.cell()`` as float64 (660, 550). ImportError saying how to install skimage."""
    try:
        from skimage import data as skdata
    except ImportError as e:
        raise ImportError(f"load_cell_image(): the real QPI image comes with scikit-image, which is not "
                          f"installed; {SKIMAGE_HINT}") from e
    try:
        img = np.asarray(skdata.cell(), dtype=np.float64)
    except (OSError, ValueError) as e:
        raise FileNotFoundError(f"load_cell_image(): scikit-image's sample image 'cell' could not be read "
                                f"({e}); reinstall it with `pip install --force-reinstall scikit-image`") from e
    if img.ndim != 2 or img.size == 0 or not np.all(np.isfinite(img)) or img.max() <= img.min():
        raise ValueError(f"load_cell_image(): skimage.data.cell() must be a non-constant 2-D image, "
                         f"got shape {img.shape}")
    return img


def _tile(img: np.ndarray, tile: int) -> np.ndarray:
    # img: (H, W) -> (T, tile, tile), row-major over the grid of non-overlapping tiles
    rows, cols = img.shape[0] // tile, img.shape[1] // tile
    if rows == 0 or cols == 0:
        fail("load_cell_tiles", "tile", f"<= the image size {img.shape}", tile)
    t = img[:rows * tile, :cols * tile].reshape(rows, tile, cols, tile).transpose(0, 2, 1, 3)
    return t.reshape(-1, tile, tile)


def _dihedral(x: np.ndarray) -> np.ndarray:
    # x: (T, s, s) -> (8T, s, s): the 4 rotations of x and of its mirror image
    views = [np.rot90(v, k, axes=(1, 2)) for v in (x, x[:, :, ::-1]) for k in range(4)]
    return np.concatenate(views)


def load_cell_tiles(split: str = "train", *, tile: int = 64, phase_max: float = np.pi, test_fraction: float = 0.2,
                    normalize: str = "tile", augment: bool = False, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Tiles of the real QPI image: ``phi`` (T, tile, tile) float32 radians in [0, phase_max] and
    ``targets`` φ/phase_max (T, tile, tile) float32 in [0, 1]. The same ``tile``, ``test_fraction``
    and ``seed`` give disjoint train and test tiles."""
    f = "load_cell_tiles"
    if split not in ("train", "test"):
        fail(f, "split", "'train' or 'test'", repr(split))
    tile = positive_int(f, "tile", tile, minimum=11)
    phase_max = finite_real(f, "phase_max", phase_max, positive=True)
    test_fraction = finite_real(f, "test_fraction", test_fraction, positive=True)
    if test_fraction >= 1.0:
        fail(f, "test_fraction", "in (0, 1)", test_fraction)
    if normalize not in ("tile", "image"):
        fail(f, "normalize", "'tile' or 'image'", repr(normalize))
    img = load_cell_image()
    if normalize == "image":
        tiles = _tile((img - img.min()) / (img.max() - img.min()), tile)
    else:
        tiles = _tile(img, tile)
        lo = tiles.min(axis=(1, 2), keepdims=True)
        span = tiles.max(axis=(1, 2), keepdims=True) - lo
        tiles = np.where(span > 0, (tiles - lo) / np.where(span > 0, span, 1.0), 0.0)
    if len(tiles) < 2:
        fail(f, "tile", f"small enough to cut at least 2 tiles from {img.shape}", tile)
    order = np.random.default_rng(seed).permutation(len(tiles))
    n_test = min(max(1, int(round(test_fraction * len(tiles)))), len(tiles) - 1)
    chosen = tiles[np.sort(order[:n_test] if split == "test" else order[n_test:])]
    if augment and split == "train":
        chosen = _dihedral(chosen)
    targets = np.ascontiguousarray(chosen, dtype=np.float32)
    return (targets * np.float32(phase_max)).astype(np.float32), targets

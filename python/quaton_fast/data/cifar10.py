"""CIFAR-10 from a user directory (the "CIFAR-10 python version" pickle batches), as grayscale.

No offline package ships CIFAR-10, so it is read only from ``root``: the extracted
``cifar-10-batches-py`` folder (``data_batch_1`` … ``data_batch_5``, ``test_batch``) or its parent.
Colour → gray with the ITU-R BT.601 luma weights ``Y = 0.299·R + 0.587·G + 0.114·B``, scaled to
[0, 1]. Returns ``images`` (N, 32, 32) float32 and ``labels`` (N,) int64.

The batches are pickles; they are read with :class:`quaton_fast._safe_pickle.ArrayUnpickler`, which
only accepts plain containers and NumPy arrays, so a tampered file cannot run code (docs/security.md).
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Union

import numpy as np

from .._safe_pickle import load_data_pickle

__all__ = ["load_cifar10", "CIFAR10_HINT", "CIFAR10_FILES", "LUMA_WEIGHTS"]

CIFAR10_HINT = ("CIFAR-10 is not shipped with any offline package: download 'CIFAR-10 python version' "
                "(cifar-10-python.tar.gz) from https://www.cs.toronto.edu/~kriz/cifar.html, extract it "
                "(`tar xzf cifar-10-python.tar.gz`) and pass root=<path>/cifar-10-batches-py")
CIFAR10_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 (R, G, B)

#: a CIFAR-10 python batch is ~31 MB; a larger file is refused before it is read
MAX_BATCH_BYTES = 256 << 20


def _batch_dir(root: Path) -> Path:
    if not root.is_dir():
        raise FileNotFoundError(f"load_cifar10(): directory {root} does not exist; {CIFAR10_HINT}")
    for cand in (root, root / "cifar-10-batches-py"):
        if (cand / "test_batch").is_file() or (cand / "data_batch_1").is_file():
            return cand
    return root


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    size = path.stat().st_size
    if size > MAX_BATCH_BYTES:
        raise ValueError(f"corrupt CIFAR-10 batch {path}: {size} bytes, above the limit of {MAX_BATCH_BYTES} "
                         "(a batch is ~31 MB)")
    try:
        d = load_data_pickle(path.read_bytes(), encoding="bytes")   # size checked above
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, RecursionError, OverflowError, LookupError) as e:   # a length above 2**63; an unknown codec
        raise ValueError(f"corrupt CIFAR-10 batch {path}: not a readable pickle ({type(e).__name__}: {e})") from e
    if not isinstance(d, dict):
        raise ValueError(f"corrupt CIFAR-10 batch {path}: expected a dict, found {type(d).__name__}")
    d = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in d.items()}
    if "data" not in d or "labels" not in d:
        raise ValueError(f"corrupt CIFAR-10 batch {path}: keys 'data' and 'labels' required, found {sorted(d)}")
    data = np.asarray(d["data"])
    labels = np.asarray(d["labels"])
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        raise ValueError(f"corrupt CIFAR-10 batch {path}: 'data' must be uint8 of shape (N, 3072), "
                         f"found {data.dtype} {data.shape}")
    if labels.ndim != 1 or len(labels) != len(data) or labels.dtype.kind not in "iu":
        raise ValueError(f"corrupt CIFAR-10 batch {path}: 'labels' must be {len(data)} integers, "
                         f"found {labels.dtype} {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"corrupt CIFAR-10 batch {path}: labels outside 0..9 "
                         f"(min {labels.min()}, max {labels.max()})")
    return data, labels.astype(np.int64)


def load_cifar10(split: str = "train", root: Union[str, Path, None] = None) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 'train' (50k) or 'test' (10k) from ``root``, grayscale (BT.601) in [0, 1].

    Returns ``images`` (N, 32, 32) float32 and ``labels`` (N,) int64. FileNotFoundError (with how to
    get the data) when ``root`` is None or a batch is missing; ValueError naming the file when a
    batch is corrupt.
    """
    if split not in CIFAR10_FILES:
        raise ValueError(f"load_cifar10(): argument 'split' must be 'train' or 'test', got {split!r}")
    if root is None:
        raise FileNotFoundError(f"load_cifar10(): no directory given (root=None); {CIFAR10_HINT}")
    folder = _batch_dir(Path(root))
    missing = [f for f in CIFAR10_FILES[split] if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"load_cifar10(): {missing} not found in {folder}; {CIFAR10_HINT}")
    parts = [_read_batch(folder / f) for f in CIFAR10_FILES[split]]
    rgb = np.concatenate([p[0] for p in parts]).reshape(-1, 3, 32, 32).astype(np.float32)
    w = np.asarray(LUMA_WEIGHTS, np.float32).reshape(1, 3, 1, 1)
    gray = (rgb * w).sum(axis=1) / np.float32(255.0)
    return np.clip(gray, 0.0, 1.0).astype(np.float32), np.concatenate([p[1] for p in parts])

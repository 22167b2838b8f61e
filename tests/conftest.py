"""Shared fixtures; CUDA-marked tests skip without a GPU and a CUDA build."""
from __future__ import annotations

import numpy as np
import pytest


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

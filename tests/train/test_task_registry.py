"""The task registry that `quaton-fast train` / `sweep` dispatch on (QPI tasks plug in here)."""
from __future__ import annotations

import pytest

from quaton_fast.train.config import RunConfig
from quaton_fast.train.tasks import TASKS, Task, get_task, register_task


def test_builtin_classification_tasks():
    assert {"mnist", "fashion", "mnist-5k"} <= set(TASKS)
    assert get_task("fashion").dataset == "Fashion-MNIST" and get_task("mnist").kind == "classify"


def test_register_and_reject(toy_task):
    assert get_task("toy") is toy_task
    with pytest.raises(ValueError, match="already registered"):
        register_task(toy_task)
    with pytest.raises(TypeError, match="must be a Task"):
        register_task({"name": "x"})
    with pytest.raises(ValueError, match=r"get_task\(\): argument 'name' must be one of"):
        get_task("cifar-100")


def test_train_limit_is_a_seeded_subset(toy_task):
    from quaton_fast.train.tasks import _limit_train
    import numpy as np
    x, y = np.arange(100).reshape(100, 1, 1).astype(np.float32), np.arange(100) % 10
    a = _limit_train(x, y, RunConfig(task="toy", train_limit=10, seed=4))
    b = _limit_train(x, y, RunConfig(task="toy", train_limit=10, seed=4))
    c = _limit_train(x, y, RunConfig(task="toy", train_limit=10, seed=5))
    assert a[0].shape == (10, 1, 1) and np.array_equal(a[0], b[0]) and not np.array_equal(a[0], c[0])
    assert "seeded random subset (seed 4) of 10 of the 100" in a[2]
    assert _limit_train(x, y, RunConfig(task="toy"))[0] is x


def test_config_validation_messages():
    with pytest.raises(ValueError, match=r"RunConfig\(\): argument 'task' must be one of"):
        RunConfig(task="nope").validate(tuple(TASKS))
    with pytest.raises(ValueError, match="argument 'preset'"):
        RunConfig(task="mnist", preset="uv-1").validate(tuple(TASKS))
    with pytest.raises(TypeError, match="argument 'levels' must be an integer >= 2"):
        RunConfig(task="mnist", levels=2.5).validate(tuple(TASKS))

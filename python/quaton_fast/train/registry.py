"""The registry of training tasks (a leaf: the runners and the built-in tasks register into it;
nothing here imports a runner). Built-in tasks are registered by :mod:`quaton_fast.train.tasks`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .config import RunConfig


@dataclass(frozen=True)
class Task:
    name: str
    dataset: str                      # display name, e.g. "MNIST"
    kind: str                         # "classify", "qpi", ...
    metric: str                       # headline metric, e.g. "accuracy"
    load: Callable[[RunConfig], Any]  # cfg -> data object the trainer understands
    trainer: Callable[..., dict]      # (cfg, task, out_dir, *, resume, progress, command) -> result


TASKS: dict[str, Task] = {}


def register_task(task: Task, *, replace: bool = False) -> None:
    """Add ``task`` to the registry (``replace=True`` to override an existing name)."""
    if not isinstance(task, Task):
        raise TypeError(f"register_task(): argument 'task' must be a Task, got {type(task).__name__}")
    if task.name in TASKS and not replace:
        raise ValueError(f"register_task(): a task named {task.name!r} is already registered")
    TASKS[task.name] = task


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"get_task(): argument 'name' must be one of {sorted(TASKS)}, got {name!r}")
    return TASKS[name]

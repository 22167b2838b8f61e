"""Training loops behind the `quaton-fast train` command (its options: :mod:`quaton_fast.cli.train`).

- ``classify``: the compact loop of the README demo (``train_classifier``);
- ``config`` / ``tasks`` / ``run_classify`` / ``epochs`` / ``checkpoint``: the resumable,
  DDP-ready run behind ``quaton-fast train`` (task registry: ``tasks.TASKS``, ``register_task``).
"""
from . import tasks as _tasks  # noqa: E402,F401  (registers the built-in tasks in registry.TASKS)

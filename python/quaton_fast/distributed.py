"""Thin helpers over ``torch.distributed`` for training under ``torchrun`` (DDP) and sharded work.

Nothing here is a scheduler: ``torchrun`` starts the processes and sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_from_env` joins the process group
when those are present (gloo on CPU, nccl when each rank has a GPU) and is a no-op otherwise, so
the same training code runs in one process or many.

Conventions for data-parallel training (used by the D2NN and equilibrium-model loops):
- every rank draws the same global batch order from the same seed;
- rank ``r`` of ``world`` takes ``global_batch[r::world]`` (:func:`shard_batch`);
- the model is wrapped in ``DistributedDataParallel`` (:func:`wrap_ddp`), which averages the
  gradients, so with equal shards one step equals the single-process step on the global batch;
  for a batch that does not split evenly (the last one of an epoch), multiply each rank's mean
  loss by :func:`shard_loss_scale` and the step is still the global-batch step;
- only rank 0 writes checkpoints, result files and plots (:func:`is_main_process`).

``tests/distributed/`` checks these claims with 2 gloo processes: after DDP steps the parameters
equal those of the single-process steps on the same global batches to float64 rounding.
"""
from __future__ import annotations

import os
from typing import Any

import torch

from ._validation import plain_scalar

__all__ = ["init_from_env", "is_initialized", "rank", "world_size", "is_main_process",
           "shard_batch", "shard_loss_scale", "wrap_ddp", "unwrap", "barrier", "launched_by_torchrun",
           "shutdown"]


def launched_by_torchrun() -> bool:
    """True when the environment of ``torchrun`` (RANK and WORLD_SIZE) is present."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_initialized() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


#: environment variable that chooses the backend when ``init_from_env`` gets none
BACKEND_ENV = "QUATON_FAST_DIST_BACKEND"


def _check_backend(backend: str) -> str:
    names = ("gloo", "nccl", "mpi")
    pairs = [p.split(":") for p in backend.split(",")] if ":" in backend else None
    if backend in names or (pairs and all(len(p) == 2 and p[0] and p[1] in names for p in pairs)):
        return backend
    raise ValueError(f"init_from_env(): argument 'backend' must be 'gloo', 'nccl', 'mpi' or device:backend "
                     f"pairs such as 'cpu:gloo,cuda:nccl', got {backend!r}")


def init_from_env(backend: str | None = None) -> bool:
    """Join the process group described by torchrun's environment; return True if distributed.

    backend: 'gloo' | 'nccl' | 'mpi' | pairs like 'cpu:gloo,cuda:nccl' | None: then the variable
    ``QUATON_FAST_DIST_BACKEND`` if set, else nccl when CUDA is available and gloo otherwise
    (set ``QUATON_FAST_DIST_BACKEND=gloo`` to train on the CPUs of a GPU machine). With nccl each
    rank uses GPU ``LOCAL_RANK``. A no-op returning False outside torchrun; True (without
    re-initialising) when already initialised.
    """
    if is_initialized():
        return True
    if not launched_by_torchrun():
        return False
    if backend is None:
        backend = os.environ.get(BACKEND_ENV) or ("nccl" if torch.cuda.is_available() else "gloo")
    backend = _check_backend(str(backend).lower())
    if "nccl" in backend:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    torch.distributed.init_process_group(backend=backend)
    return True


def rank() -> int:
    return torch.distributed.get_rank() if is_initialized() else 0


def world_size() -> int:
    return torch.distributed.get_world_size() if is_initialized() else 1


def is_main_process() -> bool:
    """True on rank 0 (and in a single process): the rank that writes files.

    Under torchrun the launcher's ``RANK`` decides when no process group is joined (before
    :func:`init_from_env`, after :func:`shutdown`), so a rank other than 0 never writes."""
    if is_initialized():
        return rank() == 0
    return int(os.environ.get("RANK", "0")) == 0 if launched_by_torchrun() else True


def shard_batch(indices: torch.Tensor) -> torch.Tensor:
    """This rank's share of a global batch: ``indices[rank::world]``.

    indices: (B,) int64 global batch (identical on every rank). Raises if B < world size, since a
    rank with an empty shard would break DDP's gradient averaging.
    """
    w = world_size()
    if w == 1:
        return indices
    if len(indices) < w:
        raise ValueError(f"shard_batch(): the global batch ({len(indices)}) must hold at least one item "
                         f"per rank (world size {w})")
    return indices[rank()::w]


def shard_loss_scale(global_size: int) -> float:
    """Factor for this rank's *mean* loss so that DDP's gradient average equals the gradient of
    the mean over the whole global batch of ``global_size`` items split by :func:`shard_batch`:
    ``world · len(shard) / global_size`` (exactly 1.0 when the batch splits evenly)."""
    global_size = plain_scalar(global_size)
    if isinstance(global_size, bool) or not isinstance(global_size, int) or global_size < 1:
        raise ValueError(f"shard_loss_scale(): argument 'global_size' must be a positive int, got {global_size!r}")
    w, r = world_size(), rank()
    if w == 1:
        return 1.0
    if global_size < w:
        raise ValueError(f"shard_loss_scale(): the global batch ({global_size}) must hold at least one item "
                         f"per rank (world size {w})")
    local = len(range(r, global_size, w))
    return w * local / global_size


def wrap_ddp(model: torch.nn.Module, **kwargs: Any) -> torch.nn.Module:
    """``DistributedDataParallel(model)`` when distributed, else ``model`` unchanged.

    DDP broadcasts rank 0's parameters and buffers when it wraps, so every rank starts from
    rank 0's model. Re-wrap (and rebuild the optimizer) after changing the parameter set, e.g.
    ``D2NN.switch_quantizer``: the old wrapper keeps averaging the old parameters only.
    Extra keywords go to ``DistributedDataParallel``."""
    if not is_initialized():
        return model
    from torch.nn.parallel import DistributedDataParallel
    first = next(model.parameters(), None)
    if first is None:
        raise ValueError(f"wrap_ddp(): argument 'model' must have parameters, got a {type(model).__name__} "
                         "with none")
    if first.is_cuda:
        kwargs.setdefault("device_ids", [torch.cuda.current_device()])
    return DistributedDataParallel(model, **kwargs)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DDP wrapper (or the module itself)."""
    return model.module if hasattr(model, "module") and isinstance(
        model, torch.nn.parallel.DistributedDataParallel) else model


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if is_initialized():
        torch.distributed.barrier()


def shutdown() -> None:
    """Leave the process group (end of a torchrun script); no-op when not initialised."""
    if is_initialized():
        torch.distributed.destroy_process_group()

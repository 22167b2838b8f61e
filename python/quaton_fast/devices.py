"""Device choice and description shared by every training loop and command (below all of them)."""
from __future__ import annotations

import os

import torch

from . import distributed as dist
from ._backend import cpu_model

__all__ = ["resolve_device", "device_description"]


def resolve_device(cfg, func: str = "run_classification") -> torch.device:
    """The torch device of ``cfg.device`` (any object with a ``device`` string, or the string
    itself; one GPU per rank under torchrun)."""
    spec = cfg if isinstance(cfg, str) else cfg.device
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(f"{func}(): argument 'device' is 'cuda' but no CUDA device is visible "
                               "(use --device cpu)")
        if dist.is_initialized():  # one GPU per rank
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device(spec)


def device_description(device: torch.device) -> str:
    """'cuda (NVIDIA H100 ...)' or 'cpu (model name, N cores, K torch threads)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"

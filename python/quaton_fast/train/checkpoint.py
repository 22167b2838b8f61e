"""Atomic files and random-number-generator state for resumable runs."""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from .._atomic import atomic_torch_save, atomic_write_json, atomic_write_text
from .._safe_torch import load_weights_only

__all__ = ["atomic_torch_save", "atomic_write_text", "atomic_write_json", "load_checkpoint", "rng_state",
           "restore_rng_state"]


def load_checkpoint(path: str | os.PathLike, func: str = "load_checkpoint") -> dict:
    """Load a checkpoint written by the training loop (CPU tensors); clear errors if missing or
    not one of ours."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{func}(): checkpoint {path} does not exist")
    ckpt = load_weights_only(path, func)       # no code runs from the file (docs/security.md)
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise ValueError(f"{func}(): {path} is not a quaton-fast training checkpoint (no 'model'/'config')")
    return ckpt


def rng_state() -> dict:
    """Every RNG a run draws from: torch CPU (and CUDA if present), NumPy, Python -- as tensors,
    numbers and strings only, so a checkpoint loads with plain ``torch.load`` (``weights_only=True``)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"bit_generator": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                       "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Restore :func:`rng_state` (also the tuple NumPy state of checkpoints written before it was a dict)."""
    torch.set_rng_state(state["torch"])
    npst = state["numpy"]
    if isinstance(npst, dict):
        npst = (npst["bit_generator"], npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"],
                npst["cached_gaussian"])
    np.random.set_state(npst)
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])

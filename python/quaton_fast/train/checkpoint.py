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
    """Every RNG a run draws from: torch CPU (and CUDA if present), NumPy, Python."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])

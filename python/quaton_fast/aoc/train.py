"""Training of the AOC equilibrium models (Adam, lr 3e-4, batch 64), checkpoints, evaluation."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

from .equilibrium import EquilibriumClassifier, EquilibriumRegressor

__all__ = ["build_model", "train", "evaluate", "save_checkpoint", "load_checkpoint", "append_results"]


def build_model(task: str, model: int = 256, seed: int = 0):
    cells = {256: 1, 4096: 16}[int(model)]
    torch.manual_seed(seed)
    if task in ("gauss", "sine"):
        return EquilibriumRegressor(cells=cells, seed=seed)
    return EquilibriumClassifier(cells=cells, seed=seed)


def _atomic_write_bytes(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(path, model, opt, epoch: int, step: int) -> None:
    state = {"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch, "step": step,
             "rng": torch.get_rng_state()}
    _atomic_write_bytes(Path(path), lambda fh: torch.save(state, fh))


def load_checkpoint(path, model, opt) -> Dict:
    st = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(st["model"]); opt.load_state_dict(st["opt"]); torch.set_rng_state(st["rng"])
    return st


@torch.no_grad()
def evaluate(model, x: torch.Tensor, y: torch.Tensor, regression: bool, quant: Optional[str] = None,
             batch: int = 1000) -> float:
    """Accuracy (classification) or MSE (regression); ``quant`` = 9-bit mode or None (float)."""
    model.eval()
    ctx = model.quantized(quant) if quant else _null()
    tot = 0.0
    with ctx:
        for i in range(0, len(x), batch):
            out = model(x[i:i + batch])
            tot += float(((out - y[i:i + batch]) ** 2).sum()) if regression else \
                float((out.argmax(1) == y[i:i + batch]).sum())
    return tot / len(x)


class _null:
    def __enter__(self): return self
    def __exit__(self, *a): return False


def train(model, x: torch.Tensor, y: torch.Tensor, *, regression: bool, epochs: int = 1, lr: float = 3e-4,
          batch: int = 64, seed: int = 0, max_steps: Optional[int] = None, checkpoint: Optional[str] = None,
          progress: bool = True) -> Dict:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    start_epoch, step = 0, 0
    if checkpoint and os.path.exists(checkpoint):
        st = load_checkpoint(checkpoint, model, opt); start_epoch, step = st["epoch"], st["step"]
    loss_fn = torch.nn.MSELoss() if regression else torch.nn.CrossEntropyLoss()
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None
    last = float("nan")
    for ep in range(start_epoch, epochs):
        g = torch.Generator().manual_seed(seed * 1000 + ep)
        perm = torch.randperm(len(x), generator=g)
        it = range(0, len(x), batch)
        bar = tqdm(it, desc=f"epoch {ep + 1}/{epochs}", disable=not progress) if tqdm else it
        model.train()
        for i in bar:
            idx = perm[i:i + batch]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad(); loss.backward(); opt.step()
            step += 1; last = float(loss.detach())
            if tqdm and progress and step % 20 == 0:
                bar.set_postfix(loss=f"{last:.4f}")
            if max_steps is not None and step >= max_steps:
                break
        if checkpoint:
            save_checkpoint(checkpoint, model, opt, ep + 1, step)
        if max_steps is not None and step >= max_steps:
            break
    return {"steps": step, "last_loss": last}


def append_results(path, records) -> None:
    """Append records to a JSON list file atomically."""
    path = Path(path)
    old = json.loads(path.read_text()) if path.exists() else []
    old.extend(records)
    _atomic_write_bytes(path, lambda fh: fh.write(json.dumps(old, indent=1).encode()))

"""Training of the AOC equilibrium models (Adam, lr 3e-4, batch 64), checkpoints, evaluation.

DDP-ready (``quaton_fast.distributed``): every rank draws the same global batch order, takes its
shard of each global batch, DDP averages the gradients, and only rank 0 writes checkpoints; in a
single process the loop is the plain one."""
from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Dict, Optional

import torch

from .._atomic import atomic_torch_save, atomic_write_json
from .._safe_torch import load_weights_only
from .._safe_json import read_json
from ..distributed import is_main_process, shard_batch, shard_loss_scale, unwrap, world_size, wrap_ddp
from .equilibrium import EquilibriumClassifier, EquilibriumRegressor

__all__ = ["build_model", "train", "evaluate", "save_checkpoint", "load_checkpoint", "append_results"]


def build_model(task: str, model: int = 256, seed: int = 0, **kw):
    """Equilibrium model for ``task`` with 256 (1 cell) or 4096 (16 cells) AOC weights; ``kw`` go to
    the model (e.g. ``max_gain``)."""
    cells = {256: 1, 4096: 16}[int(model)]
    torch.manual_seed(seed)
    if task in ("gauss", "sine"):
        return EquilibriumRegressor(cells=cells, seed=seed, **kw)
    return EquilibriumClassifier(cells=cells, seed=seed, **kw)


def save_checkpoint(path, model, opt, epoch: int, step: int, **extra) -> None:
    """Atomic checkpoint: weights, optimiser, epoch, step, RNG state and ``extra`` (history, best)."""
    state = {"model": unwrap(model).state_dict(), "opt": opt.state_dict(), "epoch": epoch, "step": step,
             "rng": torch.get_rng_state(), **extra}
    atomic_torch_save(state, path)


def load_checkpoint(path, model, opt) -> Dict:
    st = load_weights_only(path, "aoc load_checkpoint")    # no code runs from the file
    unwrap(model).load_state_dict(st["model"]); opt.load_state_dict(st["opt"]); torch.set_rng_state(st["rng"])
    return st


@torch.no_grad()
def evaluate(model, x: torch.Tensor, y: torch.Tensor, regression: bool, quant: Optional[str] = None,
             batch: int = 1000) -> float:
    """Accuracy (classification) or MSE (regression); ``quant`` = 9-bit mode or None (float).

    x: (N, ...) inputs; y: (N,) int64 labels or (N, 1) targets. Restores the train/eval mode."""
    model = unwrap(model)
    was_training = model.training
    model.eval()
    ctx = model.quantized(quant) if quant else _null()
    tot = 0.0
    with ctx:
        for i in range(0, len(x), batch):
            out = model(x[i:i + batch])
            tot += float(((out - y[i:i + batch]) ** 2).sum()) if regression else \
                float((out.argmax(1) == y[i:i + batch]).sum())
    model.train(was_training)
    return tot / len(x)


class _null:
    def __enter__(self): return self
    def __exit__(self, *a): return False


def _better(new: float, old: Optional[float], regression: bool) -> bool:
    return old is None or (new < old if regression else new > old)


def train(model, x: torch.Tensor, y: torch.Tensor, *, regression: bool, epochs: int = 1, lr: float = 3e-4,
          batch: int = 64, seed: int = 0, max_steps: Optional[int] = None, checkpoint: Optional[str] = None,
          progress: bool = True, x_val: Optional[torch.Tensor] = None, y_val: Optional[torch.Tensor] = None,
          quant_mode: Optional[str] = "maxabs", lr_schedule: str = "constant") -> Dict:
    """Adam on mini-batches of ``batch`` (the global batch; under torchrun each rank takes its shard).

    x: (N, ...) float32; y: (N,) int64 labels or (N, 1) targets; x_val/y_val: validation split.
    With a validation split, after every epoch the float (and, if ``quant_mode``, 9-bit) validation
    metric is recorded, and at the end the model holds the weights of the epoch with the best float
    validation metric (accuracy max, MSE min); the test set is never looked at here.
    lr_schedule: 'constant' or 'cosine' (per step from ``lr`` to 0 over ``epochs`` epochs).
    Returns {'steps', 'last_loss', 'history': [per epoch {'epoch', 'steps', 'loss', 'time_s',
    'val', 'val_9bit'}], 'best_epoch'}. Checkpoints (rank 0 only) hold the history and the best weights.
    """
    model = unwrap(model)
    net = wrap_ddp(model)
    if lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"train(): argument 'lr_schedule' must be 'constant' or 'cosine', got {lr_schedule!r}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    per_epoch = -(-len(x) // batch)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * per_epoch))
             if lr_schedule == "cosine" else None)
    start_epoch, step, history, best = 0, 0, [], None
    if checkpoint and os.path.exists(checkpoint):
        st = load_checkpoint(checkpoint, model, opt)
        start_epoch, step = st["epoch"], st["step"]
        history, best = st.get("history", []), st.get("best")
        if sched is not None and st.get("sched") is not None:
            sched.load_state_dict(st["sched"])
    loss_fn = torch.nn.MSELoss() if regression else torch.nn.CrossEntropyLoss()
    from .._progress import LiveLoss, bar as progress_bar
    show = progress and is_main_process()
    last = float("nan")
    for ep in range(start_epoch, epochs):
        t0 = time.perf_counter()
        g = torch.Generator().manual_seed(seed * 1000 + ep)
        perm = torch.randperm(len(x), generator=g)
        it = range(0, len(x), batch)
        bar = progress_bar(it, description=f"epoch {ep + 1}/{epochs}", show=show, leave=True)
        live = LiveLoss(bar)
        last_t = None   # the last step's loss, on the device (read once per epoch, no sync per step)
        model.train()
        for i in bar:
            glob = perm[i:i + batch]
            if len(glob) < world_size():  # a trailing batch too small to give every rank an item
                continue
            idx = shard_batch(glob)
            loss = loss_fn(net(x[idx]), y[idx])
            opt.zero_grad(); (loss * shard_loss_scale(len(glob))).backward(); opt.step()
            if hasattr(model, "project_"):
                model.project_()
            if sched is not None:
                sched.step()
            step += 1; last_t = loss.detach()
            live.update(last_t, 1)   # the current step's loss, at most every 0.1 s; no host sync on CUDA
            if max_steps is not None and step >= max_steps:
                break
        if last_t is not None:
            last = float(last_t)
        rec = {"epoch": ep + 1, "steps": step, "loss": last, "time_s": time.perf_counter() - t0}
        if x_val is not None:
            rec["val"] = evaluate(model, x_val, y_val, regression)
            if quant_mode:
                rec["val_9bit"] = evaluate(model, x_val, y_val, regression, quant_mode)
            if best is None or _better(rec["val"], best["val"], regression):
                best = {"epoch": ep + 1, "val": rec["val"], "model": copy.deepcopy(model.state_dict())}
            if is_main_process():
                print(f"epoch {ep + 1}: loss {last:.4f}, val {rec['val']:.5f}"
                      + (f", val 9-bit {rec['val_9bit']:.5f}" if "val_9bit" in rec else "")
                      + f", {rec['time_s']:.0f} s", flush=True)
        history.append(rec)
        if checkpoint and is_main_process():
            save_checkpoint(checkpoint, model, opt, ep + 1, step, history=history, best=best,
                            sched=None if sched is None else sched.state_dict())
        if max_steps is not None and step >= max_steps:
            break
    if best is not None:
        model.load_state_dict(best["model"])
    return {"steps": step, "last_loss": last, "history": history,
            "best_epoch": None if best is None else best["epoch"]}


def append_results(path, records) -> None:
    """Append records to a JSON list file atomically."""
    path = Path(path)
    old = read_json("append_results", path, nonfinite=True, expect=list) if path.exists() else []
    old.extend(records)
    atomic_write_json(old, path, indent=1)

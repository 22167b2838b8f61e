"""One training epoch, hard-quantized evaluation and per-epoch phase statistics (DDP-aware).

Data-parallel convention (see ``quaton_fast.distributed``): every rank draws the same global
batch order from ``epoch_generator(seed, epoch)`` and trains on ``shard_batch(batch)``; losses
and evaluation counts are summed over ranks, so one process and many report the same numbers.
"""
from __future__ import annotations

import math

import torch

from .. import distributed as dist
from ..encode import check_images
from ..nn.d2nn import D2NN
from ..quant.quantizers import GumbelSoftmax
from .._progress import LiveLoss, bar as progress_bar

HIST_BINS = 64


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The shuffling RNG of one epoch: a pure function of (seed, epoch), so a resumed run
    draws the same batches as an uninterrupted one."""
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))


def _all_sum(values: list[float], device: torch.device) -> list[float]:
    if not dist.is_initialized():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return t.tolist()


def train_one_epoch(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, *,
                    batch_size: int, generator: torch.Generator, device: torch.device, progress: bool,
                    description: str) -> dict:
    """One pass over ``x`` (B, H, W) / ``y`` (B,) in shuffled global batches. ``model`` may be a
    DDP wrapper of a :class:`D2NN`. Returns the mean loss and the (soft, training-mode) accuracy."""
    net = dist.unwrap(model)
    check_images(x, "train_one_epoch")  # once per epoch, so each batch encodes without a host sync
    model.train()
    order = torch.randperm(len(x), generator=generator)
    batches = [order[s:s + batch_size] for s in range(0, len(x), batch_size)]
    # running sums stay on the device (no host read per step); the bar shows the running loss at
    # most every 0.1 s, copied asynchronously on CUDA (quaton_fast/_progress.py)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    count = 0
    show = progress and dist.is_main_process()
    bar = progress_bar(batches, description=description, show=show)
    live = LiveLoss(bar)
    for batch in bar:
        if len(batch) < dist.world_size():  # a trailing batch too small to give every rank an item
            continue
        idx = dist.shard_batch(batch)
        xb = net.encode(x[idx].to(device), validate=False)
        yb = y[idx].to(device)
        logits = model(xb)
        loss = torch.nn.functional.cross_entropy(logits, yb) + net.regularization()
        opt.zero_grad(set_to_none=True)
        (loss * dist.shard_loss_scale(len(batch))).backward()  # exact global-batch mean for uneven shards
        opt.step()
        loss_sum += loss.detach().double() * len(idx)
        correct += (logits.detach().argmax(-1) == yb).sum()
        count += len(idx)
        live.update(loss_sum, count)
    loss_sum, correct, count = _all_sum([float(loss_sum), float(correct), float(count)], device)
    return {"loss": loss_sum / max(count, 1.0), "train_accuracy_soft": correct / max(count, 1.0)}


@torch.no_grad()
def evaluate(model: D2NN, x: torch.Tensor, y: torch.Tensor, *, device: torch.device, batch_size: int = 250,
             num_classes: int = 10, progress: bool = False) -> dict:
    """Hard-quantized (eval-mode) accuracy and confusion matrix (C, C) [true, predicted] of
    ``model`` on ``x`` (B, H, W) / ``y`` (B,). Under DDP each rank takes every world-th image and
    the counts are summed."""
    net = dist.unwrap(model)
    check_images(x, "evaluate")
    was_training = net.training
    net.eval()
    mine = torch.arange(len(x))[dist.rank()::dist.world_size()]
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.float64, device=device)
    chunks = [mine[s:s + batch_size] for s in range(0, len(mine), batch_size)]
    for idx in progress_bar(chunks, description="test (hard-quantized)",
                            show=progress and dist.is_main_process()):
        pred = net(net.encode(x[idx].to(device), validate=False)).argmax(-1)
        flat = y[idx].to(device) * num_classes + pred
        confusion += torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
    if dist.is_initialized():
        torch.distributed.all_reduce(confusion)
    net.train(was_training)
    total = float(confusion.sum())
    return {"accuracy": float(confusion.trace()) / max(total, 1.0), "n": int(total),
            "confusion": confusion.long().cpu().tolist()}


@torch.no_grad()
def phase_histograms(model: D2NN, bins: int = HIST_BINS) -> list[list[int]]:
    """Histogram (``bins`` bins over [0, 2π)) of the phase each layer applies in training now:
    the soft-quantized phase for PSQ/DSQ/STE, the latent for FP/PQ, the argmax level for GS.
    Draws no random numbers. Returns (L, bins) counts."""
    out = []
    for layer in dist.unwrap(model).layers:
        q = layer.quantizer
        phi = q.hard(layer.latent) if isinstance(q, GumbelSoftmax) else \
            (q.quantize_train(layer.latent) if hasattr(q, "thresholds") else layer.latent)
        phi = torch.remainder(phi.detach().float(), 2 * math.pi)
        out.append(torch.histc(phi.cpu(), bins=bins, min=0.0, max=2 * math.pi).long().tolist())
    return out


def quantizer_state(model: D2NN) -> dict:
    """Per-layer sharpness k (1/rad) of PSQ layers, for the history (empty otherwise)."""
    ks = []
    for layer in dist.unwrap(model).layers:
        if hasattr(layer.quantizer, "sharpness"):
            ks.append(float(layer.quantizer.sharpness().detach()))
    return {"psq_sharpness": ks} if ks else {}

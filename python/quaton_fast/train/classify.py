"""A compact training loop for D2NN classification with quantization-aware training.

Schedule: ``warmup_epochs`` in full precision, then the chosen quantizer takes over from the
trained phases (wrapped into one period) for the remaining epochs. Evaluation always runs the
model in ``eval()`` mode, i.e. with hard quantization.

Sharing a warm-up: a run asked for ``snapshot_epoch=W`` keeps a :class:`Snapshot` of its state
after ``W`` epochs (model, batch-order RNG, torch's global RNG); another run given
``resume=snapshot`` continues from there exactly as if it had trained those ``W`` epochs itself
(the same batches, the same numbers), so several QAT methods can start from one full-precision
warm-up (the demo does; ``quaton-fast sweep`` does the same with run directories).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..encode import check_images
from ..nn.d2nn import D2NN
from ..quant.base import Quantizer
from .._progress import LiveLoss, bar as progress_bar


@dataclass(frozen=True)
class Snapshot:
    """The state of a :func:`train_classifier` run after ``epoch`` epochs: the model's
    ``state_dict`` (CPU copies), the batch-order generator's state and torch's global RNG state."""
    epoch: int
    model_state: dict
    generator_state: torch.Tensor
    rng_state: torch.Tensor


@dataclass
class TrainResult:
    """What a training run measured. Accuracies in [0, 1], losses per sample, times in s.
    ``snapshot``: the state after ``snapshot_epoch`` epochs when one was asked for, else None."""
    test_accuracy: float
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    snapshot: Snapshot | None = None


def _snapshot(model: D2NN, epoch: int, gen: torch.Generator) -> Snapshot:
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    return Snapshot(epoch, state, gen.get_state(), torch.get_rng_state())


def _batches(n: int, batch_size: int, generator: torch.Generator | None):
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


@torch.no_grad()
def evaluate_accuracy(model: D2NN, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 256,
                      device: torch.device | str = "cpu") -> float:
    """Accuracy of ``model`` in eval mode (hard quantization) on ``images`` (B, H, W) in [0, 1],
    ``labels`` (B,) int64."""
    check_images(images, "evaluate_accuracy")  # once, so each batch encodes without a host sync
    was_training = model.training
    model.eval()
    correct = 0
    for idx in _batches(len(images), batch_size, None):
        x = model.encode(images[idx].to(device), validate=False)
        correct += int((model(x).argmax(dim=-1) == labels[idx].to(device)).sum())
    model.train(was_training)
    return correct / max(len(images), 1)


def train_classifier(model: D2NN, train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor],
                     *, epochs: int, warmup_epochs: int = 0, quantizer: Quantizer | None = None,
                     batch_size: int = 64, lr: float = 0.01, seed: int = 0, device: torch.device | str = "cpu",
                     progress: bool = True, description: str = "train", snapshot_epoch: int | None = None,
                     resume: Snapshot | None = None) -> TrainResult:
    """Train ``model`` (built with a full-precision quantizer) on ``train`` = (images (B, H, W),
    labels (B,)). After ``warmup_epochs`` the layers switch to ``quantizer`` (None: stay FP).
    Adam with learning rate ``lr``; cross-entropy plus the quantizers' regularisation.

    ``snapshot_epoch``: keep the state after that many epochs (0 ≤ it ≤ ``epochs``) in
    ``result.snapshot``. ``resume``: a snapshot taken after exactly ``warmup_epochs`` epochs of a
    run with the same data, ``batch_size``, ``lr`` and ``seed``; ``model`` (same architecture,
    full-precision quantizer) takes its state and training continues from there to ``epochs``
    with the numbers the uninterrupted run would give (the optimizer restarts at the quantizer
    switch anyway, so the model and the two RNG states are all that carries over). ``history`` and ``seconds`` then cover only the
    epochs trained here. Raises ValueError for an impossible schedule."""
    if warmup_epochs > epochs:
        raise ValueError(f"train_classifier(): argument 'warmup_epochs' must be <= epochs ({epochs}), "
                         f"got {warmup_epochs}")
    if snapshot_epoch is not None and not 0 <= snapshot_epoch <= epochs:
        raise ValueError(f"train_classifier(): argument 'snapshot_epoch' must be in [0, epochs ({epochs})], "
                         f"got {snapshot_epoch}")
    if resume is not None and resume.epoch != warmup_epochs:
        raise ValueError(f"train_classifier(): argument 'resume' must be a snapshot taken at the end of the "
                         f"full-precision warm-up (epoch {warmup_epochs}), got one after epoch {resume.epoch}")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    start = 0
    if resume is not None:
        model.load_state_dict(resume.model_state)
        gen.set_state(resume.generator_state)
        torch.set_rng_state(resume.rng_state)
        start = resume.epoch
    model.to(device).train()
    x_train, y_train = train
    check_images(x_train, "train_classifier")  # once, so each batch encodes without a host sync
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[dict] = []
    t0 = time.perf_counter()
    snapshot = _snapshot(model, start, gen) if snapshot_epoch == start else None
    for epoch in range(start, epochs):
        if quantizer is not None and epoch == warmup_epochs:
            model.switch_quantizer(quantizer)
            opt = torch.optim.Adam(model.parameters(), lr=lr)
        qat_epoch = max(0, epoch - warmup_epochs)
        model.set_epoch(qat_epoch)
        total = torch.zeros((), dtype=torch.float64, device=device)   # on the device: no read per step
        count = 0
        bar = progress_bar(list(_batches(len(x_train), batch_size, gen)), show=progress,
                           description=f"{description} epoch {epoch + 1}/{epochs}")
        live = LiveLoss(bar)
        for idx in bar:
            x = model.encode(x_train[idx].to(device), validate=False)
            y = y_train[idx].to(device)
            loss = torch.nn.functional.cross_entropy(model(x), y) + model.regularization()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach().double() * len(idx)
            count += len(idx)
            live.update(total, count)   # at most every 0.1 s; no host sync on CUDA
        history.append({"epoch": epoch, "loss": float(total) / max(count, 1),
                        "phase": "warmup" if quantizer is not None and epoch < warmup_epochs else "qat"})
        if snapshot_epoch == epoch + 1:
            snapshot = _snapshot(model, epoch + 1, gen)
    acc = evaluate_accuracy(model, *test, device=device)
    return TrainResult(test_accuracy=acc, history=history, seconds=time.perf_counter() - t0, snapshot=snapshot)


def split_indices(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``n`` items: (train indices, test indices)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_test = int(round(n * test_fraction))
    return order[n_test:], order[:n_test]

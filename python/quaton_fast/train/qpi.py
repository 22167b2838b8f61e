"""Training loop for all-optical quantitative phase imaging (QPI) with a D2NN (docs/physics.md).

The phase object φ (radians) enters as ``u0 = exp(i·φ)`` centred on the N×N grid; the network
predicts ``ŷ = s·|u|² + b`` (its :class:`~quaton_fast.nn.readouts.QPIReadout`), compared on the
object window with the target φ/φ_max ∈ [0, 1]. Schedule as in
:func:`~quaton_fast.train.classify.train_classifier`: ``warmup_epochs`` in full precision, then
the chosen quantizer takes over from the trained phases. Evaluation always runs the model in
``eval()`` mode, i.e. with hard-quantized masks.

Data-parallel under ``torchrun`` (see :mod:`quaton_fast.distributed`): every rank draws the same
global batch order, takes its shard with ``shard_batch``, the model is wrapped in DDP (re-wrapped
after the quantizer switch), and only rank 0 shows progress; the caller writes files on rank 0.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from .. import distributed as dist
from .._validation import fail, finite_real, positive_int
from ..nn.d2nn import D2NN
from ..nn.readouts import QPIReadout
from ..qpi.encoding import crop_to_object, encode_phase_object
from .._progress import LiveLoss, bar as progress_bar
from ..qpi.metrics import LOSS_NAMES, qpi_loss
from ..qpi.metrics import mse as mse_metric
from ..qpi.metrics import ssim as ssim_metric
from ..quant.base import Quantizer

__all__ = ["QPIResult", "evaluate_qpi", "fit_readout", "qpi_optimizer", "train_qpi", "train_qpi_epoch"]


@dataclass
class QPIResult:
    """What a QPI run measured on the test set with hard quantization: mean SSIM (data range 1,
    11×11 Gaussian window) and mean MSE per image; per-epoch history; wall time in s."""
    test_ssim: float
    test_mse: float
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def _check_model(func: str, model: torch.nn.Module) -> D2NN:
    base = dist.unwrap(model)
    if not isinstance(base, D2NN) or not isinstance(base.readout, QPIReadout):
        fail(func, "model", "a D2NN built with readout='qpi'",
             f"{type(base).__name__} with readout {type(getattr(base, 'readout', None)).__name__}")
    return base


def _check_pair(func: str, arg: str, pair, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        fail(func, arg, "a pair (phi (B, H, W) radians, targets (B, H, W) in [0, 1])", type(pair).__name__, TypeError)
    phi, target = (torch.as_tensor(a, dtype=torch.float32) for a in pair)
    if phi.dim() != 3 or phi.shape != target.shape or len(phi) == 0:
        fail(func, arg, "two tensors of the same shape (B, H, W), B >= 1",
             f"shapes {tuple(phi.shape)} and {tuple(target.shape)}")
    if phi.shape[-1] > n or phi.shape[-2] > n:
        fail(func, arg, f"images no larger than the model's grid {n}×{n}", f"shape {tuple(phi.shape)}")
    return phi, target


def qpi_optimizer(base: D2NN, lr: float, readout_lr: float) -> torch.optim.Optimizer:
    """Adam with learning rate ``lr`` for the phases (and quantizer parameters) and ``readout_lr``
    for the read-out scalars s, b."""
    readout = list(base.readout.parameters())
    ids = {id(p) for p in readout}
    rest = [p for p in base.parameters() if id(p) not in ids]
    groups = [{"params": rest, "lr": lr}] + ([{"params": readout, "lr": readout_lr}] if readout else [])
    return torch.optim.Adam(groups)


def _predict(net: torch.nn.Module, n: int, phi: torch.Tensor) -> torch.Tensor:
    # phi: (B, H, W) radians -> prediction on the object window (B, H, W)
    return crop_to_object(net(encode_phase_object(phi, n)), tuple(phi.shape[-2:]))


@torch.no_grad()
def fit_readout(model: torch.nn.Module, phi: torch.Tensor, targets: torch.Tensor, *, max_images: int = 256,
                device: torch.device | str = "cpu") -> tuple[float, float]:
    """Set the read-out ``ŷ = s·|u|² + b`` to the least-squares fit of the targets on the current
    masks (in the model's current mode), over the first ``max_images`` of ``phi`` (B, H, W) radians
    and ``targets`` (B, H, W); returns (s, b). A sensible start: the raw intensity is ≈ 1 on a
    transparent background while the targets are ≈ 0 there."""
    base = _check_model("fit_readout", model)
    phi, targets = _check_pair("fit_readout", "phi/targets", (phi, targets), base.n)
    max_images = positive_int("fit_readout", "max_images", max_images)
    count = min(len(phi), max_images)
    sums = torch.zeros(5, dtype=torch.float64)  # Σ1, ΣI, ΣI², Σt, ΣIt
    for start in range(0, count, 64):
        p = phi[start:min(start + 64, count)].to(device)
        t = targets[start:min(start + 64, count)].to(device).double()
        u = crop_to_object(base.output_field(encode_phase_object(p, base.n)), tuple(p.shape[-2:]))
        i = (u.real ** 2 + u.imag ** 2).double()
        sums += torch.stack([torch.tensor(float(i.numel()), dtype=torch.float64), i.sum(), (i * i).sum(), t.sum(),
                             (i * t).sum()]).cpu()
    n, si, sii, st, sit = sums.tolist()
    var = sii - si * si / n
    scale = (sit - si * st / n) / var if var > 1e-12 * max(sii, 1e-300) else 0.0
    bias = (st - scale * si) / n
    base.readout.scale.fill_(scale)
    base.readout.bias.fill_(bias)
    return float(scale), float(bias)


@torch.no_grad()
def evaluate_qpi(model: torch.nn.Module, phi: torch.Tensor, targets: torch.Tensor, *, batch_size: int = 64,
                 device: torch.device | str = "cpu") -> dict[str, float]:
    """Mean SSIM and MSE per image of ``model`` in eval mode (hard quantization).

    phi: (B, H, W) radians; targets: (B, H, W) in [0, 1]. Returns {'ssim': ..., 'mse': ...}."""
    base = _check_model("evaluate_qpi", model)
    phi, targets = _check_pair("evaluate_qpi", "phi/targets", (phi, targets), base.n)
    batch_size = positive_int("evaluate_qpi", "batch_size", batch_size)
    was_training = base.training
    base.eval()
    s_sum = m_sum = 0.0
    for start in range(0, len(phi), batch_size):
        p = phi[start:start + batch_size].to(device)
        t = targets[start:start + batch_size].to(device)
        pred = _predict(base, base.n, p)
        s_sum += float(ssim_metric(pred, t, reduction="none").sum())
        m_sum += float(mse_metric(pred, t, reduction="none").sum())
    base.train(was_training)
    return {"ssim": s_sum / len(phi), "mse": m_sum / len(phi)}


def train_qpi_epoch(model: torch.nn.Module, opt: torch.optim.Optimizer, phi: torch.Tensor, targets: torch.Tensor, *,
                    loss: str, batch_size: int, generator: torch.Generator, device: torch.device | str,
                    progress: bool = False, description: str = "qpi") -> float:
    """One pass over ``phi`` (B, H, W) radians / ``targets`` (B, H, W) in [0, 1] in global batches
    shuffled by ``generator``; ``model`` is a QPI D2NN or its DDP wrapper (each rank trains on its
    shard). Returns the mean training loss (``loss`` + regularisation) over all ranks."""
    base = _check_model("train_qpi_epoch", model)
    order = torch.randperm(len(phi), generator=generator)
    batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    bar = progress_bar(batches, description=description, show=progress and dist.is_main_process())
    live = LiveLoss(bar)
    total = torch.zeros((), dtype=torch.float64, device=device)   # on the device: no read per step
    count = 0
    for idx in bar:
        if len(idx) < dist.world_size():  # a trailing batch too small to give every rank an item
            continue
        scale = dist.shard_loss_scale(len(idx))  # exact global-batch mean for uneven shards
        idx = dist.shard_batch(idx)
        p, t = phi[idx].to(device), targets[idx].to(device)
        value = qpi_loss(loss, _predict(model, base.n, p), t) + base.regularization()
        opt.zero_grad(set_to_none=True)
        (value * scale).backward()
        opt.step()
        total += value.detach().double() * len(idx)
        count += len(idx)
        live.update(total, count)   # at most every 0.1 s; no host sync on CUDA
    totals = torch.stack([total, torch.tensor(float(count), dtype=torch.float64, device=total.device)])
    if dist.is_initialized():
        torch.distributed.all_reduce(totals)
    totals = totals.cpu()
    return float(totals[0] / totals[1])


def train_qpi(model: torch.nn.Module, train: tuple[torch.Tensor, torch.Tensor],
              test: tuple[torch.Tensor, torch.Tensor], *, epochs: int, warmup_epochs: int = 0,
              quantizer: Quantizer | None = None, loss: str = "ssim", batch_size: int = 32, lr: float = 0.01,
              readout_lr: float | None = None, init_readout: bool = True, seed: int = 0,
              device: torch.device | str = "cpu", progress: bool = True, description: str = "qpi") -> QPIResult:
    """Train ``model`` (a D2NN with readout='qpi', built with a full-precision quantizer) on
    ``train`` = (phi (B, H, W) radians, targets (B, H, W) in [0, 1]); test on ``test``.

    After ``warmup_epochs`` the layers switch to ``quantizer`` (None: stay full precision).
    loss: 'ssim' (1 − SSIM), 'mse' or 'berhu', plus the quantizers' regularisation. Adam with
    learning rate ``lr`` for the phases and ``readout_lr`` (default ``lr / 10``) for the read-out
    scalars s, b, whose scale is unrelated to radians (one Adam step moves a parameter by ≈ lr).
    ``init_readout``: start s, b from :func:`fit_readout` on the training set (the same on every
    rank); pass False to keep a trained model's read-out when continuing. ``batch_size`` is the
    global batch (split over the ranks under DDP; a trailing batch smaller than the world size is
    skipped).
    """
    f = "train_qpi"
    base = _check_model(f, model)
    epochs = positive_int(f, "epochs", epochs)
    warmup_epochs = positive_int(f, "warmup_epochs", warmup_epochs, minimum=0)
    if warmup_epochs > epochs:
        fail(f, "warmup_epochs", f"<= epochs ({epochs})", warmup_epochs)
    if loss not in LOSS_NAMES:
        fail(f, "loss", f"one of {', '.join(LOSS_NAMES)}", repr(loss))
    batch_size = positive_int(f, "batch_size", batch_size)
    lr = finite_real(f, "lr", lr, positive=True)
    readout_lr = lr / 10 if readout_lr is None else finite_real(f, "readout_lr", readout_lr, positive=True)
    x_train, y_train = _check_pair(f, "train", train, base.n)
    x_test, y_test = _check_pair(f, "test", test, base.n)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)  # same global order on every rank
    base.to(device).train()
    if init_readout:
        fit_readout(base, x_train, y_train, device=device)
    net = dist.wrap_ddp(base)
    opt = qpi_optimizer(base, lr, readout_lr)
    history: list[dict] = []
    t0 = time.perf_counter()
    for epoch in range(epochs):
        if quantizer is not None and epoch == warmup_epochs:
            base.switch_quantizer(quantizer)
            base.to(device)
            net = dist.wrap_ddp(base)
            opt = qpi_optimizer(base, lr, readout_lr)
        base.set_epoch(max(0, epoch - warmup_epochs))
        mean_loss = train_qpi_epoch(net, opt, x_train, y_train, loss=loss, batch_size=batch_size, generator=gen,
                                    device=device, progress=progress,
                                    description=f"{description} epoch {epoch + 1}/{epochs}")
        history.append({"epoch": epoch, "loss": mean_loss,
                        "phase": "warmup" if quantizer is not None and epoch < warmup_epochs else "qat"})
    metrics = evaluate_qpi(base, x_test, y_test, device=device)
    return QPIResult(test_ssim=metrics["ssim"], test_mse=metrics["mse"], history=history,
                     seconds=time.perf_counter() - t0)

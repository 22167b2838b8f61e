"""`quaton-fast train --task rbc|cells`: one QPI (phase → intensity imaging) run from the CLI.

The network starts transparent (``init='zeros'``: free-space propagation, the start that learns
for imaging) and reads out ``s·|u|² + b`` (s, b from a least-squares fit on the training set,
then trained at lr/10; a run started ``--init-from`` keeps the checkpoint's s, b). RBC fields hold
2-4 cells of radius size/8 to 3·size/16 px. Training minimises 1 − SSIM, FP warm-up then QAT
(:func:`quaton_fast.train.qpi.train_qpi_epoch` per epoch, batches shuffled by
``epoch_generator(seed, epoch)``), and the test uses the hard-quantized masks. Images are
``--object-size`` px (default: the grid, one pixel per neuron).

The run is resumable like a classification run (the loop of :mod:`quaton_fast.train.stages`):
``checkpoint.pt`` after every epoch (``--resume`` continues bit-identically), ``epoch{K}.pt``
for ``--snapshot-epochs``, ``--init-from`` an FP checkpoint of a QPI task with the same geometry
(what ``quaton-fast sweep`` uses to share the warm-up). Also writes ``masks.npz`` and, last,
``result.json`` (rank 0).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import distributed as dist
from ..nn.d2nn import D2NN
from ..nn.presets import preset_config
from ..quant import FullPrecision
from .checkpoint import atomic_write_json
from .config import RunConfig
from .epochs import epoch_generator, quantizer_state
from .qpi import evaluate_qpi, fit_readout, qpi_optimizer, train_qpi_epoch
from .run_classify import METHOD_NAMES
from .stages import (RunState, device_description, init_from_checkpoint, resolve_device, resume_run,
                     run_epochs, run_log, run_in_dir)


@dataclass(frozen=True)
class QPIData:
    """Phase maps (B, H, W) radians and targets φ/φ_max (B, H, W) in [0, 1] for each split."""
    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    description: str


def _grid(cfg: RunConfig) -> int:
    return cfg.n if cfg.n is not None else int(preset_config(cfg.preset)["n"])


def _take(pair, limit: int | None, seed: int):
    phi, target = pair
    if limit is None or limit >= len(phi):
        return phi, target
    keep = np.sort(np.random.default_rng(seed).permutation(len(phi))[:limit])
    return phi[keep], target[keep]


def qpi_loader(name: str):
    """cfg -> QPIData for the QPI dataset ``name`` ('rbc' or 'cells') of quaton_fast.data."""
    def load(cfg: RunConfig) -> QPIData:
        from ..data import load_dataset
        size = cfg.object_size or _grid(cfg)
        # RBC fields as in benchmarks/qpi_table.py (32 px: 2-4 cells of radius 4-6 px), scaled to the size
        opts = ({"size": size, "radius_px": (size / 8, 3 * size / 16), "cells_per_field": (2, 4)}
                if name == "rbc" else {"tile": size})
        tr = _take(load_dataset(name, "train", root=cfg.data_root, seed=cfg.seed, **opts), cfg.train_limit, cfg.seed)
        te = _take(load_dataset(name, "test", root=cfg.data_root, seed=cfg.seed, **opts), cfg.test_limit, cfg.seed)
        as_t = lambda pair: tuple(torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in pair)  # noqa: E731
        return QPIData(as_t(tr), as_t(te), f"{name}: {len(tr[0])} train / {len(te[0])} test images of "
                                           f"{size}x{size} px, seed {cfg.seed}")
    return load


def build_qpi_model(cfg: RunConfig) -> D2NN:
    """The QPI network of ``cfg``: transparent full-precision masks, read-out s·|u|² + b."""
    geometry = {k: v for k, v in cfg.geometry().items() if k != "object_size"}
    return D2NN.preset(cfg.preset, **geometry, readout="qpi", init="zeros", quantizer=FullPrecision(), seed=cfg.seed)


def run_qpi(cfg: RunConfig, task, out_dir: str | os.PathLike, *, resume: bool = False, progress: bool = True,
            command: str = "") -> dict:
    """Train and test one QPI configuration; returns the result dict (also written to result.json)."""
    return run_in_dir(cfg, task, out_dir, resume=resume, progress=progress, command=command, func="run_qpi",
                      train_and_test=_train_and_test)


def _train_and_test(cfg: RunConfig, task, out: Path, ckpt_path: Path, *, resume: bool, progress: bool,
                    command: str) -> dict:
    f = "run_qpi"
    device = resolve_device(cfg, f)
    torch.manual_seed(cfg.seed)
    data = task.load(cfg)
    net = build_qpi_model(cfg).to(device)
    new_optimizer = lambda m: qpi_optimizer(m, cfg.lr, cfg.lr / 10)  # noqa: E731
    start = 0
    if resume and ckpt_path.exists():
        run = resume_run(ckpt_path, cfg, net, new_optimizer, device, f)
        start = run.epoch
        run_log(f"resumed {ckpt_path} after epoch {start}/{cfg.epochs} (stage {run.stage})")
    else:
        if cfg.init_from is not None:
            init_from_checkpoint(net, cfg, task.kind, f)
            run_log(f"initialised from {cfg.init_from}")
        else:
            fit_readout(net, *data.train, device=device)
        run = RunState(new_optimizer(net))

    def train_epoch(model, opt, epoch, stage):
        loss = train_qpi_epoch(model, opt, *data.train, loss="ssim", batch_size=cfg.batch,
                               generator=epoch_generator(cfg.seed, epoch), device=device, progress=progress,
                               description=f"{cfg.task} {cfg.quantizer} epoch {epoch + 1}/{cfg.epochs} [{stage}]")
        return {"loss": loss, **quantizer_state(net)}

    t0 = time.perf_counter()
    net.train()
    run_epochs(cfg, net, run, kind=task.kind, out=out, device=device, new_optimizer=new_optimizer,
               train_epoch=train_epoch, describe=lambda s: f"loss (1 - SSIM) {s['loss']:.4f}", log=run_log)
    train_seconds = time.perf_counter() - t0
    test = evaluate_qpi(net, *data.test, device=device)
    run_log(f"test SSIM {test['ssim']:.4f}, MSE {test['mse']:.5f} (hard-quantized masks, {len(data.test[0])} images)")
    method = METHOD_NAMES[cfg.quantizer]
    levels = None if cfg.quantizer == "fp" else cfg.levels
    dev = device_description(device)
    base = {"task": "qpi", "dataset": task.dataset, "method": method, "levels": levels, "split": "test",
            "device": dev, "command": command, "n_train": int(len(data.train[0])), "n_test": int(len(data.test[0])),
            "epochs": cfg.epochs, "warmup": cfg.warmup, "preset": cfg.preset, "seed": cfg.seed}
    records = [dict(base, metric="ssim", value=float(test["ssim"])), dict(base, metric="mse", value=float(test["mse"]))]
    result = {"config": cfg.to_dict(), "command": command, "task": cfg.task, "dataset": task.dataset,
              "method": method, "levels": levels, "data": data.description,
              "metrics": {"test_ssim": float(test["ssim"]), "test_mse": float(test["mse"])},
              "history": run.history, "train_seconds": train_seconds, "resumed_after_epoch": start,
              "readout": {"scale": float(net.readout.scale.detach()), "bias": float(net.readout.bias.detach())},
              "device": dev, "world_size": dist.world_size(), "torch": torch.__version__,
              "geometry": {"n": net.n, "layers": len(net.layers), "dx_m": net.dx, "wavelength_m": net.wavelength,
                           "n_medium": net.n_medium, "evanescent": net.evanescent,
                           "z_in_m": net.to_first.z, "dz_m": net.between.z, "z_out_m": net.to_detector.z,
                           "pad": net.to_first.pad, "object_size": int(data.train[0].shape[-1])},
              "records": records}
    if dist.is_main_process():
        net.export_masks(out / "masks.npz", n_material=cfg.material_index())
        atomic_write_json(result, out / "result.json")
    dist.barrier()
    return result

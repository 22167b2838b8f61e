"""`quaton-fast train --task rbc|cells`: one QPI (phase → intensity imaging) run from the CLI.

The network starts transparent (``init='zeros'``: free-space propagation, the start that learns
for imaging); RBC fields hold 2-4 cells of radius size/8 to 3·size/16 px, reads out ``s·|u|² + b`` (s, b from a least-squares fit, then trained at lr/10),
trains with 1 − SSIM, FP warm-up then QAT, and is tested with the hard-quantized masks
(:func:`quaton_fast.train.qpi.train_qpi`). Images are ``--object-size`` px (default: the grid,
one pixel per neuron). Writes ``masks.npz`` and ``result.json`` (rank 0). Not yet supported for
QPI runs (clear errors): ``--resume``, ``--init-from`` and ``--snapshot-epochs``, hence no sharing
of the warm-up in ``quaton-fast sweep``; ``benchmarks/qpi_table.py`` does that for the QPI table.
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
from .run_classify import METHOD_NAMES, device_description, make_run_quantizer, resolve_device


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


def run_qpi(cfg: RunConfig, task, out_dir: str | os.PathLike, *, resume: bool = False, progress: bool = True,
            command: str = "") -> dict:
    """Train and test one QPI configuration; returns the result dict (also written to result.json)."""
    from .qpi import train_qpi
    f = "run_qpi"
    if resume:
        raise ValueError(f"{f}(): argument 'resume' is not supported for QPI tasks yet; run again without --resume")
    if cfg.init_from is not None or cfg.snapshot_epochs:
        raise ValueError(f"{f}(): arguments 'init_from' / 'snapshot_epochs' are not supported for QPI tasks yet")
    out = Path(out_dir)
    if (out / "result.json").exists():
        raise FileExistsError(f"{f}(): argument 'out_dir' ({out}) already holds a result.json; choose another --out")
    if dist.is_main_process():
        out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg)
    torch.manual_seed(cfg.seed)
    data = task.load(cfg)
    geometry = {k: v for k, v in cfg.geometry().items() if k != "object_size"}
    net = D2NN.preset(cfg.preset, **geometry, readout="qpi", init="zeros", quantizer=FullPrecision(),
                      seed=cfg.seed).to(device)
    quantizer = None if cfg.quantizer == "fp" else make_run_quantizer(cfg)
    t0 = time.perf_counter()
    res = train_qpi(net, data.train, data.test, epochs=cfg.epochs,
                    warmup_epochs=cfg.warmup if quantizer is not None else 0, quantizer=quantizer, loss="ssim",
                    batch_size=cfg.batch, lr=cfg.lr, seed=cfg.seed, device=device, progress=progress,
                    description=f"{cfg.task} {cfg.quantizer}")
    method = METHOD_NAMES[cfg.quantizer]
    levels = None if cfg.quantizer == "fp" else cfg.levels
    dev = device_description(device)
    base = {"task": "qpi", "dataset": task.dataset, "method": method, "levels": levels, "split": "test",
            "device": dev, "command": command, "n_train": int(len(data.train[0])), "n_test": int(len(data.test[0])),
            "epochs": cfg.epochs, "warmup": cfg.warmup, "preset": cfg.preset, "seed": cfg.seed}
    records = [dict(base, metric="ssim", value=float(res.test_ssim)), dict(base, metric="mse", value=float(res.test_mse))]
    result = {"config": cfg.to_dict(), "command": command, "task": cfg.task, "dataset": task.dataset,
              "method": method, "levels": levels, "data": data.description,
              "metrics": {"test_ssim": float(res.test_ssim), "test_mse": float(res.test_mse)},
              "history": res.history, "train_seconds": time.perf_counter() - t0, "device": dev,
              "world_size": dist.world_size(), "torch": torch.__version__, "records": records}
    if dist.is_main_process():
        net.export_masks(out / "masks.npz", n_material=cfg.material_index())
        atomic_write_json(result, out / "result.json")
    dist.barrier()
    return result

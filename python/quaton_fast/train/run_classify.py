"""A resumable D2NN classification run: warm-up in FP, QAT, hard-quantized test, exports.

Files in ``out_dir`` (rank 0 writes, every file atomically):
- ``checkpoint.pt`` / ``epoch{K}.pt``: see :mod:`quaton_fast.train.stages` (the resumable loop
  shared with the QPI tasks); here they also hold the per-epoch phase histograms;
- ``masks.npz``: the hard-quantized masks for fabrication (phases, heights, pitch, wavelength);
- ``figures/*.png``: masks, output intensity with detectors, confusion matrix, phase histograms;
- ``result.json``: written last — config, exact command, metrics, history, records;
- ``settings.json`` (written at start: every setting that changes the result, and its sha256
  fingerprint) and ``run.lock`` (held while a trainer runs): see
  :func:`quaton_fast.train.stages.open_run_dir`. A finished run is never overwritten.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from .. import distributed as dist
from ..nn.d2nn import D2NN
from ..nn.spectral_d2nn import SpectralD2NN
from ..quant import FullPrecision
from .checkpoint import atomic_write_json
from .config import RunConfig
from .epochs import epoch_generator, evaluate, phase_histograms, quantizer_state, train_one_epoch
from .stages import (GEOMETRY_FIELDS, RunState, device_description, init_from_checkpoint, make_run_quantizer,
                     resolve_device, resume_run, run_epochs, run_log, run_in_dir)

METHOD_NAMES = {"fp": "FP", "pq": "PQ", "ste": "STE", "dsq": "DSQ", "gs": "GS", "psq-ft": "PSQ-FT",
                "psq-li": "PSQ-LI", "psq-lt": "PSQ-LT"}
__all__ = ["METHOD_NAMES", "GEOMETRY_FIELDS", "build_model", "device_description", "make_run_quantizer",
           "resolve_device", "run_classification"]


def build_model(cfg: RunConfig, num_classes: int) -> D2NN:
    """The network of ``cfg`` with full-precision layers (the warm-up stage)."""
    if cfg.spectral:
        return build_spectral_model(cfg, num_classes)
    net = D2NN.preset(cfg.preset, **cfg.geometry(), num_classes=num_classes, quantizer=FullPrecision(),
                      seed=cfg.seed)
    net.set_fabrication_errors(cfg.fabrication_errors(net.dx))   # None unless --fab-* (training only)
    return net


def build_spectral_model(cfg: RunConfig, num_classes: int) -> SpectralD2NN:
    """The broadband / partially coherent network of ``cfg`` (--wavelengths, --material,
    --coherence): the preset's geometry, its wavelength when none are given, the relief material
    (default a constant index ``n_material``), the preset's medium as a constant index."""
    from ..nn.presets import preset_config
    from ..reference.materials import Constant, material_from_spec
    p = {**preset_config(cfg.preset), **cfg.geometry()}
    material = material_from_spec(cfg.material) if cfg.material is not None else Constant(cfg.material_index())
    coherence = None if cfg.coherence is None else (cfg.coherence[0], cfg.coherence[1], int(cfg.coherence[2]))
    return SpectralD2NN(n=p["n"], dx=p["dx"], wavelengths=cfg.wavelengths or [p["wavelength"]],
                        num_layers=p["num_layers"], z_in=p["z_in"], dz=p["dz"], z_out=p["z_out"],
                        material=material, medium=Constant(p.get("n_medium", 1.0)), pad=p["pad"],
                        evanescent=p["evanescent"], quantizer=FullPrecision(), num_classes=num_classes,
                        object_size=p.get("object_size"), seed=cfg.seed, coherence=coherence)


def _new_optimizer(model: torch.nn.Module, cfg: RunConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=cfg.lr)


def run_classification(cfg: RunConfig, task, out_dir: str | os.PathLike, *, resume: bool = False,
                       progress: bool = True, command: str = "") -> dict:
    """Train and test one configuration; returns the result dict (also written to result.json)."""
    return run_in_dir(cfg, task, out_dir, resume=resume, progress=progress, command=command, func="run_classification",
                      train_and_test=_train_and_test)


def _train_and_test(cfg: RunConfig, task, out: Path, ckpt_path: Path, *, resume: bool, progress: bool,
                    command: str) -> dict:
    f = "run_classification"
    device = resolve_device(cfg, f)
    torch.manual_seed(cfg.seed)
    data = task.load(cfg)
    net = build_model(cfg, data.num_classes).to(device)
    new_optimizer = lambda m: _new_optimizer(m, cfg)  # noqa: E731
    start = 0
    if resume and ckpt_path.exists():
        run = resume_run(ckpt_path, cfg, net, new_optimizer, device, f)
        start = run.epoch
        run_log(f"resumed {ckpt_path} after epoch {start}/{cfg.epochs} (stage {run.stage})")
    else:
        init_hist = None
        if cfg.init_from is not None:
            ckpt = init_from_checkpoint(net, cfg, task.kind, f)
            init_hist = ckpt["phase_hist"][-1] if ckpt.get("phase_hist") else None
            run_log(f"initialised from {cfg.init_from}")
        run = RunState(new_optimizer(net), extra={"phase_hist": [], "init_phase_hist": init_hist})
    hist = run.extra["phase_hist"]

    def train_epoch(model, opt, epoch, stage):
        stats = train_one_epoch(model, opt, data.train_x, data.train_y, batch_size=cfg.batch,
                                generator=epoch_generator(cfg.seed, epoch), device=device, progress=progress,
                                description=f"epoch {epoch + 1}/{cfg.epochs} [{stage}]")
        hist.append(phase_histograms(net))
        return {**stats, **quantizer_state(net)}

    t_start = time.perf_counter()
    run_epochs(cfg, net, run, kind=task.kind, out=out, device=device, new_optimizer=new_optimizer,
               train_epoch=train_epoch, log=run_log,
               describe=lambda s: f"loss {s['loss']:.4f}, train accuracy (soft) {100 * s['train_accuracy_soft']:.2f} %")
    train_seconds = time.perf_counter() - t_start
    t0 = time.perf_counter()
    test = evaluate(net, data.test_x, data.test_y, device=device, num_classes=data.num_classes, progress=progress)
    run_log(f"test accuracy (hard-quantized masks): {100 * test['accuracy']:.2f} % on {test['n']} images")
    result = _result(cfg, task, data, net, test, run.history, hist, command, device, train_seconds,
                     time.perf_counter() - t0, start)
    if dist.is_main_process():
        if isinstance(net, SpectralD2NN):
            net.export_masks(out / "masks.npz")
        else:
            net.export_masks(out / "masks.npz", n_material=cfg.material_index())
        if cfg.plots:
            from ..report.run_figures import write_run_figures
            result["figures"] = write_run_figures(net, data, test["confusion"], hist, cfg, out / "figures",
                                                  init_hist=run.extra["init_phase_hist"])
        atomic_write_json(result, out / "result.json")
    dist.barrier()
    return result


def _result(cfg, task, data, net, test, history, hist, command, device, train_seconds, test_seconds,
            resumed_from) -> dict:
    method = METHOD_NAMES[cfg.quantizer]
    levels = None if cfg.quantizer == "fp" else cfg.levels
    dev = device_description(device)
    record = {"task": "classification", "dataset": task.dataset, "method": method, "levels": levels,
              "metric": "accuracy", "value": test["accuracy"], "split": "test", "device": dev, "command": command,
              "n_test": test["n"], "n_train": int(len(data.train_x)), "epochs": cfg.epochs,
              "warmup": cfg.warmup, "preset": cfg.preset, "seed": cfg.seed}
    return {"config": cfg.to_dict(), "command": command, "task": cfg.task, "dataset": task.dataset,
            "method": method, "levels": levels, "data": data.description,
            "metrics": {"test_accuracy": test["accuracy"], "n_test": test["n"], "n_train": int(len(data.train_x))},
            "confusion": test["confusion"], "history": history, "phase_hist_bins": len(hist[0][0]) if hist else 0,
            "train_seconds": train_seconds, "test_seconds": test_seconds, "resumed_after_epoch": resumed_from,
            "device": dev, "world_size": dist.world_size(), "torch": torch.__version__,
            "geometry": {"n": net.n, "layers": len(net.layers), "dx_m": net.dx, "wavelength_m": net.wavelength,
                         "n_medium": net.n_medium, "evanescent": net.evanescent,
                         "z_in_m": net.to_first.z, "dz_m": net.between.z, "z_out_m": net.to_detector.z,
                         "pad": net.to_first.pad, "object_size": net.object_size},
            "records": [record]}

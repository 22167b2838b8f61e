"""A resumable D2NN classification run: warm-up in FP, QAT, hard-quantized test, exports.

Files in ``out_dir`` (rank 0 writes, every file atomically):
- ``checkpoint.pt``: after every epoch — model, optimizer, epoch counter, stage, RNG states,
  history (so ``resume=True`` continues exactly where an interrupted run stopped);
- ``epoch{K}.pt``: copies kept after the epochs in ``cfg.snapshot_epochs`` (e.g. the FP warm-up
  that every QAT method of a sweep starts from, via ``init_from``);
- ``masks.npz``: the hard-quantized masks for fabrication (phases, heights, pitch, wavelength);
- ``figures/*.png``: masks, output intensity with detectors, confusion matrix, phase histograms;
- ``result.json``: written last — config, exact command, metrics, history, records.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from .. import distributed as dist
from .._backend import cpu_model
from ..nn.d2nn import D2NN
from ..quant import FullPrecision, make_quantizer
from .checkpoint import atomic_torch_save, atomic_write_json, load_checkpoint, restore_rng_state, rng_state
from .config import RunConfig
from .epochs import epoch_generator, evaluate, phase_histograms, quantizer_state, train_one_epoch

METHOD_NAMES = {"fp": "FP", "pq": "PQ", "ste": "STE", "dsq": "DSQ", "gs": "GS", "psq-ft": "PSQ-FT",
                "psq-li": "PSQ-LI", "psq-lt": "PSQ-LT"}
GEOMETRY_FIELDS = ("preset", "n", "layers", "object_size", "pad")


def device_description(device: torch.device) -> str:
    """'cuda (NVIDIA H100 ...)' or 'cpu (model name, N threads)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def resolve_device(cfg: RunConfig) -> torch.device:
    if cfg.device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError("run_classification(): argument 'device' is 'cuda' but no CUDA device is visible "
                               "(use --device cpu)")
        if dist.is_initialized():  # one GPU per rank
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device(cfg.device)


def build_model(cfg: RunConfig, num_classes: int) -> D2NN:
    """The network of ``cfg`` with full-precision layers (the warm-up stage)."""
    return D2NN.preset(cfg.preset, **cfg.geometry(), num_classes=num_classes, quantizer=FullPrecision(),
                       seed=cfg.seed)


def make_run_quantizer(cfg: RunConfig):
    return make_quantizer(cfg.quantizer, cfg.levels, **cfg.quantizer_options)


def _load_init(model: D2NN, cfg: RunConfig) -> list | None:
    """Load the FP checkpoint ``cfg.init_from``; return its last per-layer phase histogram."""
    ckpt = load_checkpoint(cfg.init_from, "run_classification")
    theirs = RunConfig.from_dict(ckpt["config"])
    diff = [f for f in GEOMETRY_FIELDS if getattr(theirs, f) != getattr(cfg, f)]
    if diff:
        raise ValueError(f"run_classification(): argument 'init_from' ({cfg.init_from}) was trained with another "
                         f"geometry: {', '.join(f'{f}={getattr(theirs, f)!r} (here {getattr(cfg, f)!r})' for f in diff)}")
    if ckpt.get("stage") != "fp":
        raise ValueError(f"run_classification(): argument 'init_from' must be a full-precision checkpoint "
                         f"(stage 'fp'), got stage {ckpt.get('stage')!r} from {cfg.init_from}")
    model.load_state_dict(ckpt["model"])
    return ckpt["phase_hist"][-1] if ckpt.get("phase_hist") else None


def _new_optimizer(model: torch.nn.Module, cfg: RunConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=cfg.lr)


def _log(msg: str) -> None:
    if dist.is_main_process():
        print(msg, flush=True)


def run_classification(cfg: RunConfig, task, out_dir: str | os.PathLike, *, resume: bool = False,
                       progress: bool = True, command: str = "") -> dict:
    """Train and test one configuration; returns the result dict (also written to result.json)."""
    out = Path(out_dir)
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists() and not resume:
        raise FileExistsError(f"run_classification(): argument 'out_dir' ({out}) already holds a checkpoint; "
                              f"pass --resume to continue it or choose another --out")
    if dist.is_main_process():
        out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg)
    torch.manual_seed(cfg.seed)
    data = task.load(cfg)
    net = build_model(cfg, data.num_classes).to(device)
    quantize = cfg.quantizer != "fp"
    stage, start, history, hist, init_hist = "fp", 0, [], [], None
    opt = _new_optimizer(net, cfg)
    if resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path, "run_classification")
        diff = cfg.same_training(RunConfig.from_dict(ckpt["config"]))
        if diff:
            raise ValueError(f"run_classification(): cannot resume {ckpt_path}: it was trained with other "
                             f"settings ({', '.join(diff)}); use another --out")
        stage, start, history, hist = ckpt["stage"], ckpt["epoch"], ckpt["history"], ckpt["phase_hist"]
        init_hist = ckpt.get("init_phase_hist")
        if stage == "qat":
            net.switch_quantizer(make_run_quantizer(cfg))
            opt = _new_optimizer(net, cfg)
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        restore_rng_state(ckpt["rng"])
        _log(f"resumed {ckpt_path} after epoch {start}/{cfg.epochs} (stage {stage})")
    elif cfg.init_from is not None:
        init_hist = _load_init(net, cfg)
        _log(f"initialised from {cfg.init_from}")
    model = dist.wrap_ddp(net)
    t_start = time.perf_counter()
    for epoch in range(start, cfg.epochs):
        if quantize and stage == "fp" and epoch >= cfg.warmup:
            net.switch_quantizer(make_run_quantizer(cfg))  # adds parameters (PSQ-LT κ): re-wrap, new Adam
            stage, model = "qat", dist.wrap_ddp(net)
            opt = _new_optimizer(net, cfg)
        net.set_epoch(max(0, epoch - cfg.warmup) if stage == "qat" else epoch)
        t0 = time.perf_counter()
        stats = train_one_epoch(model, opt, data.train_x, data.train_y, batch_size=cfg.batch,
                                generator=epoch_generator(cfg.seed, epoch), device=device, progress=progress,
                                description=f"epoch {epoch + 1}/{cfg.epochs} [{stage}]")
        history.append({"epoch": epoch + 1, "stage": stage, **stats, "seconds": time.perf_counter() - t0,
                        **quantizer_state(net)})
        hist.append(phase_histograms(net))
        _log(f"epoch {epoch + 1}/{cfg.epochs} [{stage}{'' if stage == 'fp' else ' ' + cfg.quantizer}] "
             f"loss {stats['loss']:.4f}, train accuracy (soft) {100 * stats['train_accuracy_soft']:.2f} %, "
             f"{history[-1]['seconds']:.0f} s")
        if dist.is_main_process():
            state = {"config": cfg.to_dict(), "epoch": epoch + 1, "stage": stage, "model": net.state_dict(),
                     "optimizer": opt.state_dict(), "rng": rng_state(), "history": history, "phase_hist": hist,
                     "init_phase_hist": init_hist}
            atomic_torch_save(state, ckpt_path)
            if epoch + 1 in cfg.snapshot_epochs:
                atomic_torch_save(state, out / f"epoch{epoch + 1}.pt")
        dist.barrier()
    if quantize and stage == "fp":  # PQ, eval-only runs, or warm-up == epochs: quantize for the test
        net.switch_quantizer(make_run_quantizer(cfg))
        stage = "qat"
    train_seconds = time.perf_counter() - t_start
    t0 = time.perf_counter()
    test = evaluate(net, data.test_x, data.test_y, device=device, num_classes=data.num_classes, progress=progress)
    _log(f"test accuracy (hard-quantized masks): {100 * test['accuracy']:.2f} % on {test['n']} images")
    result = _result(cfg, task, data, net, test, history, hist, command, device, train_seconds,
                     time.perf_counter() - t0, start)
    if dist.is_main_process():
        net.export_masks(out / "masks.npz", n_material=cfg.material_index())
        if cfg.plots:
            from ..report.run_figures import write_run_figures
            result["figures"] = write_run_figures(net, data, test["confusion"], hist, cfg, out / "figures",
                                                  init_hist=init_hist)
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
                         "z_in_m": net.to_first.z, "dz_m": net.between.z, "z_out_m": net.to_detector.z,
                         "pad": net.to_first.pad, "object_size": net.object_size},
            "records": [record]}

"""The resumable epoch loop every `quaton-fast train` task shares (classification, QPI).

One run: ``cfg.warmup`` epochs in full precision (stage 'fp'), then ``cfg.quantizer`` takes over
from the trained phases (stage 'qat', a new optimizer because the parameters change), then the
test with hard-quantized masks. The run directory holds (rank 0 writes, every file atomically):

- ``checkpoint.pt`` after every epoch: config, task kind, stage, epochs done, model, optimizer,
  RNG states, history and the trainer's own entries (``RunState.extra``), so a resumed run
  (``resume=True``) continues exactly, bit for bit, where an interrupted one stopped;
- ``epoch{K}.pt``: copies kept after the epochs in ``cfg.snapshot_epochs`` (e.g. the FP warm-up
  every QAT method of a sweep starts from, via ``cfg.init_from``).

The trainer supplies what differs: the model, its optimizer and one epoch of training.
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch

from .. import distributed as dist
from .._atomic import clean_stale_temporaries
from .._safe_json import read_json
from .._rundir import RunSettingsMismatch, check_settings, run_lock, settings_diff, write_settings
from ..devices import device_description, resolve_device  # noqa: F401 (re-exported)
from ..nn.d2nn import D2NN
from ..quant import make_quantizer
from .checkpoint import atomic_torch_save, load_checkpoint, restore_rng_state, rng_state
from .config import RunConfig

__all__ = ["GEOMETRY_FIELDS", "RunState", "RunDir", "open_run_dir", "prepare_run_dir", "SETTINGS_FILE", "LOCK_FILE", "resume_run", "init_from_checkpoint",
           "make_run_quantizer", "run_epochs", "finish_stages", "run_log", "resolve_device",
           "device_description"]

#: config fields that fix the network's shape and optics: an --init-from checkpoint must match on all of them
GEOMETRY_FIELDS = ("preset", "n", "layers", "object_size", "pad", "evanescent")
#: a run directory's settings record and lock file (see :func:`open_run_dir`)
SETTINGS_FILE = "settings.json"
LOCK_FILE = "run.lock"
_CORE_KEYS = ("config", "kind", "epoch", "stage", "model", "optimizer", "rng", "history", "num_classes")


@dataclass
class RunState:
    """Where a run stands: stage ('fp' | 'qat'), epochs done, optimizer, per-epoch history and
    the trainer's own checkpoint entries (``extra``, e.g. phase histograms)."""
    optimizer: torch.optim.Optimizer
    stage: str = "fp"
    epoch: int = 0
    history: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def make_run_quantizer(cfg: RunConfig):
    """The QAT quantizer of ``cfg`` (method, levels, options)."""
    return make_quantizer(cfg.quantizer, cfg.levels, **cfg.quantizer_options)


def _enter_qat(net: D2NN, cfg: RunConfig, device: torch.device) -> None:
    net.switch_quantizer(make_run_quantizer(cfg))
    net.to(device)


@dataclass
class RunDir:
    """An opened run directory: its checkpoint path, and the saved result if the run is finished."""
    out: Path
    ckpt_path: Path
    finished: dict | None = None


@contextlib.contextmanager
def open_run_dir(out: Path, cfg: RunConfig, resume: bool, func: str, command: str = "") -> Iterator[RunDir]:
    """Take the run directory ``out`` for this process for the ``with`` block.

    Rank 0 holds ``out/run.lock`` (``fcntl.flock``; :class:`quaton_fast._rundir.RunDirectoryBusy`
    if another live trainer holds it). Then:

    - a finished run (``result.json``) is never overwritten: without ``resume`` FileExistsError;
      with ``resume`` and the same settings nothing is done and ``RunDir.finished`` holds the saved
      result; with other settings :class:`~quaton_fast._rundir.RunSettingsMismatch`;
    - a checkpoint without ``resume``: FileExistsError (:func:`prepare_run_dir`);
    - with ``resume`` the settings record ``settings.json`` must match ``cfg`` (every field of
      :meth:`RunConfig.training_settings`), else RunSettingsMismatch naming each difference;
    - stale temporary files of killed writes are removed and ``settings.json`` is (re)written.
    """
    main = dist.is_main_process()
    if main:
        out.mkdir(parents=True, exist_ok=True)
    lock = run_lock(out / LOCK_FILE, func=func, what=f"run directory {out}") if main else contextlib.nullcontext()
    with lock:
        finished = _finished_result(out, cfg, resume, func)
        if finished is not None:
            yield RunDir(out, out / "checkpoint.pt", finished)
            return
        ckpt_path = prepare_run_dir(out, resume, func)
        if resume:
            check_settings(out / SETTINGS_FILE, cfg.training_settings(), func=func, what=f"run directory {out}")
        if main:
            clean_stale_temporaries(out, recursive=True)
            write_settings(out / SETTINGS_FILE, cfg.training_settings(), command)
        yield RunDir(out, ckpt_path)


def _finished_result(out: Path, cfg: RunConfig, resume: bool, func: str) -> dict | None:
    path = out / "result.json"
    if not path.is_file():
        return None
    if not resume:
        raise FileExistsError(f"{func}(): argument 'out_dir' ({out}) already holds a finished run (result.json); "
                              f"choose another --out (a finished run is never overwritten)")
    try:
        saved = read_json(func, path, nonfinite=True, expect=dict)
        theirs = RunConfig.from_dict(saved["config"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{func}(): argument 'out_dir' ({out}) holds an unreadable result.json "
                         f"({type(e).__name__}: {e}); choose another --out") from None
    diff = settings_diff(theirs.training_settings(), cfg.training_settings())
    if diff:
        raise RunSettingsMismatch(f"{func}(): argument 'out_dir' ({out}) holds a finished run made with other "
                                  f"settings ({'; '.join(diff)}); choose another --out (a finished run is "
                                  f"never overwritten)")
    run_log(f"{out} already holds this finished run (result.json); nothing to do")
    return saved


def prepare_run_dir(out: Path, resume: bool, func: str) -> Path:
    """Create ``out`` (rank 0) and return its checkpoint path; refuse to overwrite a run unless
    ``resume``."""
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists() and not resume:
        raise FileExistsError(f"{func}(): argument 'out_dir' ({out}) already holds a checkpoint; "
                              f"pass --resume to continue it or choose another --out")
    if (out / "result.json").exists() and not ckpt_path.exists() and not resume:
        raise FileExistsError(f"{func}(): argument 'out_dir' ({out}) already holds a result.json; "
                              f"choose another --out")
    if dist.is_main_process():
        out.mkdir(parents=True, exist_ok=True)
    return ckpt_path


def resume_run(ckpt_path: Path, cfg: RunConfig, net: D2NN, new_optimizer: Callable[[D2NN], torch.optim.Optimizer],
               device: torch.device, func: str) -> RunState:
    """Load ``ckpt_path`` into ``net`` (switching to the quantizer first if it was saved in QAT),
    rebuild the optimizer the same way and restore its state and every RNG."""
    ckpt = load_checkpoint(ckpt_path, func)
    diff = settings_diff(RunConfig.from_dict(ckpt["config"]).training_settings(), cfg.training_settings())
    if diff:
        raise RunSettingsMismatch(f"{func}(): cannot resume {ckpt_path}: it was trained with other settings "
                                  f"({'; '.join(diff)}); use another --out")
    if ckpt["stage"] == "qat":
        _enter_qat(net, cfg, device)
    opt = new_optimizer(net)
    _load_model(net, ckpt, ckpt_path, "resume", func)
    opt.load_state_dict(ckpt["optimizer"])
    restore_rng_state(ckpt["rng"])
    extra = {k: v for k, v in ckpt.items() if k not in _CORE_KEYS}
    return RunState(opt, ckpt["stage"], ckpt["epoch"], ckpt["history"], extra)


def _load_model(net: D2NN, ckpt: dict, path, arg: str, func: str) -> None:
    try:
        net.load_state_dict(ckpt["model"])
    except RuntimeError as e:  # other layer count, grid, read-out: name the mismatch, not a torch trace
        first = str(e).strip().splitlines()
        raise ValueError(f"{func}(): argument '{arg}' ({path}) holds a model of another shape than this run's "
                         f"network ({' '.join(first[1:3]) or first[0]})") from e


def init_from_checkpoint(net: D2NN, cfg: RunConfig, kind: str, func: str) -> dict:
    """Load the full-precision checkpoint ``cfg.init_from`` into ``net``; returns the checkpoint.

    It must come from a task of the same ``kind`` ('classify', 'qpi', ...) and the same geometry
    (:data:`GEOMETRY_FIELDS`), and be saved in stage 'fp'."""
    ckpt = load_checkpoint(cfg.init_from, func)
    theirs = RunConfig.from_dict(ckpt["config"])
    their_kind = ckpt.get("kind") or _kind_of(theirs.task)
    if their_kind is not None and their_kind != kind:
        raise ValueError(f"{func}(): argument 'init_from' ({cfg.init_from}) was trained for task {theirs.task!r} "
                         f"({their_kind}); this run is task {cfg.task!r} ({kind}) and needs a {kind} checkpoint")
    diff = [f for f in GEOMETRY_FIELDS if getattr(theirs, f) != getattr(cfg, f)]
    if diff:
        raise ValueError(f"{func}(): argument 'init_from' ({cfg.init_from}) was trained with another "
                         f"geometry: {', '.join(f'{f}={getattr(theirs, f)!r} (here {getattr(cfg, f)!r})' for f in diff)}")
    if ckpt.get("stage") != "fp":
        raise ValueError(f"{func}(): argument 'init_from' must be a full-precision checkpoint "
                         f"(stage 'fp'), got stage {ckpt.get('stage')!r} from {cfg.init_from}")
    _load_model(net, ckpt, cfg.init_from, "init_from", func)
    return ckpt


def _kind_of(task: str) -> str | None:
    from .registry import TASKS
    return TASKS[task].kind if task in TASKS else None


def _save(out: Path, cfg: RunConfig, kind: str, run: RunState, net: D2NN) -> None:
    state = {"config": cfg.to_dict(), "kind": kind, "epoch": run.epoch, "stage": run.stage,
             "model": net.state_dict(), "optimizer": run.optimizer.state_dict(), "rng": rng_state(),
             "history": run.history, **run.extra}
    if getattr(net.readout, "boxes", None) is not None:       # classify read-out: load_run rebuilds it
        state["num_classes"] = len(net.readout.boxes)
    atomic_torch_save(state, out / "checkpoint.pt")
    if run.epoch in cfg.snapshot_epochs:
        atomic_torch_save(state, out / f"epoch{run.epoch}.pt")


def run_epochs(cfg: RunConfig, net: D2NN, run: RunState, *, kind: str, out: Path, device: torch.device,
               new_optimizer: Callable[[D2NN], torch.optim.Optimizer],
               train_epoch: Callable[[torch.nn.Module, torch.optim.Optimizer, int, str], dict],
               describe: Callable[[dict], str], log: Callable[[str], None]) -> torch.nn.Module:
    """Train epochs ``run.epoch .. cfg.epochs - 1`` (switching to QAT at ``cfg.warmup``), saving
    the checkpoint after each; then put the quantizer in place for the test (PQ, evaluation-only
    runs, warm-up = epochs). ``train_epoch(model, optimizer, epoch, stage)`` trains one epoch of
    ``model`` (``net`` or its DDP wrapper) and returns the history entries; ``describe`` turns
    them into the log line. Returns the (possibly DDP-wrapped) model."""
    quantize = cfg.quantizer != "fp"
    model = dist.wrap_ddp(net)
    for epoch in range(run.epoch, cfg.epochs):
        if quantize and run.stage == "fp" and epoch >= cfg.warmup:
            _enter_qat(net, cfg, device)  # adds parameters (PSQ-LT κ): re-wrap, new optimizer
            run.stage, model = "qat", dist.wrap_ddp(net)
            run.optimizer = new_optimizer(net)
        net.set_epoch(max(0, epoch - cfg.warmup) if run.stage == "qat" else epoch)
        t0 = time.perf_counter()
        stats = train_epoch(model, run.optimizer, epoch, run.stage)
        run.history.append({"epoch": epoch + 1, "stage": run.stage, **stats, "seconds": time.perf_counter() - t0})
        run.epoch = epoch + 1
        log(f"epoch {epoch + 1}/{cfg.epochs} [{run.stage}{'' if run.stage == 'fp' else ' ' + cfg.quantizer}] "
            f"{describe(stats)}, {run.history[-1]['seconds']:.0f} s")
        if dist.is_main_process():
            _save(out, cfg, kind, run, net)
        dist.barrier()
    finish_stages(cfg, net, run, device)
    return model


def finish_stages(cfg: RunConfig, net: D2NN, run: RunState, device: torch.device) -> None:
    """Switch a run that ends in stage 'fp' with a QAT method to its quantizer (for the test)."""
    if cfg.quantizer != "fp" and run.stage == "fp":
        _enter_qat(net, cfg, device)
        run.stage = "qat"


def run_log(msg: str) -> None:
    """Print on rank 0 only."""
    if dist.is_main_process():
        print(msg, flush=True)

def run_in_dir(cfg: RunConfig, task, out_dir, *, resume: bool, progress: bool, command: str, func: str,
               train_and_test: Callable[..., dict]) -> dict:
    """The runners' common frame: check the device before the directory is touched, open (lock,
    settings record) the run directory, return a finished run's result untouched, else call
    ``train_and_test(cfg, task, out, ckpt_path, resume=..., progress=..., command=...)``."""
    out = Path(out_dir)
    resolve_device(cfg, func)  # a device that is not there fails before the directory is touched
    with open_run_dir(out, cfg, resume, func, command) as rd:
        if rd.finished is not None:
            return {**rd.finished, "already_finished": True}
        return train_and_test(cfg, task, out, rd.ckpt_path, resume=resume, progress=progress, command=command)

"""``quaton-fast aoc-train``: train an AOC equilibrium model, pick the epoch on validation, report
float and 9-bit validation and test metrics.

Splits (:mod:`quaton_fast.aoc.splits`): MNIST / Fashion-MNIST 48k train / 12k validation (seeded
split of the 60k training set) / 10k test, images scaled to [-1, 1]; regression: 10,000
equidistant training points, 200 seeded random validation points and the 200 random test points.
The reported epoch is the one with the best float validation metric; the test set is
evaluated once, at that epoch.  Under ``torchrun`` the loop is data-parallel (DDP) and only rank 0
writes checkpoints and results.

Run files in ``--out`` (several runs may share it), STEM = ``<task>_<model>_seed<seed>-<fp>``, fp =
the first 10 hex digits of the sha256 fingerprint of the run's settings (:func:`run_settings`):
``STEM.pt`` (checkpoint after every epoch), ``STEM.settings.json`` (the settings record, written
at start) and ``STEM.lock`` (held while the run trains; a second process on the same run is
refused). Rerunning a command resumes its own checkpoint; a command with other settings (lr,
batch, epochs, ...) starts its own run and never picks up another run's model.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import shlex
import sys
import time
from pathlib import Path

import torch

from . import _types as A
from .._safe_torch import load_weights_only
from .._validation import plain_scalar
from .. import distributed as dist
from .._atomic import clean_stale_temporaries
from .._rundir import RunSettingsMismatch, check_settings, run_lock, settings_fingerprint, write_settings
from ..aoc.splits import TASKS, load_splits
from ..aoc.train import append_results, build_model, evaluate, train
from ..devices import device_description, resolve_device
from . import aoc_hardware as hardware_cli


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Every numeric option is checked by its argparse type (one-line error naming the option)."""
    p.add_argument("--task", choices=list(TASKS), required=True,
                   help="mnist / fashion (classification) or gauss / sine (regression)")
    p.add_argument("--model", type=int, choices=[256, 4096], default=256,
                   help="equilibrium model width: state variables of the fixed point")
    p.add_argument("--epochs", type=A.positive_int, default=1, help="training epochs")
    p.add_argument("--lr", type=A.positive_float, default=3e-4, help="Adam learning rate")
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant",
                   help="constant lr, or cosine decay to 0 over --epochs (per step)")
    p.add_argument("--batch", type=A.positive_int, default=64, help="global batch (split over ranks under torchrun)")
    p.add_argument("--seed", type=A.nonnegative_int, default=0,
                   help="seed of the weights, the validation split and the batch order")
    p.add_argument("--max-steps", type=A.positive_int, default=None,
                   help="stop after this many optimizer steps (default: no limit)")
    p.add_argument("--data-root", default=None, help="IDX directory of MNIST / Fashion-MNIST (default: the installed data)")
    p.add_argument("--quant-mode", choices=["maxabs", "paper"], default="maxabs",
                   help="9-bit quantization of the evaluation: per-tensor max-abs scale or the paper's ranges")
    p.add_argument("--max-gain", type=A.real(), default=0.4,
                   help="bound on |beta|*||W_c||_2 after each step (keeps the fixed point contractive); "
                        "<= 0 disables; must be finite")
    p.add_argument("--threads", type=A.positive_int, default=None, help="torch / kernel threads (default: torch's)")
    p.add_argument("--device", type=A.device, default="cpu",
                   help="cpu or cuda (one GPU per rank under torchrun); on CUDA the fixed point runs as torch ops")
    p.add_argument("--out", default="runs/aoc",
                   help="checkpoint directory: per run STEM.pt, STEM.settings.json (the settings record) and "
                        "STEM.lock, STEM = <task>_<model>_seed<seed>-<settings fingerprint>; an interrupted run "
                        "resumes automatically, other settings start their own run")
    p.add_argument("--results", default=None, metavar="FILE.json",
                   help="JSON list the records are appended to (default: OUT/aoc_train.json; '' = none)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    hardware_cli.add_arguments(p)  # --hardware, --eval-hardware, --readout-noise ... (cli/aoc_hardware.py)


def validate_args(args: argparse.Namespace) -> None:
    """Checks across options and of options built without this parser (``run`` called from Python):
    ValueError naming the option."""
    for name in ("epochs", "batch", "max_steps", "lr", "max_gain"):
        setattr(args, name, plain_scalar(getattr(args, name)))   # NumPy numbers from a sweep table
    for name in ("epochs", "batch"):
        v = getattr(args, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"aoc-train: argument --{name} must be an integer >= 1, got {v!r}")
    if args.max_steps is not None and (not isinstance(args.max_steps, int) or args.max_steps < 1):
        raise ValueError(f"aoc-train: argument --max-steps must be an integer >= 1, got {args.max_steps!r}")
    if not isinstance(args.device, str) or not re.fullmatch(r"cpu|cuda(:[0-9]+)?", args.device):
        raise ValueError(f"aoc-train: argument --device must be cpu, cuda or cuda:K, got {args.device!r}")
    for name in ("lr", "max_gain"):
        v = getattr(args, name)
        if not isinstance(v, (int, float)) or not math.isfinite(v) or (name == "lr" and v <= 0):
            raise ValueError(f"aoc-train: argument --{name.replace('_', '-')} must be a finite number"
                             f"{' > 0' if name == 'lr' else ''}, got {v!r}")


#: options that do not change the trained model or its metrics (everything else is in the settings
#: record: a new option is compared on resume unless it is listed here)
NOT_RESULT_OPTIONS = frozenset({"out", "results", "no_progress", "threads", "device", "data_root", "command",
                                "traceback",
                                # evaluation only (cli/aoc_hardware.py): the trained model does not depend on them
                                "eval_hardware", "readout_noise", "readout_samples", "readout_repeats"})


def run_settings(args: argparse.Namespace) -> dict:
    """The settings a checkpoint is made with: every option except :data:`NOT_RESULT_OPTIONS` and
    those left at None (so that an option added later with default None does not change the
    fingerprint of existing runs).  ``--hardware-calibration`` changes the trained model only when
    training runs through a calibration file: then it is recorded resolved (default 'operator', so
    a run made before issue 27 -- the released twin -- is never resumed as a calibrated one); for an
    ideal-trained run it only changes the evaluation twin and is left out."""
    s = {k: v for k, v in sorted(vars(args).items()) if k not in NOT_RESULT_OPTIONS and v is not None}
    if "hardware_calibration" in vars(args):
        if getattr(args, "hardware", None) not in (None, "ideal"):
            s["hardware_calibration"] = args.hardware_calibration or "operator"
        else:
            s.pop("hardware_calibration", None)
    return s


def run_stem(args: argparse.Namespace) -> str:
    """``<task>_<model>_seed<seed>-<10 hex of the settings fingerprint>``: runs with other settings
    get other files in the same --out, so a checkpoint is never resumed with settings it was not
    made with."""
    return f"{args.task}_{args.model}_seed{args.seed}-{settings_fingerprint(run_settings(args))[:10]}"


def check_resume(out: Path, args: argparse.Namespace) -> int:
    """Check an existing checkpoint of this run (same stem) against its settings record; returns
    the epochs it already holds (0 for a new run)."""
    stem = run_stem(args)
    ckpt, record = out / f"{stem}.pt", out / f"{stem}.settings.json"
    legacy = out / f"{args.task}_{args.model}_seed{args.seed}.pt"
    if legacy.exists() and dist.is_main_process():
        print(f"aoc-train: note: not resuming {legacy} (written by an older version without a settings record); "
              f"this run's checkpoint is {ckpt.name}", file=sys.stderr)
    if not ckpt.exists():
        return 0
    what = f"checkpoint {ckpt}"
    if not record.exists():
        raise RunSettingsMismatch(f"aoc-train: {what} has no settings record ({record.name}), so it cannot be "
                                  f"resumed safely; delete it or choose another --out")
    check_settings(record, run_settings(args), func="aoc-train", what=what)
    try:
        return int(load_weights_only(ckpt, "aoc-train")["epoch"])
    except Exception as e:  # noqa: BLE001 - corrupt / foreign file
        raise ValueError(f"aoc-train: {what} is not a readable aoc-train checkpoint ({type(e).__name__}: "
                         f"{_one_line(e)}); delete it or choose another --out") from None


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:200]


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    validate_args(args)
    dist.init_from_env()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args, "aoc-train")
    out = Path(args.out)
    main = dist.is_main_process()
    if main:
        out.mkdir(parents=True, exist_ok=True)
    stem = run_stem(args)
    lock = (run_lock(out / f"{stem}.lock", func="aoc-train", what=f"run {out / stem}") if main
            else contextlib.nullcontext())
    with lock:
        resumed_after = check_resume(out, args)
        words = sys.argv[1:] if argv is None else list(argv)
        cmd = "quaton-fast " + " ".join(shlex.quote(a) for a in words)
        if main:
            clean_stale_temporaries(out)
            write_settings(out / f"{stem}.settings.json", run_settings(args), cmd)
        return _train_and_report(args, device, out, cmd, resumed_after)


def _train_and_report(args: argparse.Namespace, device: torch.device, out: Path, cmd: str,
                      resumed_after: int) -> int:
    torch.manual_seed(args.seed)
    reg = args.task in ("gauss", "sine")
    ((xt, yt), (xv, yv), (xs, ys)), dataset = load_splits(args.task, args.seed, args.data_root)
    model = build_model(args.task, args.model, args.seed,
                        max_gain=args.max_gain if args.max_gain > 0 else None).to(device)
    twins = hardware_cli.setup(args, model)  # attaches the training twin (ideal by default)
    xt, yt, xv, yv, xs, ys = (a.to(device) for a in (xt, yt, xv, yv, xs, ys))
    t0 = time.perf_counter()
    info = train(model, xt, yt, regression=reg, epochs=args.epochs, lr=args.lr, batch=args.batch,
                 seed=args.seed, max_steps=args.max_steps,
                 checkpoint=str(out / f"{run_stem(args)}.pt"),
                 progress=not args.no_progress, x_val=xv, y_val=yv, quant_mode=args.quant_mode,
                 lr_schedule=args.lr_schedule)
    train_s = time.perf_counter() - t0
    metric = "mse" if reg else "accuracy"
    hist = info["history"]
    best = next((h for h in hist if h["epoch"] == info["best_epoch"]), None)
    common = {"task": args.task, "dataset": dataset, "method": "aoc-dt-equilibrium", "model": args.model,
              "metric": metric, "command": cmd, "epochs": args.epochs, "selected_epoch": info["best_epoch"],
              "selected_by": "best float validation " + metric, "lr": args.lr, "lr_schedule": args.lr_schedule, "batch": args.batch,
              "seed": args.seed, "max_gain": args.max_gain, "quant_mode": args.quant_mode, "steps": info["steps"],
              "train_time_s": round(train_s, 1),
              "resumed_after_epoch": resumed_after, "checkpoint": str(out / f"{run_stem(args)}.pt"), "world_size": dist.world_size(),
              "device": device_description(device),
              "val_history": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in h.items()}
                              for h in hist]}
    common.update(hardware_cli.record_fields(args, twins))
    recs = []
    for lv, q in (("float", None), ("9bit", args.quant_mode)):
        test = evaluate(model, xs, ys, reg, q)
        val = best["val" if q is None else "val_9bit"] if best else evaluate(model, xv, yv, reg, q)
        if dist.is_main_process():
            print(f"{dataset} model {args.model} {lv} (epoch {info['best_epoch']}): "
                  f"val {metric} = {val:.5f}, test {metric} = {test:.5f}")
        for split, v in (("val", val), ("test", test)):
            recs.append({**common, "levels": lv, "split": split, "value": v})
    if dist.is_main_process():
        recs += hardware_cli.eval_records(args, model, xs, ys, reg, args.quant_mode, common, twins, dataset)
    results = os.path.join(args.out, "aoc_train.json") if args.results is None else args.results
    if results and dist.is_main_process():
        append_results(results, recs)
    return 0

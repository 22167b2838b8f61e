"""The QuATON table as a grid of `quaton-fast train` runs (methods × levels × datasets), each in its
own run directory, resumable, spread over ranks under ``torchrun``: planning and execution behind
``quaton-fast sweep`` (its options: :mod:`quaton_fast.cli.sweep`).

Compute sharing (honest, and the same for every method):
- per dataset ONE full-precision run trains ``warmup + qat_epochs`` epochs and keeps a copy of
  the model after ``warmup`` epochs (``epoch{W}.pt``). The FP row is that run's final model;
- every QAT method (STE, DSQ, GS, PSQ-*) starts from that FP warm-up checkpoint
  (``--init-from``) and trains ``qat_epochs`` more epochs, so each QAT model has seen as many
  epochs as the FP model;
- PQ at each level count is the final FP model hard-rounded (``--epochs 0 --init-from``: no
  extra training).

A run is finished when its ``result.json`` exists (written last, atomically): a restarted sweep
skips finished runs and resumes an interrupted one from its last epoch checkpoint (``--resume``).
Under ``torchrun`` run i of each stage goes to rank ``i % world`` (stage 1: the FP runs, stage 2:
everything that starts from them); there is no DDP inside a sweep run. Rank 0 writes the
combined table (Markdown + JSON records) at the end. Runs execute as subprocesses
(``python -m quaton_fast.cli train ...``), so every row's command is exactly what ran.

``args`` below is the namespace ``quaton-fast sweep`` parses (attributes: tasks, methods, levels,
warmup, qat_epochs, qopt, preset, n, layers, object_size, pad, batch, lr, seed, train_limit,
test_limit, device, no_plots, root, table_md, table_json).
"""
from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Callable

import torch

from . import distributed as dist
from ._safe_json import read_json
from .quant.quantizers import QUANTIZER_NAMES
from .train.checkpoint import atomic_write_json
from .train.run_classify import METHOD_NAMES

_DDP_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK", "MASTER_ADDR",
            "MASTER_PORT", "TORCHELASTIC_RUN_ID", "TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_MAX_RESTARTS")


@dataclass(frozen=True)
class PlannedRun:
    name: str          # "<task>/<method>-L<levels>" or "<task>/fp"
    stage: int         # 0: FP runs, 1: runs starting from them
    task: str
    method: str
    levels: int | None
    argv: tuple[str, ...]  # arguments after `quaton-fast`

    def directory(self, root: Path) -> Path:
        return root / self.name

    def done(self, root: Path) -> bool:
        return (self.directory(root) / "result.json").is_file()


def _common_argv(args: argparse.Namespace) -> list[str]:
    out = ["--preset", args.preset, "--batch", str(args.batch), "--lr", repr(args.lr), "--seed", str(args.seed),
           "--device", args.device, "--no-progress"]
    for flag, value in (("--neurons", args.n), ("--layers", args.layers), ("--object-size", args.object_size),
                        ("--pad", args.pad), ("--train-limit", args.train_limit), ("--test-limit", args.test_limit)):
        if value is not None:
            out += [flag, str(value)]
    if args.no_plots:
        out.append("--no-plots")
    return out


def _method_qopts(args: argparse.Namespace) -> dict[str, list[str]]:
    opts: dict[str, list[str]] = {}
    for text in args.qopt:
        method, sep, kv = text.partition(":")
        if not sep or method not in QUANTIZER_NAMES or "=" not in kv:
            raise ValueError(f"sweep(): argument '--qopt' must be METHOD:KEY=VALUE with METHOD one of "
                             f"{', '.join(QUANTIZER_NAMES)}, got {text!r}")
        opts.setdefault(method, []).append(kv)
    return opts


def plan(args: argparse.Namespace) -> list[PlannedRun]:
    """Every run of the grid in execution order (stage 0 first; levels in the given order)."""
    root = Path(args.root)
    common = _common_argv(args)
    qopts = _method_qopts(args)
    total = args.warmup + args.qat_epochs
    runs: list[PlannedRun] = []
    for task in args.tasks:
        fp_dir = root / task / "fp"
        snap = ["--snapshot-epochs", str(args.warmup)] if args.warmup > 0 else []
        runs.append(PlannedRun(f"{task}/fp", 0, task, "fp", None,
                               ("train", "--task", task, "--quantizer", "fp", "--epochs", str(total), *snap,
                                "--out", str(fp_dir), "--resume", *common)))
    for task in args.tasks:
        fp_dir = root / task / "fp"
        for levels in args.levels:
            for method in args.methods:
                if method == "fp":
                    continue
                base = ["train", "--task", task, "--quantizer", method, "--levels", str(levels)]
                for kv in qopts.get(method, []):
                    base += ["--qopt", kv]
                if method == "pq":
                    extra = ["--epochs", "0", "--warmup", "0", "--init-from", str(fp_dir / "checkpoint.pt")]
                elif args.warmup > 0:
                    extra = ["--epochs", str(args.qat_epochs), "--warmup", "0",
                             "--init-from", str(fp_dir / f"epoch{args.warmup}.pt")]
                else:
                    extra = ["--epochs", str(args.qat_epochs), "--warmup", "0"]
                name = f"{task}/{method}-L{levels}"
                runs.append(PlannedRun(name, 1, task, method, levels,
                                       tuple(base + extra + ["--out", str(root / name), "--resume", *common])))
    return runs


def runs_for_rank(runs: list[PlannedRun], stage: int, rank: int, world: int) -> list[PlannedRun]:
    """This rank's share of one stage: run i of the stage goes to rank ``i % world``."""
    return [r for i, r in enumerate(x for x in runs if x.stage == stage) if i % world == rank]


def _child_env(args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DDP_ENV}
    if dist.is_initialized() and args.device.startswith("cuda") and "CUDA_VISIBLE_DEVICES" not in os.environ:
        env["CUDA_VISIBLE_DEVICES"] = os.environ.get("LOCAL_RANK", "0")  # one GPU per rank
    return env


def _die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """``preexec_fn`` that makes the child get SIGKILL when this process dies, however it dies
    (Linux ``prctl(PR_SET_PDEATHSIG)``), so a killed sweep (``kill -9``, pre-emption) never leaves an
    orphaned trainer writing its run directory. None where prctl does not exist (the per-run
    lock, ``run.lock``, still keeps a second trainer out of a directory an orphan writes)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        if os.getppid() != parent_pid:      # the parent died before prctl took effect
            os._exit(1)
    return preexec


def execute(run: PlannedRun, root: Path, args: argparse.Namespace) -> int:
    """Run one training subprocess, its output appended to <run dir>/log.txt; returns its exit code.
    The child dies with this process (:func:`_die_with_parent`)."""
    d = run.directory(root)
    d.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "quaton_fast.cli", *run.argv]
    with open(d / "log.txt", "a") as log:
        log.write(f"\n$ quaton-fast {' '.join(shlex.quote(a) for a in run.argv)}\n")
        log.flush()
        return subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=_child_env(args),
                               preexec_fn=_die_with_parent(os.getpid()))


def _sweep_config(args: argparse.Namespace) -> dict:
    keys = ("tasks", "methods", "levels", "warmup", "qat_epochs", "qopt", "preset", "n", "layers", "object_size",
            "pad", "batch", "lr", "seed", "train_limit", "test_limit")
    return {k: getattr(args, k) for k in keys}


def _check_root(root: Path, config: dict) -> None:
    path = root / "sweep.json"
    if path.is_file():
        old = read_json("sweep", path, nonfinite=False, expect=dict).get("config")
        if not isinstance(old, dict):
            raise ValueError(f"sweep(): {path} has no 'config' object; use another --root")
        diff = sorted(k for k in config if old.get(k) != config[k] and k not in ("tasks", "methods", "levels"))
        if diff:
            raise ValueError(f"sweep(): argument '--root' ({root}) holds a sweep with other settings ({', '.join(diff)}); "
                             f"use another --root")


def run_sweep(args: argparse.Namespace, command: str) -> int:
    """Run (or resume) the whole grid; ``command`` is recorded in sweep.json and the tables.
    Returns 0, 1 when a run failed, 2 when the settings are refused (message on stderr)."""
    try:
        runs = plan(args)
        root = Path(args.root)
        _check_root(root, _sweep_config(args))
    except ValueError as e:
        print(f"quaton-fast sweep: error: {e}", file=sys.stderr)
        return 2
    if dist.launched_by_torchrun() and not dist.is_initialized():
        torch.distributed.init_process_group("gloo", timeout=timedelta(days=7))  # barriers span whole stages
    rank, world = dist.rank(), dist.world_size()
    if dist.is_main_process():
        atomic_write_json({"config": _sweep_config(args), "command": command,
                           "runs": [{"name": r.name, "command": "quaton-fast " + " ".join(r.argv)} for r in runs]},
                          root / "sweep.json")
    failed: list[str] = []
    for stage in (0, 1):
        mine = runs_for_rank(runs, stage, rank, world)
        for r in mine:
            if r.done(root):
                print(f"[rank {rank}] skip {r.name} (finished)", flush=True)
                continue
            t0 = time.perf_counter()
            print(f"[rank {rank}] run {r.name}", flush=True)
            rc = execute(r, root, args)
            status = "ok" if rc == 0 and r.done(root) else f"FAILED (exit {rc}, see {r.directory(root) / 'log.txt'})"
            if status != "ok":
                failed.append(r.name)
            print(f"[rank {rank}] {r.name}: {status}, {time.perf_counter() - t0:.0f} s", flush=True)
        dist.barrier()
    if dist.is_main_process():
        from .report.table import write_tables
        paths = write_tables(runs, root, command, args.table_md, args.table_json)
        print("wrote " + ", ".join(str(p) for p in paths), flush=True)
    if dist.is_initialized():
        torch.distributed.destroy_process_group()
    if failed:
        print(f"[rank {rank}] failed runs: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


__all__ = ["PlannedRun", "plan", "runs_for_rank", "run_sweep", "execute", "METHOD_NAMES"]

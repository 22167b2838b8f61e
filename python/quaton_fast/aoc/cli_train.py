"""``quaton-fast aoc-train``: train an AOC equilibrium model, pick the epoch on validation, report
float and 9-bit validation and test metrics.

Splits: MNIST / Fashion-MNIST 48k train / 12k validation (seeded split of the 60k training set) /
10k test; images scaled to (-1, 1) (SPEC B2).  Regression: 10,000 equidistant training points,
200 seeded random validation points (seed ``10_000 + seed``) and the 200 random test points (seed
``seed``).  The reported epoch is the one with the best float validation metric; the test set is
evaluated once, at that epoch.  Under ``torchrun`` the loop is data-parallel (DDP) and only rank 0
writes checkpoints and results.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .. import distributed as dist
from ..data import mnist as D
from ..train.stages import device_description, resolve_device
from . import hardware_cli
from .train import append_results, build_model, evaluate, train

VAL_SEED_OFFSET = 10_000


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", choices=["mnist", "fashion", "gauss", "sine"], required=True)
    p.add_argument("--model", type=int, choices=[256, 4096], default=256)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant",
                   help="constant lr, or cosine decay to 0 over --epochs (per step)")
    p.add_argument("--batch", type=int, default=64, help="global batch (split over ranks under torchrun)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--data-root", default=None, help="IDX directory (MNIST / Fashion)")
    p.add_argument("--quant-mode", choices=["maxabs", "paper"], default="maxabs")
    p.add_argument("--max-gain", type=float, default=0.4,
                   help="bound on |beta|*||W_c||_2 after each step (keeps the fixed point contractive); "
                        "<= 0 disables")
    p.add_argument("--threads", type=int, default=None, help="torch / kernel threads (default: torch's)")
    p.add_argument("--device", default="cpu",
                   help="cpu or cuda (one GPU per rank under torchrun); on CUDA the fixed point runs as torch ops")
    p.add_argument("--out", default="runs/aoc", help="checkpoint directory")
    p.add_argument("--results", default="docs/results/aoc_train.json",
                   help="JSON list the records are appended to ('' = none)")
    p.add_argument("--no-progress", action="store_true")
    hardware_cli.add_arguments(p)  # --hardware, --eval-hardware, --readout-noise ... (aoc/hardware_cli.py)


def _load(args):
    """Returns (train, val, test) as pairs of tensors and the dataset name."""
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))
    if args.task in ("gauss", "sine"):
        (xt, yt), (xs, ys) = D.regression_dataset(args.task, seed=args.seed)
        _, (xv, yv) = D.regression_dataset(args.task, n_train=1, seed=VAL_SEED_OFFSET + args.seed)
        name = f"f_{'I' if args.task == 'gauss' else 'II'}"
        return ((t(xt), t(yt)), (t(xv), t(yv)), (t(xs), t(ys))), name
    load = D.load_mnist if args.task == "mnist" else D.load_fashion_mnist
    xt, yt = load("train", root=args.data_root)
    xs, ys = load("test", root=args.data_root)
    (xt, yt), (xv, yv) = D.split_train_val(xt, yt, seed=args.seed)
    flat = lambda a: t((a.reshape(len(a), -1) * 2 - 1).astype(np.float32))  # (N, 784) in [-1, 1]
    name = "MNIST" if args.task == "mnist" else "Fashion-MNIST"
    return ((flat(xt), t(yt)), (flat(xv), t(yv)), (flat(xs), t(ys))), name


def run(args: argparse.Namespace) -> int:
    dist.init_from_env()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    reg = args.task in ("gauss", "sine")
    ((xt, yt), (xv, yv), (xs, ys)), dataset = _load(args)
    device = resolve_device(args, "aoc-train")
    model = build_model(args.task, args.model, args.seed,
                        max_gain=args.max_gain if args.max_gain > 0 else None).to(device)
    twins = hardware_cli.setup(args, model)  # attaches the training twin (ideal by default)
    xt, yt, xv, yv, xs, ys = (a.to(device) for a in (xt, yt, xv, yv, xs, ys))
    out = Path(args.out)
    if dist.is_main_process():
        out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    info = train(model, xt, yt, regression=reg, epochs=args.epochs, lr=args.lr, batch=args.batch,
                 seed=args.seed, max_steps=args.max_steps,
                 checkpoint=str(out / f"{args.task}_{args.model}_seed{args.seed}.pt"),
                 progress=not args.no_progress, x_val=xv, y_val=yv, quant_mode=args.quant_mode,
                 lr_schedule=args.lr_schedule)
    train_s = time.perf_counter() - t0
    metric = "mse" if reg else "accuracy"
    cmd = "quaton-fast aoc-train " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    hist = info["history"]
    best = next((h for h in hist if h["epoch"] == info["best_epoch"]), None)
    common = {"task": args.task, "dataset": dataset, "method": "aoc-dt-equilibrium", "model": args.model,
              "metric": metric, "command": cmd, "epochs": args.epochs, "selected_epoch": info["best_epoch"],
              "selected_by": "best float validation " + metric, "lr": args.lr, "lr_schedule": args.lr_schedule, "batch": args.batch,
              "seed": args.seed, "max_gain": args.max_gain, "quant_mode": args.quant_mode, "steps": info["steps"],
              "train_time_s": round(train_s, 1), "world_size": dist.world_size(),
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
    if args.results and dist.is_main_process():
        append_results(args.results, recs)
    return 0

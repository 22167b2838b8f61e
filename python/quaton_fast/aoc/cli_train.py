"""``quaton-fast aoc-train``: train an AOC equilibrium model, report float and 9-bit test metrics."""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from ..data import mnist as D
from .train import append_results, build_model, evaluate, train


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", choices=["mnist", "fashion", "gauss", "sine"], required=True)
    p.add_argument("--model", type=int, choices=[256, 4096], default=256)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--data-root", default=None, help="IDX directory (MNIST / Fashion)")
    p.add_argument("--quant-mode", choices=["maxabs", "paper"], default="maxabs")
    p.add_argument("--out", default="runs/aoc")
    p.add_argument("--results", default="docs/results/aoc.json")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    torch.manual_seed(args.seed)
    reg = args.task in ("gauss", "sine")
    if reg:
        (xt, yt), (xs, ys) = D.regression_dataset(args.task, seed=args.seed)
        dataset = f"f_{'I' if args.task == 'gauss' else 'II'}"
        yt_t, ys_t = torch.from_numpy(yt), torch.from_numpy(ys)
    else:
        load = D.load_mnist if args.task == "mnist" else D.load_fashion_mnist
        xt, yt = load("train", root=args.data_root)
        xs, ys = load("test", root=args.data_root)
        (xt, yt), _ = D.split_train_val(xt, yt, seed=args.seed)
        dataset = "MNIST" if args.task == "mnist" else "Fashion-MNIST"
        xt, xs = xt.reshape(len(xt), -1), xs.reshape(len(xs), -1)
        yt_t, ys_t = torch.from_numpy(yt), torch.from_numpy(ys)
    xt_t, xs_t = torch.from_numpy(np.ascontiguousarray(xt)), torch.from_numpy(np.ascontiguousarray(xs))
    model = build_model(args.task, args.model, args.seed)
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    train(model, xt_t, yt_t, regression=reg, epochs=args.epochs, lr=args.lr, batch=args.batch,
          seed=args.seed, max_steps=args.max_steps, checkpoint=str(out / f"{args.task}_{args.model}.pt"),
          progress=not args.no_progress)
    metric = "mse" if reg else "accuracy"
    cmd = "quaton-fast aoc-train " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    recs = []
    for lv, q in (("float", None), ("9bit", args.quant_mode)):
        v = evaluate(model, xs_t, ys_t, reg, q)
        print(f"{dataset} model {args.model} {lv}: test {metric} = {v:.5f}")
        recs.append({"task": args.task, "dataset": dataset, "method": "aoc-dt-equilibrium",
                     "model": args.model, "levels": lv, "metric": metric, "value": v, "split": "test",
                     "device": "cpu", "command": cmd})
    if args.results:
        append_results(args.results, recs)
    return 0

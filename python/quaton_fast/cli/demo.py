"""`quaton-fast demo`: FP vs PQ vs PSQ at 4 phase levels on the real 5k MNIST subset.

A small D2NN in the lab's visible-light setup (λ = 632.8 nm, pitch λ/2, 3.373 µm between
layers) shrunk to run on a 2-core CPU in a few minutes. The methods share their training as
``quaton-fast sweep`` does: ONE full-precision run trains ``--epochs`` epochs (the FP row) and
keeps its state after ``--warmup`` epochs; PQ is the final FP model hard-rounded to ``--levels``
levels (no training); PSQ-FT continues from the FP state after the warm-up for the remaining
``epochs - warmup`` epochs, so it has seen as many epochs as FP. The table reports test accuracy
with hard-quantized masks; the train time of PQ is its evaluation, that of PSQ-FT its QAT epochs.
"""
from __future__ import annotations

import argparse
import copy
import time

import torch

from ..data.mnist_subset import load_mnist_subset
from ..nn.d2nn import D2NN
from ..quant import PSQ, FixedTemperature, FullPrecision, PostTraining
from ..train.classify import evaluate_accuracy, split_indices, train_classifier
from . import _types as A

DEMO_DEFAULTS = dict(n=64, layers=4, object_size=32, pad=2, epochs=4, warmup=2, batch=64, lr=0.05, levels=4,
                     seed=0, test_fraction=0.2)


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = DEMO_DEFAULTS
    p.add_argument("--neurons", "--n", dest="n", type=A.positive_int, default=d["n"],
                   help="neurons per side of each phase layer (default %(default)s)")
    p.add_argument("--layers", "--num-layers", dest="layers", type=A.positive_int, default=d["layers"],
                   help="phase layers (Python: num_layers; default %(default)s)")
    p.add_argument("--object-size", type=A.positive_int, default=d["object_size"], help="image size on the grid, px")
    p.add_argument("--pad", type=A.positive_int, default=d["pad"], help="zero-padding factor of the FFTs")
    p.add_argument("--epochs", type=A.positive_int, default=d["epochs"],
                   help="epochs of the FP run; PSQ-FT has seen as many (default %(default)s)")
    p.add_argument("--warmup", type=A.nonnegative_int, default=d["warmup"],
                   help="full-precision epochs shared with PSQ-FT before its QAT (default %(default)s)")
    p.add_argument("--batch", type=A.positive_int, default=d["batch"], help="batch size, images")
    p.add_argument("--lr", type=A.positive_float, default=d["lr"], help="Adam learning rate")
    p.add_argument("--levels", type=A.levels, default=d["levels"], help="phase levels of PQ and PSQ")
    p.add_argument("--seed", type=A.nonnegative_int, default=d["seed"],
                   help="seed of the initial phases, the train/test split and the batch order")
    p.add_argument("--limit", type=A.positive_int, default=None, help="train on LIMIT random images (and test on LIMIT/4) for smoke runs (default: all 4000 / 1000)")
    p.add_argument("--evanescent", choices=("decay", "cut"), default="decay",
                   help="evanescent waves: decay (exact, default) or cut (the demo's numbers before 2026-12-01)")
    p.add_argument("--device", type=A.device, default="cuda" if torch.cuda.is_available() else "cpu", help="cpu, cuda or cuda:K (default: cuda when a GPU is visible, else cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_demo(args: argparse.Namespace) -> list[dict]:
    """Train and evaluate the three methods; prints progress and the table, returns its rows
    (method, levels, accuracy in [0, 1], seconds)."""
    if args.warmup > args.epochs:
        raise ValueError(f"demo: argument --warmup must be <= --epochs ({args.epochs}), got {args.warmup}")
    images, labels = load_mnist_subset()
    tr, te = split_indices(len(images), DEMO_DEFAULTS["test_fraction"], args.seed)
    if args.limit:  # the subset is sorted by class: keep a random, class-mixed part of each split
        tr, te = tr[:args.limit], te[:max(1, args.limit // 4)]
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    train, test = (x[tr], y[tr]), (x[te], y[te])
    print(f"D2NN: visible-light setup, {args.n}x{args.n} neurons, {args.layers} layers, pad {args.pad}; "
          f"{len(tr)} train / {len(te)} test images of the 5k MNIST subset; FP {args.epochs} epochs, "
          f"PQ = final FP rounded to {args.levels} levels, PSQ-FT = {args.epochs - args.warmup} epochs from FP "
          f"after {args.warmup}; batch {args.batch}, Adam lr {args.lr}, seed {args.seed}, "
          f"evanescent waves {args.evanescent}, device {args.device}")

    def model() -> D2NN:
        return D2NN.preset("visible-128", n=args.n, num_layers=args.layers, object_size=args.object_size,
                           pad=args.pad, evanescent=args.evanescent, quantizer=FullPrecision(), seed=args.seed)

    common = dict(batch_size=args.batch, lr=args.lr, seed=args.seed, device=args.device, progress=not args.no_progress)
    rows = []

    def row(name: str, levels, accuracy: float, seconds: float) -> None:
        rows.append({"method": name, "levels": levels, "accuracy": accuracy, "seconds": seconds})
        print(f"  {name:7s} test accuracy {100 * accuracy:6.2f} %  ({seconds:.0f} s)")

    fp = model()
    t0 = time.perf_counter()
    res = train_classifier(fp, train, test, epochs=args.epochs, snapshot_epoch=args.warmup, description="FP", **common)
    row("FP", "-", res.test_accuracy, time.perf_counter() - t0)
    warm = res.snapshot

    t0 = time.perf_counter()
    pq = copy.deepcopy(fp)
    pq.switch_quantizer(PostTraining(args.levels))  # hard rounding at evaluation, nothing trained
    row("PQ", args.levels, evaluate_accuracy(pq, *test, device=args.device), time.perf_counter() - t0)

    t0 = time.perf_counter()
    res = train_classifier(model(), train, test, epochs=args.epochs, warmup_epochs=args.warmup,
                           quantizer=PSQ(args.levels, FixedTemperature(20.0)), resume=warm, description="PSQ-FT",
                           **common)
    row("PSQ-FT", args.levels, res.test_accuracy, time.perf_counter() - t0)
    print()
    print("| method | levels | test accuracy (hard-quantized masks) | train time |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['levels']} | {100 * r['accuracy']:.2f} % | {r['seconds']:.0f} s |")
    return rows


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    run_demo(args)
    return 0

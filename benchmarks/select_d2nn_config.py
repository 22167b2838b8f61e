"""Choose a D2NN classification configuration on a validation split of the *training* set.

The issue's rule is "do not tune on the test split": this script holds out ``--val`` images of
MNIST's 60k training set (a seeded permutation, seed 1234, independent of the run seed), trains a
full-precision D2NN on ``--train`` other training images and reports the validation accuracy
(hard read-out, eval mode) after every epoch. The 10k test images are never loaded.

One configuration per call; each epoch is one JSON line on stdout and, with ``--out``, a record
appended (atomically rewritten) to a JSON list with the exact command. The network is the one
`quaton-fast train` builds (``train.run_classify.build_model``); ``--temperature``,
``--detector-size`` and ``--cosine`` try read-out and schedule variants the CLI does not expose.

    python benchmarks/select_d2nn_config.py --object-size 56 --epochs 3 --out docs/results/quaton_config_selection.json
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from quaton_fast._atomic import atomic_write_json
from quaton_fast._backend import cpu_model
from quaton_fast.data.mnist import load_fashion_mnist, load_mnist
from quaton_fast.nn.readouts import DetectorReadout
from quaton_fast.cli._types import positive as _positive
from quaton_fast.train.config import RunConfig
from quaton_fast.train.epochs import epoch_generator, evaluate, train_one_epoch
from quaton_fast.train.run_classify import build_model

VAL_SEED = 1234     # the held-out split; fixed so every candidate is judged on the same images
HELD_OUT = 10_000   # size of the block reserved for validation (--val takes its first images)
N_TRAIN_IMAGES = 60_000  # MNIST and Fashion-MNIST training sets


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", choices=("mnist", "fashion"), default="mnist")
    pos_int, pos_float = _positive(int), _positive(float)
    p.add_argument("--neurons", type=pos_int, default=64, help="neurons per side")
    p.add_argument("--layers", type=pos_int, default=4)
    p.add_argument("--object-size", type=pos_int, default=32, help="image size on the grid, px")
    p.add_argument("--pad", type=pos_int, default=2)
    p.add_argument("--train", type=pos_int, default=8000, help="training images (from the non-held-out part)")
    p.add_argument("--val", type=pos_int, default=5000, help=f"held-out validation images (<= {HELD_OUT})")
    p.add_argument("--epochs", type=pos_int, default=3)
    p.add_argument("--lr", type=pos_float, default=0.02)
    p.add_argument("--batch", type=pos_int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=pos_float, default=None, help="read-out T (default: the library's, 10)")
    p.add_argument("--detector-size", type=pos_int, default=None, help="detector side, px (default N // 10)")
    p.add_argument("--cosine", action="store_true", help="cosine learning-rate decay over --epochs")
    p.add_argument("--out", default=None, help="JSON list to append the per-epoch records to")
    a = p.parse_args(argv)
    if a.val > HELD_OUT:
        p.error(f"argument --val: expected 1..{HELD_OUT} (the held-out block), got {a.val}")
    if a.train > N_TRAIN_IMAGES - HELD_OUT:
        p.error(f"argument --train: expected 1..{N_TRAIN_IMAGES - HELD_OUT} (the training set minus the "
                f"held-out block), got {a.train}")
    if a.object_size > a.neurons:
        p.error(f"argument --object-size: expected <= --neurons ({a.neurons}), got {a.object_size}")
    return a


def split(n: int, n_val: int, n_train: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices): validation = the first n_val of a VAL_SEED permutation,
    training = n_train images after the first HELD_OUT of it (so a larger --val never overlaps)."""
    perm = np.random.default_rng(VAL_SEED).permutation(n)
    return perm[HELD_OUT:HELD_OUT + n_train], perm[:n_val]


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    x, y = (load_mnist if a.dataset == "mnist" else load_fashion_mnist)("train")
    tr, va = split(len(x), a.val, a.train)
    as_t = lambda v, dt: torch.from_numpy(np.ascontiguousarray(v.astype(dt)))  # noqa: E731
    xtr, ytr, xva, yva = as_t(x[tr], np.float32), as_t(y[tr], np.int64), as_t(x[va], np.float32), as_t(y[va], np.int64)
    torch.manual_seed(a.seed)
    cfg = RunConfig(task=a.dataset, quantizer="fp", n=a.neurons, layers=a.layers, object_size=a.object_size,
                    pad=a.pad, lr=a.lr, batch=a.batch, seed=a.seed)
    net = build_model(cfg, num_classes=10)
    if a.detector_size is not None:
        net.readout = DetectorReadout(net.n, 10, detector_size=a.detector_size)
    if a.temperature is not None:
        net.readout.temperature = a.temperature
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, a.epochs) if a.cosine else None
    cpu = torch.device("cpu")
    command = "python benchmarks/select_d2nn_config.py " + " ".join(shlex.quote(w) for w in (argv or sys.argv[1:]))
    records, t0 = [], time.perf_counter()
    for epoch in range(a.epochs):
        stats = train_one_epoch(net, opt, xtr, ytr, batch_size=a.batch, generator=epoch_generator(a.seed, epoch),
                                device=cpu, progress=False, description="")
        if sched is not None:
            sched.step()
        val = evaluate(net, xva, yva, device=cpu)
        rec = {"task": "config-selection", "dataset": a.dataset.upper() if a.dataset == "mnist" else "Fashion-MNIST",
               "method": "FP", "levels": None, "metric": "accuracy",
               "split": "validation (held out of the training set)",
               "value": val["accuracy"], "epoch": epoch + 1, "neurons": a.neurons, "layers": a.layers,
               "object_size": a.object_size, "pad": a.pad, "n_train": a.train, "n_val": a.val, "lr": a.lr,
               "batch": a.batch, "seed": a.seed, "temperature": net.readout.temperature,
               "detector_size": int(net.readout.boxes[0][2]), "cosine": a.cosine, "loss": stats["loss"], "train_accuracy_soft": stats["train_accuracy_soft"],
               "seconds": round(time.perf_counter() - t0, 1), "threads": torch.get_num_threads(),
               "device": f"cpu ({cpu_model()})", "command": command}
        print(json.dumps(rec), flush=True)
        records.append(rec)
    if a.out:
        old = json.loads(Path(a.out).read_text()) if Path(a.out).exists() else []
        atomic_write_json(old + records, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`quaton-fast sweep`: options of the grid of training runs; the planning and execution live in
:mod:`quaton_fast.sweep` (one FP run per dataset, every QAT method from its warm-up, PQ = the
final FP model rounded)."""
from __future__ import annotations

import argparse
import shlex
import sys

import torch

from ..nn.presets import PRESETS
from ..quant.quantizers import QUANTIZER_NAMES
from ..train.tasks import TASKS
from ._types import device, levels, nonnegative_int, positive
from .train import _qopt


def _method_qopt(text: str) -> str:
    """argparse type of --qopt: METHOD:KEY=VALUE, METHOD a quantizer name, VALUE a finite number or
    true/false (checked like `train --qopt`); returns the text (passed on to the runs)."""
    method, sep, kv = text.partition(":")
    if not sep or method not in QUANTIZER_NAMES:
        raise argparse.ArgumentTypeError(f"expected METHOD:KEY=VALUE with METHOD one of {', '.join(QUANTIZER_NAMES)}, "
                                         f"got {text!r}")
    _qopt(kv)
    return text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tasks", nargs="+", default=["mnist"], choices=sorted(TASKS), help="datasets")
    p.add_argument("--methods", nargs="+", default=list(QUANTIZER_NAMES), choices=QUANTIZER_NAMES,
                   help="quantization methods (fp: the shared full-precision run)")
    p.add_argument("--levels", nargs="+", type=levels, default=[4, 2, 8, 16],
                   help="level counts, run in this order (default %(default)s)")
    p.add_argument("--warmup", type=nonnegative_int, default=2, help="FP warm-up epochs shared by all QAT runs")
    p.add_argument("--qat-epochs", type=positive(int), default=2, help="QAT epochs after the warm-up")
    p.add_argument("--qopt", type=_method_qopt, action="append", default=[], metavar="METHOD:KEY=VALUE",
                   help="quantizer option for one method, e.g. psq-li:increment=10 (repeatable)")
    p.add_argument("--preset", default="visible-128", choices=sorted(PRESETS), help="optical setup")
    p.add_argument("--neurons", "--n", dest="n", type=positive(int), default=None,
                   help="neurons per side (default: the preset's)")
    p.add_argument("--layers", "--num-layers", dest="layers", type=positive(int), default=None,
                   help="phase layers (Python: num_layers; default: the preset's)")
    p.add_argument("--object-size", type=positive(int), default=None,
                   help="image size on the grid, px (default: the preset's, at most --neurons)")
    p.add_argument("--pad", type=positive(int), default=None, help="FFT zero-padding factor (default: the preset's)")
    p.add_argument("--batch", type=positive(int), default=64, help="batch size, images")
    p.add_argument("--lr", type=positive(float), default=0.05, help="Adam learning rate")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of every run")
    p.add_argument("--train-limit", type=positive(int), default=None,
                   help="train on a seeded random subset of K images (default: all)")
    p.add_argument("--test-limit", type=positive(int), default=None,
                   help="smoke runs: test on the first K images (default: all)")
    p.add_argument("--device", type=device, default="cuda" if torch.cuda.is_available() else "cpu", help="cpu, cuda or cuda:K (default: cuda when a GPU is visible, else cpu)")
    p.add_argument("--no-plots", action="store_true", help="no figures in the run directories")
    p.add_argument("--root", default="runs/sweep", help="directory of the run directories")
    p.add_argument("--table-md", default=None, help="also write the Markdown table here (default: only ROOT/table.md)")
    p.add_argument("--table-json", default=None, help="also write the JSON records here (default: only ROOT/table.json)")


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from ..sweep import run_sweep
    words = sys.argv[1:] if argv is None else argv
    return run_sweep(args, "quaton-fast " + " ".join(shlex.quote(w) for w in words))

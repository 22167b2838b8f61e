"""`quaton-fast robustness`: accuracy of a trained classification run under fabrication errors."""
from __future__ import annotations

import argparse
import shlex
import sys

from . import _types as _A


def _sizes(text: str) -> list[float]:
    out = []
    for part in str(text).split(","):
        v = _A.real(minimum=0.0)(part)
        out.append(v)
    if not out:
        raise argparse.ArgumentTypeError(f"expected comma-separated sizes >= 0, got {text!r}")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a finished `quaton-fast train` classification run directory")
    p.add_argument("--kind", choices=("phase", "shift", "dz"), required=True,
                   help="error kind: phase (rad per neuron), shift (neuron pitches per layer), dz (m per gap)")
    p.add_argument("--sizes", type=_sizes, required=True, help="comma-separated error sizes, e.g. 0,0.25,0.5,1")
    p.add_argument("--draws", type=_A.positive_int, default=5, help="fabricated devices per size (default 5)")
    p.add_argument("--seed", type=_A.nonnegative_int, default=0, help="seed of the drawn devices")
    p.add_argument("--distribution", choices=("uniform", "normal"), default="uniform",
                   help="errors uniform in [-size, size] or normal with s.d. size")
    p.add_argument("--device", type=_A.device, default="cpu", help="cpu, cuda or cuda:K")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="where robustness_<kind>.json and .png go (default: RUN_DIR/figures)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plot (the JSON is always written)")


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    from ..train.robustness import robustness_of_run
    words = sys.argv[1:] if argv is None else argv
    r = robustness_of_run(args.run_dir, kind=args.kind, sizes=args.sizes, draws=args.draws, seed=args.seed,
                          distribution=args.distribution, device=args.device, plot=not args.no_plots,
                          command="quaton-fast " + " ".join(shlex.quote(w) for w in words), out_dir=args.out)
    for row in r["rows"]:
        print(f"{row['kind']} {row['size']:g} {row['unit']}: accuracy {100 * row['accuracy_mean']:.2f} "
              f"± {100 * row['accuracy_std']:.2f} % ({row['draws']} device{'' if row['draws'] == 1 else 's'})")
    print("wrote " + ", ".join(str(p) for p in (r["json"], r.get("figure")) if p))
    return 0

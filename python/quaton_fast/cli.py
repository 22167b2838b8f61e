"""`quaton-fast` command line: demo, info, train, sweep, aoc-train, solve."""
from __future__ import annotations

import argparse
import json
import sys

from . import __version__, build_info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quaton-fast", description=__doc__)
    parser.add_argument("--version", action="version", version=f"quaton_fast {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    from . import demo
    p_demo = sub.add_parser("demo", help="FP vs PQ vs PSQ at 4 levels on the 5k MNIST subset (CPU, minutes)")
    demo.add_arguments(p_demo)
    sub.add_parser("info", help="print what the native extension was built with (JSON)")
    from .train import cli_train as d2nn_train
    d2nn_train.add_arguments(sub.add_parser("train", help="train a D2NN (FP warm-up, then QAT; hard-quantized test)"))
    from . import sweep
    sweep.add_arguments(sub.add_parser("sweep", help="grid of training runs (methods x levels x datasets), resumable"))
    from .aoc import cli_train
    cli_train.add_arguments(sub.add_parser("aoc-train", help="train an AOC equilibrium model (MNIST, Fashion, regression)"))
    from .solve import cli_solve
    cli_solve.add_arguments(sub.add_parser("solve", help="solve a Max-Cut/SK/QPLIB instance with the AOC-DT solver"))

    args = parser.parse_args(argv)
    if args.command == "demo":
        demo.run(args)
    elif args.command == "info":
        print(json.dumps(build_info(), indent=2))
    elif args.command == "train":
        return int(d2nn_train.run(args, argv) or 0)
    elif args.command == "sweep":
        return int(sweep.run(args, argv) or 0)
    elif args.command == "aoc-train":
        return int(cli_train.run(args) or 0)
    elif args.command == "solve":
        return int(cli_solve.run(args) or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())

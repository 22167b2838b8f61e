"""`quaton-fast` command line: demo, info, train, sweep, aoc-train, solve, export, robustness.

Errors are one line on stderr, ``quaton-fast <command>: error: <what>``, never a traceback:

- exit 2: a bad option (argparse: wrong type, out of range, missing) or a refusal of the run
  (ValueError, TypeError, OSError such as a missing file, RuntimeError such as no CUDA device or a
  run directory in use by another trainer);
- exit 1: an unexpected internal error (the message names its type; please report it);
- exit 130: interrupted (Ctrl-C).

``--traceback`` (anywhere on the line) or ``QUATON_FAST_DEBUG=1`` shows the full traceback instead.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from . import __version__, build_info

#: exceptions our code raises for bad input or a refused run: one line, exit 2
CLEAR_ERRORS = (ValueError, TypeError, OSError, RuntimeError, ImportError, MemoryError)
EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 2, 1, 130


class _UsageError(Exception):
    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """argparse without the usage block on errors: one line, raised to :func:`main` (which returns
    2) instead of ``sys.exit`` from deep inside ``parse_args``."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        raise _UsageError(self.prog, message)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def build_parser() -> argparse.ArgumentParser:
    """The full `quaton-fast` parser (every subcommand)."""
    parser = _Parser(prog="quaton-fast", description=__doc__.replace("``", "").replace("`", ""),
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"quaton_fast {__version__}")
    parser.add_argument("--traceback", action="store_true", help="on an error, show the full Python traceback")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    from . import demo
    demo.add_arguments(sub.add_parser("demo", help="FP vs PQ vs PSQ at 4 levels on the 5k MNIST subset (CPU, minutes)"))
    sub.add_parser("info", help="print what the native extension was built with (JSON)")
    from .train import cli_train as d2nn_train
    d2nn_train.add_arguments(sub.add_parser("train", help="train a D2NN (FP warm-up, then QAT; hard-quantized test)"))
    from . import sweep
    sweep.add_arguments(sub.add_parser("sweep", help="grid of training runs (methods x levels x datasets), resumable"))
    from .aoc import cli_train
    cli_train.add_arguments(sub.add_parser("aoc-train", help="train an AOC equilibrium model (MNIST, Fashion, regression)"))
    from .solve import cli_solve
    cli_solve.add_arguments(sub.add_parser("solve", help="solve a Max-Cut/SK/QPLIB instance with the AOC-DT solver"))
    from . import cli_fab
    cli_fab.add_export_arguments(sub.add_parser("export", help="STL relief meshes and a GDSII level layout from masks.npz"))
    cli_fab.add_robustness_arguments(sub.add_parser("robustness", help="accuracy of a trained run under fabrication errors"))
    for p in sub.choices.values():  # also accepted after the subcommand; SUPPRESS keeps the top-level value
        p.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS,
                       help="on an error, show the full Python traceback")
    return parser


def _dispatch(args: argparse.Namespace, argv: list[str] | None) -> int:
    if args.command == "demo":
        from . import demo
        demo.run(args)
    elif args.command == "info":
        print(json.dumps(build_info(), indent=2))
    elif args.command == "train":
        from .train import cli_train as d2nn_train
        return int(d2nn_train.run(args, argv) or 0)
    elif args.command == "sweep":
        from . import sweep
        return int(sweep.run(args, argv) or 0)
    elif args.command == "aoc-train":
        from .aoc import cli_train
        return int(cli_train.run(args, argv) or 0)
    elif args.command == "solve":
        from .solve import cli_solve
        return int(cli_solve.run(args) or 0)
    elif args.command == "export":
        from . import cli_fab
        return cli_fab.run_export(args)
    elif args.command == "robustness":
        from . import cli_fab
        return cli_fab.run_robustness(args, argv)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one `quaton-fast` command; returns the exit code (see the module docstring)."""
    words = sys.argv[1:] if argv is None else list(argv)
    debug = os.environ.get("QUATON_FAST_DEBUG", "") not in ("", "0") or "--traceback" in words
    prog = "quaton-fast"
    try:
        parser = build_parser()
        args = parser.parse_args(words)
        prog = f"quaton-fast {args.command}"
        debug = debug or bool(getattr(args, "traceback", False))
        return _dispatch(args, argv)
    except _UsageError as e:
        print(f"{e.prog}: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except CLEAR_ERRORS as e:
        if debug:
            raise
        print(f"{prog}: error: {_one_line(e) or type(e).__name__}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as e:  # noqa: BLE001 - a bug: still one line, with its type and how to see more
        if debug:
            raise
        print(f"{prog}: error: internal error ({type(e).__name__}: {_one_line(e)}); rerun with --traceback "
              f"for the details and please report it", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())

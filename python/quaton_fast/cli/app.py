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
import importlib
import os
import sys

from .. import __version__

# One module per command in this package, each with add_arguments(parser) and run(args, argv).

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


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default: ``(default: X)`` is appended unless the help
    already says ``default``; flags (store_true) and options without a value are left as they are."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.option_strings and action.nargs != 0 and action.default is not None
                and action.default is not argparse.SUPPRESS and "default" not in text):
            empty = isinstance(action.default, (list, tuple, str)) and len(action.default) == 0
            text += " (default: none)" if empty else " (default: %(default)s)"
        return text


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


#: (command, module in this package, one-line help), in the order of the top-level --help
COMMANDS = (
    ("demo", "demo", "FP vs PQ vs PSQ at 4 levels on the 5k MNIST subset (CPU, minutes)"),
    ("info", "info", "print what the native extension was built with (JSON)"),
    ("train", "train", "train a D2NN (FP warm-up, then QAT; hard-quantized test)"),
    ("sweep", "sweep", "grid of training runs (methods x levels x datasets), resumable"),
    ("aoc-train", "aoc_train", "train an AOC equilibrium model (MNIST, Fashion, regression)"),
    ("solve", "solve", "solve a Max-Cut/SK/QPLIB instance with the AOC-DT solver"),
    ("export", "export", "STL relief meshes and a GDSII level layout from masks.npz"),
    ("robustness", "robustness", "accuracy of a trained run under fabrication errors"),
)


def _module(name: str):
    return importlib.import_module(f"{__package__}.{name}")


def build_parser() -> argparse.ArgumentParser:
    """The full `quaton-fast` parser (every subcommand)."""
    parser = _Parser(prog="quaton-fast", description=__doc__.replace("``", "").replace("`", ""),
                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"quaton_fast {__version__}")
    parser.add_argument("--traceback", action="store_true", help="on an error, show the full Python traceback")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND",
                                title="commands")
    for command, module, text in COMMANDS:
        _module(module).add_arguments(sub.add_parser(command, help=text, description=text,
                                                     formatter_class=HelpFormatter))
    for p in sub.choices.values():  # also accepted after the subcommand; SUPPRESS keeps the top-level value
        p.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS,
                       help="on an error, show the full Python traceback")
    return parser


def _dispatch(args: argparse.Namespace, argv: list[str] | None) -> int:
    module = _module(dict((c, m) for c, m, _ in COMMANDS)[args.command])
    return int(module.run(args, argv) or 0)


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


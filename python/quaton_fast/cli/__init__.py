"""The `quaton-fast` command line: one module per command (demo, info, train, sweep, aoc_train,
solve, export, robustness), each with ``add_arguments(parser)`` and ``run(args[, argv])``; the
parser, dispatch and error handling in :mod:`quaton_fast.cli.app`; the argparse types shared by
every command in :mod:`quaton_fast.cli._types`.

This is the top layer: the library (train/, aoc/, solve/, ...) never imports from here.
``quaton-fast ...``, ``python -m quaton_fast ...`` and ``python -m quaton_fast.cli ...`` are the
same command.
"""
from __future__ import annotations

from .app import CLEAR_ERRORS, COMMANDS, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, build_parser, main

__all__ = ["main", "build_parser", "COMMANDS", "CLEAR_ERRORS", "EXIT_USAGE", "EXIT_INTERNAL", "EXIT_INTERRUPTED"]

"""Module paths of ``quaton_fast.solve`` before its layout by role (issue 24), kept importable.

Until December 2026 every module of this package sat flat in ``solve/`` (``quaton_fast.solve.aoc_solver``,
``quaton_fast.solve.problems``, ...). They now live in sub-packages named by role (``models``,
``formats``, ``algorithms``, ``applications``, ``statistics``; see ``quaton_fast/solve/__init__.py``).
``import quaton_fast.solve.aoc_solver`` and ``from quaton_fast.solve.problems import QUBO`` still work:
a meta-path finder hands out the SAME module object under its old name (no copy, no second import,
so monkeypatching either name patches both). New code imports the new paths.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

#: old module name (under quaton_fast.solve) -> its sub-package
MOVED = {
    **dict.fromkeys(("problems", "constraints", "constraint_classes", "entry_checks", "generators"), "models"),
    **dict.fromkeys(("_files", "readers", "qplib_io", "read_gams", "dimod_models"), "formats"),
    **dict.fromkeys(("aoc_solver", "replica_kernels", "replica_operator", "replica_torch", "distributed",
                     "hardware_solver", "bcd", "aux_bcd", "qumo_exact", "constrained_exact", "constrained_solve",
                     "constrained_phases", "constrained_repair", "assignment_repair", "feasibility_milp",
                     "dimod_sampler"), "algorithms"),
    **dict.fromkeys(("settlement", "compressed_sensing"), "applications"),
    **dict.fromkeys(("stats", "trials"), "statistics"),
}
_PKG = __name__.rpartition(".")[0]     # quaton_fast.solve


def new_name(old: str) -> str:
    """'quaton_fast.solve.aoc_solver' -> 'quaton_fast.solve.algorithms.aoc_solver' (other names unchanged)."""
    head, _, tail = old.partition(_PKG + ".")[2].partition(".")
    if not old.startswith(_PKG + ".") or head not in MOVED:
        return old
    return f"{_PKG}.{MOVED[head]}.{head}" + (f".{tail}" if tail else "")


class _OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``quaton_fast.solve.<old>`` and returns the module at its new path."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(_PKG + ".") and fullname.count(".") == _PKG.count(".") + 1 \
                and fullname.rpartition(".")[2] in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(new_name(spec.name))   # keeps its own __name__ / __spec__

    def exec_module(self, module):
        pass     # already executed under its new name


def install() -> None:
    """Register the finder once (``import quaton_fast.solve`` does)."""
    if not any(isinstance(f, _OldPaths) for f in sys.meta_path):
        sys.meta_path.append(_OldPaths())

"""dimod is optional: quaton_fast.solve imports without it, and the dimod interface then says how to
install it (runs with or without dimod installed: dimod is hidden from the import system here)."""
import importlib
import sys

import pytest


def test_solve_imports_without_dimod_and_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dimod", None)          # "import dimod" raises ImportError
    for mod in ("quaton_fast.solve.algorithms.dimod_sampler", "quaton_fast.solve.formats.dimod_models"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    solve = importlib.import_module("quaton_fast.solve")
    assert callable(solve.solve) and "AOCSampler" not in solve.__all__
    with pytest.raises(ImportError, match=r"pip install quaton_fast\[dimod\]"):
        solve.AOCSampler
    with pytest.raises(ImportError, match=r"pip install quaton_fast\[dimod\]"):
        solve.bqm_to_problem(object())
    with pytest.raises(AttributeError, match="no_such_name"):
        solve.no_such_name

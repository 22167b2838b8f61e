"""quaton_fast: optical neural hardware — diffractive networks with quantization-aware training
(QuATON) and the analog optical computer digital twin.

Submodules load on first use (``qf.nn``, ``qf.quant``, ``qf.functional``, ``qf.encode``,
``qf.reference``, ``qf.solve``, ``qf.aoc``, ``qf.data``, ``qf.qpi``, ``qf.export``, ``qf.examples``: the
small example files the documentation uses), so ``import quaton_fast`` is cheap and
never touches CUDA.
"""
from __future__ import annotations

import importlib
from typing import Any

from ._backend import build_info, has_cuda

__version__ = "0.1.0"

_SUBMODULES = ("nn", "quant", "functional", "encode", "reference", "solve", "aoc", "data", "train", "qpi", "export",
               "examples")
__all__ = ["build_info", "has_cuda", "load_run", "__version__", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    if name == "load_run":      # qf.load_run(run_dir): a trained run back in Python (imports torch)
        from .train.load_run import load_run
        globals()[name] = load_run
        return load_run
    raise AttributeError(f"module 'quaton_fast' has no attribute {name!r}")

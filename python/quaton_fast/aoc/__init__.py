"""Analog optical computer digital twin: fixed-point core (C++ CPU kernels), equilibrium models,
9-bit weight quantization and training."""
import importlib

# imported on first use (PEP 562): reading a calibration file (aoc.hardware.AOCHardware) or the CLI's
# argument parsing does not pay for importing torch
_LAZY = {"EquilibriumClassifier": "equilibrium", "EquilibriumRegressor": "equilibrium",
         "quantize_for_hardware": "equilibrium", "fixed_point_adjoint": "fixed_point",
         "fixed_point_forward": "fixed_point", "quantize_weights_9bit": "quantize"}

__all__ = ["fixed_point_forward", "fixed_point_adjoint", "EquilibriumClassifier", "EquilibriumRegressor",
           "quantize_weights_9bit", "quantize_for_hardware"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

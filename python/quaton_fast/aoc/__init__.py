"""Analog optical computer digital twin: fixed-point core (C++ CPU kernels), equilibrium models,
9-bit weight quantization and training."""
from .equilibrium import EquilibriumClassifier, EquilibriumRegressor, quantize_for_hardware
from .fixed_point import fixed_point_adjoint, fixed_point_forward
from .quantize import quantize_weights_9bit

__all__ = ["fixed_point_forward", "fixed_point_adjoint", "EquilibriumClassifier", "EquilibriumRegressor",
           "quantize_weights_9bit", "quantize_for_hardware"]

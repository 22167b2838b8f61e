"""Sharpness schedules of PSQ (the QuATON paper): how k — the paper's "temperature", larger = harder —
evolves over training. Plain config objects; the PSQ module owns any trainable state.

- :class:`FixedTemperature` (PSQ-FT): k constant.
- :class:`LinearTemperature` (PSQ-LI): ``k(e) = k0 + increment·⌊e/every⌋``.
- :class:`LearnableTemperature` (PSQ-LT): per layer ``k = 1/(|κ| + ε)`` with κ trainable
  (init 0.05, ε = 0.005) and the regulariser ``½·λ(e)·κ²``, ``λ(e) = λ1·2^⌊e/β⌋``.
"""
from __future__ import annotations

from dataclasses import dataclass

from .._validation import finite_real, positive_int


@dataclass(frozen=True)
class FixedTemperature:
    """PSQ-FT: constant sharpness ``k`` (1/rad). Default 20 ≈ the PSQ-LT starting value 1/0.055."""
    k: float = 20.0

    def __post_init__(self) -> None:
        finite_real("FixedTemperature", "k", self.k, positive=True)

    def sharpness(self, epoch: int) -> float:
        return float(self.k)


@dataclass(frozen=True)
class LinearTemperature:
    """PSQ-LI: ``k(e) = k0 + increment·⌊e/every⌋`` for 0-based epoch e (1/rad)."""
    k0: float = 5.0
    increment: float = 5.0
    every: int = 1

    def __post_init__(self) -> None:
        finite_real("LinearTemperature", "k0", self.k0, positive=True)
        finite_real("LinearTemperature", "increment", self.increment, nonnegative=True)
        positive_int("LinearTemperature", "every", self.every)

    def sharpness(self, epoch: int) -> float:
        return float(self.k0 + self.increment * (int(epoch) // self.every))


@dataclass(frozen=True)
class LearnableTemperature:
    """PSQ-LT: trainable κ per layer, ``k = 1/(|κ| + eps)``; regulariser ``½·λ(e)·κ²`` with
    ``λ(e) = lambda1·2^⌊e/beta⌋`` (beta in epochs)."""
    lambda1: float = 0.01
    beta: int = 5
    kappa_init: float = 0.05
    eps: float = 0.005

    def __post_init__(self) -> None:
        finite_real("LearnableTemperature", "lambda1", self.lambda1, nonnegative=True)
        positive_int("LearnableTemperature", "beta", self.beta)
        finite_real("LearnableTemperature", "kappa_init", self.kappa_init)
        finite_real("LearnableTemperature", "eps", self.eps, positive=True)

    def regulariser_weight(self, epoch: int) -> float:
        return float(self.lambda1 * 2.0 ** (int(epoch) // self.beta))

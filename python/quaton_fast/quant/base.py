"""Base class of the phase quantizers: latent weights → phase (radians) used by a layer."""
from __future__ import annotations

import copy
import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..reference.levels import LevelTable, level_table, uniform_levels

TWO_PI = 2.0 * math.pi


def make_level_table(levels: int | Sequence[float] | LevelTable, period: float | None = TWO_PI) -> LevelTable:
    """``levels``: a count n (uniform over one period, q_i = period·i/n), an increasing sequence
    of phases (radians; periodic only if ``period`` is given and they fit in one period), or a
    ready :class:`LevelTable`."""
    if isinstance(levels, LevelTable):
        return levels
    if isinstance(levels, (int, np.integer)) and not isinstance(levels, bool):
        return uniform_levels(int(levels), period=TWO_PI if period is None else period)
    return level_table(np.asarray(levels, dtype=np.float64), period=period)


class Quantizer(nn.Module):
    """Maps a layer's latent weights to the phase it applies.

    Subclasses implement :meth:`quantize_train` (training forward) and may override
    :meth:`latent_from_phase`. Evaluation (``module.eval()``) always uses hard quantization.
    The current epoch is a buffer, so schedules resume from checkpoints.
    """

    #: latent values per neuron (1, or the number of levels for Gumbel-softmax logits)
    latent_per_neuron: int = 1

    def __init__(self, levels: int | Sequence[float] | LevelTable | None = 4, period: float | None = TWO_PI):
        super().__init__()
        self.table: LevelTable | None = None if levels is None else make_level_table(levels, period)
        if self.table is not None:
            self.register_buffer("thresholds", torch.tensor(np.array(self.table.thresholds), dtype=torch.float32))
            self.register_buffer("steps", torch.tensor(np.array(self.table.steps), dtype=torch.float32))
            self.register_buffer("levels", torch.tensor(np.array(self.table.levels), dtype=torch.float32))
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))

    # -- interface -------------------------------------------------------------------------
    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """``latent`` (N, N) or (N, N, n) → phase (N, N), radians."""
        return self.quantize_train(latent) if self.training else self.hard(latent)

    def quantize_train(self, latent: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def hard(self, latent: torch.Tensor) -> torch.Tensor:
        """Hard-quantized phase (the staircase; may equal q_0 + period ≡ q_0)."""
        from ..functional.quantizers import staircase
        return staircase(latent, self.thresholds.to(latent.dtype), self.steps.to(latent.dtype), self.base)

    def hard_phase(self, latent: torch.Tensor) -> torch.Tensor:
        """The level a fab makes for each neuron, wrapped into the table's range (radians)."""
        idx = self.level_indices(latent)
        return self.levels.to(latent.dtype)[idx]

    def level_indices(self, latent: torch.Tensor) -> torch.Tensor:
        """Index of the hard level of each neuron, (N, N) int64."""
        from ..functional.quantizers import staircase
        n = self.levels.numel()
        count = staircase(latent, self.thresholds.to(latent.dtype),
                          torch.ones_like(self.steps, dtype=latent.dtype), 0.0)
        return count.round().long() % n

    def latent_from_phase(self, phase: torch.Tensor) -> torch.Tensor:
        """Latent weights that start QAT from a full-precision ``phase`` (N, N): wrapped into
        [q_0, q_0 + period) for periodic tables (the paper's key step), unchanged otherwise."""
        if self.table is not None and self.table.period is not None:
            return torch.remainder(phase - self.base, self.table.period) + self.base
        return phase.clone()

    def set_epoch(self, epoch: int) -> None:
        self.epoch.fill_(int(epoch))

    def for_layer(self, index: int) -> "Quantizer":
        """An independent copy of this quantizer for layer ``index`` of a network (what
        :class:`~quaton_fast.nn.D2NN` gives each layer). Quantizers that draw noise give each
        layer its own noise stream; the others are plain deep copies."""
        return copy.deepcopy(self)

    def regularization(self) -> torch.Tensor:
        """Extra loss term of this quantizer (0 except PSQ-LT)."""
        return self.epoch.new_zeros((), dtype=torch.float32)

    # -- helpers ---------------------------------------------------------------------------
    @property
    def base(self) -> float:
        return float(self.table.base) if self.table is not None else 0.0

    @property
    def num_levels(self) -> int | None:
        return None if self.table is None else int(self.table.n)

    def extra_repr(self) -> str:
        return f"levels={self.num_levels}, period={None if self.table is None else self.table.period}"

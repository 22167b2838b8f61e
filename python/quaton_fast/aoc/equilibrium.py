"""Equilibrium models on the AOC digital twin (SPEC B2).

Per cell c: ``z* = alpha z* + beta W_c tanh(z*) + b_eff``, ``b_eff = clamp(IP x + b)``; cells are
independent 16x16 systems run as one batch of ``B*cells`` fixed points with implicit gradients.

Decision (contractivity): without a constraint, training drove ``|beta|*||W||_2`` from 0.4 to ~0.9
(so alpha + gain > 1: no contraction guarantee) and training collapsed (MNIST, 256 weights, lr 3e-4:
validation accuracy 91.2 % at epoch 3, 61.4 % at epoch 6, 16.5 % at epoch 11).  The iteration and the
adjoint still converged for > 99.9 % of the inputs (largest Jacobian spectral radius 0.98), so the
cause is the ill-conditioning near the stability edge (large ``(I - J)^-1`` for a few inputs), not
wrong fixed points.  :meth:`project_` bounds the gain after every optimiser step (``max_gain``).

Decision (beta scaling): Microsoft's twin divides the matrix term by the number of channels and
starts beta at 18.6; here the matrix term is NOT divided, beta starts at 1.0 and W is initialised
with spectral norm ~0.4 so the map is contractive (|alpha| + |beta|*||W||_2 < 1 at init).  The two
parametrisations are equivalent up to a rescaling of beta by ``width``.
"""
from __future__ import annotations

import contextlib
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from ..functional.fixed_point import fixed_point
from .quantize import quantize_int_9bit, quantize_weights_9bit

__all__ = ["EquilibriumClassifier", "EquilibriumRegressor", "quantize_for_hardware"]


class _EquilibriumCore(nn.Module):
    #: non-ideal twin hook (quaton_fast.aoc.hardware.HardwareTwin); None = the ideal twin
    hardware = None

    def __init__(self, in_features, out_features, width=16, cells=1, alpha=0.5, beta_init=1.0,
                 clamp=(-1.0, 1.0), tol=1e-4, max_iter=100, seed: Optional[int] = None,
                 max_gain: Optional[float] = 0.4):
        super().__init__()
        if max_gain is not None and not 0.0 < max_gain:
            raise ValueError(f"{type(self).__name__}(): argument 'max_gain' must be > 0 or None, got {max_gain!r}")
        self.max_gain = max_gain
        g = torch.Generator().manual_seed(0 if seed is None else seed)
        self.width, self.cells, self.alpha, self.clamp = width, cells, float(alpha), clamp
        self.tol, self.max_iter = tol, max_iter
        self.ip = nn.Linear(in_features, width * cells)
        W = torch.randn(cells, width, width, generator=g)
        W = W / torch.linalg.matrix_norm(W, ord=2).reshape(-1, 1, 1) * 0.4
        self.W = nn.Parameter(W)
        self.b = nn.Parameter(torch.zeros(width * cells))
        self.beta = nn.Parameter(torch.tensor(float(beta_init)))
        self.op = nn.Linear(width * cells, out_features)
        self._quant_mode: Optional[str] = None
        self.last_iterations: Optional[torch.Tensor] = None

    @torch.no_grad()
    def project_(self) -> None:
        """Keep every cell's step contractive: rescale W_c so that ``|beta| * ||W_c||_2 <= max_gain``.

        The step's Lipschitz constant is <= alpha + |beta|*||W_c||_2 (|tanh'| <= 1, clamp is 1-Lipschitz),
        so with alpha = 0.5 and max_gain = 0.4 it is <= 0.9: the forward converges within the 100-step
        budget and the implicit gradient is the gradient of a true fixed point.  Called by the training
        loop after each optimiser step (projected gradient descent); a no-op when max_gain is None.
        """
        if self.hardware is not None and self.hardware.active:  # bound the non-ideal map's gain
            return self.hardware.project_(self)
        if self.max_gain is None:
            return
        gain = self.beta.detach().abs() * torch.linalg.matrix_norm(self.W.detach(), ord=2)  # (cells,)
        scale = torch.clamp(self.max_gain / gain.clamp_min(1e-12), max=1.0)
        self.W.mul_(scale.reshape(-1, 1, 1).to(self.W.dtype))

    def effective_W(self) -> torch.Tensor:
        if self._quant_mode is None:
            return self.W
        return quantize_weights_9bit(self.W, self._quant_mode)

    @contextlib.contextmanager
    def quantized(self, mode: str = "maxabs"):
        """Evaluate with 9-bit W inside the ``with`` block."""
        old, self._quant_mode = self._quant_mode, mode
        try:
            yield self
        finally:
            self._quant_mode = old

    def equilibrium(self, x: torch.Tensor) -> torch.Tensor:
        if self.hardware is not None and self.hardware.active:  # non-ideal twin (aoc/hardware.py)
            return self.hardware.equilibrium(self, x)
        B = x.shape[0]
        beff = self.ip(x) + self.b
        if self.clamp is not None:
            beff = beff.clamp(*self.clamp)
        beff = beff.reshape(B * self.cells, self.width)
        W = self.effective_W().to(beff.dtype)
        Wb = W.unsqueeze(0).expand(B, -1, -1, -1).reshape(B * self.cells, self.width, self.width)
        z, it, _ = fixed_point(Wb, beff, alpha=self.alpha, beta=self.beta, tol=self.tol,
                               max_iter=self.max_iter)
        self.last_iterations = it
        return z.reshape(B, self.cells * self.width)

    def forward(self, x):
        return self.op(self.equilibrium(x.reshape(x.shape[0], -1)))


class EquilibriumClassifier(_EquilibriumCore):
    """IP (in -> width*cells) -> per-cell fixed point -> OP (width*cells -> classes).

    cells=1: 256 AOC weights ('256' model); cells=16: 4096 weights ('4096' model).
    """

    def __init__(self, in_features=784, width=16, cells=1, num_classes=10, **kw):
        super().__init__(in_features, num_classes, width=width, cells=cells, **kw)


class EquilibriumRegressor(_EquilibriumCore):
    """1 -> 16 -> 1 regression equilibrium model."""

    def __init__(self, width=16, cells=1, **kw):
        super().__init__(1, 1, width=width, cells=cells, **kw)


def quantize_for_hardware(model: _EquilibriumCore, mode: str = "maxabs") -> Dict[str, object]:
    """Export per cell: W_Q+ / W_Q- (non-negative int, W_Q = W_Q+ - W_Q-), beta_hw = beta*max/255
    (so beta_hw*W_Q == beta*W_quantized), alpha, and the clamp range for b_AOC = clamp(b + IP x)."""
    q, m = quantize_int_9bit(model.W, mode)
    beta = float(model.beta.detach())
    return {
        "mode": mode, "alpha": model.alpha, "clamp": model.clamp,
        "cells": [{"W_pos": q[c].clamp_min(0).clone(), "W_neg": (-q[c]).clamp_min(0).clone(),
                   "scale": float(m[c]), "beta_hw": beta * float(m[c]) / 255.0}
                  for c in range(model.cells)],
    }

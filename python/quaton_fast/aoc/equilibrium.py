"""Equilibrium models on the AOC digital twin (the AOC paper's equilibrium models; docs/aoc_hardware.md).

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
import numbers
import warnings
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from .. import _validation as V
from ..functional.fixed_point import fixed_point
from .._placement import place
from .quantize import quantize_int_9bit, quantize_weights_9bit

__all__ = ["EquilibriumClassifier", "EquilibriumRegressor", "quantize_for_hardware"]


class _EquilibriumCore(nn.Module):
    #: non-ideal twin hook (quaton_fast.aoc.hardware.HardwareTwin); None = the ideal twin
    hardware = None

    def __init__(self, in_features, out_features, width=16, cells=1, alpha=0.5, beta_init=1.0,
                 clamp=(-1.0, 1.0), tol=1e-4, max_iter=100, seed: Optional[int] = None,
                 max_gain: Optional[float] = 0.4, device=None, dtype: Optional[torch.dtype] = None):
        super().__init__()
        func = type(self).__name__
        in_features = V.positive_int(func, "in_features", in_features)
        out_features = V.positive_int(func, "num_classes" if isinstance(self, EquilibriumClassifier)
                                      else "out_features", out_features)
        width = V.positive_int(func, "width", width)
        cells = V.positive_int(func, "cells", cells)
        alpha = V.finite_real(func, "alpha", alpha)
        if not -1.0 < alpha < 1.0:
            # J = alpha I + beta W diag(tanh'): where tanh saturates J -> alpha I, so |alpha| >= 1 is
            # never a contraction and the fixed point / implicit gradient are not defined
            V.fail(func, "alpha", "in (-1, 1) (|alpha| >= 1 makes the cell map non-contractive)", alpha)
        beta_init = V.finite_real(func, "beta_init", beta_init)
        if clamp is not None:
            if not isinstance(clamp, (tuple, list)) or len(clamp) != 2:
                V.fail(func, "clamp", "None or a pair (lo, hi)", repr(clamp), TypeError)
            lo, hi = (V.finite_real(func, "clamp", c) for c in clamp)
            if not lo < hi:
                V.fail(func, "clamp", "a pair (lo, hi) with lo < hi", (lo, hi))
            clamp = (lo, hi)
        tol = V.finite_real(func, "tol", tol, nonnegative=True)
        max_iter = V.positive_int(func, "max_iter", max_iter)
        seed = V.plain_scalar(seed)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
            V.fail(func, "seed", "None or an integer >= 0", repr(seed), TypeError)
        if max_gain is not None:
            max_gain = V.finite_real(func, "max_gain", max_gain)
            if not 0.0 < max_gain:
                V.fail(func, "max_gain", "> 0 or None", max_gain)
            if abs(alpha) + max_gain >= 1.0:
                warnings.warn(f"{func}(): |alpha| + max_gain = {abs(alpha) + max_gain:g} >= 1: the projection "
                              "does not make the cell map a contraction; the forward may not converge",
                              RuntimeWarning, stacklevel=3)
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
        self.last_iterations: Optional[torch.Tensor] = None  # (B*cells,) updates of the last forward
        self.last_residual: Optional[torch.Tensor] = None    # (B*cells,) residual at the returned state
        place(self, func, device, dtype)   # torch-style device=/dtype= (float32: the AOC's precision)

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

    def _check_x(self, x) -> torch.Tensor:
        """x: (B, in_features) or (B, ...) flattening to in_features, in the model's dtype/device."""
        func = f"{type(self).__name__}.forward"
        if not isinstance(x, torch.Tensor):
            V.fail(func, "x", "a torch.Tensor", type(x).__name__, TypeError)
        w = self.ip.weight
        if x.dtype != w.dtype:
            V.fail(func, "x", f"of the model's dtype {w.dtype} (convert the model or x)", f"dtype of x {x.dtype}",
                   TypeError)
        if x.device != w.device:
            V.fail(func, "x", f"on the model's device {w.device}", f"a tensor on {x.device}")
        if x.dim() < 1 or x.shape[0] < 1:
            V.fail(func, "x", "a non-empty batch (B, in_features) with B >= 1", f"shape {tuple(x.shape)}")
        feats = x[0].numel()
        if feats != self.ip.in_features:
            V.fail(func, "x", f"of shape (B, {self.ip.in_features}) (in_features = {self.ip.in_features})",
                   f"shape {tuple(x.shape)}")
        return x.reshape(x.shape[0], -1)

    def equilibrium(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in_features) -> z* (B, cells*width) (checks x's shape, dtype and device)."""
        x = self._check_x(x)
        if self.hardware is not None and self.hardware.active:  # non-ideal twin (aoc/hardware.py)
            return self.hardware.equilibrium(self, x)
        B = x.shape[0]
        beff = self.ip(x) + self.b
        if self.clamp is not None:
            beff = beff.clamp(*self.clamp)
        beff = beff.reshape(B * self.cells, self.width)
        W = self.effective_W().to(beff.dtype)  # (cells, width, width): system b*cells + c uses W[c]
        # cells=: on CUDA the shared-W kernel reads each cell's W once per block (issue 23 item 2);
        # the other paths repeat W per system (fixed_point's docstring)
        z, it, res = fixed_point(W, beff, alpha=self.alpha, beta=self.beta, tol=self.tol,
                                 max_iter=self.max_iter, cells=self.cells)
        self.last_iterations, self.last_residual = it, res
        if not torch.is_grad_enabled() and self.tol > 0:
            # inference: say when an equilibrium was not reached (training: the backward says it)
            bad = int((~(res <= self.tol)).sum())
            if bad:
                warnings.warn(f"{type(self).__name__}: the fixed point did not converge (residual > tol = "
                              f"{self.tol:g}) for {bad} of {res.numel()} cell systems; the outputs of those "
                              "inputs are not equilibria", RuntimeWarning, stacklevel=2)
        return z.reshape(B, self.cells * self.width)

    def forward(self, x):
        """x: (B, in_features) (or (B, ...) flattening to it) -> (B, out_features)."""
        return self.op(self.equilibrium(x))


class EquilibriumClassifier(_EquilibriumCore):
    """IP (in -> width*cells) -> per-cell fixed point -> OP (width*cells -> classes).

    cells=1: 256 AOC weights ('256' model); cells=16: 4096 weights ('4096' model).
    ``device``/``dtype`` (keywords, as in ``torch.nn``): where the parameters live (None: CPU);
    dtype only torch.float32. Bad values raise TypeError/ValueError naming the argument.
    """

    def __init__(self, in_features=784, width=16, cells=1, num_classes=10, **kw):
        super().__init__(in_features, num_classes, width=width, cells=cells, **kw)


class EquilibriumRegressor(_EquilibriumCore):
    """1 -> 16 -> 1 regression equilibrium model."""

    def __init__(self, width=16, cells=1, **kw):
        super().__init__(1, 1, width=width, cells=cells, **kw)


def quantize_for_hardware(model: _EquilibriumCore, mode: str = "maxabs") -> Dict[str, object]:
    """Export per cell: W_Q+ / W_Q- (non-negative int, W_Q = W_Q+ - W_Q-), beta_hw = beta*max/255
    (so beta_hw*W_Q == beta*W_quantized), alpha, and the clamp range for b_AOC = clamp(b + IP x).

    model: an EquilibriumClassifier / EquilibriumRegressor; mode: 'maxabs' | 'paper' (quantize.py).
    Raises TypeError naming 'model' for anything else."""
    if not isinstance(model, _EquilibriumCore):
        V.fail("quantize_for_hardware", "model", "an EquilibriumClassifier or EquilibriumRegressor",
               type(model).__name__, TypeError)
    q, m = quantize_int_9bit(model.W, mode)
    beta = float(model.beta.detach())
    return {
        "mode": mode, "alpha": model.alpha, "clamp": model.clamp,
        "cells": [{"W_pos": q[c].clamp_min(0).clone(), "W_neg": (-q[c]).clamp_min(0).clone(),
                   "scale": float(m[c]), "beta_hw": beta * float(m[c]) / 255.0}
                  for c in range(model.cells)],
    }
